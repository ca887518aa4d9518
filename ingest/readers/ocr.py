"""OCR of page images: lines of text with their boxes and heights, for scanned pages.

One small interface (``OcrEngine.lines``) and one backend: PP-OCRv4 (detection,
recognition, orientation) through RapidOCR, whose wheels carry the models, so it runs
offline. The OpenVINO build (``rapidocr-openvino``) reads the same models with the same
text 2.5× faster on this CPU than ``rapidocr-onnxruntime``, which stays the fallback.
Chosen over Tesseract by measurement (bench/README.md).

A page is read in full-width horizontal strips that overlap by more than a headline's
height: the detector then sees text at its printed size (the whole page would be shrunk
to the model's input size), no line is cut by a strip edge that the next strip does not
hold whole, and columns keep their gutters. A detected line that spans a gap between its
characters standing in a channel of white down the page (two columns read as one across a
gutter as narrow as one character) is split there. A vertical headline taller than the
strips' overlap, whole in none of them, is read from the page as one column at the end.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from rag.errors import ModelNotAvailable
from rag.records import Line

__all__ = ["OcrEngine", "RapidOcr", "OcrLine"]


@dataclass(frozen=True)
class OcrLine:
    text: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
    score: float


class OcrEngine(ABC):
    """Reads the text lines of a page image."""

    name: str

    @abstractmethod
    def read(self, image) -> list[OcrLine]:
        """The lines of a PIL image (any mode), boxes in its pixels, in no particular order."""

    def lines(self, image) -> list[Line]:
        """``read`` as Lines (block 0; layout orders them) with their type size."""
        return [Line(o.text, 0, type_size(o), o.box) for o in self.read(image)]

    def orientation(self, image) -> int:
        """The turn (0, 90, 180, 270 degrees anticlockwise) that sets a scanned page upright (default: 0)."""
        return 0

    def skew(self, image) -> float:
        """How many degrees (anticlockwise) the upright page's lines slant (default: 0)."""
        return 0.0


def type_size(o: OcrLine) -> float:
    """A line's type size in pixels: the pitch of its characters (Chinese characters are
    square and set solid, so box width over the characters' width), which is steadier than
    the box height (quotes and brackets make boxes taller); justified lines spread their
    characters, which segmentation checks against the box height. Short lines: the height."""
    chars = sum(0.5 if ch.isascii() else 1.0 for ch in o.text if not ch.isspace())
    height = o.box[3] - o.box[1]
    if chars < 4:
        return height
    return min((o.box[2] - o.box[0]) / chars, 1.6 * height)


