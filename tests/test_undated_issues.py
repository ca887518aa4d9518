"""Undated issues stay apart: an upload or a folder never replaces a page of another issue,
and replacing the same page of the same issue is explicit (已替换)."""

from __future__ import annotations

import json

from ingest.pipeline import ingest_paths
from ingest.uploads import FileOutcome, Upload, UploadOutcome, ingest_uploads
from rag.answering import AnswerChain
from rag.archive import Archive
from rag.chat_models import ExtractiveChat
from rag.embedding import FakeEmbedder
from rag.keyword import KeywordIndex
from rag.records import IssueDate
from rag.retrieval import HybridRetriever
from rag.store import InMemoryStore, Lookup
from ui.cli import main

from .conftest import FIXTURES, ROOT

IMPORTED, REPLACED = FileOutcome(UploadOutcome.IMPORTED), FileOutcome(UploadOutcome.REPLACED)  # the app's 已导入, 已替换
SWIM = "本报讯（记者 王五）11月1日，渝中区举行第一届冬泳比赛，共有200名市民参加。\n"
RUN = "本报讯（记者 赵六）12月5日，渝中区举行第二届马拉松比赛，共有3000名选手参加。\n"


def _archive():
    return Archive(InMemoryStore("fake"), KeywordIndex())


def _page(tmp_path, name, text, folder="up"):
    d = tmp_path / folder
    d.mkdir(exist_ok=True)
    f = d / name
    f.write_text(text, encoding="utf-8")
    return Upload(name, f)


def _upload(arch, lib, up, **kw):
    kw.setdefault("paper", "渝中报")
    kw.setdefault("date", "")
    return ingest_uploads([up], library=lib, store=arch, embedder=FakeEmbedder(), **kw)


def test_two_undated_uploads_of_one_paper_are_two_issues(tmp_path):
    arch, lib = _archive(), tmp_path / "lib"
    first = _upload(arch, lib, _page(tmp_path, "第1版.txt", SWIM, "a"))
    second = _upload(arch, lib, _page(tmp_path, "第1版.txt", RUN, "b"))
    assert first.files == {"第1版.txt": IMPORTED} and second.files == {"第1版.txt": IMPORTED}
    assert second.report.chunks_removed == 0 and first.issue != second.issue
    issues = arch.issues()
    assert len(issues) == 2 and all(i.pages == (1,) for i in issues)
    chain = AnswerChain(HybridRetriever(FakeEmbedder(), arch), ExtractiveChat(), min_cosine=0.0)
    swim, run = chain.ask("冬泳比赛有多少名市民参加？"), chain.ask("马拉松比赛有多少名选手参加？")
    assert "200名" in swim.text and "3000名" in run.text
    assert swim.citations[0].issue == first.issue and run.citations[0].issue == second.issue
    assert swim.to_dict()["citations"][0]["issue"] == first.issue
    assert f"期次 {first.issue}" in swim.citations[0].date.label_zh(swim.citations[0].issue)


def test_uploading_the_same_page_again_replaces_it_and_says_so(tmp_path):
    arch, lib = _archive(), tmp_path / "lib"
    up = _page(tmp_path, "page-01.txt", SWIM)
    _upload(arch, lib, up)
    n = arch.count()
    again = _upload(arch, lib, up)  # the same undated file: the same issue, named from its content
    assert again.files == {"page-01.txt": REPLACED} and arch.count() == n and len(arch.issues()) == 1
    # a named undated issue gets its pages at different times, and a changed page replaces the old one
    _upload(arch, lib, _page(tmp_path, "page-01.txt", SWIM, "n1"), issue="第1234期")
    page2 = _upload(arch, lib, _page(tmp_path, "page-02.txt", RUN, "n2"), issue="第1234期")
    assert page2.files == {"page-02.txt": IMPORTED}
    named = [i for i in arch.issues() if i.key.endswith("/第1234期")]
    assert len(named) == 1 and named[0].pages == (1, 2)
    fixed = _upload(arch, lib, _page(tmp_path, "page-01.txt", SWIM.replace("200名", "250名"), "n3"), issue="第1234期")
    assert fixed.files == {"page-01.txt": REPLACED} and fixed.report.chunks_removed == 1
    texts = [h.text for h in arch.store.find(Lookup(page_keys=("page:渝中报/第1234期/1",)))]
    assert texts and all("250名" in t for t in texts)
    # a dated upload is keyed by its date, as before
    dated = _upload(arch, lib, _page(tmp_path, "page-01.txt", RUN, "d"), date="2023-12-05")
    assert dated.issue == "2023-12-05" and dated.files == {"page-01.txt": IMPORTED}


