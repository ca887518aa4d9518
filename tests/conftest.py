"""Shared fixtures. Tests never reach beyond 127.0.0.1: a guard refuses other connections."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED_PAGE = ROOT / "corpus" / "yuzhongbao" / "2023-12-undated" / "page-01.txt"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and self.family in (socket.AF_INET, socket.AF_INET6):
        if not (host.startswith("127.") or host in ("localhost", "::1")):
            raise ConnectionRefusedError(f"tests may not connect to {host}: only 127.0.0.1 is allowed")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture
def seed_page():
    from ingest.pages import read_file

    res = read_file(SEED_PAGE)
    assert not res.problems
    return res.pages[0]


@pytest.fixture
def seed_articles(seed_page):
    from ingest.articles import segment_page

    return segment_page(seed_page)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, seconds: float, what: str) -> None:
    """Wait until a server we started answers ``url``; fail the test if it dies or stays silent."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"{what} exited early")
            time.sleep(0.3)
    proc.terminate()
    pytest.fail(f"{what} did not answer {url} within {seconds:.0f} s")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real `chroma run` server on 127.0.0.1, for the server-mode contract tests."""
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        pytest.fail("the `chroma` command (from the chromadb package) is not installed")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = open(data / "server.log", "wb")
    proc = subprocess.Popen(
        [exe, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/api/v2/heartbeat", proc, 30, f"chroma server (log: {data / 'server.log'})")
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


def _pg_bin(name: str) -> str:
    import glob

    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed: apt-get install postgresql (make test does it)")
    return found


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A throwaway PostgreSQL server from Debian's packages: initdb + pg_ctl on a free
    loopback port in a temp dir (as the ``postgres`` user when the tests run as root)."""
    import os
    import tempfile

    # not under pytest's own temp dir: its parents are closed to the postgres user
    data = Path(tempfile.mkdtemp(prefix="newsrag-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def pg(*cmd: str) -> None:
        proc = subprocess.run([*run_as, *cmd], capture_output=True, text=True, timeout=120)
        if proc.returncode:
            pytest.fail(f"{' '.join(cmd[:1])} failed ({proc.returncode}): {proc.stderr[-1500:]}")

    pg(_pg_bin("initdb"), "-D", str(data / "db"), "--auth=trust", "-U", "newsrag", "--encoding=UTF8", "--locale=C.UTF-8")
    pg(_pg_bin("pg_ctl"), "-D", str(data / "db"), "-l", str(data / "server.log"), "-w",
       "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    yield f"postgresql://newsrag@127.0.0.1:{port}/postgres"
    subprocess.run([*run_as, _pg_bin("pg_ctl"), "-D", str(data / "db"), "-m", "fast", "stop"], capture_output=True, timeout=60)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def gguf():
    """The default chat model's file (fetched by `make test`), with llama-cpp-python installed."""
    from rag.chat_models import default_gguf
    from rag.settings import Settings

    path = default_gguf(Settings.from_env())
    if not path.is_file():
        pytest.fail(f"the default chat model is not fetched ({path}): run `make test`, which runs `newsrag models fetch`")
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make install`")
    return path


@pytest.fixture(scope="session")
def llama_server(gguf):
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1, serving the default model as `qwen-local`."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "qwen-local"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/v1/models", proc, 120, "llama_cpp.server")
    yield f"{url}/v1"
    proc.terminate()
    proc.wait(10)