class RapidOcr(OcrEngine):
    """PP-OCRv4 mobile models run by RapidOCR 1.4.4 (OpenVINO or onnxruntime), loaded on first use.

    Args:
        strip: height of the strips a page is read in, in pixels.
        overlap: how much neighbouring strips share (more than the tallest line).
        runtime: "openvino", "onnxruntime", or "auto" (OpenVINO when installed).
    """

    def __init__(self, strip: int = 1400, overlap: int = 200, runtime: str = "auto") -> None:
        self.strip, self.overlap, self.runtime = strip, overlap, runtime
        self.name = "rapidocr:PP-OCRv4"
        self._engine = None
        self._lock = threading.Lock()

    def _load(self):
        if self._engine is None:
            RapidOCR = None
            if self.runtime in ("auto", "openvino"):
                try:
                    from rapidocr_openvino import RapidOCR
                except ImportError:
                    if self.runtime == "openvino":
                        raise
            if RapidOCR is None:
                try:
                    from rapidocr_onnxruntime import RapidOCR
                except ImportError as exc:
                    raise ModelNotAvailable(
                        "rapidocr-openvino / rapidocr-onnxruntime is not installed: `make install` installs them",
                        zh="缺少 OCR 组件 rapidocr：请运行 make install",
                    ) from exc
            self._engine = RapidOCR(max_side_len=4096, det_use_dilation=False, det_unclip_ratio=1.5)
            self.name = f"{RapidOCR.__module__.split('.')[0]}:PP-OCRv4"
        return self._engine

    def orientation(self, image) -> int:
        """Read a square of the page as given and, when that reads poorly, turned each way,
        without the line classifier (which would mend upside-down lines one by one): the
        turn that reads best. The square is the page's middle; where that holds too little
        text to judge (white space, a photo), the inkiest of the page's quarter squares."""
        gray = image.convert("L")
        for probe in _probes(gray, min(1000, *gray.size)):  # text at its printed size
            turn = self._orientation_of(probe)
            if turn is not None:
                return turn
        return 0

    def _orientation_of(self, probe) -> int | None:
        """The turn that reads ``probe`` best, or None where no turn reads enough text to judge."""

        def read(turn: int) -> list:
            img = probe.rotate(turn, expand=True) if turn else probe
            with self._lock:
                result, _ = self._load()(np.asarray(img.convert("RGB"))[:, :, ::-1], use_cls=False)
            return result or []

        def score(lines: list) -> float:  # text read along lines running across
            return sum(float(r[2]) * len(r[1]) for r in lines if _width_of(r[0]) > 2 * _height_of(r[0]))

        upright = read(0)
        across = sum(1 for r in upright if _width_of(r[0]) > 2 * _height_of(r[0]))
        if len(upright) >= 5 and across >= 0.7 * len(upright) and sum(float(r[2]) for r in upright) / len(upright) >= 0.9:
            return 0
        scores = {0: score(upright), **{turn: score(read(turn)) for turn in (90, 270, 180)}}
        best = max(scores, key=lambda t: (scores[t], t == 0))
        return best if scores[best] >= _ENOUGH_TO_ORIENT else None

    def skew(self, image) -> float:
        """The median slant of the long lines the detector finds in the page's middle."""
        w, h = image.size
        side = min(1600, w, h)
        probe = image.convert("RGB").crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
        with self._lock:
            boxes, _ = self._load().text_det(np.asarray(probe)[:, :, ::-1])
        angles = []
        for q in boxes if boxes is not None else []:
            (x0, y0), (x1, y1) = q[0], q[1]
            if _width_of(q) > 4 * _height_of(q) and x1 - x0 > 0:
                angles.append(float(np.degrees(np.arctan2(y0 - y1, x1 - x0))))
        return float(np.median(angles)) if len(angles) >= 5 else 0.0

    def read(self, image) -> list[OcrLine]:
        arr = np.asarray(image.convert("RGB"))[:, :, ::-1]  # BGR, as OpenCV reads
        h = arr.shape[0]
        out: list[OcrLine] = []
        cut: list[tuple[float, float, float, float]] = []
        step = max(self.strip - self.overlap, 1)
        with self._lock:
            engine = self._load()
            top = 0
            while True:
                bottom = min(top + self.strip, h)
                lines, cuts = self._strip(engine, arr[top:bottom], top, top > 0, bottom < h)
                out.extend(lines)
                cut.extend(cuts)
                if bottom >= h:
                    break
                top += step
            return _whole_columns(engine, arr, _dedupe(out), cut)

    def _strip(self, engine, part: np.ndarray, top: int, cut_above: bool,
               cut_below: bool) -> tuple[list[OcrLine], list[tuple[float, float, float, float]]]:
        """Detect the strip's lines, split lines that span a gutter, then read each piece; and
        the page boxes of upright columns of text (a vertical headline) cut by its edges."""
        boxes, _ = engine.text_det(part)
        if boxes is None or len(boxes) == 0:
            return [], []
        gray = part.min(axis=2)
        quads: list[np.ndarray] = []
        cuts: list[tuple[float, float, float, float]] = []
        for quad in engine.sorted_boxes(boxes):
            ys = quad[:, 1]
            # a line touching a strip edge that the next strip holds whole is read there; a
            # vertical headline taller than the strips' overlap is whole in none, so it is
            # read from the page once the strips are done (``_whole_columns``)
            if (cut_above and ys.min() <= 2) or (cut_below and ys.max() >= part.shape[0] - 3):
                if _height_of(quad) >= 2 * _width_of(quad):
                    xs = quad[:, 0]
                    cuts.append((float(xs.min()), float(ys.min()) + top, float(xs.max()), float(ys.max()) + top))
                continue
            x0, x1 = int(quad[:, 0].min()), int(quad[:, 0].max()) + 1
            box = (max(0, x0), max(0, int(ys.min())), x1, int(ys.max()) + 1)
            width = max(box[2] - box[0], 1)
            for a, b in _gutters_only(gray, box, _ink_pieces(_straight(gray, quad), width)):
                quads.append(_sub_quad(quad, a / width, b / width))
        if not quads:
            return [], cuts
        # no line-by-line orientation classifier: the page is upright already (``orientation``),
        # and the classifier turns some upright lines over (a bold 本报讯 opening, for one)
        read, _ = engine.text_rec(engine.get_crop_img_list(part, quads))
        lines = []
        for quad, (text, score) in zip(quads, read):
            if text.strip() and score >= 0.5:
                xs, ys = quad[:, 0], quad[:, 1]
                lines.append(OcrLine(text.strip(), (float(xs.min()), float(ys.min()) + top, float(xs.max()),
                                                    float(ys.max()) + top), float(score)))
        return lines, cuts


