"""PDF pages (e-paper pages with a text layer, or scans saved as PDF) -> lines with boxes.

pypdfium2 (PDFium, Apache-2.0/BSD) reads the text layer: every character with its box and
font, grouped here into lines where the text runs on at one height; a gap wider than a
character or two (a column gutter) ends a line. A page with no text layer is rendered and
read by OCR. Chosen over pdfplumber and PyMuPDF by measurement (bench/README.md).

Coordinates are PDF points with the origin at the top left of the page.
"""

from __future__ import annotations

import bisect
import ctypes
import re
import statistics
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from ingest.readers.ocr import OcrEngine
from rag.records import Line

__all__ = ["PdfPage", "read_pdf", "MAX_PDF_PAGES", "OCR_DPI", "MAX_PAGE_PIXELS", "PdfProblem"]

MAX_PDF_PAGES = 200  # an issue's PDF holds tens of pages; more is refused before reading any
OCR_DPI = 200  # scans are read at this resolution (CER per dpi in bench/README.md)
MAX_PAGE_PIXELS = 80_000_000  # a page rendered for OCR larger than this is refused (A1 at 200 dpi is 35 Mpx)
_MIN_TEXT_CHARS = 20  # fewer characters in the text layer: the page is a scan


class PdfProblem(Exception):
    """The PDF as a whole cannot be read; the message is for the user (Chinese, then English)."""


@dataclass
class PdfPage:
    """One page: its lines (boxes in points) and how they were read."""

    index: int  # 0-based page of the file
    size: tuple[float, float]  # width, height in points
    lines: list[Line]
    how: str  # "text layer" or "OCR"
    problem: str = ""  # why nothing could be read from it
    rules: list = field(default_factory=list)  # rules between stories, as boxes (text-layer pages)

    def render(self, doc, dpi: float):
        """The page as a PIL image at ``dpi`` (for page images and OCR)."""
        return doc[self.index].render(scale=dpi / 72).to_pil()


def _open(data: bytes):
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower():
            raise PdfProblem("PDF 已加密，请先去除密码再导入 (the PDF is encrypted: remove its password first)") from exc
        if _no_pages(data):  # PDFium refuses a document without pages as if it were damaged
            raise PdfProblem("PDF 没有页面 (the PDF has no pages)") from exc
        raise PdfProblem(f"PDF 文件已损坏或不完整，请重新导出 (the PDF is damaged or truncated: {msg})") from exc
    return doc


def _no_pages(data: bytes) -> bool:
    """A page tree that counts no page, and no page object anywhere."""
    return bool(re.search(rb"/Type\s*/Pages\b", data)) and bool(re.search(rb"/Count\s+0\b", data)) \
        and not re.search(rb"/Type\s*/Page(?![s\w])", data)


def read_pdf(data: bytes, ocr: OcrEngine | None) -> tuple[object, list[PdfPage]]:
    """The document (for rendering page images; close it after) and its pages' lines.

    Raises:
        PdfProblem: encrypted, damaged, empty, or more than MAX_PDF_PAGES pages.
    """
    doc = _open(data)
    try:
        n = len(doc)
        if n == 0:
            raise PdfProblem("PDF 没有页面 (the PDF has no pages)")
        if n > MAX_PDF_PAGES:
            raise PdfProblem(f"PDF 有 {n} 页，超过上限 {MAX_PDF_PAGES} 页，请按版拆分后导入 "
                             f"(the PDF has {n} pages, more than {MAX_PDF_PAGES}: split it by page)")
        pages = [_page(doc, i, ocr) for i in range(n)]
    except PdfProblem:
        doc.close()
        raise
    except Exception as exc:  # PDFium reports damage in the page data as it reads it
        doc.close()
        raise PdfProblem(f"PDF 文件已损坏或不完整，请重新导出 (the PDF is damaged: {exc})") from exc
    return doc, pages


