"""Ingest end to end with the fake embedder and the in-memory store (fast)."""

from __future__ import annotations

import functools
import json
import shutil
import weakref

import numpy as np
import pytest

from ingest.pipeline import ingest_paths as _ingest_paths
from rag.archive import LAYOUT, Archive
from rag.embedding import FakeEmbedder
from rag.keyword import KeywordIndex
from rag.store import InMemoryStore

from .conftest import SEED_PAGE


@pytest.fixture
def corpus(tmp_path):
    issue = tmp_path / "corpus" / "yzb" / "2023-12-undated"
    issue.mkdir(parents=True)
    shutil.copy(SEED_PAGE, issue / "page-01.txt")
    shutil.copy(SEED_PAGE.parent / "issue.toml", issue / "issue.toml")
    return tmp_path / "corpus"


_ARCHIVES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _archive(store: InMemoryStore) -> Archive:
    """The archive around a store (one per store, so its catalogue lives as long)."""
    if store not in _ARCHIVES:
        _ARCHIVES[store] = Archive(store, KeywordIndex())
    return _ARCHIVES[store]


def ingest_paths(paths, store, embedder, **kw):
    return _ingest_paths(paths, _archive(store), embedder, **kw)


def _reopen(store: InMemoryStore, layout: int) -> Archive:
    """The store as an index of ``layout`` opened again for writing: its keyword index and
    catalogue rebuilt from it (sync), then upgraded once, as ``open_archive`` does."""
    store.set_layout(layout)
    _ARCHIVES[store] = arch = Archive(store, KeywordIndex())
    arch.sync()
    arch.upgrade()
    return arch


def _ids(store: InMemoryStore) -> set[str]:
    return set(store._rows)


def test_ingest_then_reingest_changes_nothing(corpus):
    store, emb = InMemoryStore(), FakeEmbedder()
    first = ingest_paths([corpus], store, emb)
    assert (first.files_read, first.articles) == (1, 8)
    assert first.chunks_added == store.count() > 8
    before = _ids(store)
    second = ingest_paths([corpus], store, emb)
    assert second.chunks_added == 0 and second.chunks_removed == 0
    assert second.chunks_unchanged == first.chunks_added
    assert _ids(store) == before


def test_changed_page_replaces_its_chunks(corpus):
    store, emb = InMemoryStore(), FakeEmbedder()
    ingest_paths([corpus], store, emb)
    page = corpus / "yzb" / "2023-12-undated" / "page-01.txt"
    text = page.read_text(encoding="utf-8")
    assert "黄茂军出席并讲话。市委巡回" in text
    page.write_text(text.replace("黄茂军出席并讲话。市委巡回", "黄茂军出席并致辞。市委巡回"), encoding="utf-8")
    rep = ingest_paths([corpus], store, emb)
    assert rep.chunks_added >= 1 and rep.chunks_removed == rep.chunks_added
    docs = [r[0] for r in store._rows.values()]
    assert any("黄茂军出席并致辞" in d for d in docs) and not any("黄茂军出席并讲话" in d for d in docs)


class _Crash(Exception):
    pass


class _FlakyEmbedder(FakeEmbedder):
    def __init__(self, fail_after: int):
        super().__init__()
        self.calls = 0
        self.fail_after = fail_after

    def embed_documents(self, texts):
        self.calls += 1
        if self.calls > self.fail_after:
            raise _Crash("power cut")
        return super().embed_documents(texts)


def test_interrupted_ingest_completes_on_rerun_without_duplicates(corpus):
    store = InMemoryStore()
    with pytest.raises(_Crash):
        ingest_paths([corpus], store, _FlakyEmbedder(fail_after=1), batch_size=4)
    partial = store.count()
    assert 0 < partial
    rep = ingest_paths([corpus], store, FakeEmbedder(), batch_size=4)
    assert rep.chunks_unchanged == partial
    clean = InMemoryStore()
    ingest_paths([corpus], clean, FakeEmbedder())
    assert _ids(store) == _ids(clean)


def test_bad_files_are_skipped_and_the_rest_ingested(corpus, tmp_path):
    bad = corpus / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    (bad / "binary.txt").write_bytes(bytes(range(256)))
    (bad / "notes.docx").write_bytes(b"PK\x03\x04")
    (bad / "docs.jsonl").write_text(
        json.dumps({"id": "d1", "text": "好文章。"}) + "\n{broken\n", encoding="utf-8"
    )
    store = InMemoryStore()
    rep = ingest_paths([corpus], store, FakeEmbedder())
    assert rep.files_read == 2 and rep.files_skipped == 3
    assert rep.articles == 9
    reasons = {(p.file.rsplit("/", 1)[-1], p.line) for p in rep.skipped}
    assert reasons == {("empty.txt", None), ("binary.txt", None), ("notes.docx", None), ("docs.jsonl", 2)}
    assert not rep.ok
    assert rep.to_dict()["skipped"][0]["reason"]


