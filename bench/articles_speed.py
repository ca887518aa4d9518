"""How long a user's ``newsrag articles`` takes, beside an earlier commit, on the same files.

    python -m bench.articles_speed [--baseline 4522d8a] [--pdfs 40] [--scan seed|PAGE.png] [--runs 3]

Each run is a fresh process (imports, models and all), as a user starts it: this tree and
the baseline (exported with ``git archive`` into a temporary folder) alternate, so a noisy
machine slows both alike. The PDFs are the first ``--pdfs`` generated pages of
``python -m bench.segmentation`` (run that first); ``--scan`` adds a page image, read by
OCR (as ingest reads it: the baseline's ``newsrag articles`` did not). Printed: medians of wall and CPU seconds per tree, and this tree's over the
baseline's (the bound is 1.2×).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench.segmentation import OUT, _key
from tests.newspages import seed_epaper_plan

ROOT = Path(__file__).resolve().parent.parent


def _export(rev: str, into: Path) -> Path:
    """The tree of commit ``rev`` written out under ``into``."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True, capture_output=True).stdout
    tree = into / rev
    tree.mkdir()
    archive = into / "tree.tar"
    archive.write_bytes(tar)
    with tarfile.open(archive) as tf:
        tf.extractall(tree, filter="data")
    return tree


# a scan read as ingest reads it (the baseline's ``newsrag articles`` did not read scans)
_SCAN = """import sys
from pathlib import Path
from ingest.articles import segment_page
from ingest.pages import read_file
from ingest.readers.ocr import RapidOcr
for page in read_file(Path(sys.argv[1]), ocr=RapidOcr()).pages:
    segment_page(page)
"""


def _run(tree: Path, files: list[str], scan: bool = False) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh ``newsrag articles`` over ``files`` from ``tree``
    (a scan: read by OCR and segmented, in a fresh process)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = ["-c", _SCAN, *files] if scan else ["-m", "ui.cli", "articles", *files]
    subprocess.run([sys.executable, *cmd], cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="4522d8a", help="the commit to compare with (default: before issue 32)")
    ap.add_argument("--pdfs", type=int, default=40)
    ap.add_argument("--scan", default=None, help="a page image to read by OCR as well ('seed': the seed e-paper page's scan)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    pdfs = sorted(str(p) for p in (OUT / "pages").glob("*/page.pdf"))[: args.pdfs]
    if len(pdfs) < args.pdfs:
        sys.exit(f"only {len(pdfs)} generated PDFs under {OUT / 'pages'}: run python -m bench.segmentation first")
    scan = OUT / "pages" / _key(seed_epaper_plan()) / "page.png" if args.scan == "seed" else args.scan and Path(args.scan)
    if scan and not scan.is_file():
        sys.exit(f"no scan at {scan}: run python -m bench.segmentation first")
    cases = ([(f"{len(pdfs)} PDFs", pdfs)] if pdfs else []) + ([("scan", [str(scan.resolve())])] if scan else [])
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"baseline " + args.baseline: _export(args.baseline, Path(tmp)), "this tree": ROOT}
        print(f"| case | {' | '.join(f'{name}: wall / CPU s' for name in trees)} | ratio wall / CPU |")
        print("|---|---|---|---|")
        for label, files in cases:
            got: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
            for _ in range(args.runs):
                for name, tree in trees.items():
                    got[name].append(_run(tree, files, scan=label == "scan"))
            med = {name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for name, v in got.items()}
            (bw, bc), (nw, nc) = med.values()
            cells = " | ".join(f"{w:.2f} / {c:.2f}" for w, c in med.values())
            print(f"| {label} | {cells} | {nw / bw:.2f}× / {nc / bc:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
