"""Which library reads e-paper PDF text layers: pages per second, the text read, the boxes.

    python -m bench.pdf_extract [--runs 20]

The seed page is laid out in 2, 3 and 5 columns and printed to PDF by Debian's Chromium
(tests/pagegen.py), so its text is known. For each library installed (pypdfium2, which
newsrag uses; pdfplumber; PyMuPDF, AGPL, measured only if it is installed), per layout:
pages/s over ``--runs`` reads of the characters with their boxes; the character error
rate of the characters read against the page's text, counted without order (each
library reads in its own order); the full-width punctuation kept; and, for pypdfium2
with newsrag's layout and segmentation, the articles recovered exactly.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.pagegen import page_html, render_pdf, seed_stories

PUNCT = "，。、；：？！“”‘’（）《》…—"


def _text(stories) -> str:
    return "".join(s.kicker + s.title + s.subtitle + s.opening + "".join(s.paragraphs) for s in stories)


def _bag_cer(got: str, want: str) -> float:
    """Characters missing or extra, order aside, over the characters expected (masthead and
    continuation marks, printed but not in the stories, are left out of both)."""
    clean = re.compile(r"\s|渝中报|第\d版|·|要闻|（下转\d版）")
    g, w = Counter(clean.sub("", got)), Counter(clean.sub("", want))
    return (sum((g - w).values()) + sum((w - g).values())) / max(sum(w.values()), 1)


def _punct(got: str, want: str) -> float:
    g, w = Counter(c for c in got if c in PUNCT), Counter(c for c in want if c in PUNCT)
    return sum((g & w).values()) / max(sum(w.values()), 1)


def _pypdfium2(data: bytes) -> str:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    out = []
    for page in doc:
        tp = page.get_textpage()
        for i in range(tp.count_chars()):  # each character with its box, as the reader does
            tp.get_charbox(i, loose=True)
        out.append(tp.get_text_range())
        tp.close()
    doc.close()
    return "".join(out)


def _pdfplumber(data: bytes) -> str:
    import io

    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return "".join("".join(c["text"] for c in page.chars) for page in pdf.pages)


def _pymupdf(data: bytes) -> str:
    import pymupdf

    doc = pymupdf.open(stream=data, filetype="pdf")
    out = []
    for page in doc:
        for block in page.get_text("rawdict")["blocks"]:
            for line in block.get("lines", []):
                for span in line["spans"]:
                    out.append("".join(ch["c"] for ch in span["chars"]))
    return "".join(out)


READERS = {"pypdfium2 (Apache-2.0/BSD)": _pypdfium2, "pdfplumber (MIT)": _pdfplumber, "PyMuPDF (AGPL-3.0)": _pymupdf}


def _articles_exact(data: bytes, stories) -> int:
    from ingest.articles import segment_page
    from ingest.layout import reading_order
    from ingest.readers.pdf import read_pdf
    from rag.records import IssueDate, Page

    doc, pages = read_pdf(data, None)
    doc.close()
    arts = segment_page(Page("渝中报", IssueDate(), 1, "b", "page:渝中报/b/1", reading_order(pages[0].lines)))
    c = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
    return sum(1 for a, s in zip(arts, stories) if (a.kicker, a.title, a.subtitle) == (s.kicker, s.title, s.subtitle)
               and c(a.text) == c("".join(s.paragraphs)) and a.continues_on_page == s.continues_on_page)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    stories = seed_stories()
    want = _text(stories)
    with tempfile.TemporaryDirectory() as tmp:
        pdfs = {cols: render_pdf(page_html(stories, columns=cols, side_by_side=(4, 5), boxed=(7,)),
                                 Path(tmp) / f"{cols}.pdf").read_bytes() for cols in (2, 3, 5)}
    print(f"{'library':28s} {'columns':>7s} {'pages/s':>8s} {'CER (no order)':>15s} {'full-width punct':>17s}")
    for name, read in READERS.items():
        try:
            read(pdfs[2])
        except ImportError:
            print(f"{name:28s} not installed")
            continue
        for cols, data in pdfs.items():
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                got = read(data)
                times.append(time.perf_counter() - t0)
            print(f"{name:28s} {cols:7d} {1 / statistics.median(times):8.1f} {_bag_cer(got, want):15.4f} {_punct(got, want):17.3f}")
    for cols, data in pdfs.items():
        print(f"newsrag (pypdfium2 + layout + segmentation), {cols} columns: {_articles_exact(data, stories)}/8 articles exact")


if __name__ == "__main__":
    main()