def _page(doc, i: int, ocr: OcrEngine | None) -> PdfPage:
    page = doc[i]
    w, h = page.get_size()
    lines = [ln for ln in _text_lines(page, h) if ln.text]
    if sum(len(ln.text) for ln in lines) >= _MIN_TEXT_CHARS:
        return PdfPage(i, (w, h), lines, "text layer", rules=_rules(page, h))
    # a scan saved as PDF: render it and read it by OCR
    px = (w * OCR_DPI / 72) * (h * OCR_DPI / 72)
    if px > MAX_PAGE_PIXELS:
        return PdfPage(i, (w, h), [], "OCR", f"第 {i + 1} 页过大（{w:.0f}×{h:.0f} 点），无法识别 (page too large to OCR)")
    if ocr is None:
        return PdfPage(i, (w, h), [], "OCR", f"第 {i + 1} 页没有文字层，且未启用 OCR (no text layer and no OCR)")
    image = page.render(scale=OCR_DPI / 72).to_pil()
    scale = 72 / OCR_DPI
    found = [Line(ln.text, 0, ln.font_size * scale if ln.font_size else None,
                  tuple(v * scale for v in ln.bbox)) for ln in ocr.lines(image)]
    if not found:
        return PdfPage(i, (w, h), [], "OCR", f"第 {i + 1} 页是图片，OCR 没有识别出文字 (OCR found no text on this page)")
    from ingest.readers.image import find_rules

    rules = [tuple(v * scale for v in r) for r in find_rules(image)]
    return PdfPage(i, (w, h), found, "OCR", rules=rules)


@dataclass(slots=True)
class _Char:
    ch: str
    x0: float
    y0: float
    x1: float
    y1: float
    space_before: str = ""  # "real": a space character stood before it; "generated": PDFium guessed one
    base: float = 0.0  # its baseline (top-down)
    turned: float = 0.0  # set sideways: its angle (digits in a vertical headline), else 0
    size: float = 0.0  # the type size of a glyph set sideways (its box is not its em box)
    sized: bool = False  # its em box comes from the font's size (else from PDFium's box)
    em: float = field(init=False)  # its type size: ``size``, else its box's height

    def __post_init__(self) -> None:
        self.em = self.size or self.y1 - self.y0

    @property
    def mid(self) -> float:
        return (self.y0 + self.y1) / 2


def _chars(page, height: float) -> list[_Char]:
    """The text layer's characters with their boxes (em boxes, so punctuation lines up)."""
    import pypdfium2.raw as pdfium_c

    tp = page.get_textpage()
    raw = tp.raw
    out: list[_Char] = []
    try:
        space = ""
        ox, oy = ctypes.c_double(), ctypes.c_double()
        matrix = pdfium_c.FS_MATRIX()
        rect = pdfium_c.FS_RECTF()
        # (PDFium's C calls directly: the helpers' per-character text and box calls cost
        # more than the rest of the page's reading)
        unicode, loose, origin = pdfium_c.FPDFText_GetUnicode, pdfium_c.FPDFText_GetLooseCharBox, pdfium_c.FPDFText_GetCharOrigin
        font_size, get_matrix = pdfium_c.FPDFText_GetFontSize, pdfium_c.FPDFText_GetMatrix
        for i in range(pdfium_c.FPDFText_CountChars(raw)):
            code = unicode(raw, i)
            ch = chr(code) if code < 0xD800 or code > 0xDFFF else tp.get_text_range(i, 1)
            if ch in ("\x02", "\ufffe"):  # PDFium's mark for a hyphen that ends a printed line: the hyphen
                ch = "-"
            if ch in ("\r", "\n", "\x00"):
                space = ""
                continue
            if ch.isspace():
                # PDFium writes a space where glyphs stand apart, and justified Chinese is full
                # of those: such a space is kept only between Latin letters or digits (``_line``)
                generated = pdfium_c.FPDFText_IsGenerated(raw, i) == 1
                space = space if space == "real" else ("generated" if generated else "real")
                continue
            loose(raw, i, rect)
            left, bottom, right, top = rect.left, rect.bottom, rect.right, rect.top
            # the type size: the font's size scaled by the character's matrix. PDFium's "loose"
            # box is as tight as the ink for some glyphs ("一", "口", "自"), so the em box is set
            # on the baseline from the size instead, and a full-width character's (Chinese
            # advances one em) from its origin: ink-tight sides open false gaps in a headline
            origin(raw, i, ox, oy)
            get_matrix(raw, i, matrix)
            a, b, c, d = matrix.a, matrix.b, matrix.c, matrix.d
            em = font_size(raw, i) * abs(a * d - b * c) ** 0.5
            turned = abs(b) > abs(a) and abs(c) > abs(d)
            if em > 0 and not turned:  # a glyph set sideways keeps its box: its baseline runs down
                bottom, top = oy.value - 0.12 * em, oy.value + 0.88 * em
                if abs(b) < 1e-6 and abs(c) < 1e-6 and a > 0 and abs(ox.value - left) < 0.3 * em \
                        and unicodedata.east_asian_width(ch) in "WF":
                    left, right = ox.value, ox.value + em
            angle = (pdfium_c.FPDFText_GetCharAngle(raw, i) or 1.0) if turned else 0.0
            out.append(_Char(ch, left, height - top, right, height - bottom, space, height - oy.value, angle,
                             em if turned else 0.0, em > 0))
            space = ""
    finally:
        tp.close()
    return out


