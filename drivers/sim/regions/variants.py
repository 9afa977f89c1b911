"""The pathology variants a scene can switch on: one title per variant id, shared across regions."""

from __future__ import annotations

VARIANT_TITLES = {
    "effusion": "joint effusion",
    "gout_double_contour": "gout: double-contour sign",
    "gout_tophus": "gout: tophus",
    "bakers_cyst": "Baker's cyst",
    "ruptured_bakers_cyst": "ruptured (dissecting) Baker's cyst",
    "gastrocnemius_tear": "medial gastrocnemius tear (tennis leg)",
    "thrombosed_vein": "deep vein thrombosis (non-compressible vein)",
    "achilles_tendinosis": "Achilles tendinosis",
    "abscess": "soft-tissue abscess",
    "lymph_node": "enlarged inguinal lymph node",
    "stener_lesion": "thumb UCL tear: Stener lesion",
    "inguinal_hernia": "indirect inguinal hernia (fat)",
    "muscle_hernia": "muscle herniation through a fascial defect",
    "calcific_tendinitis": "calcific tendinitis (supraspinatus)",
    "proud_screw": "volar plate with a proud screw (FPL irritation)",
}


def variants(*ids: str) -> dict[str, str]:
    """The variant id -> title table of a scene that supports `ids`."""
    return {i: VARIANT_TITLES[i] for i in ids}
