"""Keyword index, archive consistency, fusion, dedupe, filters and question normalisation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ingest.chunks import chunk_article
from ingest.pipeline import ingest_paths
from rag.archive import Archive, open_archive
from rag.embedding import FakeEmbedder
from rag.errors import InputError
from rag.keyword import KeywordIndex
from rag.records import Article, Hit, IssueDate
from rag.retrieval import HybridRetriever, SearchFilters
from rag.settings import Settings
from rag.store import InMemoryStore, Lookup
from rag.text import asks_for_date, normalize, states_date, tokenize

from .conftest import SEED_PAGE


def _art(aid, text, title="", date="", page=1, paper="渝中报", key=None):
    return Article(aid, aid, paper, IssueDate(date), page, title, text, page_key=key or f"p-{aid}")


ARTS = [
    _art("a1", "11月30日，渝中区网格员技能大比武举行，11支代表队参加决赛。", "网格员技能大比武", "2023-11-30", 1),
    _art("a2", "12月1日，渝中区2023年宪法宣传周活动启动，现场设置普法咨询点。", "宪法宣传周启动", "2023-12-01", 1),
    _art("a3", "上清寺街道美专校社区成功申报市级渝好空间，吸纳成员单位37家。", "美专校社区", "2023-12-02", 2),
    _art("a4", "台湾地区经济数据显示，11月出口增长5%。", "经济数据", "2023-12-03", 3, paper="晚报"),
]


@pytest.fixture
def archive():
    a = Archive(InMemoryStore("fake"), KeywordIndex())
    chunks = [c for art in ARTS for c in chunk_article(art)]
    a.add(chunks, FakeEmbedder().embed_documents([c.embed_text for c in chunks]))
    return a


@pytest.fixture
def retriever(archive):
    return HybridRetriever(FakeEmbedder(), archive)


# --- tokenisation and normalisation -------------------------------------------------------


def test_tokenize_keeps_numbers_and_latin_whole_and_drops_stopwords():
    toks = tokenize("11月份居民消费价格上涨0.5%，AI滑板闯关的活动")
    assert "0.5%" in toks and "ai" in toks and "11" in toks and "居民消费" in toks
    assert "的" not in toks and "，" not in toks


def test_traditional_and_full_width_are_normalised():
    assert normalize("臺灣２０２３年ＡＩ經濟") == "台湾2023年ai经济"
    assert tokenize("臺灣經濟") == tokenize("台湾经济")


def test_bigrams_option_adds_character_pairs():
    assert "法宣" in tokenize("宪法宣传周", bigrams=True) and "法宣" not in tokenize("宪法宣传周")


# --- keyword index -------------------------------------------------------------------------


def test_bm25_ranks_the_matching_chunk_first(archive):
    (cid, score), *_ = archive.keyword.search("宪法宣传周什么时候启动", 3)
    assert archive.store.get([cid])[0].article_id == "a2" and score > 0


def test_keyword_index_persists_and_updates(tmp_path):
    path = tmp_path / "kw.sqlite"
    idx = KeywordIndex(path)
    chunks = [c for a in ARTS for c in chunk_article(a)]
    idx.add(chunks)
    idx.add(chunks[:1])  # re-adding replaces, never duplicates
    assert idx.count() == 4
    idx.close()
    again = KeywordIndex(path)
    assert again.count() == 4 and again.search("美专校", 1)[0][0] == chunks[2].chunk_id
    again.delete([chunks[2].chunk_id])
    assert again.search("美专校", 5) == [] and again.count() == 3


def test_keyword_index_follows_ingest_reingest_and_delete(tmp_path):
    from pathlib import Path

    settings = Settings(home=tmp_path / "home")
    arch = open_archive(settings, "fake")
    corpus = tmp_path / "c"
    corpus.mkdir()
    page = corpus / "page-01.txt"
    page.write_text(SEED_PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    ingest_paths([corpus], arch, FakeEmbedder())
    assert arch.keyword.ids() == arch.store.all_ids() and arch.count() > 0
    text = page.read_text(encoding="utf-8").replace("黄茂军出席并讲话。市委巡回", "黄茂军出席并致辞。市委巡回")
    page.write_text(text, encoding="utf-8")
    ingest_paths([Path(corpus)], arch, FakeEmbedder())
    assert arch.keyword.ids() == arch.store.all_ids()
    removed = arch.delete_pages([f"file:{page.resolve()}"])
    assert removed > 0 and arch.count() == 0 and arch.keyword.count() == 0


def test_open_archive_repairs_an_interrupted_keyword_update(tmp_path):
    settings = Settings(home=tmp_path / "home")
    arch = open_archive(settings, "fake")
    chunks = [c for a in ARTS for c in chunk_article(a)]
    # the vector store got the chunks, the keyword index did not (a crash in between)
    arch.store.add(chunks, FakeEmbedder().embed_documents([c.embed_text for c in chunks]))
    arch.keyword.add(chunks[:1])
    arch.keyword.close()
    reopened = open_archive(settings, "fake")
    assert reopened.keyword.ids() == {c.chunk_id for c in chunks}
    assert reopened.keyword.search("网格员技能大比武", 1)[0][0] == chunks[0].chunk_id  # headline indexed too


# --- fusion and dedupe --------------------------------------------------------------------------


def _hit(cid, aid, text="x", sid=None):
    return Hit(cid, aid, sid or aid, "", "", IssueDate(), 1, text, 0.0)


class _Stored:
    """An archive whose store serves only ``get`` from the given hits."""

    def __init__(self, hits):
        self.hits = {h.chunk_id: h for h in hits}
        self.store = self

    def get(self, ids):
        return [self.hits[i] for i in ids if i in self.hits]


def test_rrf_weights_and_k():
    hits = [_hit("c1", "a1", "甲"), _hit("c2", "a2", "乙"), _hit("c3", "a3", "丙")]
    r = HybridRetriever(FakeEmbedder(), _Stored(hits), rrf_k=10, dense_weight=1.0, keyword_weight=0.5)
    fused = r.fuse([hits[0], hits[1]], [("c3", 9.0), ("c2", 5.0)])
    # c2: 1/12 + 0.5/12 = .125 ; c1: 1/11 = .0909 ; c3: 0.5/11 = .0455
    assert [h.chunk_id for h in fused] == ["c2", "c1", "c3"]
    assert fused[0].score == pytest.approx(1 / 12 + 0.5 / 12)


def test_a_date_question_lifts_passages_that_state_a_date():
    hits = [_hit("c1", "a1", "解放碑灯会吸引大批市民前来观赏。"), _hit("c2", "a2", "解放碑灯会将于１２月１日开幕。"),
            _hit("c3", "a3", "灯会共有三十组花灯。")]
    r = HybridRetriever(FakeEmbedder(), _Stored(hits))  # k 60: 1/61 - 1/62 < the 0.002 lift
    dense = [hits[0], hits[1], hits[2]]
    assert [h.chunk_id for h in r.fuse(dense, [], "解放碑灯会哪天开幕")] == ["c2", "c1", "c3"]
    assert [h.chunk_id for h in r.fuse(dense, [], "when does the lantern fair open")][0] == "c2"
    assert [h.chunk_id for h in r.fuse(dense, [], "解放碑灯会有多少组花灯")] == ["c1", "c2", "c3"]
    assert [h.chunk_id for h in replace(r, date_boost=0.0).fuse(dense, [], "灯会哪天开幕")][0] == "c1"
    # a lift moves a passage a few ranks, not from the bottom of the list to the top
    far = [_hit(f"d{i}", f"b{i}", "灯会") for i in range(20)] + [hits[1]]
    r = HybridRetriever(FakeEmbedder(), _Stored(far))
    assert [h.chunk_id for h in r.fuse(far, [], "灯会哪天开幕")][0] == "d0"


@pytest.mark.parametrize("question, asks", [("首届中阿峰会的时间", True), ("C919商业首飞是什么时候？", True),
                                            ("when did the fair open", True), ("艾尔登法环发售日期", True),
                                            ("卡塔尔世界杯季军是哪支球队", False), ("渝中区有多少个网格", False),
                                            ("区图书馆的营业时间是几点到几点？", False), ("办理居住证要多长时间", False),
                                            ("区图书馆哪天恢复营业时间？", True)])
def test_asks_for_date(question, asks):
    assert asks_for_date(normalize(question)) is asks


@pytest.mark.parametrize("text, states", [("12月1日启动", True), ("本月３日", True), ("2023年12月", True),
                                          ("2023-12-01 发布", True), ("十二月一日开幕", True),
                                          ("12月1号开幕", True), ("轨道交通3号线", False),
                                          ("共有30组花灯", False), ("2023年渝中区", False)])
def test_states_date(text, states):
    assert states_date(text) is states


def test_dedupe_keeps_neighbours_moves_extra_windows_down_and_drops_near_copies():
    a = "渝中区网格员技能大比武举行，十一支代表队参加决赛，比赛设置理论和实操两个环节。"
    hits = [
        _hit("c1", "A", a),
        _hit("c2", "A", a + "。"),  # a near-copy of c1
        _hit("c3", "A", "黄茂军指出，网格是服务群众的第一线。"),
        _hit("c4", "A", "区委常委出席活动并颁奖。"),
        _hit("c5", "B", "宪法宣传周活动启动。"),
    ]
    r = HybridRetriever(FakeEmbedder(), _Stored(hits), per_article=2)
    assert [h.chunk_id for h in r.dedupe(hits)] == ["c1", "c3", "c5", "c4"]


# --- search ---------------------------------------------------------------------------------------


def test_search_finds_facts_by_name_and_number(retriever):
    assert retriever.search("几支代表队参加网格员大比武决赛", 1)[0].article_id == "a1"
    assert retriever.search("美专校社区吸纳了多少家成员单位", 1)[0].article_id == "a3"


def test_traditional_full_width_question(retriever):
    assert retriever.search("憲法宣傳週活動哪天啟動？", 1)[0].article_id == "a2"
    assert retriever.search("美專校社區吸納了３７家成員單位嗎", 1)[0].article_id == "a3"


@pytest.mark.parametrize(
    "filters,expected",
    [
        (SearchFilters(page=1), {"a1", "a2"}),
        (SearchFilters(paper="晚报"), {"a4"}),
        (SearchFilters(date_from="2023-12-01", date_to="2023-12-02"), {"a2", "a3"}),
        (SearchFilters(date_from="2023-12-03"), {"a4"}),
    ],
)
def test_filters_apply_in_both_legs(archive, filters, expected):
    dense_only = HybridRetriever(FakeEmbedder(), archive, keyword_weight=0.0)
    keyword_only = HybridRetriever(FakeEmbedder(), archive, dense_weight=0.0)
    for r in (dense_only, keyword_only):
        got = {h.article_id for h in r.search("渝中区 活动 数据 社区 宪法 网格员", 10, filters)}
        assert got and got <= expected


def test_unknown_dates_never_pass_a_date_filter():
    a = Archive(InMemoryStore("fake"), KeywordIndex())
    chunks = chunk_article(_art("u", "日期不详的宪法宣传周报道。", date=""))
    a.add(chunks, FakeEmbedder().embed_documents([c.embed_text for c in chunks]))
    r = HybridRetriever(FakeEmbedder(), a)
    assert r.search("宪法宣传周", 5)  # found without a filter
    assert r.search("宪法宣传周", 5, SearchFilters(date_from="2000-01-01")) == []


@pytest.mark.parametrize("bad", ["", "   ", "\n"])
def test_empty_question_is_a_clear_error(retriever, bad):
    with pytest.raises(InputError, match="empty") as err:
        retriever.search(bad)
    assert err.value.for_user() == "问题是空的，请输入要问或要查找的内容（the question is empty: type what you are looking for）"


@pytest.mark.parametrize("k", [0, -1, 101, "5"])
def test_top_k_is_validated(retriever, k):
    with pytest.raises(InputError, match="top_k must be between 1 and 100") as err:
        retriever.search("宪法", k)
    assert err.value.zh.startswith("结果条数应在 1 到 100 之间")


@pytest.mark.parametrize(
    "filters,zh",
    [
        (dict(date_from="2023/12/01"), "开始日期应写成 2023-12-01"),
        (dict(date_from="2023-12-31", date_to="2023-12-01"), "开始日期晚于结束日期"),
        (dict(page=0), "版次应是正整数"),
    ],
)
def test_bad_filters_say_what_is_wrong_in_chinese_first(filters, zh):
    with pytest.raises(InputError) as err:
        SearchFilters(**filters)
    assert err.value.zh.startswith(zh) and str(err.value)  # the English detail stays for logs


def test_an_error_without_a_specific_chinese_message_keeps_its_class_one():
    assert InputError("x").for_user() == "输入无法读取（x）" and InputError().for_user() == "输入无法读取"


def test_very_long_question_still_searches(retriever):
    assert retriever.search("宪法宣传周活动哪天启动？" * 500, 2)


@pytest.mark.parametrize(
    "kwargs,needle",
    [({"date_from": "2023/12/01"}, "date_from must be a date"), ({"date_to": "2023-02-30"}, "date_to"),
     ({"date_from": "2023-12-05", "date_to": "2023-12-01"}, "after"), ({"page": 0}, "page must be")],
)
def test_bad_filters_name_the_value(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        SearchFilters(**kwargs)


def test_langchain_retriever(retriever):
    from langchain_core.documents import Document

    from rag.lc_retriever import NewsragRetriever

    lc = NewsragRetriever(retriever=retriever, top_k=2)
    docs = lc.invoke("宪法宣传周")
    assert all(isinstance(d, Document) for d in docs)
    assert docs[0].metadata["article_id"] == "a2" and docs[0].metadata["page"] == 1
    assert docs[0].metadata["date_label"] == "2023年12月1日"
    only_evening = lc.invoke("经济 数据", filters=SearchFilters(paper="晚报"))
    assert {d.metadata["paper"] for d in only_evening} == {"晚报"}


@pytest.mark.integration
def test_hybrid_search_with_chroma_as_a_server(tmp_path, chroma_server):
    """Server mode: vectors on a real `chroma run`, the keyword index under NEWSRAG_HOME."""
    settings = Settings(home=tmp_path / "home", chroma_url=chroma_server, collection="serverhybrid")
    arch = open_archive(settings, "fake")
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "page-01.txt").write_text(SEED_PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    rep = ingest_paths([corpus], arch, FakeEmbedder())
    assert rep.articles == 8 and arch.keyword.ids() == arch.store.all_ids()
    r = HybridRetriever(FakeEmbedder(), arch)
    assert "宪" in r.search("宪法宣传周活动哪天启动", 1)[0].title
    assert r.search("宪法宣传周", 3, SearchFilters(page=2)) == []
    # a second client (another NEWSRAG_HOME) sees the same vectors and builds its keyword index from them
    other = open_archive(Settings(home=tmp_path / "other", chroma_url=chroma_server, collection="serverhybrid"), "fake")
    assert other.keyword.ids() == arch.store.all_ids()


def test_an_index_from_before_the_catalogue_opens_upgrades_once_and_answers_the_same(tmp_path):
    """An index written by the version before the catalogue: no catalogue tables in its
    keyword.sqlite, no layout recorded in its Chroma collection, and a JSONL article under the
    layout-1 key ``doc:<source id>``. Read, it answers the same (the catalogue is built from
    the store); opened for writing, it is upgraded once, with a message; nothing is embedded again."""
    import sqlite3

    from rag.archive import LAYOUT

    settings = Settings(home=tmp_path / "home")
    arch = open_archive(settings, "fake")
    doc = Article("d1", "rgb-1", "RGB", IssueDate("2023-01-05"), None, "", "解放碑举行迎新年灯会。", page_key="doc:rgb-1")
    chunks = [c for a in [*ARTS, doc] for c in chunk_article(a)]
    arch.add(chunks, FakeEmbedder().embed_documents([c.embed_text for c in chunks]))
    retriever = HybridRetriever(FakeEmbedder(), arch)
    want = [(h.chunk_id, round(h.score, 9)) for h in retriever.search("宪法宣传周什么时候启动", 5)]
    issues, ids = arch.issues(), arch.store.all_ids()
    vectors = arch.store.vectors(sorted(ids))
    col = arch.store._col
    col.modify(metadata={k: v for k, v in col.metadata.items() if k != "newsrag_layout"})
    arch.keyword.close()
    con = sqlite3.connect(settings.home / "keyword.sqlite")
    for t in [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'cat_%'")]:
        con.execute(f"DROP TABLE {t}")
    con.commit()
    con.close()

    reader = open_archive(settings, "fake", create=False)
    assert reader.store.layout() == 0 and reader.issues() == issues  # built from the store, not upgraded
    got = [(h.chunk_id, round(h.score, 9)) for h in HybridRetriever(FakeEmbedder(), reader).search("宪法宣传周什么时候启动", 5)]
    assert got == want
    told: list[str] = []
    writer = open_archive(settings, "fake", notice=told.append)
    assert len(told) == 1 and "1 chunks" in told[0] and writer.store.layout() == LAYOUT
    assert {h.page_key for h in writer.store.find(Lookup(article_ids=("d1",)))} == {"doc:d1"}
    assert writer.store.all_ids() == ids and all(np.array_equal(writer.store.vectors([i])[i], v) for i, v in vectors.items())
    assert open_archive(settings, "fake", notice=told.append) and len(told) == 1  # once
