"""Newspaper pages made by the tests themselves: the seed page's articles laid out as an
e-paper page in HTML, printed to PDF by Debian's Chromium, and scanned to PNG from that PDF.

Used by the tests and by the benchmarks that measure PDF extraction and OCR (the text is
known, so character error rates can be computed). Nothing here is product code.
"""

from __future__ import annotations

import html
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_PAGE = ROOT / "corpus" / "yuzhongbao" / "2023-12-undated" / "page-01.txt"

__all__ = ["Story", "seed_stories", "page_html", "render_pdf", "scan", "continuation_stories", "chromium"]


@dataclass(frozen=True)
class Story:
    """What one article of a page prints: headline parts, the opening and the body paragraphs."""

    kicker: str
    title: str
    subtitle: str
    opening: str  # "本报讯（记者 李一）", "本报评论员" (a line of its own) or "（上接1版）"
    paragraphs: tuple[str, ...]
    continues_on_page: int | None = None


def seed_stories() -> list[Story]:
    """The eight articles of corpus/'s seed page, as segmentation reads them."""
    from ingest.articles import segment_page
    from ingest.pages import read_file

    out = []
    for a in segment_page(read_file(SEED_PAGE).pages[0]):
        opening = a.byline if a.byline == "本报评论员" else f"本报讯（{a.byline}）"
        out.append(Story(a.kicker, a.title, a.subtitle, opening, tuple(a.text.split("\n")), a.continues_on_page))
    return out


def continuation_stories() -> list[Story]:
    """Page 2 of the seed issue (written for the tests): the 上接 segments of two page-1
    stories, each under a short jump headline, and one story of page 2's own."""
    return [
        Story("", "网格员技能大比武", "", "（上接1版）",
              ("要在比学赶超中学出标准、学出规范，推动网格工作提质增效。",
               "据悉，本次大比武的一等奖由大坪街道代表队获得，二等奖由解放碑街道和七星岗街道代表队获得。"
               "获奖代表队将代表渝中区参加明年春季举行的全市网格员技能竞赛。")),
        Story("", "“宪法宣传周”活动启动", "", "（上接1版）",
              ("启动仪式后，区司法局组织法律服务志愿者走进解放碑商圈，为市民提供法律咨询服务240余人次。",
               "宪法宣传周期间，全区还将开展“宪法进社区”主题活动48场。")),
        Story("", "渝中区举行冬季消防演练", "", "本报讯（记者 王五）",
              ("12月2日，渝中区在较场口社区举行冬季消防演练，300余名居民参加。",)),
    ]


_CSS = """
@page { size: %(w)smm %(h)smm; margin: 10mm; }
body { font-family: "Noto Serif CJK SC", serif; font-size: 9pt; line-height: 1.5; margin: 0; color: #000; }
.masthead { display: flex; justify-content: space-between; align-items: baseline; border-bottom: 2px solid #000;
            padding-bottom: 2mm; margin-bottom: 4mm; }
.masthead .name { font-family: "Noto Sans CJK SC", sans-serif; font-weight: 900; font-size: 30pt; }
.masthead .info { font-size: 10pt; }
.row { display: flex; gap: 6mm; }
.row > article { flex: 1; min-width: 0; }
.row .title { font-size: 14pt; }
.row .kicker, .row .subtitle { font-size: 11pt; }
article { margin-bottom: 5mm; }
article.boxed { border: 1px solid #000; padding: 3mm; }
.kicker { font-family: "Noto Sans CJK SC", sans-serif; font-weight: 700; font-size: 12pt; text-align: center; }
.title { font-family: "Noto Sans CJK SC", sans-serif; font-weight: 900; font-size: 18pt; text-align: center; margin: 1mm 0; }
.subtitle { font-family: "Noto Sans CJK SC", sans-serif; font-size: 11pt; text-align: center; margin-bottom: 2mm; }
.kicker div, .title div, .subtitle div { white-space: nowrap; }
.body { column-gap: 5mm; column-fill: balance; }
.body p { margin: 0; text-indent: 2em; text-align: justify; }
.byline { font-family: "Noto Sans CJK SC", sans-serif; font-weight: 700; }
.figure { height: %(fig)smm; background: repeating-linear-gradient(45deg, #888 0 4mm, #ccc 4mm 8mm); margin-bottom: 4mm; }
"""


def _lines(part: str) -> str:
    return "".join(f"<div>{html.escape(p)}</div>" for p in part.split(" ") if p)


def _article(s: Story, columns: int, boxed: bool = False) -> str:
    head = ""
    if s.kicker:
        head += f'<div class="kicker">{_lines(s.kicker)}</div>'
    head += f'<div class="title">{_lines(s.title)}</div>'
    if s.subtitle:
        head += f'<div class="subtitle">{_lines(s.subtitle)}</div>'
    paras = list(s.paragraphs)
    mark = f"（下转{s.continues_on_page}版）" if s.continues_on_page else ""
    body = ""
    if s.opening == "本报评论员":
        body += f'<p class="byline" style="text-indent:0">{s.opening}</p>'
        lead = ""
    else:
        lead = f'<span class="byline">{html.escape(s.opening)}</span>'
    for n, p in enumerate(paras):
        text = (lead if n == 0 else "") + html.escape(p) + (html.escape(mark) if n == len(paras) - 1 else "")
        body += f"<p>{text}</p>"
    cls = ' class="boxed"' if boxed else ""
    return f'<article{cls}>{head}<div class="body" style="column-count:{columns}">{body}</div></article>'


