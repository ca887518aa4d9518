"""OCR of scanned pages: character error rate per resolution, and seconds per page.

    python -m bench.ocr_bench [--dpi 150,200,300] [--engines rapidocr-openvino,rapidocr-onnxruntime,tesseract]

The seed page (3 columns, a boxed story, two side by side; 297 × 640 mm, about a
broadsheet's area) is printed to PDF by Chromium and scanned from that PDF at each dpi
(tests/pagegen.py): clean, and with mild print-and-scan damage (Gaussian noise σ 6, a
0.6-pixel blur, a 1° skew). For each engine:

- seconds per page on this machine (the engine warm: a first page is read before timing);
- CER without order: characters missing or extra against the page's text, order aside,
  over the characters expected (every engine, Tesseract included, with its own layout);
- for RapidOCR, newsrag's whole reading (orientation, deskew, strips, layout,
  segmentation): CER of the eight articles' headlines and bodies in order, and how many
  articles come back with headline, byline and continuation page.

Tesseract 5 (Debian's tesseract-ocr + tesseract-ocr-chi-sim) is measured when its
command is installed (`apt-get install tesseract-ocr tesseract-ocr-chi-sim`).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from tests.pagegen import page_html, render_pdf, scan, seed_stories


def _c(s: str) -> str:
    return re.sub(r"\s+", "", s)


_FURNITURE = re.compile(r"渝中报|第\d版|·|要闻|（下转\d版）|本报讯|（记者[^）]*）|本报评论员")


def _bag_cer(got: str, want: str) -> float:
    g, w = Counter(_c(_FURNITURE.sub("", got))), Counter(_c(_FURNITURE.sub("", want)))
    return (sum((g - w).values()) + sum((w - g).values())) / max(sum(w.values()), 1)


def _rapidocr(runtime: str):
    from ingest.readers.image import read_image
    from ingest.readers.ocr import RapidOcr

    engine = RapidOcr(runtime=runtime)

    def read(png: Path):
        (page,) = read_image(png.read_bytes(), engine)
        return page

    return read


def _tesseract(png: Path) -> str:
    out = subprocess.run(["tesseract", str(png), "stdout", "-l", "chi_sim", "--psm", "3"], capture_output=True, text=True)
    return out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dpi", default="150,200,300")
    ap.add_argument("--engines", default="rapidocr-openvino,rapidocr-onnxruntime,tesseract")
    args = ap.parse_args()
    from ingest.articles import segment_page
    from ingest.layout import reading_order
    from rag.records import IssueDate, Page

    stories = seed_stories()
    want = "".join(s.kicker + s.title + s.subtitle + "".join(s.paragraphs) for s in stories)
    bylines = [s.opening if s.opening == "本报评论员" else s.opening[4:-1] for s in stories]
    print(f"{'engine':22s} {'dpi':>4s} {'scan':8s} {'s/page':>7s} {'CER no order':>13s} {'CER articles':>13s} {'articles':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        pdf = render_pdf(page_html(stories, columns=3, side_by_side=(4, 5), boxed=(7,)), Path(tmp) / "page.pdf")
        warm = scan(pdf, Path(tmp) / "warm.png", dpi=150)
        for name in args.engines.split(","):
            if name == "tesseract":
                if shutil.which("tesseract") is None:
                    print(f"{name:22s} not installed")
                    continue
                read = None
            else:
                read = _rapidocr(name.split("-", 1)[1])
                read(warm)
            for dpi in (int(d) for d in args.dpi.split(",")):
                for label, damage in (("clean", {}), ("damaged", {"noise": 6, "blur": 0.6, "skew": 1.0})):
                    png = scan(pdf, Path(tmp) / f"{dpi}-{label}.png", dpi=dpi, **damage)
                    t0 = time.perf_counter()
                    if read is None:
                        text = _tesseract(png)
                        secs = time.perf_counter() - t0
                        print(f"{name:22s} {dpi:4d} {label:8s} {secs:7.1f} {_bag_cer(text, want):13.4f} {'—':>13s} {'—':>9s}")
                        continue
                    page = read(png)
                    secs = time.perf_counter() - t0
                    lines = reading_order(page.lines)
                    arts = segment_page(Page("渝中报", IssueDate(), 1, "b", "page:渝中报/b/1", lines))
                    got = "".join(a.kicker + a.title + a.subtitle + a.text for a in arts)
                    ok = sum(1 for a, s, b in zip(arts, stories, bylines)
                             if Levenshtein.distance(_c(a.title), _c(s.title)) <= 0.1 * len(_c(s.title))
                             and Levenshtein.distance(a.byline, b) <= 1 and a.continues_on_page == s.continues_on_page)
                    cer = Levenshtein.distance(_c(got), _c(want)) / len(_c(want))
                    raw = "".join(ln.text for ln in lines)
                    print(f"{name:22s} {dpi:4d} {label:8s} {secs:7.1f} {_bag_cer(raw, want):13.4f} {cer:13.4f} "
                          f"{ok:>5d}/{len(stories)}{'' if len(arts) == len(stories) else f' ({len(arts)} found)'}", flush=True)


if __name__ == "__main__":
    main()
