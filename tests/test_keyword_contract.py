"""One keyword-index contract, both backends: SQLite under NEWSRAG_HOME (the embedded default)
and PostgreSQL (NEWSRAG_KEYWORD_URL, shared by app replicas) on a throwaway server that the
tests start themselves. Same chunks in, the same ids and BM25 scores out."""

from __future__ import annotations

import threading
import uuid

import pytest

from ingest.chunks import chunk_article
from ingest.pages import read_file
from ingest.pipeline import articles_from_result
from rag.filters import SearchFilters
from rag.keyword import KeywordIndex, PostgresKeywordIndex
from rag.records import Article, IssueDate

from .conftest import SEED_PAGE

QUERIES = ["宪法宣传周什么时候启动", "网格员技能大比武", "渝中区", "美专校 旧址", "居民", "国家 统计局 价格", "不存在的词语组合"]


def _chunks():
    arts = articles_from_result(read_file(SEED_PAGE))
    more = [Article(article_id=f"x{i}", source_id=f"x{i}", paper=paper, date=IssueDate(iso=day), page=page,
                    title=f"{paper}消息{i}", text=text, page_key=f"doc:x{i}", source=f"x{i}")
            for i, (paper, day, page, text) in enumerate([
                ("晚报", "2023-11-30", 2, "国家统计局发布数据，11月份全国居民消费价格同比上涨0.5%。"),
                ("晚报", "2023-12-02", 3, "渝中区居民在解放碑参加宪法宣传活动，社区网格员现场讲解。"),
                ("日报", "2024-01-05", 1, "美专校街旧址完成修缮，居民可预约参观。渝中区文旅委介绍了开放时间。"),
            ])]
    return [c for a in arts + more for c in chunk_article(a)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def make_index(request, tmp_path):
    """A factory of indexes on one shared place: each call is another connection to it."""
    if request.param == "sqlite":
        yield lambda: KeywordIndex(tmp_path / "keyword.sqlite")
        return
    url = request.getfixturevalue("postgres_url")
    collection = f"t{uuid.uuid4().hex[:10]}"  # tables of their own per test
    opened: list[PostgresKeywordIndex] = []

    def make():
        opened.append(PostgresKeywordIndex(url, collection))
        return opened[-1]

    yield make
    for idx in opened:
        idx.close()


def _reference():
    idx = KeywordIndex(":memory:")
    idx.add(_chunks())
    return idx


def test_search_gives_the_reference_ids_and_scores(make_index):
    idx, ref = make_index(), _reference()
    idx.add(_chunks())
    assert idx.count() == ref.count() == len({c.chunk_id for c in _chunks()})
    for q in QUERIES:
        got, want = idx.search(q, 10), ref.search(q, 10)
        assert [c for c, _ in got] == [c for c, _ in want], q
        assert [round(s, 9) for _, s in got] == [round(s, 9) for _, s in want], q
    assert idx.search("", 5) == [] and idx.search("渝中区", 0) == []


def test_filters(make_index):
    idx, ref = make_index(), _reference()
    idx.add(_chunks())
    for f in (SearchFilters(paper="晚报"), SearchFilters(page=1), SearchFilters(date_from="2023-12-01"),
              SearchFilters(date_to="2023-12-01"), SearchFilters("2024-01-01", "2024-01-31", "日报")):
        got, want = idx.search("渝中区 居民", 10, f), ref.search("渝中区 居民", 10, f)
        assert [(c, round(s, 9)) for c, s in got] == [(c, round(s, 9)) for c, s in want], f
        found = {c.chunk_id: c for c in _chunks()}
        assert all(f.admits(found[c].paper, found[c].page, _day(found[c])) for c, _ in got), f
    assert idx.search("渝中区 居民", 10, SearchFilters(paper="没有这份报")) == []


def _day(c):
    return int(c.date.iso.replace("-", "")) if c.date.iso else None


def test_add_replaces_delete_removes_and_reopen_keeps(make_index):
    chunks = _chunks()
    idx = make_index()
    idx.add(chunks)
    idx.add(chunks[:3])  # re-adding replaces, never duplicates
    assert idx.count() == len({c.chunk_id for c in chunks})
    gone = [c.chunk_id for c in chunks if c.paper == "日报"]
    idx.delete([*gone, "no-such-id"])
    again = make_index()
    assert again.ids() == {c.chunk_id for c in chunks} - set(gone)
    assert not {c for c, _ in again.search("美专校街旧址", 10)} & set(gone)


def test_another_connection_sees_writes_at_its_next_search(make_index):
    a, b = make_index(), make_index()
    a.add(_chunks()[:2])
    assert b.search("国家统计局", 5) == []
    a.add(_chunks())
    assert b.search("国家统计局", 5) and b.count() == a.count()


def test_two_writers_at_once_end_with_every_chunk_once(make_index):
    chunks = _chunks()
    writers = [make_index(), make_index()]
    if isinstance(writers[0], KeywordIndex) and not isinstance(writers[0], PostgresKeywordIndex):
        writers = [writers[0], writers[0]]  # SQLite: one index per process, shared by threads
    errors: list[BaseException] = []

    def write(idx, part):
        try:
            for _ in range(3):  # overlapping chunks, written again and again
                idx.add(part)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w, chunks[i::2] + chunks[:4])) for i, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    idx = make_index()
    assert idx.ids() == {c.chunk_id for c in chunks} and idx.count() == len({c.chunk_id for c in chunks})
    got, want = idx.search("网格员技能大比武", 3), _reference().search("网格员技能大比武", 3)
    assert [(c, round(s, 9)) for c, s in got] == [(c, round(s, 9)) for c, s in want]


