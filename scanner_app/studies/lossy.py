"""JPEG Baseline (Process 1) copies of clips, made on the way to a destination set to take them.

The store keeps every capture lossless; a destination whose `compression` is JPEG Baseline gets a lossy
copy made in memory when it is sent. Pillow encodes each frame (pydicom has no JPEG Baseline encoder;
highdicom uses Pillow the same way, but at a fixed quality and Pillow's 4:2:0): greyscale stays
MONOCHROME2, colour becomes YBR_FULL_422 with 4:2:2 chroma subsampling, as its name says.

As DICOM asks of a lossy image (PS3.3 C.7.6.1.1.5) the copy says Lossy Image Compression "01", with
its ratio and method (ISO_10918_1). Its pixels are not the original's, so, as DICOM toolkits do
(dcmtk's dcmcjpeg, pydicom's `compress`), it is a new instance: Image Type DERIVED, the original
referenced as its uncompressed predecessor. Its UID is derived from the original's, so sending it again
(a retry, a resend) is the same instance at the PACS, never a second copy.
"""

from __future__ import annotations

import copy
import io
import uuid

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID

from scanner_app.studies.dicom_writer import dcm_code

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"  # JPEG Baseline (Process 1): 8-bit lossy
JPEG_METHOD = "ISO_10918_1"  # Lossy Image Compression Method for JPEG (CID 7201 / C.7.6.1.1.5)
# Quality 90 at 4:2:2: speckle and colour-flow stay visually the same (the tests bound the PSNR) at
# several times fewer bytes.
JPEG_QUALITY = 90


class LossyCompressionError(ValueError):
    """The image cannot be made a JPEG Baseline copy (not 8-bit, already lossy, ...)."""


def lossy_instance_uid(original_uid: str) -> str:
    """The SOP Instance UID of the JPEG Baseline copy of `original_uid`: the same every time."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, f'{original_uid}/jpeg-baseline').int}"


def encode_jpeg_baseline_frame(frame: npt.NDArray[np.uint8], quality: int = JPEG_QUALITY) -> bytes:
    """One frame, (rows, cols) grey or (rows, cols, 3) RGB uint8, as a JPEG Baseline bit stream: grey
    as one component, colour as Y, Cb, Cr with 4:2:2 chroma (YBR_FULL_422)."""
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
        raise LossyCompressionError(
            f"JPEG Baseline here takes (rows, cols) or (rows, cols, 3) uint8 frames, got {frame.shape}"
        )
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(frame))
    if frame.ndim == 3:
        image.save(buffer, format="JPEG", quality=quality, subsampling="4:2:2")
    else:
        image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _frames(ds: Dataset) -> npt.NDArray[np.uint8]:
    """The dataset's frames as (frames, rows, cols[, 3]) uint8, decompressed (an RLE clip too)."""
    pixels = np.asarray(ds.pixel_array)
    samples = int(ds.get("SamplesPerPixel", 1))
    if pixels.ndim == (2 if samples == 1 else 3):  # one frame: pydicom leaves out the frame axis
        pixels = pixels[np.newaxis]
    return np.asarray(pixels, dtype=np.uint8)


def jpeg_baseline_copy(ds: Dataset, quality: int = JPEG_QUALITY) -> Dataset:
    """A new instance: `ds` (an 8-bit grey or RGB image, any transfer syntax) with its frames JPEG
    Baseline; `ds` itself is not changed."""
    if ds.get("LossyImageCompression") == "01":
        raise LossyCompressionError(f"{ds.SOPInstanceUID} is already lossy compressed")
    samples = int(ds.get("SamplesPerPixel", 1))
    if int(ds.BitsAllocated) != 8 or int(ds.get("PixelRepresentation", 0)) != 0:
        raise LossyCompressionError(f"{ds.SOPInstanceUID} is not unsigned 8-bit: JPEG Baseline needs it")
    if samples == 3 and ds.PhotometricInterpretation != "RGB":
        raise LossyCompressionError(
            f"{ds.SOPInstanceUID}: colour must be RGB, not {ds.PhotometricInterpretation}"
        )
    if samples == 1 and ds.PhotometricInterpretation != "MONOCHROME2":
        raise LossyCompressionError(
            f"{ds.SOPInstanceUID}: greyscale must be MONOCHROME2, not {ds.PhotometricInterpretation}"
        )
    frames = _frames(ds)
    encoded = [encode_jpeg_baseline_frame(frame, quality) for frame in frames]
    ratio = frames.nbytes / sum(len(e) for e in encoded)

    out = copy.deepcopy(ds)
    original_uid = str(ds.SOPInstanceUID)
    out.SOPInstanceUID = lossy_instance_uid(original_uid)
    out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    out.file_meta.TransferSyntaxUID = UID(JPEG_BASELINE)
    out.PixelData = encapsulate(encoded)
    out["PixelData"].VR = "OB"
    out["PixelData"].is_undefined_length = True
    if samples == 3:
        out.PhotometricInterpretation = "YBR_FULL_422"
        out.PlanarConfiguration = 0  # JPEG interleaves the components (PS3.5 8.2.1)
    out.LossyImageCompression = "01"
    out.LossyImageCompressionRatio = [f"{ratio:.2f}"]
    out.LossyImageCompressionMethod = [JPEG_METHOD]
    image_type = list(out.get("ImageType", ["ORIGINAL", "PRIMARY"]))
    out.ImageType = ["DERIVED", *image_type[1:]]
    out.DerivationDescription = (
        f"Lossy compressed for sending: JPEG Baseline (Process 1), quality {quality}"
        + (", 4:2:2" if samples == 3 else "")
        + f", ratio {ratio:.1f}:1"
    )
    out.DerivationCodeSequence = DicomSequence([dcm_code("113040", "Lossy Compression")])
    source = Dataset()
    source.ReferencedSOPClassUID = ds.SOPClassUID
    source.ReferencedSOPInstanceUID = original_uid
    source.PurposeOfReferenceCodeSequence = DicomSequence([dcm_code("121320", "Uncompressed predecessor")])
    out.SourceImageSequence = DicomSequence([source])
    return out
