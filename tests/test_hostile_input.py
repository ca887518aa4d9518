"""Hostile and broken input, property-based (hypothesis): random bytes, random Unicode, huge
lines, control characters and mixed encodings through the page readers, segmentation,
chunking and citation parsing. Never a crash: a result or a per-file problem report."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunks import chunk_article
from ingest.pages import read_file
from ingest.pipeline import articles_from_result
from ingest.readers.jsonl import read_jsonl
from ingest.readers.text import decode_text, lines_from_text
from rag.citations import check_answer, parse_markers, strip_markers
from rag.records import Article, Hit, IssueDate
from rag.text import Query

from .conftest import SEED_PAGE

SEED = SEED_PAGE.read_text(encoding="utf-8")
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
NASTY = st.one_of(CJK, st.characters(codec="utf-8"), st.sampled_from(list("\x00\x07\x1b\u200b\u202e\ufeff\r\n\t（）【】[]「」。，；：、")))
TEXT = st.text(NASTY, max_size=3000)
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _seed_mutations():
    """The real seed page with lines dropped, repeated, cut, or random text spliced in."""
    lines = SEED.splitlines()
    return st.builds(
        lambda keep, junk, at, huge: "\n".join(
            [ln for ln, k in zip(lines, keep) if k][:at] + [junk, "长" * huge] + [ln for ln, k in zip(lines, keep) if k][at:]),
        st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)),
        TEXT, st.integers(0, len(lines)), st.sampled_from([0, 10, 20_000]))


def _read(tmp_path, name: str, data: bytes):
    f = tmp_path / name
    f.write_bytes(data)
    return read_file(f)


@PROPS
@given(data=st.one_of(st.binary(max_size=5000), TEXT.map(lambda t: t.encode("utf-8")),
                      TEXT.map(lambda t: t.encode("gb18030", errors="replace")),
                      st.tuples(TEXT, TEXT).map(lambda p: p[0].encode("utf-8") + p[1].encode("utf-16"))))
def test_any_bytes_as_a_text_page_give_articles_or_a_reason(tmp_path, data):
    res = _read(tmp_path, "page-01.txt", data)
    arts = articles_from_result(res)
    assert res.problems or res.pages
    for p in res.problems:
        assert p.reason and p.file.endswith("page-01.txt")
    for a in arts:
        assert all(c.text for c in chunk_article(a))


@PROPS
@given(text=_seed_mutations())
def test_damaged_seed_pages_segment_and_chunk(text):
    from ingest.articles import segment_page
    from rag.records import Page

    page = Page(key="page:t/x/1", paper="渝中报", date=IssueDate(), page=1, lines=lines_from_text(text), source="t")
    for a in segment_page(page):
        chunks = chunk_article(a)
        assert all(len(c.text) <= 4 * 300 + 200 for c in chunks) or len(a.text) > 10_000


@PROPS
@given(data=st.one_of(st.binary(max_size=3000), st.lists(st.one_of(
    st.dictionaries(st.sampled_from(["id", "text", "date", "page", "paper", "title"]),
                    st.one_of(TEXT, st.integers(), st.none(), st.floats(allow_nan=True), st.lists(st.integers()))),
    st.integers(), TEXT), max_size=20).map(lambda rows: "\n".join(json.dumps(r) for r in rows).encode())))
def test_any_jsonl_gives_articles_and_problems_by_line(data):
    from ingest.pages import parse_date

    articles, problems = read_jsonl(data, parse_date)
    for n, why in problems:
        assert why and (n is None or n >= 1)
    for a in articles:
        assert a.text.strip() and a.source_id


@PROPS
@given(data=st.binary(max_size=4000))
def test_random_bytes_as_pdf_or_scan_are_a_problem_not_a_crash(tmp_path, data):
    for name in ("page-02.pdf", "page-03.png", "page-04.tif"):
        res = _read(tmp_path, name, data)
        assert res.pages or res.problems


@PROPS
@given(data=st.binary(max_size=2000))
def test_decoding_never_raises(data):
    text, why = decode_text(data)
    assert (text is None) == bool(why) or text is not None


@PROPS
@given(reply=TEXT, n=st.integers(0, 12))
def test_citation_parsing_keeps_markers_in_range(reply, n):
    assert all(1 <= m <= n for m in parse_markers(reply, n))
    assert "[" not in strip_markers("[1]") and isinstance(strip_markers(reply), str)


@PROPS
@given(reply=TEXT, question=TEXT)
def test_claim_checking_any_reply_gives_valid_citations(reply, question):
    art = Article("a1", "s1", "渝中报", IssueDate("2023-12-01"), 1, "宪法宣传周", SEED[:600], page_key="p1")
    hits = [Hit(chunk_id=c.chunk_id, score=1.0, text=c.text, article_id=c.article_id, source_id=c.source_id,
                paper=c.paper, date=c.date, page=c.page, title=c.title, page_key=c.page_key)
            for c in chunk_article(art)]
    checked = check_answer(reply, hits, Query.of(question))
    assert all(1 <= c.n <= len(hits) for c in checked.citations)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "page-01.txt"
    with big.open("wb") as f:  # sparse: 1 GB on paper, nothing on disk
        f.truncate(2**30)
    res = read_file(big)
    assert not res.pages and "文件太大" in res.problems[0].reason and "1024 MB" in res.problems[0].reason


def test_upload_names_with_nul_or_dot_dots_write_nothing_outside_the_library(tmp_path):
    from ingest.uploads import Upload, ingest_uploads
    from rag.archive import Archive
    from rag.embedding import FakeEmbedder
    from rag.keyword import KeywordIndex
    from rag.store import InMemoryStore

    src = tmp_path / "upload.bin"
    src.write_text(SEED, encoding="utf-8")
    store = Archive(InMemoryStore("fake"), KeywordIndex())
    names = ["../../outside/page-01.txt", "page-02\x00.txt", "/etc/passwd.txt", "..\\..\\page-03.txt", "\x00"]
    res = ingest_uploads([Upload(n, src) for n in names], paper="渝中报", date="2023-12-01", library=tmp_path / "lib",
                         store=store, embedder=FakeEmbedder())
    assert len(res.files) == len(names) and store.count() > 0
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - {src}
    assert all((tmp_path / "lib") in p.parents for p in written), written
    assert not (tmp_path / "outside").exists() and not any("\x00" in str(p) for p in written)


def test_a_pdf_of_too_many_pages_is_refused_before_any_is_read(tmp_path):
    import pypdfium2 as pdfium

    from ingest.readers.pdf import MAX_PDF_PAGES

    doc = pdfium.PdfDocument.new()
    for _ in range(MAX_PDF_PAGES + 1):
        doc.new_page(595, 842)
    doc.save(str(tmp_path / "page-01.pdf"))
    doc.close()
    res = read_file(tmp_path / "page-01.pdf")
    assert not res.pages and f"超过上限 {MAX_PDF_PAGES} 页" in res.problems[0].reason