def page_html(stories: list[Story], *, columns: int = 3, page_no: int = 1, paper: str = "渝中报",
              side_by_side: tuple[int, ...] = (), boxed: tuple[int, ...] = (), figure_mm: int = 0,
              size_mm: tuple[int, int] = (297, 640)) -> str:
    """An e-paper page: masthead, then the stories top to bottom, each with its headline
    across its body's ``columns``; stories whose indexes are in ``side_by_side`` share a row
    (half the columns each), those in ``boxed`` are framed. ``figure_mm`` puts a picture of
    that height under the masthead."""
    parts, row = [], []
    for i, s in enumerate(stories):
        cols = max(1, columns // 2) if i in side_by_side else columns
        art = _article(s, cols, i in boxed)
        if i in side_by_side:
            row.append(art)
            if len(row) == 2:
                parts.append(f'<div class="row">{"".join(row)}</div>')
                row = []
            continue
        if row:
            parts.append(f'<div class="row">{"".join(row)}</div>')
            row = []
        parts.append(art)
    if row:
        parts.append(f'<div class="row">{"".join(row)}</div>')
    css = _CSS % {"w": size_mm[0], "h": size_mm[1], "fig": figure_mm}
    figure = '<div class="figure"></div>' if figure_mm else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>{css}</style></head><body>"
            f'<div class="masthead"><span class="name">{paper}</span><span class="info">第{page_no}版 · 要闻</span></div>'
            f"{figure}{''.join(parts)}</body></html>")


def chromium() -> str:
    """Debian's Chromium (installed by `make test`)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise RuntimeError("Debian's chromium is not installed: run `make browser` (or `make test`)")
    return exe


def render_pdf(page: str, out: Path) -> Path:
    """Print an HTML page to a one-page PDF with headless Chromium (no network, no profile)."""
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="newsrag-pagegen-") as tmp:
        src = Path(tmp) / "page.html"
        src.write_text(page, encoding="utf-8")
        cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp}/profile",
               "--no-pdf-header-footer", f"--print-to-pdf={out}", src.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"chromium could not print {src}: {proc.stderr[-500:]}")
    return out


def scan(pdf: Path, out: Path, dpi: int = 200, *, noise: float = 0.0, blur: float = 0.0, skew: float = 0.0,
         rotate: int = 0, seed: int = 0) -> Path:
    """A scanned copy of a PDF page: rendered at ``dpi``, then mild print-and-scan damage
    (Gaussian noise of that standard deviation, a blur radius in pixels, a skew in degrees,
    a quarter-turn ``rotate``), saved as PNG with its dpi."""
    import numpy as np
    import pypdfium2 as pdfium
    from PIL import Image, ImageFilter

    doc = pdfium.PdfDocument(str(pdf))
    try:
        img = doc[0].render(scale=dpi / 72).to_pil().convert("L")
    finally:
        doc.close()
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        rng = np.random.default_rng(seed)
        arr = np.asarray(img, dtype=np.float32) + rng.normal(0, noise, (img.height, img.width))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if skew:
        img = img.rotate(skew, resample=Image.BICUBIC, expand=True, fillcolor=255)
    if rotate:
        img = img.rotate(rotate, expand=True)
    out = Path(out)
    img.save(out, dpi=(dpi, dpi))
    return out


def random_stories(n: int, seed: int = 0) -> list[Story]:
    """Stories made of the seed page's sentences in another order, for pages of other sizes."""
    rng = random.Random(seed)
    base = seed_stories()
    sents = [s for st in base for p in st.paragraphs for s in p.split("。") if len(s) > 8]
    out = []
    for i in range(n):
        b = base[i % len(base)]
        body = "。".join(rng.sample(sents, 6)) + "。"
        out.append(Story(b.kicker, b.title, b.subtitle, b.opening, (body,), b.continues_on_page))
    return out


SEED_MANIFEST = 'paper = "渝中报"\nissue = "2023-12-undated"\ndate = ""\ndate_not_before = "2023-12-01"\n'


def issue_folder(root: Path, pages: dict[str, str], manifest: str = SEED_MANIFEST) -> Path:
    """An issue folder: ``issue.toml`` and one PDF per page (file name -> page HTML)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "issue.toml").write_text(manifest, encoding="utf-8")
    for name, page in pages.items():
        render_pdf(page, root / name)
    return root


def bomb_png(path: Path, side: int = 40_000) -> Path:
    """A tiny PNG file whose header claims ``side`` × ``side`` pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + b"\x00" * (side // 8)
    raw = zlib.compress(row * 64, 9)  # a few rows only: decoding past them would be the bomb
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
    png += chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    Path(path).write_bytes(png)
    return Path(path)
