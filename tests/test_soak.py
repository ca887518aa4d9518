"""A soak of the running app through its API (gradio_client): 8 concurrent users × 25 questions
with the extractive backend, mixed with searches, then 2 × 5 with the local model. No failed
request, every user who waited saw a queue position, p50 / p95 printed, and the server's RSS
in the last quarter within 5% of the first. Bounded in count and time, loopback only."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import ROOT, _free_port, wait_for_http

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXE = str(Path(sys.executable).parent / "newsrag")
QUESTIONS = [json.loads(x)["question"] for x in (ROOT / "tests" / "fixtures" / "seed_qa.jsonl").read_text(encoding="utf-8").splitlines()]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _serve(home: Path, llm: str):
    env = {**os.environ, "NEWSRAG_HOME": str(home), "NEWSRAG_LLM": llm, "GRADIO_ANALYTICS_ENABLED": "False"}
    port = _free_port()
    proc = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    wait_for_http(url, proc, 300, f"newsrag serve ({llm})")
    return proc, url


def _soak(url: str, pid: int, users: int, per_user: int, search_every: int) -> dict:
    from gradio_client import Client
    from gradio_client.utils import Status

    lat, waited_without_rank, failures, rss = [], [], [], []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            rss.append(_rss_mb(pid))
            time.sleep(0.5)

    def user(u: int):
        client = Client(url, verbose=False)
        for i in range(per_user):
            q = QUESTIONS[(u * per_user + i) % len(QUESTIONS)]
            try:
                t0 = time.perf_counter()
                if search_every and i % search_every == search_every - 1:
                    hits = client.predict(q, 5, "", "", 0, api_name="/search")
                    assert isinstance(hits, list)
                    continue
                job = client.submit(q, "", "", 0, api_name="/ask")
                ranks, queued_since = set(), None
                while not job.done():
                    st = job.status()
                    if st.code == Status.IN_QUEUE:
                        queued_since = queued_since or time.perf_counter()
                        if st.rank is not None:
                            ranks.add(st.rank)
                    time.sleep(0.02)
                ans = job.result()
                assert "answer" in ans and "citations" in ans
                lat.append(time.perf_counter() - t0)
                if queued_since and time.perf_counter() - queued_since > 2.0 and not ranks:
                    waited_without_rank.append(q)
            except Exception as exc:  # noqa: BLE001 - counted and shown
                failures.append(f"{type(exc).__name__}: {exc}")

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    stop.set()
    sampler.join()
    lat.sort()
    quarter = max(len(rss) // 4, 1)
    return {"n": len(lat), "failures": failures, "waited_without_rank": waited_without_rank,
            "p50": statistics.median(lat), "p95": lat[int(0.95 * (len(lat) - 1))],
            "rss_first": statistics.median(rss[:quarter]), "rss_last": statistics.median(rss[-quarter:])}


@pytest.fixture(scope="module")
def seed_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("soak") / "home"
    subprocess.run([EXE, "ingest", str(ROOT / "corpus")], env={**os.environ, "NEWSRAG_HOME": str(home)}, check=True,
                   capture_output=True, timeout=600)
    return home


@pytest.mark.parametrize(("llm", "users", "per_user", "search_every"), [("extractive", 8, 25, 5), ("local", 2, 5, 0)])
def test_soak(seed_home, llm, users, per_user, search_every):
    proc, url = _serve(seed_home, llm)
    try:
        r = _soak(url, proc.pid, users, per_user, search_every)
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"soak {llm}: {users} users × {per_user}: {r['n']} answers, p50 {r['p50']:.2f} s, p95 {r['p95']:.2f} s, "
          f"RSS first quarter {r['rss_first']:.0f} MB, last quarter {r['rss_last']:.0f} MB, failures {len(r['failures'])}")
    assert not r["failures"], r["failures"][:3]
    assert not r["waited_without_rank"], r["waited_without_rank"][:3]
    assert r["rss_last"] <= r["rss_first"] * 1.05
