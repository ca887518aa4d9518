"""E-paper PDF pages: text layer, layout (2, 3 and 5 columns, headlines across columns, a
story boxed, two side by side), stories continued on page 2, boxes for citations, and
broken PDFs. The pages are made by the tests (HTML printed to PDF by Debian's Chromium)."""

from __future__ import annotations

import io
import json
import re

import pytest
from click.testing import CliRunner

from ingest.articles import segment_page
from ingest.page_images import PageImages
from ingest.pages import read_file
from ingest.pipeline import ingest_paths
from rag.answering import AnswerChain
from rag.archive import Archive
from rag.chat_models import ExtractiveChat
from rag.embedding import FakeEmbedder
from rag.filters import SearchFilters
from rag.keyword import KeywordIndex
from rag.retrieval import HybridRetriever
from rag.store import InMemoryStore, Lookup
from ui.cli import main

from .pagegen import continuation_stories, page_html, render_pdf, seed_stories

STORIES = seed_stories()


def _c(s: str) -> str:
    return re.sub(r"\s+", "", s)


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pdf")
    out = {}
    for cols in (2, 3, 5):
        (root / f"{cols}col").mkdir()
        out[cols] = render_pdf(page_html(STORIES, columns=cols, side_by_side=(4, 5), boxed=(7,)), root / f"{cols}col" / "page-01.pdf")
    return out


@pytest.mark.parametrize("cols", [2, 3, 5])
def test_a_multi_column_pdf_page_gives_the_eight_articles_of_the_text_page(pdfs, cols, tmp_path):
    res = read_file(pdfs[cols], images=PageImages(tmp_path))
    assert not res.problems and len(res.pages) == 1
    page = res.pages[0]
    assert page.page == 1 and page.image.startswith("pages/") and (tmp_path / page.image).is_file()
    arts = segment_page(page)
    assert len(arts) == 8
    for a, want in zip(arts, STORIES):
        assert (a.kicker, a.title, a.subtitle) == (want.kicker, want.title, want.subtitle)
        assert a.byline == (want.opening if want.opening == "本报评论员" else want.opening[4:-1])
        assert a.continues_on_page == want.continues_on_page
        assert _c(a.text) == _c("".join(want.paragraphs))  # the whole body, in reading order
        # where it stands: every body line has its box, inside the article's region
        assert a.place and a.place.lines and a.place.region
        x0, y0, x1, y1 = a.place.region
        assert all(x0 <= b[0] and b[2] <= x1 and y0 <= b[1] and b[3] <= y1 for _, _, b in a.place.lines)
    assert "渝中报" not in {a.title for a in arts} and all("第1版" not in a.headline for a in arts)  # the masthead


def test_chunks_carry_the_boxes_of_their_lines(pdfs, tmp_path):
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    ingest_paths([pdfs[3]], arch, FakeEmbedder(), images=PageImages(tmp_path))
    hits = arch.store.find()
    assert hits and all(h.place and h.place.box and h.place.image for h in hits)
    h = max(hits, key=lambda h: len(h.text))
    s, e, box = h.place.lines[1]
    assert 0 <= s < e <= len(h.text) and box[2] > box[0]
    js = h.to_dict()
    assert js["bbox"] and js["page_image"].startswith("pages/") and len(js["page_size"]) == 2


@pytest.fixture(scope="module")
def two_pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("issue")
    p1 = render_pdf(page_html(STORIES, columns=3), root / "p1.pdf")
    p2 = render_pdf(page_html(continuation_stories(), columns=3, page_no=2), root / "p2.pdf")
    return p1.read_bytes(), p2.read_bytes()


def _folder(tmp_path, name, **pages: bytes):
    from .pagegen import SEED_MANIFEST

    d = tmp_path / name / "2023-12-undated"
    d.mkdir(parents=True)
    (d / "issue.toml").write_text(SEED_MANIFEST, encoding="utf-8")
    for fname, data in pages.items():
        (d / f"{fname}.pdf").write_bytes(data)
    return d


def _index(*folders):
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    for f in folders:
        ingest_paths([f], arch, FakeEmbedder())
    return arch


def test_a_story_continued_on_page_2_is_linked_whatever_the_order_of_ingest(two_pages, tmp_path):
    p1, p2 = two_pages
    one = _folder(tmp_path, "a", **{"page-01": p1})
    two = _folder(tmp_path, "b", **{"page-02": p2})
    both = _folder(tmp_path, "c", **{"page-01": p1, "page-02": p2})
    forward, backward, together = _index(one, two), _index(two, one), _index(both)
    assert forward.store.all_ids() == backward.store.all_ids() == together.store.all_ids()  # the same linked articles
    segs = [h for h in forward.store.find() if h.page == 2 and h.continued_from_page == 1]
    assert {h.title for h in segs} == {"我区举行党建统领基层治理网格员技能大比武", "法治渝中“宪”在身边 渝中2023年“宪法宣传周”活动启动"}
    assert all(h.story_id for h in segs) and {h.jump_head for h in segs} == {"网格员技能大比武", "“宪法宣传周”活动启动"}
    # page 2's own story stays its own
    assert any(h.title == "渝中区举行冬季消防演练" and not h.story_id for h in forward.store.find(Lookup(filters=SearchFilters(page=2))))
    # ingesting a page again changes nothing
    before = forward.store.all_ids()
    ingest_paths([one], forward, FakeEmbedder())
    ingest_paths([two], forward, FakeEmbedder())
    assert forward.store.all_ids() == before


