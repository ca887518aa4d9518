"""What a newcomer runs, as they run it: the defaults, no ``NEWSRAG_*`` set, from a fresh folder.

Every other test isolates itself with an absolute temporary NEWSRAG_HOME, so none of them
met the relative default index (``.newsrag/`` in the working directory) that once crashed
search, ask and serve for every new user while all tests passed. Here the working directory
holds a copy of ``corpus/`` and nothing else; the real embedder and the real local chat model
are used, as ``make run`` uses them; then the README's commands and its "From Python" and API
snippets are run as written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import ROOT, _free_port, wait_for_http

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXE = str(Path(sys.executable).parent / "newsrag")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _newcomer_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSRAG_")}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    env["PYTHONPATH"] = str(ROOT)  # the checkout's code, as an editable install gives it
    return env


def _run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=_newcomer_env(), capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 0, f"{args} exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh working folder holding a copy of corpus/, ingested with the defaults."""
    cwd = tmp_path_factory.mktemp("newcomer")
    shutil.copytree(ROOT / "corpus", cwd / "corpus")
    _run([EXE, "ingest", "corpus/"], cwd)
    assert (cwd / ".newsrag").is_dir()  # the default index, relative to the working folder
    return cwd


def _python_blocks(section: str) -> list[str]:
    """The ```python blocks of one README section (## or ###), in order."""
    m = re.search(rf"^#+ {re.escape(section)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert m, f"README has no section {section!r}"
    return re.findall(r"```python\n(.*?)```", m.group(1), re.S)


def test_search_and_ask_with_the_default_relative_index(fresh):
    out = _run([EXE, "search", "宪法宣传周"], fresh).stdout
    assert "宪法宣传周" in out
    answer = json.loads(_run([EXE, "ask", "--json", "星辰花园小区是哪一年建成的？"], fresh).stdout)
    assert not answer["refused"] and "1998" in answer["answer"]
    assert answer["citations"] and answer["citations"][0]["page"] == 1


def test_exploring_the_default_index(fresh):
    issues = json.loads(_run([EXE, "issues", "--json"], fresh).stdout)
    assert [(i["paper"], i["pages"], i["articles"]) for i in issues] == [("渝中报", [1], 8)]
    tl = json.loads(_run([EXE, "timeline", "宪法宣传周", "--json"], fresh).stdout)
    assert tl["total"] >= 1 and tl["undated"] == tl["total"]  # the seed issue is undated: on no date
    assert json.loads(_run([EXE, "entities", "--type", "person", "--json"], fresh).stdout)


def test_a_second_ingest_changes_nothing(fresh):
    out = json.loads(_run([EXE, "ingest", "--json"], fresh).stdout)  # no PATH: corpus/ of the working folder
    assert out["chunks_added"] == 0 and out["chunks_unchanged"] > 0 and out["skipped"] == []


def test_the_readme_python_snippets_run_as_written(fresh):
    blocks = _python_blocks("From Python")
    assert len(blocks) == 3, "the test runs every snippet of README's 'From Python'; update it with the README"
    script = "\n".join(textwrap.dedent(b) for b in blocks)
    proc = _run([sys.executable, "-c", script], fresh)
    assert "[1]" in proc.stdout  # the first snippet prints a cited answer


def test_serve_answers_through_the_api_as_the_readme_shows(fresh):
    port = _free_port()
    log = open(fresh / "serve.log", "wb")
    proc = subprocess.Popen([EXE, "serve", "--port", str(port)], cwd=fresh, env=_newcomer_env(),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, proc, 300, f"newsrag serve (log: {fresh / 'serve.log'})")
        (api,) = _python_blocks("API")
        # the README's snippet, on this test's port instead of 7860
        script = api.replace("http://127.0.0.1:7860/", url) + textwrap.dedent("""
            import json
            print(json.dumps({"answer": answer, "hits": hits}, ensure_ascii=False))
        """)
        out = json.loads(_run([sys.executable, "-c", script], fresh).stdout.strip().splitlines()[-1])
        assert not out["answer"]["refused"] and out["answer"]["citations"]
        assert "12月1日" in out["answer"]["answer"]
        assert out["hits"] and all(h["page"] == 1 for h in out["hits"])
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    assert "Traceback" not in (fresh / "serve.log").read_text(encoding="utf-8", errors="replace")