def test_jsonl_ids_are_kept_as_source_id(tmp_path):
    f = tmp_path / "docs.jsonl"
    f.write_text(
        "\n".join(json.dumps({"id": f"rgb-{i}", "text": f"第{i}篇新闻，内容不同{i}。" * 30}) for i in range(3)),
        encoding="utf-8",
    )
    store = InMemoryStore()
    ingest_paths([f], store, FakeEmbedder())
    sids = {md["source_id"] for _, md, _ in store._rows.values()}
    assert sids == {"rgb-0", "rgb-1", "rgb-2"}
    hits = store.query(FakeEmbedder().embed_query("第1篇新闻"), 3)
    assert hits[0].source_id == "rgb-1"


def _doc_1(folder, name, paper, text):
    """A one-line JSONL file holding article "1" of ``paper``."""
    (folder / name).write_text(json.dumps({"id": "1", "paper": paper, "text": text}, ensure_ascii=False), encoding="utf-8")
    return folder / name


def test_the_same_jsonl_id_in_two_papers_is_two_articles(tmp_path):
    write = functools.partial(_doc_1, tmp_path)
    store = InMemoryStore()
    ingest_paths([write("a.jsonl", "晚报", "解放碑举行迎新年灯会，共有三十组花灯。")], store, FakeEmbedder())
    rep = ingest_paths([write("b.jsonl", "日报", "较场口夜市新开二十个摊位。")], store, FakeEmbedder())
    assert rep.chunks_removed == 0  # another paper's article "1" is not a re-ingest of this one
    assert {md["paper"] for _, md, _ in store._rows.values()} == {"晚报", "日报"}
    rep = ingest_paths([write("b.jsonl", "日报", "较场口夜市新开三十个摊位。")], store, FakeEmbedder())
    assert rep.chunks_removed == 1 and {md["paper"] for _, md, _ in store._rows.values()} == {"晚报", "日报"}


def test_an_index_of_layout_1_is_upgraded_once_its_doc_keys_moved_not_reembedded(tmp_path):
    """Indexes written before JSONL pages were keyed by article id hold ``doc:<id>``: opened
    for writing, they are re-keyed once (vectors kept); ingest then finds them unchanged."""
    write = functools.partial(_doc_1, tmp_path)
    store = InMemoryStore()
    ingest_paths([write("a.jsonl", "晚报", "解放碑举行迎新年灯会，共有三十组花灯。")], store, FakeEmbedder())
    ingest_paths([write("b.jsonl", "日报", "较场口夜市新开二十个摊位。")], store, FakeEmbedder())
    vectors = {cid: row[2].copy() for cid, row in store._rows.items()}
    for _, md, _ in store._rows.values():
        md["page_key"] = "doc:1"  # what both articles had before
    arch = _reopen(store, layout=1)
    assert store.layout() == LAYOUT and "doc:1" not in {md["page_key"] for _, md, _ in store._rows.values()}
    assert all(np.array_equal(store._rows[c][2], v) for c, v in vectors.items())  # not embedded again
    assert arch.upgrade() == 0  # once: a second open finds nothing to do

    rep = ingest_paths([write("a.jsonl", "晚报", "解放碑举行迎新年灯会，共有三十组花灯。")], store, FakeEmbedder())
    assert (rep.chunks_added, rep.chunks_unchanged, rep.chunks_removed, store.count()) == (0, 1, 0, 2)
    rep = ingest_paths([write("b.jsonl", "日报", "较场口夜市新开三十个摊位。")], store, FakeEmbedder())
    assert rep.chunks_removed == 1  # the old text of 日报's article, not 晚报's
    texts = sorted(text for text, _, _ in store._rows.values())
    assert texts == ["解放碑举行迎新年灯会，共有三十组花灯。", "较场口夜市新开三十个摊位。"]


def test_an_upgrade_drops_a_chunk_whose_vector_is_gone_and_ingest_embeds_it_again(tmp_path):
    store = InMemoryStore()
    ingest_paths([_doc_1(tmp_path, "a.jsonl", "晚报", "解放碑举行迎新年灯会。")], store, FakeEmbedder())
    for _, md, _ in store._rows.values():
        md["page_key"] = "doc:1"
    store.vectors = lambda ids: {}  # deleted between listing and moving
    _reopen(store, layout=1)
    rep = ingest_paths([tmp_path / "a.jsonl"], store, FakeEmbedder())
    assert (rep.chunks_added, rep.chunks_unchanged, rep.chunks_removed, store.count()) == (1, 0, 0, 1)
    assert [md["page_key"] for _, md, _ in store._rows.values()] != ["doc:1"]