def _sub_quad(quad: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """The part of a line's quadrilateral between fractions ``t0`` and ``t1`` of its width."""
    if t0 <= 0 and t1 >= 1:
        return quad.astype(np.float32)
    tl, tr, br, bl = quad.astype(np.float32)
    return np.array([tl + t0 * (tr - tl), tl + t1 * (tr - tl), bl + t1 * (br - bl), bl + t0 * (br - bl)], dtype=np.float32)


def _straight(gray: np.ndarray, quad) -> np.ndarray:
    """The line inside its (possibly slanted) box, straightened: nothing of the lines around it."""
    import cv2

    pts = np.asarray(quad, dtype=np.float32)
    w = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    h = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    if w < 2 or h < 2:
        return np.zeros((0, 0), np.uint8)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    return cv2.warpPerspective(gray, cv2.getPerspectiveTransform(pts, dst), (w, h), borderValue=255)


def _width_of(quad) -> float:
    return max(p[0] for p in quad) - min(p[0] for p in quad)


def _height_of(quad) -> float:
    return max(p[1] for p in quad) - min(p[1] for p in quad)


_ENOUGH_TO_ORIENT = 20.0  # characters read across (confidence-weighted): two short lines


def _probes(gray, side: int):
    """Squares of ``side`` to judge a page's turn by: its middle, then the two inkiest of
    the squares centred on its quarter points (a middle of white space or a photo reads too
    little)."""
    w, h = gray.size

    def square(cx: float, cy: float):
        x0 = min(max(int(cx - side / 2), 0), w - side)
        y0 = min(max(int(cy - side / 2), 0), h - side)
        return gray.crop((x0, y0, x0 + side, y0 + side))

    yield square(w / 2, h / 2)
    quarters = [square(w * fx, h * fy) for fx in (0.25, 0.75) for fy in (0.25, 0.75)]
    yield from sorted(quarters, key=lambda sq: -float((np.asarray(sq) < 128).mean()))[:2]


def _ink_pieces(line: np.ndarray, width: int) -> list[tuple[int, int]]:
    """The parts of a straightened line image separated by blank columns wider than 0.68
    line heights (a gutter between two columns may be one character wide; the box is a
    little taller than the type), as (start, end) x ranges of the line's box ``width``
    pixels wide; the whole line when there is no such gap. ``_gutters_only`` keeps the
    splits that stand in a channel of white."""
    h, w = line.shape[:2]
    if h == 0 or w == 0:
        return [(0, width)]
    ink = (line < 128).any(axis=0)
    pieces, start, blank = [], None, 0
    for x in range(w):
        if ink[x]:
            if start is None:
                start = x
            elif blank > 0.68 * h:
                pieces.append((start, x - blank))
                start = x
            blank = 0
        elif start is not None:
            blank += 1
    if start is not None:
        pieces.append((start, w - blank))
    if len(pieces) <= 1:
        return [(0, width)]
    pad, scale = 0.2 * h, width / w
    return [(max(0, int((a - pad) * scale)), min(width, int((b + pad) * scale) + 1)) for a, b in pieces]


def _gutters_only(gray: np.ndarray, box: tuple[int, int, int, int], pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Keep the splits between pieces that stand at a gutter: blank above or below the line
    too (three line heights; a headline may sit across the gutter on one side). A wide
    space inside one column (justified text around a comma) has the lines around it
    printed across it on both sides; a gutter does not."""
    if len(pieces) < 2:
        return pieces
    x0, y0, x1, y1 = box
    h = y1 - y0

    def inked(rows: np.ndarray) -> float:
        return float((rows < 128).any(axis=1).mean()) if rows.size else 1.0

    out = [pieces[0]]
    for a, b in pieces[1:]:
        # the middle third of the blank between the pieces' ink (they were padded by 0.2 line
        # heights): wider than the seams of characters in the lines around (set on a grid, so
        # they line up), which must not pass for a channel
        gap0, gap1 = x0 + out[-1][1] - int(0.2 * h), x0 + a + int(0.2 * h)
        third = max(1, (gap1 - gap0) // 3)
        c0, c1 = (gap0 + third, gap1 - third) if gap1 - third > gap0 + third else (gap0, gap1)
        above = gray[max(0, y0 - 3 * h):y0, c0:c1]
        below = gray[y1:min(gray.shape[0], y1 + 3 * h), c0:c1]
        # ... where there is text around to tell (above a headline there is only white)
        around = [gray[max(0, y0 - 3 * h):y0, max(0, gap0 - 2 * h):gap1 + 2 * h],
                  gray[y1:min(gray.shape[0], y1 + 3 * h), max(0, gap0 - 2 * h):gap1 + 2 * h]]
        if any(inked(win) < 0.15 and inked(ctx) >= 0.4 for win, ctx in zip((above, below), around)):
            out.append((a, b))
        else:
            out[-1] = (out[-1][0], b)  # no gutter: the pieces are one line
    return out


def _whole_columns(engine, arr: np.ndarray, lines: list[OcrLine],
                   cut: list[tuple[float, float, float, float]]) -> list[OcrLine]:
    """Upright columns of text (a vertical headline) read whole from the page. The detector
    gives a tall headline in pieces: cut by strip edges, or broken where digits or Latin
    letters stand sideways. From each piece cut by an edge and each tall line read, the
    column grows by the pieces and lines in line with it (about as wide, not lying flat,
    sharing most of its width, at most two characters below or above); one cut by an edge
    or grown from two or more lines is read as one line, which replaces the lines inside
    it. Where the whole column reads below the recogniser's floor, the pieces stay."""
    items = [(box, None) for box in cut] + [(ln.box, ln) for ln in lines]
    taken = [False] * len(items)
    out = list(lines)
    for i, (box, seed) in enumerate(items):
        if taken[i] or (seed is not None and box[3] - box[1] < 2 * (box[2] - box[0])):
            continue
        taken[i] = True
        x0, y0, x1, y1 = box
        members = [seed] if seed is not None else []
        cut_by_edge, grown = seed is None, True
        while grown:
            grown = False
            width = x1 - x0
            for j, (b, ln) in enumerate(items):
                if taken[j]:
                    continue
                shared = min(x1, b[2]) - max(x0, b[0])
                gap = max(b[1] - y1, y0 - b[3])
                w, h = b[2] - b[0], b[3] - b[1]
                if 0.6 * width <= w <= 1.3 * width and h >= 0.8 * w and shared >= 0.6 * w and gap <= 2 * width:
                    taken[j], grown = True, True
                    x0, y0, x1, y1 = min(x0, b[0]), min(y0, b[1]), max(x1, b[2]), max(y1, b[3])
                    if ln is None:
                        cut_by_edge = True
                    else:
                        members.append(ln)
        if not cut_by_edge and len(members) < 2:
            continue
        quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
        (text, score), = engine.text_rec(engine.get_crop_img_list(arr, [quad]))[0]
        if text.strip() and score >= 0.5:
            whole = OcrLine(text.strip(), (float(x0), float(y0), float(x1), float(y1)), float(score))
            out = [ln for ln in out if _overlap(ln.box, whole.box) < 0.6] + [whole]
    return out


def _overlap(a, b) -> float:
    """How much of the smaller box the two boxes share."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / smaller if smaller > 0 else 0.0


def _dedupe(lines: list[OcrLine]) -> list[OcrLine]:
    """Lines read twice (in the overlap of two strips, once whole and once as a piece of a
    merged line) are kept once: the better-scored."""
    kept: list[OcrLine] = []
    for ln in sorted(lines, key=lambda o: -o.score):
        if all(_overlap(ln.box, k.box) < 0.6 for k in kept):
            kept.append(ln)
    return kept

