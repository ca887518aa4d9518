"""PDF pages (e-paper pages with a text layer, or scans saved as PDF) -> lines with boxes.

pypdfium2 (PDFium, Apache-2.0/BSD) reads the text layer: every character with its box and
font, grouped here into lines where the text runs on at one height; a gap wider than a
character or two (a column gutter) ends a line. A page with no text layer is rendered and
read by OCR. Chosen over pdfplumber and PyMuPDF by measurement (bench/README.md).

Coordinates are PDF points with the origin at the top left of the page.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass

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
    lines = list(_text_lines(page, h))
    if sum(len(ln.text) for ln in lines) >= _MIN_TEXT_CHARS:
        return PdfPage(i, (w, h), lines, "text layer")
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
    return PdfPage(i, (w, h), found, "OCR")


@dataclass
class _Run:
    chars: list[str]
    x0: float
    y0: float
    x1: float
    y1: float
    heights: list[float]
    pending_space: bool = False

    @property
    def mid(self) -> float:
        return (self.y0 + self.y1) / 2

    def line(self) -> Line | None:
        text = "".join(self.chars).strip()
        if not text:
            return None
        return Line(text, 0, statistics.median(self.heights), (self.x0, self.y0, self.x1, self.y1))


def _latin(chars: list[str]) -> bool:
    return bool(chars) and chars[-1].isascii() and chars[-1].isalnum()


def _text_lines(page, height: float) -> Iterator[Line]:
    """The text layer's characters grouped into lines: a run of characters at one height
    with no gap wider than ~1.5 characters (their em boxes, so punctuation lines up)."""
    import pypdfium2.raw as pdfium_c

    tp = page.get_textpage()
    try:
        cur: _Run | None = None
        for i in range(tp.count_chars()):
            ch = tp.get_text_range(i, 1)
            if ch in ("\r", "\n", "\x02", ""):
                if cur:
                    if (ln := cur.line()) is not None:
                        yield ln
                    cur = None
                continue
            left, bottom, right, top = tp.get_charbox(i, loose=True)
            if ch.isspace():
                if cur is None:
                    continue
                if pdfium_c.FPDFText_IsGenerated(tp.raw, i) == 1:
                    # PDFium writes a space where glyphs stand apart, and justified Chinese is
                    # full of those: one is kept only between Latin letters or digits
                    cur.pending_space = True
                else:
                    cur.chars.append(" ")
                continue
            if cur is not None and cur.pending_space:
                if _latin(cur.chars) and ch.isascii() and ch.isalnum():
                    cur.chars.append(" ")
                cur.pending_space = False
            y0, y1 = height - top, height - bottom
            em = y1 - y0
            if cur is not None:
                same_row = abs((y0 + y1) / 2 - cur.mid) < 0.4 * max(em, cur.y1 - cur.y0)
                gap = left - cur.x1
                if not same_row or gap > 1.5 * em or gap < -0.5 * em:
                    if (ln := cur.line()) is not None:
                        yield ln
                    cur = None
            if cur is None:
                cur = _Run([], left, y0, right, y1, [])
            cur.chars.append(ch)
            cur.x0, cur.x1 = min(cur.x0, left), max(cur.x1, right)
            cur.y0, cur.y1 = min(cur.y0, y0), max(cur.y1, y1)
            cur.heights.append(em)
        if cur and (ln := cur.line()) is not None:
            yield ln
    finally:
        tp.close()