def test_ingest_runs_no_migration(tmp_path, monkeypatch):
    """Old-layout migrations run once at open for writing, never inside ingest."""
    store = InMemoryStore()
    arch = _archive(store)
    monkeypatch.setattr(Archive, "upgrade", lambda *a, **k: pytest.fail("ingest ran an upgrade"))
    monkeypatch.setattr(arch.catalogue, "docs_keyed_otherwise", lambda: pytest.fail("ingest looked for old keys"))
    rep = ingest_paths([_doc_1(tmp_path, "a.jsonl", "晚报", "解放碑举行迎新年灯会。")], store, FakeEmbedder())
    assert rep.chunks_added == 1


def test_a_repeated_id_is_reported_by_line_unless_the_paper_differs(tmp_path):
    f = tmp_path / "docs.jsonl"
    rows = [{"id": "7", "paper": "晚报", "text": "灯会开幕。"}, {"id": "7", "paper": "日报", "text": "夜市开张。"},
            {"id": "7", "paper": "晚报", "text": "灯会闭幕。"}]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    store = InMemoryStore()
    rep = ingest_paths([f], store, FakeEmbedder())
    assert [(p.line, "重复的 id '7'" in p.reason) for p in rep.skipped] == [(3, True)]
    assert sorted(md["paper"] for _, md, _ in store._rows.values()) == ["日报", "晚报"]


def test_empty_store_query_and_embeddings_shape():
    emb = FakeEmbedder()
    assert emb.embed_documents([]).shape == (0, emb.dim)
    v = emb.embed_query("渝中")
    assert np.isclose(np.linalg.norm(v), 1.0)
    assert np.allclose(v, emb.embed_query("渝中"))
    assert InMemoryStore().query(v, 5) == []


class _Recorder(InMemoryStore):
    """Notes how many file parts the reader had handed over when each write came."""

    def __init__(self, read: list[int]) -> None:
        super().__init__()
        self.read, self.writes = read, []

    def add(self, chunks, embeddings):
        self.writes.append(self.read[0])
        super().add(chunks, embeddings)


def _jsonl(path, n: int, start: int = 0):
    rows = [{"id": f"d{i}", "paper": "晚报", "date": "2023-12-01", "title": f"第{i}条新闻",
             "text": f"第{i}条新闻的正文。" + "渝中区举行活动，居民参加。" * (3 + i % 5)} for i in range(start, start + n)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_ingest_streams_in_groups_with_the_same_result_as_one_batch(tmp_path, corpus, monkeypatch):
    import ingest.pipeline

    read = [0]

    def counting(*a, **k):
        for part in ingest.pages.read_parts(*a, **k):
            read[0] += 1
            yield part

    monkeypatch.setattr(ingest.pipeline, "read_parts", counting)
    big = _jsonl(tmp_path / "big.jsonl", 230)
    one, streamed = InMemoryStore(), _Recorder(read)
    whole = ingest_paths([corpus, big], one, FakeEmbedder(), group_articles=10_000)
    seen: list[tuple[int, int]] = []
    read[0] = 0
    parts = ingest_paths([corpus, big], streamed, FakeEmbedder(), group_articles=50, batch_size=16,
                         progress=lambda done, total: seen.append((done, total)))
    assert _ids(streamed) == _ids(one) and streamed.count() == whole.chunks_added
    assert (parts.articles, parts.files_read, parts.chunks_added) == (whole.articles, 2, whole.chunks_added)
    # written as it was read: 1 page + 230 rows in parts of 50 is 6 parts, and the first
    # write came when only the page and one part of 50 rows had been read
    assert read[0] == 6 and streamed.writes[0] == 2 and streamed.writes[-1] == 6
    # progress: done never passes total, both only grow, and it ends complete
    assert all(d <= t for d, t in seen) and seen == sorted(seen) and seen[-1] == (whole.chunks_added,) * 2
    assert len({t for _, t in seen}) > 1  # the total grew as groups were read


def test_a_jsonl_file_is_read_in_parts_with_problems_by_line(tmp_path):
    from ingest.pages import read_parts

    f = _jsonl(tmp_path / "a.jsonl", 12)
    with f.open("a", encoding="utf-8") as fh:
        fh.write("{broken\n")
    parts = list(read_parts(f, rows=5))
    assert [len(p.articles) for p in parts] == [5, 5, 2]
    assert [(p.line, "JSON" in p.reason) for part in parts for p in part.problems] == [(13, True)]
