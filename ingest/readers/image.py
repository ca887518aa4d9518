"""Scanned pages (PNG, JPEG, TIFF) -> lines with boxes, by OCR.

Images are checked before they are decoded: more pixels than MAX_IMAGE_PIXELS (a
decompression bomb, or a scan far finer than any page needs) is refused with the
reason. Orientation: a scan turned a quarter or a half is read the right way up (the
turn that reads best, tried on a small copy, only when the page as given reads poorly).
Coordinates are pixels of the upright image.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

from ingest.readers.ocr import OcrEngine
from rag.records import Line

__all__ = ["IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "ImageProblem", "ScanPage", "read_image", "open_page_images", "find_rules"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MAX_IMAGE_PIXELS = 80_000_000  # A1 at 300 dpi is 70 Mpx
MAX_FRAMES = 200


class ImageProblem(Exception):
    """The file cannot be read as page images; the message is for the user."""


@dataclass
class ScanPage:
    index: int
    image: object  # the upright PIL image
    lines: list[Line]
    rotation: int = 0
    problem: str = ""
    rules: list = field(default_factory=list)  # rules printed between stories, as boxes in pixels


def open_page_images(data: bytes) -> list:
    """The frames of an image file (a TIFF may hold several pages), upright by EXIF, as RGB.

    Raises:
        ImageProblem: not an image, damaged, too many pixels, or too many frames.
    """
    from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked below
        try:
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_IMAGE_PIXELS:
                raise ImageProblem(f"图片过大（{w}×{h} 像素），上限 {MAX_IMAGE_PIXELS // 1_000_000} 百万像素，"
                                   f"请降低分辨率（300 dpi 已足够）后再导入 (image too large: {w}x{h} pixels)")
            frames = []
            for n, frame in enumerate(ImageSequence.Iterator(img)):
                if n >= MAX_FRAMES:
                    raise ImageProblem(f"图片超过 {MAX_FRAMES} 页 (more than {MAX_FRAMES} frames)")
                fw, fh = frame.size
                if fw * fh > MAX_IMAGE_PIXELS:
                    raise ImageProblem(f"第 {n + 1} 页图片过大（{fw}×{fh} 像素）(frame too large)")
                frames.append(ImageOps.exif_transpose(frame.convert("RGB")))
        except ImageProblem:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageProblem(f"图片像素数异常（疑似解压炸弹），已拒绝 (decompression bomb refused: {exc})") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageProblem(f"图片无法读取或已损坏，请重新扫描或导出 (unreadable image: {exc})") from exc
    if not frames:
        raise ImageProblem("图片里没有页面 (no image in the file)")
    return frames


def read_image(data: bytes, ocr: OcrEngine) -> list[ScanPage]:
    """Every page of a scanned image file, turned upright, straightened and read by OCR.

    Raises:
        ImageProblem: see ``open_page_images``.
    """
    from PIL import Image

    out = []
    for i, frame in enumerate(open_page_images(data)):
        rotation = ocr.orientation(frame)
        upright = frame.rotate(rotation, expand=True) if rotation else frame
        slant = ocr.skew(upright)
        if abs(slant) >= 0.15:  # straighten it: columns must stand straight for the layout to find them
            upright = upright.rotate(-slant, resample=Image.BICUBIC, expand=True, fillcolor="white")
        lines = ocr.lines(upright)
        problem = "" if lines else f"第 {i + 1} 页 OCR 没有识别出文字 (OCR found no text on this page)"
        out.append(ScanPage(i, upright, lines, rotation, problem, find_rules(upright)))
    return out


def find_rules(image) -> list[tuple[float, float, float, float]]:
    """The rules printed on a page image (thin straight lines between stories, frames of boxed
    stories), as boxes in pixels: runs of dark pixels longer than any stroke of type, found
    by a morphological opening with a long thin kernel each way."""
    import cv2
    import numpy as np

    gray = np.asarray(image.convert("L"))
    dark = (gray < 140).astype(np.uint8)
    h, w = dark.shape
    out = []
    for kernel, horizontal in (((max(40, w // 40), 1), True), ((1, max(40, h // 60)), False)):
        opened = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
        n, _, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
        for x, y, bw, bh, _area in stats[1:n]:
            # thin, and longer than any stroke of headline type (a column is wider still)
            thin = bh <= 8 and bw >= max(150, w // 14) if horizontal else bw <= 8 and bh >= max(150, h // 20)
            if thin:
                out.append((float(x), float(y), float(x + bw), float(y + bh)))
    return out
