"""One archive, several app replicas: two `newsrag serve` processes against one `chroma run`
server and one PostgreSQL keyword index (both real, started by the tests). What one writer
ingests, both find at their next search, without a restart; two writers at once both complete
and leave the vector store and the keyword index holding the same chunks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .conftest import ROOT, _free_port, wait_for_http

pytestmark = pytest.mark.integration

EXE = str(Path(sys.executable).parent / "newsrag")


def _rows(path: Path, paper: str, items: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "paper": paper, "date": "2024-03-01", "title": t,
                                        "text": t + "。" + "渝中区居民参加社区活动，街道介绍了安排。" * 3},
                                       ensure_ascii=False) + "\n" for i, t in items), encoding="utf-8")
    return path


@pytest.fixture
def cluster(tmp_path, chroma_server, postgres_url):
    """The environment every replica and writer shares (a collection of this test's own)."""
    base = {**os.environ, "NEWSRAG_EMBEDDER": "fake", "NEWSRAG_LLM": "extractive", "GRADIO_ANALYTICS_ENABLED": "False",
            "NEWSRAG_CHROMA_URL": chroma_server, "NEWSRAG_KEYWORD_URL": postgres_url,
            "NEWSRAG_COLLECTION": f"replicas{uuid.uuid4().hex[:8]}"}
    procs: list[subprocess.Popen] = []

    def env(name: str) -> dict:
        home = tmp_path / name
        home.mkdir(exist_ok=True)
        return {**base, "NEWSRAG_HOME": str(home)}

    def serve(name: str) -> str:
        port = _free_port()
        log = open(tmp_path / f"{name}.log", "wb")
        procs.append(subprocess.Popen([EXE, "serve", "--port", str(port)], env=env(name), stdout=log, stderr=subprocess.STDOUT))
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, procs[-1], 120, f"replica {name} (log: {tmp_path / f'{name}.log'})")
        return url

    yield env, serve
    for p in procs:
        p.terminate()
        p.wait(20)


def _search(url: str, query: str) -> list[dict]:
    from gradio_client import Client

    return Client(url, verbose=False).predict(query, 5, api_name="/search")


def _counts(env: dict) -> tuple[int, int]:
    from rag.archive import open_archive
    from rag.settings import Settings

    arch = open_archive(Settings.from_env(env), "fake", create=False)
    return arch.store.count(), arch.keyword.count()


def test_what_one_writer_ingests_both_replicas_find_at_their_next_search(cluster, tmp_path):
    env, serve = cluster
    subprocess.run([EXE, "ingest", str(ROOT / "corpus")], env=env("writer"), check=True, capture_output=True, timeout=300)
    a, b = serve("a"), serve("b")
    assert _search(b, "宪法宣传周")[0]["paper"] == "渝中报"
    assert not any("鹅岭公园" in h["title"] for h in _search(a, "鹅岭公园樱花节"))
    new = _rows(tmp_path / "new.jsonl", "重庆晚报", [("n1", "鹅岭公园樱花节开幕")])
    subprocess.run([EXE, "ingest", str(new)], env=env("writer"), check=True, capture_output=True, timeout=300)
    for url in (a, b):  # no restart: the next search of each replica sees it
        assert _search(url, "鹅岭公园樱花节")[0]["title"] == "鹅岭公园樱花节开幕"
    vectors, keywords = _counts(env("check"))
    assert vectors == keywords > 8


def test_two_writers_at_once_both_complete_and_stay_consistent(cluster, tmp_path):
    env, _ = cluster
    files = [_rows(tmp_path / f"w{w}.jsonl", f"报{w}", [(f"w{w}-{i}", f"第{w}号写入者的第{i}条消息") for i in range(40)])
             for w in (1, 2)]
    writers = [subprocess.Popen([EXE, "ingest", str(f), "--json"], env=env(f"w{i}"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i, f in enumerate(files)]
    outs = [p.communicate(timeout=300) for p in writers]
    assert [p.returncode for p in writers] == [0, 0], [e[-800:] for _, e in outs]
    added = [json.loads(o)["chunks_added"] for o, _ in outs]
    vectors, keywords = _counts(env("check"))
    assert vectors == keywords == sum(added) and min(added) >= 40


def test_a_chroma_server_outage_is_a_clear_error_and_the_app_recovers_without_a_restart(tmp_path):
    """The Chroma server stops while the app runs and an ingest starts, then comes back on the
    same port: while it is down the app and the CLI say so in Chinese (the CLI exits 6); when
    it is back, the same app process answers again."""
    import time

    from gradio_client import Client

    chroma = str(Path(sys.executable).parent / "chroma")
    port, data = _free_port(), tmp_path / "chroma-data"

    def start_chroma():
        proc = subprocess.Popen([chroma, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, 60, "chroma server")
        return proc

    env = {**os.environ, "NEWSRAG_EMBEDDER": "fake", "NEWSRAG_LLM": "extractive", "GRADIO_ANALYTICS_ENABLED": "False",
           "NEWSRAG_CHROMA_URL": f"http://127.0.0.1:{port}", "NEWSRAG_HOME": str(tmp_path / "home")}
    server = start_chroma()
    app = None
    try:
        subprocess.run([EXE, "ingest", str(ROOT / "corpus")], env=env, check=True, capture_output=True, timeout=300)
        app_port = _free_port()
        app = subprocess.Popen([EXE, "serve", "--port", str(app_port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{app_port}/"
        wait_for_http(url, app, 120, "newsrag serve")
        client = Client(url, verbose=False)
        assert client.predict("宪法宣传周", 3, api_name="/search")
        server.terminate()
        server.wait(20)
        with pytest.raises(Exception, match="连不上向量库服务"):
            client.predict("宪法宣传周", 3, api_name="/search")
        down = subprocess.run([EXE, "ingest", str(ROOT / "tests" / "fixtures" / "pages")], env=env, capture_output=True,
                              text=True, timeout=300)
        assert down.returncode == 6 and "Chroma" in down.stderr and "Traceback" not in down.stderr, down.stderr[-600:]
        server = start_chroma()
        deadline = time.time() + 30
        while True:  # the same app process, no restart
            try:
                assert client.predict("宪法宣传周", 3, api_name="/search")[0]["paper"] == "渝中报"
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(1)
    finally:
        if app is not None:
            app.terminate()
            app.wait(20)
        server.terminate()
        server.wait(20)
