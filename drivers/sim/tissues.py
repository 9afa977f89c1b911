"""Acoustic properties of the simulated tissues: the label-name table the ground truth refers to.

Attenuation values follow reference/simulation.md §2.3 (dB/cm/MHz at 1 MHz, assumed linear in
frequency); impedances in MRayl from the same section. `echo_db` is the mean backscatter relative to
muscle (0 dB); anechoic fluid sits far below the display range so only electronic noise shows there.
Tendon and ligament use 0.9 dB/cm/MHz rather than the connective-tissue 1.57 of the table: no tendon
value was found (simulation.md §2.3), and 1.57 shadows everything behind a 7 mm quadriceps tendon by
~15 dB at 10 MHz, which scanners do not show [design choice].
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


class Texture(enum.IntEnum):
    """Which structural pattern modulates a tissue's speckle (see drivers/sim/texture.py)."""

    NONE = 0
    FAT = 1  # hypoechoic lobules with thin septa parallel to the skin
    MUSCLE = 2  # pennate septa (long axis) / starry sky (short axis)
    FIBRILLAR = 3  # tendon: tightly packed parallel fibre bundles
    LIGAMENT = 4  # less ordered fibrils
    NERVE = 5  # honeycomb fascicles
    DEBRIS = 6  # sparse echogenic debris in fluid (abscess, complex cyst)


@dataclass(frozen=True, slots=True)
class Tissue:
    """One tissue class: how it attenuates, reflects and scatters."""

    label: int
    name: str
    alpha_db_cm_mhz: float
    impedance_mrayl: float
    echo_db: float
    texture: Texture = Texture.NONE
    anisotropic: bool = False
    rings: bool = False  # a small strong reflector that rings down: a comet tail under it (artefacts.py)


class Label(enum.IntEnum):
    """Tissue labels written into RenderedFrame.labels."""

    GEL = 0
    SKIN = 1
    FAT = 2
    MUSCLE = 3
    TENDON = 4
    LIGAMENT = 5
    NERVE = 6
    BONE = 7
    CARTILAGE = 8
    FIBROCARTILAGE = 9
    FLUID = 10
    VEIN_LUMEN = 11
    ARTERY_LUMEN = 12
    VESSEL_WALL = 13
    THROMBUS = 14
    COMPLEX_FLUID = 15
    NODE_CORTEX = 16
    NODE_HILUM = 17
    TENDINOSIS = 18
    URATE = 19
    HEMATOMA = 20
    FASCIA = 21
    PHANTOM = 22
    WIRE = 23
    INFLAMED = 24
    METAL = 25  # a steel needle, a plate or screw: total reflector, nothing passes
    WOOD = 26  # a wooden foreign body: bright surface, strong shadow
    CALCIFICATION = 27  # a calcific deposit (hydroxyapatite) in a tendon
    GRANULATION = 28  # granulation tissue and oedema: the halo round a foreign body


TISSUES: tuple[Tissue, ...] = (
    Tissue(Label.GEL, "coupling gel", 0.0022, 1.50, -80.0),
    Tissue(Label.SKIN, "skin", 0.35, 1.60, 7.0),
    Tissue(Label.FAT, "subcutaneous fat", 0.63, 1.38, -7.0, Texture.FAT),
    Tissue(Label.MUSCLE, "muscle", 0.96, 1.68, -2.0, Texture.MUSCLE),
    Tissue(Label.TENDON, "tendon", 0.9, 1.75, 8.0, Texture.FIBRILLAR, anisotropic=True),
    Tissue(Label.LIGAMENT, "ligament", 0.9, 1.75, 6.0, Texture.LIGAMENT, anisotropic=True),
    Tissue(Label.NERVE, "nerve", 1.0, 1.62, -3.0, Texture.NERVE),
    Tissue(Label.BONE, "bone", 15.0, 6.50, 22.0),  # bright cortex; the attenuation fades it within ~0.5 mm
    Tissue(Label.CARTILAGE, "hyaline cartilage", 1.0, 1.65, -32.0),
    Tissue(Label.FIBROCARTILAGE, "fibrocartilage", 1.57, 1.75, 5.0),
    Tissue(Label.FLUID, "fluid", 0.0022, 1.50, -80.0),
    Tissue(Label.VEIN_LUMEN, "venous blood", 0.15, 1.66, -55.0),
    Tissue(Label.ARTERY_LUMEN, "arterial blood", 0.15, 1.66, -55.0),
    Tissue(Label.VESSEL_WALL, "vessel wall", 1.57, 1.70, 6.0),
    Tissue(Label.THROMBUS, "thrombus", 0.3, 1.68, -14.0),
    Tissue(Label.COMPLEX_FLUID, "complex fluid", 0.05, 1.55, -30.0, Texture.DEBRIS),
    Tissue(Label.NODE_CORTEX, "lymph node cortex", 0.6, 1.62, -16.0),
    Tissue(Label.NODE_HILUM, "lymph node hilum", 0.63, 1.45, 4.0, Texture.FAT),
    Tissue(Label.TENDINOSIS, "tendinosis", 0.6, 1.70, -9.0),
    Tissue(Label.URATE, "urate deposit", 1.5, 1.90, 18.0),
    Tissue(Label.HEMATOMA, "hematoma", 0.2, 1.60, -24.0, Texture.DEBRIS),
    Tissue(Label.FASCIA, "fascia", 1.57, 1.75, 10.0),
    Tissue(Label.PHANTOM, "tissue-mimicking material", 0.5, 1.60, 0.0),
    Tissue(Label.WIRE, "nylon wire", 1.0, 2.00, 45.0),
    Tissue(Label.INFLAMED, "inflamed tissue", 0.8, 1.62, 4.0),
    # Steel (about 45 MRayl) against soft tissue reflects ~93 % of the intensity at its surface, and
    # what enters does not come back: a bright surface and a clean shadow [engineering approximation].
    Tissue(Label.METAL, "metal", 15.0, 45.0, 30.0, rings=True),
    # Wood: hyperechoic and shadowing, not reverberating (foreign_body.yaml's sources); dry wood's
    # impedance is near that of tissue, its air-filled cells scatter and attenuate strongly [DK].
    Tissue(Label.WOOD, "wood", 12.0, 1.2, 20.0),
    # A hard (formative-phase) calcific deposit: a bright arc with a posterior shadow, like bone's
    # cortex but less complete; calcification and metal ring down (comet tail) [engineering approximation].
    Tissue(Label.CALCIFICATION, "calcification", 6.0, 4.0, 20.0, rings=True),
    Tissue(Label.GRANULATION, "granulation tissue", 0.7, 1.58, -18.0),
)

N_LABELS = len(TISSUES)
assert all(t.label == i for i, t in enumerate(TISSUES)), "TISSUES must be ordered by label"


def label_names() -> dict[int, str]:
    """The label-name table: tissue label number -> human name."""
    return {t.label: t.name for t in TISSUES}


def _column(values: list[float]) -> npt.NDArray[np.float32]:
    return np.asarray(values, dtype=np.float32)


ALPHA_DB_CM_MHZ = _column([t.alpha_db_cm_mhz for t in TISSUES])
IMPEDANCE_MRAYL = _column([t.impedance_mrayl for t in TISSUES])
ECHO_DB = _column([t.echo_db for t in TISSUES])
