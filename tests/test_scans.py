"""Scanned pages through OCR (PP-OCRv4 by RapidOCR): PNG scans rendered by the tests from
their own PDF pages, a rotated scan, a scan saved as PDF, a page of pictures only, and a
decompression bomb."""

from __future__ import annotations

import re

import pytest
from rapidfuzz.distance import Levenshtein

from ingest.articles import segment_page
from ingest.page_images import PageImages
from ingest.pages import read_file
from ingest.pipeline import ingest_paths
from ingest.readers.ocr import RapidOcr
from rag.archive import Archive
from rag.embedding import FakeEmbedder
from rag.keyword import KeywordIndex
from rag.store import InMemoryStore

from .pagegen import bomb_png, page_html, render_pdf, scan, seed_stories

STORIES = seed_stories()


def _c(s: str) -> str:
    return re.sub(r"\s+", "", s)


def _close(a: str, b: str, cer: float) -> bool:
    a, b = _c(a), _c(b)
    return Levenshtein.distance(a, b) <= cer * max(len(b), 1)


@pytest.fixture(scope="module")
def ocr():
    return RapidOcr()


@pytest.fixture(scope="module")
def seed_pdf(tmp_path_factory):
    return render_pdf(page_html(STORIES, columns=3, side_by_side=(4, 5), boxed=(7,)),
                      tmp_path_factory.mktemp("scan") / "page-01.pdf")


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    big = read_file(bomb_png(tmp_path / "page-01.png", side=10_000), ocr=RapidOcr())
    assert not big.pages and "图片过大（10000×10000 像素）" in big.problems[0].reason
    bomb = read_file(bomb_png(tmp_path / "page-02.png", side=40_000), ocr=RapidOcr())
    assert not bomb.pages and "疑似解压炸弹" in bomb.problems[0].reason


def _check_articles(arts, cer: float = 0.03) -> None:
    assert len(arts) == 8, [a.title for a in arts]
    for a, want in zip(arts, STORIES):
        for got, expected in ((a.kicker, want.kicker), (a.title, want.title), (a.subtitle, want.subtitle)):
            assert _close(got, expected, 0.1), (got, expected)
        byline = want.opening if want.opening == "本报评论员" else want.opening[4:-1]
        assert _close(a.byline, byline, 0.34), (a.byline, byline)  # one name character in three
        assert a.continues_on_page == want.continues_on_page
        body = "".join(want.paragraphs)
        assert _close(a.text[:40], body[:40], 0.1) and _close(a.text, body, cer), a.text[:40]


@pytest.mark.integration
@pytest.mark.slow
def test_a_200_dpi_scan_gives_the_eight_articles(seed_pdf, ocr, tmp_path):
    png = scan(seed_pdf, tmp_path / "page-01.png", dpi=200)
    res = read_file(png, ocr=ocr, images=PageImages(tmp_path))
    assert not res.problems and res.pages[0].page == 1 and res.pages[0].image
    _check_articles(segment_page(res.pages[0]))


@pytest.mark.integration
@pytest.mark.slow
def test_a_rotated_noisy_scan_is_read_the_right_way_up(seed_pdf, ocr, tmp_path):
    png = scan(seed_pdf, tmp_path / "page-01.png", dpi=200, noise=6, blur=0.6, skew=1.0, rotate=90)
    res = read_file(png, ocr=ocr)
    assert not res.problems
    _check_articles(segment_page(res.pages[0]), cer=0.05)


@pytest.mark.integration
@pytest.mark.parametrize("turned", [0, 90, 180])
def test_a_page_whose_middle_is_white_is_judged_upright_by_its_text_elsewhere(seed_pdf, ocr, tmp_path, turned):
    """The turn is judged on the page's middle; white space there (or a photo) reads too little
    text, and a page turned on its side was left on its side."""
    from PIL import Image

    page = Image.open(scan(seed_pdf, tmp_path / "page-01.png", dpi=200)).convert("L")
    w, h = page.size
    page.paste(255, (w // 2 - 600, h // 2 - 600, w // 2 + 600, h // 2 + 600))
    assert ocr.orientation(page.rotate(turned, expand=True)) == (360 - turned) % 360


_VERTICAL_PAGE = """<!doctype html><html><head><style>@page{{size:150mm 180mm;margin:10mm}}
body{{margin:0;font-family:"Noto Serif CJK SC",serif;font-size:10.5pt;line-height:1.6}}
.v{{float:right;writing-mode:vertical-rl;font-family:"Noto Sans CJK SC",sans-serif;font-weight:900;
font-size:24pt;margin-left:4mm}}</style></head><body><div class="v">{title}</div><p>{body}</p></body></html>"""


@pytest.mark.integration
def test_a_vertical_headline_taller_than_the_strips_overlap_is_read_whole(ocr, tmp_path):
    """The page is read in strips that overlap by less than a vertical headline is tall, and
    digits stand sideways in it: the detector gives the headline in pieces, which are read
    as one line from the page."""
    title = "发行价格为131.11元每股"
    body = "本报讯 记者王明报道：" + "区里今年推进老旧小区改造，已完成加装电梯和雨污分流的工程。" * 8
    png = scan(render_pdf(_VERTICAL_PAGE.format(title=title, body=body), tmp_path / "v.pdf"), tmp_path / "v.png")
    from PIL import Image

    lines = RapidOcr(strip=500, overlap=100).read(Image.open(png))
    assert any(_close(ln.text, title, 0.1) for ln in lines), [ln.text for ln in lines if len(ln.text) < 12]


@pytest.mark.integration
@pytest.mark.slow
def test_a_scan_saved_as_pdf_is_read_by_ocr_and_a_page_of_pictures_only_is_reported(seed_pdf, ocr, tmp_path):
    png = scan(seed_pdf, tmp_path / "scan.png", dpi=200)
    folder = tmp_path / "issue"
    folder.mkdir()
    img_page = ("<!doctype html><html><head><style>@page{size:297mm 650mm;margin:0}body{margin:0}</style></head>"
                f"<body><img src='{png.as_uri()}' style='width:297mm;display:block'></body></html>")
    render_pdf(img_page, folder / "page-01.pdf")
    pictures = ("<!doctype html><html><head><style>@page{size:297mm 420mm;margin:10mm}</style></head><body>"
                "<div style='height:380mm;background:linear-gradient(#555,#ddd)'></div></body></html>")
    render_pdf(pictures, folder / "page-02.pdf")
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    rep = ingest_paths([folder], arch, FakeEmbedder(), ocr=ocr)
    assert len(rep.skipped) == 1, rep.skipped
    (problem,) = rep.skipped
    assert problem.file.endswith("page-02.pdf") and "OCR 没有识别出文字" in problem.reason
    assert {h.page for h in arch.store.find()} == {1} and rep.articles == 8