# A corpus where a few words are in most documents (Zipf-like) and others in few: the case
# where a search sums the common terms only for documents that rare terms could lift into
# the top k.
_WORDS = ["发展", "工作", "社区", "居民", "渝中区", "网格员", "宪法", "旧址", "修缮", "统计局", "价格", "消费",
          "解放碑", "美专校", "党建", "调研", "成果", "交流", "志愿者", "楼宇", "经济", "总部", "文旅", "开放"]


def _zipf_chunks(n: int = 240):
    import random

    rng = random.Random(7)
    weights = [1 / (r + 1) for r in range(len(_WORDS))]
    rare = [a + b for a in "甲乙丙丁戊己庚辛壬癸" for b in "子丑寅卯辰巳午未申酉戌亥"]
    arts = [Article(article_id=f"z{i}", source_id=f"z{i}", paper=("晚报", "日报")[i % 2],
                    date=IssueDate(iso=f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}"), page=1 + i % 4, title="",
                    text="，".join(rng.choices(_WORDS, weights, k=rng.randint(2, 12)) + rng.sample(rare, 2)) + "。",
                    page_key=f"doc:z{i}", source=f"z{i}")
            for i in range(n)]
    return [c for a in arts for c in chunk_article(a)]


def test_pruned_search_equals_the_full_sum(make_index, monkeypatch):
    idx, full = make_index(), KeywordIndex(":memory:")
    chunks = _zipf_chunks()
    idx.add(chunks)
    full.add(chunks)
    idx.prune_above, full.prune_above = 0, 10**12
    proven = []
    pruned = type(idx)._pruned
    monkeypatch.setattr(idx, "_pruned", lambda *a: proven.append(pruned(idx, *a)) or proven[-1])
    queries = ["发展 工作 甲子", "渝中区 社区 乙丑 丙寅", "发展 居民 丁卯", "工作 社区 戊辰 己巳 庚午", "发展", "社区 价格"]
    for q in queries:
        for k in (1, 5, 50):
            for f in (None, SearchFilters(paper="日报"), SearchFilters(date_from="2023-06-01")):
                got, want = idx.search(q, k, f), full.search(q, k, f)
                assert [round(s, 9) for _, s in got] == [round(s, 9) for _, s in want], (q, k, f)
                # equal scores may be summed in another order: ids compared above the k-th score
                last = round(want[-1][1], 9) if want else 0

                def above(rs, last=last):
                    return sorted((-round(s, 9), c) for c, s in rs if round(s, 9) > last)

                assert above(got) == above(want), (q, k, f)
    assert any(r is not None for r in proven) and any(r is None for r in proven)  # both ways were taken


def test_an_index_of_the_earlier_layout_is_migrated_in_place(tmp_path):
    import sqlite3

    path = tmp_path / "keyword.sqlite"
    KeywordIndex(path).add(_chunks())
    db = sqlite3.connect(path)  # back to the layout before postings held the document length
    db.executescript(
        "CREATE TABLE old(term TEXT NOT NULL, doc INTEGER NOT NULL, tf INTEGER NOT NULL, PRIMARY KEY(term, doc)) WITHOUT ROWID;"
        "INSERT INTO old SELECT term, doc, tf FROM postings; DROP TABLE postings; ALTER TABLE old RENAME TO postings;"
        "CREATE INDEX postings_doc ON postings(doc); DELETE FROM meta WHERE key='layout';"
    )
    db.commit()
    db.close()
    idx, ref = KeywordIndex(path), _reference()
    for q in QUERIES:
        assert [(c, round(s, 9)) for c, s in idx.search(q, 10)] == [(c, round(s, 9)) for c, s in ref.search(q, 10)], q
    idx.add(_chunks()[:2])  # and it keeps being written
    assert KeywordIndex(path).count() == ref.count()


def test_an_unreachable_postgres_is_a_clear_error_without_the_password(tmp_path):
    from rag.archive import open_keyword_index
    from rag.errors import StoreUnavailable
    from rag.settings import Settings

    from .conftest import _free_port

    url = f"postgresql://newsrag:hunter2@127.0.0.1:{_free_port()}/newsrag"
    settings = Settings.from_env({"NEWSRAG_HOME": str(tmp_path), "NEWSRAG_KEYWORD_URL": url})
    with pytest.raises(StoreUnavailable) as err:
        open_keyword_index(settings)
    assert "hunter2" not in str(err.value) and "newsrag:***@127.0.0.1" in str(err.value)
    assert err.value.exit_code == 6 and "PostgreSQL" in err.value.zh
    with pytest.raises(Exception, match="NEWSRAG_KEYWORD_URL must look like"):
        Settings.from_env({"NEWSRAG_KEYWORD_URL": "mysql://x"})


def test_table_prefixes_keep_collections_apart():
    from rag.keyword import _table_prefix

    assert _table_prefix("newsrag") == "kw_newsrag_"  # the default keeps the tables it always had
    folded = ["News", "news", "a.b", "a-b", "a_b", "x" * 60 + "1", "x" * 60 + "2"]
    prefixes = [_table_prefix(c) for c in folded]
    assert len(set(prefixes)) == len(folded)
    # the longest name PostgreSQL gets from a prefix ("…postings_doc", an index) fits in its 63 bytes
    assert all(len(p + "postings_doc") <= 63 for p in prefixes + [_table_prefix("y" * 512)])


@pytest.mark.integration
def test_collections_postgres_would_fold_together_keep_their_own_index(postgres_url):
    tag = uuid.uuid4().hex[:8]
    upper, lower = PostgresKeywordIndex(postgres_url, f"News{tag}"), PostgresKeywordIndex(postgres_url, f"news{tag}")
    try:
        upper.add(_chunks())
        assert len(upper.ids()) == len(_chunks()) and lower.ids() == set()
    finally:
        upper.close()
        lower.close()
