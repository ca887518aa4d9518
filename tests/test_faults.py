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

from rag.errors import IndexMissing

from .conftest import ROOT

pytestmark = pytest.mark.integration

EXE = str(Path(sys.executable).parent / "newsrag")


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEWSRAG_HOME": str(home), "NEWSRAG_EMBEDDER": "fake", "NEWSRAG_LLM": "extractive"}
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=300)


def _digest(folder: Path) -> dict[str, str]:
    """Every file of the index but the writers' lock file (which says who last wrote)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "writer.lock"}


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


def test_a_chroma_database_killed_while_chroma_created_it_is_initialised_not_refused(tmp_path):
    """A first ingest killed while Chroma created chroma.sqlite3 leaves an empty database (no
    table at all): the next ingest must complete, not call the index damaged."""
    home = tmp_path / "home"
    (home / "chroma").mkdir(parents=True)
    sqlite3.connect(home / "chroma" / "chroma.sqlite3").close()
    res = _cli(home, "ingest", str(ROOT / "corpus"))
    assert res.returncode == 0, res.stderr[-800:]


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
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)  # lazily: this process may hold files there


def test_a_read_only_index_is_searched_and_asked_and_refuses_writes(read_only):
    before = _digest(read_only)
    res = _cli(read_only, "search", "宪法宣传周", "--top-k", "1")
    assert res.returncode == 0 and "宪法宣传周" in res.stdout, res.stderr[-800:]
    res = _cli(read_only, "ask", "渝中区宪法宣传周活动哪天启动？")
    assert res.returncode == 0 and "12月1日" in res.stdout, res.stderr[-800:]
    res = _cli(read_only, "ingest", str(ROOT / "tests" / "fixtures" / "pages"))
    assert res.returncode == 9 and "只读" in res.stderr and "Traceback" not in res.stderr
    assert _digest(read_only) == before


def _crud_like(path: Path, n: int) -> Path:
    import json

    rows = [{"id": f"k{i}", "paper": "晚报", "date": f"2024-0{1 + i % 9}-1{i % 10}",
             "text": f"第{i}号消息。" + "".join(f"渝中区第{i}-{j}项工作推进，居民参与{j}次。" for j in range(12 + i % 7))}
            for i in range(n)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


TRIALS = 10


def test_sigkill_at_random_points_of_an_ingest_then_a_rerun_ends_complete(tmp_path):
    """10 trials: an ingest SIGKILLed after a random delay (reading, embedding, Chroma or
    keyword writes: wherever it is), then run again. Every time the index ends with every
    chunk once, the keyword index holding exactly the vector store's chunks, and the re-run
    embedding only what was missing."""
    import random
    import signal
    import time

    from rag.archive import open_archive
    from rag.settings import Settings

    data = _crud_like(tmp_path / "k.jsonl", 240)
    ref = _cli(tmp_path / "ref", "ingest", str(data), "--json")
    import json

    total = json.loads(ref.stdout)["chunks_added"]
    rng = random.Random(17)
    env = {**os.environ, "NEWSRAG_EMBEDDER": "fake"}
    killed_at: list[int] = []
    for trial in range(TRIALS):
        home = tmp_path / f"t{trial}"
        proc = subprocess.Popen([EXE, "ingest", str(data), "--json", "--batch-size", "16"],
                                env={**env, "NEWSRAG_HOME": str(home)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.5, 7.0))  # the process starts in ~2 s; a whole run takes ~8 s
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:  # killed before its first chunk (or while Chroma created its database): nothing stored
            arch = open_archive(Settings(home=home, embedder="fake"), "fake", create=False)
            killed_at.append(arch.store.count())
            del arch
        except IndexMissing:
            killed_at.append(0)
        rerun = _cli(home, "ingest", str(data), "--json")
        assert rerun.returncode == 0, rerun.stderr[-800:]
        rep = json.loads(rerun.stdout)
        arch = open_archive(Settings(home=home, embedder="fake"), "fake", create=False)
        ids = arch.store.all_ids()
        assert len(ids) == arch.store.count() == total, f"trial {trial}"
        assert arch.keyword.ids() == ids, f"trial {trial}: keyword entries differ from the vector store"
        # the re-run embedded only what the killed run had not stored
        assert rep["chunks_added"] == total - rep["chunks_unchanged"], f"trial {trial}"
        assert rep["chunks_unchanged"] == killed_at[-1], f"trial {trial}"
    print(f"{TRIALS} SIGKILL trials survived; chunks stored when killed: {killed_at} of {total}")
    assert len(set(killed_at)) >= 3  # the kills fell at different points of the run


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs (root and mount(8), as on the CI machine), grown afterwards to 64 MB."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode:
        pytest.skip("a small tmpfs needs root and mount(8) (the CI machine has both)")
    try:
        yield mnt, lambda: subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)  # lazily: this process may hold files there


def test_a_full_disk_mid_ingest_is_a_clear_error_and_the_next_run_completes(small_disk, tmp_path):
    import json

    from rag.archive import open_archive
    from rag.settings import Settings

    mnt, grow = small_disk
    data = _crud_like(tmp_path / "k.jsonl", 400)
    full = _cli(mnt / "home", "ingest", str(data))
    assert full.returncode == 10 and "磁盘已满" in full.stderr and "Traceback" not in full.stderr, full.stderr[-800:]
    grow()  # space freed
    again = _cli(mnt / "home", "ingest", str(data), "--json")
    assert again.returncode == 0, again.stderr[-800:]
    rep = json.loads(again.stdout)
    arch = open_archive(Settings(home=mnt / "home", embedder="fake"), "fake", create=False)
    assert arch.store.count() == rep["chunks_added"] + rep["chunks_unchanged"] and rep["chunks_unchanged"] > 0
    assert arch.keyword.ids() == arch.store.all_ids()


def test_two_writers_on_one_embedded_index_take_turns_and_lose_no_vector(tmp_path):
    """Two `newsrag ingest` at once on one embedded index: the second waits for the first
    (embedded Chroma keeps its vectors in the writer's memory: two at once lost 64 of 2,028
    vectors before this lock), then every chunk is found by a vector query. An ingest while
    `newsrag serve` holds the index is refused with a message naming it (exit 11)."""
    import json
    import time

    from rag.archive import open_archive
    from rag.embedding import FakeEmbedder
    from rag.settings import Settings

    from .conftest import _free_port, wait_for_http

    home = tmp_path / "home"
    env = {**os.environ, "NEWSRAG_HOME": str(home), "NEWSRAG_EMBEDDER": "fake", "NEWSRAG_LLM": "extractive"}
    files = [_crud_like(tmp_path / f"w{i}.jsonl", 150) for i in range(2)]
    for i, f in enumerate(files):  # different ids in each file
        f.write_text(f.read_text(encoding="utf-8").replace('"id": "k', f'"id": "w{i}-k'), encoding="utf-8")
    first = subprocess.Popen([EXE, "ingest", str(files[0]), "--json"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    second = subprocess.run([EXE, "ingest", str(files[1]), "--json"], env=env, capture_output=True, text=True, timeout=300)
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, second.stderr[-600:]
    added = json.loads(out)["chunks_added"] + json.loads(second.stdout)["chunks_added"]
    arch = open_archive(Settings(home=home, embedder="fake"), "fake", create=False)
    assert arch.store.count() == arch.keyword.count() == added
    assert len(arch.store.query(FakeEmbedder().embed_query("渝中区工作推进"), added)) == added  # no vector lost
    del arch

    port = _free_port()
    app = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", app, 120, "newsrag serve")
        refused = _cli(home, "ingest", str(ROOT / "corpus"))
        assert refused.returncode == 11 and "newsrag serve" in refused.stderr and "档案管理" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        app.terminate()
        app.wait(20)
