"""The catalogue's contract, over SQLite and a real PostgreSQL: issues, pages, articles and
stories of the stored chunks, written with them and rebuilt from the store when missing."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest

from ingest.chunks import chunk_article
from rag.archive import Archive
from rag.catalogue import LAYOUT, Catalogue
from rag.embedding import FakeEmbedder
from rag.keyword import KeywordIndex
from rag.records import Article, IssueDate, Place
from rag.sql import PostgresDatabase, SqliteDatabase
from rag.store import InMemoryStore

LONG = "。".join(f"第{i}句讲渝中区网格员技能大比武的第{i}个环节" for i in range(30)) + "。"
D1, UNDATED = IssueDate("2023-12-01"), IssueDate("", "2023-12-01", "2023-12-07")


def _articles() -> list[Article]:
    place = Place(image="pages/p1.jpg", size=(595.0, 842.0), region=(10.0, 20.0, 300.0, 400.0))
    return [
        Article("head", "head", "渝中报", D1, 1, "网格员技能大比武", LONG, kicker="以赛促学", subtitle="11支队伍参赛",
                byline="记者 李一", continues_on_page=2, page_key="page:渝中报/2023-12-01/1", place=place),
        Article("brief", "brief", "渝中报", D1, 1, "宪法宣传周启动", "12月1日，宪法宣传周活动启动。",
                page_key="page:渝中报/2023-12-01/1"),
        Article("seg", "seg", "渝中报", D1, 2, "网格员技能大比武", "比赛继续进行。", continued_from_page=1,
                story_id="head", segment_id="seg0", jump_head="大比武", page_key="page:渝中报/2023-12-01/2"),
        Article("p3", "p3", "渝中报", D1, 3, "冬季消防演练", "渝中区举行冬季消防演练。", page_key="page:渝中报/2023-12-01/3"),
        Article("und", "und", "渝中报", UNDATED, 1, "无日期", "日期不详的一篇。", page_key="page:渝中报/第1234期/1"),
        Article("d1", "rgb-1", "RGB", IssueDate("2023-01-05"), None, "", "一条新闻。", page_key="doc:d1"),
        Article("d2", "rgb-2", "RGB", IssueDate("2023-01-05"), None, "标题", "另一条新闻。", page_key="doc:d2"),
        Article("loose", "loose", "", IssueDate(), 4, "散页", "没有清单的一页。", page_key="file:/tmp/page-04.txt"),
    ]


def _chunks():
    return [c for a in _articles() for c in chunk_article(a)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def make_db(request, tmp_path):
    """A factory of connections to one shared database."""
    if request.param == "sqlite":
        yield lambda: SqliteDatabase(tmp_path / "keyword.sqlite")
        return
    url = request.getfixturevalue("postgres_url")
    collection = f"c{uuid.uuid4().hex[:10]}"
    opened: list[PostgresDatabase] = []

    def make():
        opened.append(PostgresDatabase(url, collection))
        return opened[-1]

    yield make
    for db in opened:
        db.close()


def _catalogue(make_db) -> Catalogue:
    cat = Catalogue(make_db())
    cat.add(_chunks())
    return cat


def test_issues_with_their_pages_articles_and_dates(make_db):
    cat = _catalogue(make_db)
    issues = {i.key: i for i in cat.issues()}
    assert set(issues) == {"page:渝中报/2023-12-01", "page:渝中报/第1234期", "doc:RGB/2023-01-05", "file:/tmp/page-04.txt"}
    full = issues["page:渝中报/2023-12-01"]
    assert (full.paper, full.issue, full.date, full.pages, full.articles) == ("渝中报", "2023-12-01", D1, (1, 2, 3), 4)
    assert full.chunks == sum(1 for c in _chunks() if c.page_key.startswith("page:渝中报/2023-12-01/"))
    undated = issues["page:渝中报/第1234期"]
    assert undated.date == UNDATED and undated.label_zh() == "渝中报 日期不详（不早于2023年12月1日，不晚于2023年12月7日） · 期次 第1234期 第1版"
    assert issues["doc:RGB/2023-01-05"].articles == 2 and issues["doc:RGB/2023-01-05"].kind == "doc"
    assert [i.key for i in cat.issues()][2:] == ["doc:RGB/2023-01-05", "file:/tmp/page-04.txt"]  # newest first
    # a range keeps the dated issues in it and the undated whose earliest day is in it
    assert {i.key for i in cat.issues("2023-12-01", "2023-12-31")} == {"page:渝中报/2023-12-01", "page:渝中报/第1234期"}
    assert {i.key for i in cat.issues(date_to="2023-06-30")} == {"doc:RGB/2023-01-05"}
    assert {i.key for i in cat.issues(paper="RGB")} == {"doc:RGB/2023-01-05"}
    assert cat.issue("page:渝中报/2023-12-01") == full and cat.issue("page:nothing") is None


def test_pages_articles_and_stories(make_db):
    cat = _catalogue(make_db)
    pages = cat.pages_of("page:渝中报/2023-12-01")
    assert [p.page for p in pages] == [1, 2, 3] and pages[0].image == "pages/p1.jpg" and pages[0].size == (595.0, 842.0)
    assert cat.has_page("page:渝中报/2023-12-01", 2) and not cat.has_page("page:渝中报/2023-12-01", 4)
    assert not cat.has_page("page:渝中报/第1234期", 2)
    arts = cat.articles(issue_key="page:渝中报/2023-12-01")
    assert [a.article_id for a in arts] == ["brief", "head", "seg", "p3"]  # by page
    head = cat.article("head")
    assert (head.kicker, head.title, head.subtitle, head.byline) == ("以赛促学", "网格员技能大比武", "11支队伍参赛", "记者 李一")
    assert head.chars == len(LONG) and head.continues_on_page == 2 and head.region == (10.0, 20.0, 300.0, 400.0)
    assert head.headline == "以赛促学 网格员技能大比武 11支队伍参赛" and head.issue == "2023-12-01"
    assert [a.article_id for a in cat.articles(page_key="page:渝中报/2023-12-01/1")] == ["brief", "head"]
    assert [a.article_id for a in cat.story("seg")] == [a.article_id for a in cat.story("head")] == ["head", "seg"]
    seg = cat.story("head")[1]
    assert (seg.story_id, seg.segment_id, seg.jump_head, seg.continued_from_page) == ("head", "seg0", "大比武", 1)
    assert [a.article_id for a in cat.story("p3")] == ["p3"] and cat.story("nope") == []
    ids = cat.chunk_ids_of(["head"])["head"]
    assert ids == [c.chunk_id for c in _chunks() if c.article_id == "head"] and len(ids) > 1
    assert cat.newest_date() == date(2023, 12, 1)
    assert cat.page_numbers() == [1, 2, 3, 4]
    assert [a.page for a in cat.first_articles(5)] == [1, 1, 1, 2, 3]
    assert cat.pages_by_source(["page:渝中报/2023-12-01/1", "page:none/x/1"]) == {"page:渝中报/2023-12-01/1": ""}
    # kicker and subtitle recovered from the stored headline when the chunk does not carry them
    bare = [replace(c, metadata={k: v for k, v in c.metadata.items() if k not in ("kicker", "subtitle", "article_chars")})
            for c in _chunks() if c.article_id == "head"]
    cat.add(bare)
    again = cat.article("head")
    assert (again.kicker, again.title, again.subtitle) == ("以赛促学", "网格员技能大比武", "11支队伍参赛")


def test_a_second_connection_reads_the_same_and_adding_again_changes_nothing(make_db):
    cat = _catalogue(make_db)
    other = Catalogue(make_db())
    assert other.issues() == cat.issues() and other.count() == len({c.chunk_id for c in _chunks()})
    other.add(_chunks())
    assert cat.issues() == other.issues() and cat.count() == other.count()


def test_deleting_chunks_drops_what_is_left_empty(make_db):
    cat = _catalogue(make_db)
    head = [c.chunk_id for c in _chunks() if c.article_id == "head"]
    cat.delete(head[:1])
    assert cat.article("head") is not None  # other windows of it remain
    cat.delete(head[1:])
    assert cat.article("head") is None and cat.has_page("page:渝中报/2023-12-01", 1)  # "brief" is still there
    cat.delete([c.chunk_id for c in _chunks() if c.article_id in ("brief", "seg", "p3")])
    assert "page:渝中报/2023-12-01" not in {i.key for i in cat.issues()}
    assert cat.pages_of("page:渝中报/2023-12-01") == [] and cat.page_keys_of("page:渝中报/2023-12-01") == []
    cat.delete(["unknown"])
    assert cat.count() == len({c.chunk_id for c in _chunks() if c.article_id in ("und", "d1", "d2", "loose")})


def test_old_doc_keys_are_found_and_pruned(make_db):
    cat = _catalogue(make_db)
    assert cat.docs_keyed_otherwise() == []
    old = [replace(c, page_key="doc:rgb-1") for c in _chunks() if c.article_id == "d1"]
    cat.add(old)
    assert [a.article_id for a in cat.docs_keyed_otherwise()] == ["d1"]
    assert cat.page_keys_of("doc:RGB/2023-01-05") == ["doc:d1", "doc:d2", "doc:rgb-1"]
    cat.prune()  # doc:d1 has no article left
    assert cat.page_keys_of("doc:RGB/2023-01-05") == ["doc:d2", "doc:rgb-1"]


def test_the_archive_rebuilds_a_missing_or_older_catalogue_from_the_store(make_db):
    db = make_db()
    store, chunks = InMemoryStore("fake"), _chunks()
    arch = Archive(store, KeywordIndex(db=db) if isinstance(db, SqliteDatabase) else KeywordIndex(db=db))
    arch.add(chunks, FakeEmbedder().embed_documents([c.embed_text for c in chunks]))
    want = arch.issues()
    arch.catalogue.clear()  # as an index written before the catalogue holds it
    assert arch.issues() == [] and arch.catalogue.layout() == ""
    arch.sync()
    assert arch.issues() == want and arch.catalogue.layout() == LAYOUT
    assert arch.catalogue.article("head").chars == len(LONG)  # the whole length, from the store's windows
    # an interrupted write: the store holds chunks the catalogue does not, and the other way round
    lost = [c.chunk_id for c in chunks if c.article_id == "p3"]
    arch.catalogue.delete(lost)
    arch.catalogue.add([replace(c, chunk_id="ghost", article_id="ghost") for c in chunks[:1]])
    assert arch.sync() == (len(lost), 1)
    assert arch.issues() == want and arch.catalogue.article("ghost") is None


def _names(text: str):
    """A fake extractor: the names of a small gazetteer the text holds."""
    known = {"李一": "person", "渝中区": "place", "区委": "organization", "宪法宣传周": "organization"}
    return [(n, k, text.count(n)) for n, k in known.items() if n in text]


def test_names_per_article_with_counts_and_dates(make_db):
    arts = [replace(a, text=a.text + extra) for a, extra in zip(_articles(), ["李一在渝中区。", "区委和李一。", "", "渝中区。",
                                                                         "李一。", "", "", ""])]
    chunks = [c for a in arts for c in chunk_article(a)]
    cat = Catalogue(make_db(), entities=_names)
    cat.add(chunks)
    people = cat.names(kind="person")
    assert [(e.name, e.articles, e.first, e.last) for e in people] == [("李一", 3, "2023-12-01", "2023-12-01")]
    assert {e.name for e in cat.names(article_ids=["p3"])} == {"渝中区"}
    assert {e.name for e in cat.names(date_to="2023-11-30")} == set()  # the undated are on no date
    assert [e.name for e in cat.names(paper="RGB")] == []
    assert cat.names_of(["brief"])["brief"][0][:2] in {("区委", "organization"), ("李一", "person"), ("宪法宣传周", "organization")}
    assert sorted(cat.articles_naming("李一")) == ["brief", "head", "und"]
    cat.delete([c.chunk_id for c in chunks if c.article_id == "brief"])
    assert sorted(cat.articles_naming("李一")) == ["head", "und"]
    assert Catalogue(make_db()).names(kind="person")[0].articles == 2  # another connection reads the same


def test_a_catalogue_of_layout_2_gets_its_articles_names_in_place(make_db):
    db = make_db()
    arch = Archive(InMemoryStore("fake"), KeywordIndex(db=db), Catalogue(db, entities=_names))
    chunks = [c for a in _articles() for c in chunk_article(replace(a, text=a.text + "李一在渝中区。"))]
    arch.add(chunks, FakeEmbedder().embed_documents([c.embed_text for c in chunks]))
    want = arch.catalogue.names()
    with db.write():
        db.run("DELETE FROM cat_mentions")
        db.run("UPDATE cat_meta SET value = '2' WHERE key = 'layout'")
    arch.catalogue.entities = lambda text: pytest.fail("names found again: the upgrade needs no extraction")
    assert arch.sync() == (0, 0) and arch.catalogue.layout() == LAYOUT and arch.catalogue.names() == want