def _text_lines(page, height: float) -> Iterator[Line]:
    """The characters grouped into lines by where they stand, not by the order the file draws
    them in: characters on one baseline, of one size, with no gap wider than 0.7 of a
    character between neighbours, nor a narrower one that stands in a gutter (a channel no
    character above or below crosses: a line hanging its closing quote into a one-character
    gutter leaves less than half a character). A line never runs across a column gutter; a
    headline's phrases stay one line. Glyphs set sideways (digits in a vertical headline) are
    read down their own line."""
    chars = _chars(page, height)
    yield from _sideways([c for c in chars if c.turned])
    # a column of characters set one under another (a vertical headline), drawn in that order:
    # each is a line of its own, never part of a line level with it beside the column
    stacked = _stacked(chars)
    for c in chars:
        if id(c) in stacked and not c.turned:
            yield _line([c])
    chars = sorted((c for c in chars if not c.turned and id(c) not in stacked), key=lambda c: (c.base, c.x0))
    rows: list[list[_Char]] = []
    top_em = max((c.em for c in chars), default=0.0)
    for c in chars:
        # the row this character sits on: the same baseline and size (a size not far off where
        # PDFium's boxes stand in for it: digits have boxes of their own heights). A vertical
        # headline's character level with a headline beside it, a size apart, is not its line.
        reach = 0.15 * max(c.em, top_em)  # (rows come by baseline: those further up are too far)
        for row in reversed(rows[-60:]):
            ref = row[0]
            if c.base - ref.base >= reach:
                rows.append([c])
                break
            lo, hi = (0.93, 1.075) if c.sized and ref.sized else (0.6, 1.67)
            if abs(c.base - ref.base) < 0.15 * max(c.em, ref.em) and lo < c.em / max(ref.em, 1e-6) < hi:
                row.append(c)
                break
        else:
            rows.append([c])
    for row in rows:
        row.sort(key=lambda c: c.x0)
    rows.sort(key=lambda row: row[0].base)
    ems = sorted(c.em for c in chars)
    body = ems[len(ems) // 2] if ems else 0.0
    bases = [row[0].base for row in rows]
    lefts = [[c.x0 for c in row] for row in rows]  # (rows are sorted by x0: a window by bisect)

    def gutter(x: float, y: float, em: float) -> bool:
        """Whether x stands in a channel of white down the page: the rows of body type just
        above and below are open there too (a gap, not the seam of two characters)."""
        ref = em if em < 1.3 * body or not body else body
        lo, hi = bisect.bisect_left(bases, y - 6 * ref - em), bisect.bisect_right(bases, y + 6 * ref + em)
        em = ref
        open_, shut = 0, 0
        for r in range(lo, hi):
            row = rows[r]
            # rows of the same size (a headline: the body rows under it, whose gutters it spans)
            if abs(row[0].base - y) < 0.5 * em or abs(row[0].em - ref) > 0.25 * ref:
                continue
            # (only characters from 5 ems left of x to 3 right can touch the tests below: a
            # character of this size is narrower than 2 ems)
            row = row[bisect.bisect_left(lefts[r], x - 5 * em): bisect.bisect_right(lefts[r], x + 3 * em)]
            left = [c for c in row if c.x1 <= x + 0.05 * em and c.x1 > x - 3 * em]
            right = [c for c in row if c.x0 >= x - 0.05 * em and c.x0 < x + 3 * em]
            if any(c.x0 + 0.02 * em < x < c.x1 - 0.02 * em for c in row):
                shut += 1
            elif left and right:
                if min(c.x0 for c in right) - max(c.x1 for c in left) >= 0.25 * em:
                    open_ += 1
                else:
                    shut += 1
            elif left or right:
                open_ += 1  # a row ending (or starting) at the channel: a column's edge
        return open_ >= 2 and shut <= 1

    for row in rows:
        row.sort(key=lambda c: c.x0)
        cur: list[_Char] = []
        for c in row:
            if cur:
                em = min(c.em, cur[-1].em)
                gap = c.x0 - cur[-1].x1
                narrow = gap > 0.25 * em and c.space_before != "real" and gutter((c.x0 + cur[-1].x1) / 2, c.base, em)
                # (two headlines side by side on one baseline, a point apart in size: a line is
                # set in one size)
                other_size = c.sized and cur[-1].sized and abs(c.em - cur[-1].em) > 0.02 * em and gap > 0.25 * em
                if gap > 0.7 * em or gap < -0.8 * em or narrow or other_size:
                    yield _line(cur)
                    cur = []
            cur.append(c)
        if cur:
            yield _line(cur)


def _stacked(chars: list[_Char]) -> set[int]:
    """Characters the file draws one under another, three or more in a run: vertical text."""
    out: set[int] = set()
    run: list[_Char] = []
    for c in chars + [None]:  # type: ignore[list-item]
        if c is not None and run:
            p = run[-1]
            em = max(p.em, c.em)
            # (one under the other: the same left edge, or a narrow glyph, a quote mark, set
            # within the column's width)
            under = abs(c.x0 - p.x0) < 0.3 * em or min(c.x1, p.x1) - max(c.x0, p.x0) > 0.5 * min(c.x1 - c.x0, p.x1 - p.x0)
            if under and 0.3 * em < c.y0 - p.y0 < 1.3 * em:
                run.append(c)
                continue
        if len(run) >= 3:
            out.update(id(x) for x in run)
        run = [c] if c is not None else []
    return out


def _sideways(chars: list[_Char]) -> Iterator[Line]:
    """Runs of glyphs set sideways, each read along its baseline (top down, or bottom up for a
    turn the other way): one line with the run's box, at the glyphs' type size."""
    runs: list[list[_Char]] = []
    for c in sorted(chars, key=lambda c: c.y0):
        for run in reversed(runs):
            p = run[-1]
            if abs(c.x0 - p.x0) < 0.3 * p.em and -0.2 * p.em < c.y0 - p.y1 < 0.7 * p.em:
                run.append(c)
                break
        else:
            runs.append([c])
    for run in runs:
        if not 0 < run[0].turned < 3.1416:
            run.reverse()
        text = "".join(c.ch for c in run)
        box = (min(c.x0 for c in run), min(c.y0 for c in run), max(c.x1 for c in run), max(c.y1 for c in run))
        yield Line(text, 0, statistics.median(c.em for c in run), box)


def _line(cs: list[_Char]) -> Line:
    text = ""
    for k, c in enumerate(cs):
        latin = text[-1:].isascii() and text[-1:].isalnum() and c.ch.isascii() and c.ch.isalnum()
        if k and (c.space_before == "real" or c.space_before and latin) and not text.endswith(" "):
            text += " "
        text += c.ch
    box = (min(c.x0 for c in cs), min(c.y0 for c in cs), max(c.x1 for c in cs), max(c.y1 for c in cs))
    return Line(text.strip(), 0, statistics.median(c.em for c in cs), box)


def _rules(page, height: float) -> list[tuple[float, float, float, float]]:
    """Rules drawn on the page (thin filled or stroked paths), as boxes; a frame around a story
    gives its four sides. The page's own background is left out."""
    import pypdfium2.raw as pdfium_c

    w = page.get_width()
    out = []
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    for obj in _paths(page.raw):
        pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top)
        x0, y0, x1, y1 = left.value, height - top.value, right.value, height - bottom.value
        bw, bh = x1 - x0, y1 - y0
        if bw >= 0.9 * w and bh >= 0.9 * height:
            continue
        if bh <= 3 and bw >= 15 or bw <= 3 and bh >= 15:
            out.append((x0, y0, x1, y1))
        elif bw >= 15 and bh >= 15 and bw * bh < 0.5 * w * height:
            out += [(x0, y0, x1, y0 + 1), (x0, y1 - 1, x1, y1), (x0, y0, x0 + 1, y1), (x1 - 1, y0, x1, y1)]
    return out


def _paths(parent, form: bool = False, depth: int = 0) -> Iterator:
    """The page's path objects, and those inside its forms (three deep), by PDFium's C calls
    (the helpers' object wrappers cost more than the rules)."""
    import pypdfium2.raw as pdfium_c

    count, get = ((pdfium_c.FPDFFormObj_CountObjects, pdfium_c.FPDFFormObj_GetObject) if form else
                  (pdfium_c.FPDFPage_CountObjects, pdfium_c.FPDFPage_GetObject))
    for i in range(count(parent)):
        obj = get(parent, i)
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_PATH:
            yield obj
        elif kind == pdfium_c.FPDF_PAGEOBJ_FORM and depth < 3:
            yield from _paths(obj, True, depth + 1)