def test_a_fact_printed_only_on_page_2_is_cited_to_page_2_under_the_page_1_headline(two_pages, tmp_path):
    p1, p2 = two_pages
    arch = _index(_folder(tmp_path, "x", **{"page-01": p1, "page-02": p2}))
    chain = AnswerChain(HybridRetriever(FakeEmbedder(), arch), ExtractiveChat(), min_cosine=0.0)
    ans = chain.ask("网格员技能大比武的一等奖由哪个代表队获得？")
    assert "大坪街道" in ans.text
    (c, *_) = ans.citations
    assert c.page == 2 and c.title == "我区举行党建统领基层治理网格员技能大比武" and c.continuation_note.startswith("上接1版")
    assert c.place and c.quote_boxes and c.place.image == ""  # no image store given here
    d = ans.to_dict()["citations"][0]
    assert d["bbox"] and d["page"] == 2
    # the page-1 part of the story no longer says page 2 is missing
    head = chain.ask("网格员技能大比武有多少支代表队站上决赛擂台？").citations[0]
    assert head.page == 1 and head.continuation_note == "下转2版"


def test_without_its_page_the_continuation_says_so_until_the_page_arrives(two_pages, tmp_path):
    p1, p2 = two_pages
    arch = _index(_folder(tmp_path, "y", **{"page-02": p2}))
    chain = AnswerChain(HybridRetriever(FakeEmbedder(), arch), ExtractiveChat(), min_cosine=0.0)
    c = chain.ask("宪法宣传周期间还将开展多少场主题活动？").citations[0]
    assert c.page == 2 and c.continuation_note == "上接1版：本库未收第1版"
    ingest_paths([_folder(tmp_path, "z", **{"page-01": p1})], arch, FakeEmbedder())
    c = chain.ask("宪法宣传周期间还将开展多少场主题活动？").citations[0]
    assert c.continuation_note == "上接1版" and "宪法宣传周" in c.title


def test_newsrag_articles_shows_linked_stories_with_their_pages(two_pages, tmp_path):
    p1, p2 = two_pages
    folder = _folder(tmp_path, "cli", **{"page-01": p1, "page-02": p2})
    r = CliRunner().invoke(main, ["articles", str(folder)])
    assert r.exit_code == 0, r.output
    assert "↳ 续文 continued in [9]" in r.stdout and "↳ 上接第1版 [2] 的续文" in r.stdout
    arts = json.loads(CliRunner().invoke(main, ["articles", str(folder), "--json"]).stdout)
    seg = next(a for a in arts if a["page"] == 2 and a.get("story_id"))
    assert seg["title"] == arts[1]["title"] and seg["story_id"] == arts[1]["article_id"]


def _encrypted(pdf: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    w.encrypt("secret")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _empty_pdf() -> bytes:
    from pypdf import PdfWriter

    out = io.BytesIO()
    PdfWriter().write(out)  # a well-formed PDF with no page
    return out.getvalue()


def test_broken_pdfs_are_reported_and_the_rest_of_the_batch_is_ingested(two_pages, tmp_path):
    p1, _ = two_pages
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "page-01.pdf").write_bytes(p1)
    (folder / "page-02.pdf").write_bytes(_encrypted(p1))
    (folder / "page-03.pdf").write_bytes(p1[: len(p1) // 3])
    (folder / "page-04.pdf").write_bytes(_empty_pdf())
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    rep = ingest_paths([folder], arch, FakeEmbedder())
    why = {p.file.rsplit("/", 1)[-1]: p.reason for p in rep.skipped}
    assert why["page-02.pdf"].startswith("PDF 已加密") and why["page-03.pdf"].startswith("PDF 文件已损坏")
    assert why["page-04.pdf"].startswith("PDF 没有页面") and "page-01.pdf" not in why
    assert rep.files_read == 1 and {h.page for h in arch.store.find()} == {1}


def test_the_whole_story_is_its_segments_page_by_page(two_pages, tmp_path):
    p1, p2 = two_pages
    arch = _index(_folder(tmp_path, "s", **{"page-01": p1, "page-02": p2}))
    seg = next(h for h in arch.store.find(Lookup(filters=SearchFilters(page=2))) if h.story_id)
    parts = arch.story(seg.article_id)
    assert [p[0].page for p in parts] == [1, 2] and parts[0][0].article_id == seg.story_id
    assert arch.story(seg.story_id) == parts and len(arch.story(next(h.article_id for h in arch.store.find(Lookup(filters=SearchFilters(page=2)))
                                                                   if not h.story_id))) == 1


def test_two_headlines_side_by_side_a_point_apart_in_size_are_two_lines(tmp_path):
    # two stories' headlines on one baseline, 23 and 24 pt, half an em apart: one PDF line had
    # read them as one ("区委常委会召上清寺街道…")
    html = """<!doctype html><html><head><meta charset='utf-8'><style>
    @page { size: 200mm 60mm; margin: 0 }
    body { margin: 0; font-family: "Noto Sans CJK SC", sans-serif; font-weight: 900 }
    div { position: absolute; white-space: nowrap; line-height: 1 }
    </style></head><body>
    <div style="left: 10mm; top: 10mm; font-size: 23pt">区委常委会召</div>
    <div style="left: 63mm; top: 10.1mm; font-size: 24pt">上清寺街道社区成功申报</div>
    <div style="left: 10mm; top: 30mm; font-size: 9pt; font-weight: 400">本报讯 12月1日，区委常委会召开会议，传达学习有关精神，研究部署近期工作。</div>
    </body></html>"""
    res = read_file(render_pdf(html, tmp_path / "page.pdf"))
    texts = [ln.text for ln in res.pages[0].lines]
    assert "区委常委会召" in texts and "上清寺街道社区成功申报" in texts, texts