def test_an_undated_issue_can_say_what_is_known_of_its_day(tmp_path):
    arch, lib = _archive(), tmp_path / "lib"
    res = _upload(arch, lib, _page(tmp_path, "page-01.txt", SWIM), issue="冬季特刊",
                  date_not_before="2023-11-01", date_not_after="2023-11-30")
    (h,) = arch.store.find()
    assert h.date == IssueDate("", "2023-11-01", "2023-11-30") and h.issue == "冬季特刊" == res.issue
    assert h.date.label_zh() == "日期不详（不早于2023年11月1日，不晚于2023年11月30日）"
    manifest = next(lib.rglob("issue.toml")).read_text(encoding="utf-8")
    assert 'date_not_after = "2023-11-30"' in manifest and 'issue = "冬季特刊"' in manifest


def _issue_folder(root, name, text, manifest):
    d = root / name
    d.mkdir(parents=True)
    (d / "issue.toml").write_text(manifest, encoding="utf-8")
    (d / "page-01.txt").write_text(text, encoding="utf-8")
    return d


def test_undated_folders_without_an_issue_name_are_two_issues(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSRAG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NEWSRAG_EMBEDDER", "fake")
    a = _issue_folder(tmp_path / "a", "undated", SWIM, 'paper = "渝中报"\ndate = ""\n')
    b = _issue_folder(tmp_path / "b", "undated", RUN, 'paper = "渝中报"\ndate = ""\n')
    from click.testing import CliRunner

    r = CliRunner().invoke(main, ["ingest", str(a), str(b), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["chunks_removed"] == 0
    hits = json.loads(CliRunner().invoke(main, ["search", "比赛", "--json"]).stdout)
    assert {h["text"][:6] for h in hits} == {"11月1日，", "12月5日，"}  # both pages stayed
    assert len({h["issue"] for h in hits}) == 2 and all(h["issue"].startswith("undated~") for h in hits)


def test_a_page_stored_under_the_old_folder_name_key_is_replaced_not_duplicated(tmp_path):
    # indexes written before undated folders were told apart keyed them by folder name alone
    arch = _archive()
    folder = _issue_folder(tmp_path, "undated", SWIM, 'paper = "渝中报"\nissue = "undated"\ndate = ""\n')
    ingest_paths([folder], arch, FakeEmbedder())
    old = arch.store.all_ids()
    assert {h.page_key for h in arch.store.find()} == {"page:渝中报/undated/1"}
    (folder / "issue.toml").write_text('paper = "渝中报"\ndate = ""\n', encoding="utf-8")
    rep = ingest_paths([folder], arch, FakeEmbedder())
    (key,) = {h.page_key for h in arch.store.find()}
    assert key.startswith("page:渝中报/undated~") and rep.chunks_removed == len(old) and not (arch.store.all_ids() & old)
    assert rep.chunks_added == len(old) == arch.count()


def test_the_corpus_index_keeps_its_chunk_ids():
    arch = _archive()
    ingest_paths([ROOT / "corpus"], arch, FakeEmbedder())
    expected = (FIXTURES / "corpus_chunk_ids.txt").read_text(encoding="utf-8").split()
    assert sorted(arch.store.all_ids()) == sorted(expected)  # nothing of corpus/ is embedded again
