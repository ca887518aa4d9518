"""Faults a real archive meets: a damaged or foreign NEWSRAG_HOME, a read-only mount. Each is
a clear error naming the path and what to do, with its own exit code, and nothing overwritten;
a read-only index is still searched and asked. Run through the real CLI in fresh processes."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.integration

EXE = str(Path(sys.executable).parent / "newsrag")


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEWSRAG_HOME": str(home), "NEWSRAG_EMBEDDER": "fake", "NEWSRAG_LLM": "extractive"}
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=300)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("built") / "home"
    assert _cli(home, "ingest", str(ROOT / "corpus")).returncode == 0
    return home


def _foreign_sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL)")
    con.commit()
    con.close()


DAMAGE = {
    "garbage chroma.sqlite3": lambda h: (h / "chroma" / "chroma.sqlite3").write_bytes(b"not a database\x00" * 100),
    "another program's SQLite as chroma.sqlite3": lambda h: ((h / "chroma" / "chroma.sqlite3").unlink(),
                                                              _foreign_sqlite(h / "chroma" / "chroma.sqlite3")),
    "garbage keyword.sqlite": lambda h: (h / "keyword.sqlite").write_bytes(b"junk" * 1000),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_or_foreign_index_is_a_clear_error_and_left_as_it_was(built, tmp_path, damage):
    home = tmp_path / "home"
    shutil.copytree(built, home)
    DAMAGE[damage](home)
    before = _digest(home)
    for args in (("search", "宪法宣传周"), ("ask", "宪法宣传周哪天启动？"), ("ingest", str(ROOT / "corpus"))):
        res = _cli(home, *args)
        assert res.returncode == 8, (args, res.stderr[-500:])
        assert "Traceback" not in res.stderr and str(home) in res.stderr
        assert "错误：" in res.stderr and ("重新导入" in res.stderr or "重建" in res.stderr)
    assert _digest(home) == before  # nothing overwritten


def test_a_chroma_folder_of_another_program_is_refused(tmp_path):
    home = tmp_path / "home"
    (home / "chroma").mkdir(parents=True)
    (home / "chroma" / "notes.txt").write_text("someone else's", encoding="utf-8")
    res = _cli(home, "ingest", str(ROOT / "corpus"))
    assert res.returncode == 8 and "notes.txt" not in res.stderr and "chroma" in res.stderr
    assert sorted(p.name for p in (home / "chroma").iterdir()) == ["notes.txt"]


@pytest.fixture
def read_only(built, tmp_path):
    """The built index behind a read-only bind mount (as a backup or a shared volume is)."""
    src, mnt = tmp_path / "src", tmp_path / "ro"
    shutil.copytree(built, src)
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(src), str(mnt)], capture_output=True).returncode:
        pytest.skip("a read-only bind mount needs root and mount(8) (the CI machine has both)")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mnt)], check=True, capture_output=True)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_read_only_index_is_searched_and_asked_and_refuses_writes(read_only):
    before = _digest(read_only)
    res = _cli(read_only, "search", "宪法宣传周", "--top-k", "1")
    assert res.returncode == 0 and "宪法宣传周" in res.stdout, res.stderr[-800:]
    res = _cli(read_only, "ask", "渝中区宪法宣传周活动哪天启动？")
    assert res.returncode == 0 and "12月1日" in res.stdout, res.stderr[-800:]
    res = _cli(read_only, "ingest", str(ROOT / "tests" / "fixtures" / "pages"))
    assert res.returncode == 9 and "只读" in res.stderr and "Traceback" not in res.stderr
    assert _digest(read_only) == before
