"""Seconds, chunks/s and peak memory of `newsrag ingest`, each run a fresh CLI process on a
fresh index, as a user runs it.

    python -m bench.ingest_bench corpus/
    python -m bench.ingest_bench ../shared/eval-data/crud_news_corpus_sample.jsonl --n 2000
    python -m bench.ingest_bench CRUD.jsonl --n 60 --forms float32,bfloat16 --rounds 2
    python -m bench.ingest_bench CRUD.jsonl --n 60 --overhead

With --n, the first N lines of a JSONL file are ingested (the data is read from the given
path, never copied into the project). --forms runs the embedder's run-time forms side by side,
alternating (A B A B …) so that the machine's noise falls on each alike, and prints each
run and the median ratio to the first form. --overhead ingests once more in this process,
in the first form, the embedder timed, and prints the pipeline's own share (reading, segmentation, jieba,
Chroma and keyword writes) against the embedder's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import first_lines


def _ingest(src: Path, home: Path, embedder: str, form: str, batch: int) -> dict:
    env = {**os.environ, "NEWSRAG_HOME": str(home), "NEWSRAG_EMBEDDER": embedder, "NEWSRAG_EMBEDDER_FORM": form}
    cmd = [sys.executable, "-m", "bench.ingest_bench", "--child", str(src), "--batch-size", str(batch)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"ingest failed ({proc.returncode}): {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


def _child(src: Path, batch: int) -> None:
    """`newsrag ingest SRC --json` in this process, then its own peak RSS (ru_maxrss of a
    child that ran several would be the largest of them, not this one)."""
    import contextlib
    import io
    import resource

    from ui.cli import main as cli

    out, code = io.StringIO(), 0
    with contextlib.redirect_stdout(out):
        try:
            cli(["ingest", str(src), "--json", "--batch-size", str(batch)], standalone_mode=False)
        except SystemExit as exc:
            code = int(exc.code or 0)
    rep = json.loads(out.getvalue())
    rep["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(rep))
    sys.exit(code)


def _overhead(src: Path, home: Path, batch: int, form: str) -> None:
    from ingest.page_images import PageImages
    from ingest.pipeline import ingest_paths
    from rag.archive import open_archive
    from rag.embedding import make_embedder
    from rag.settings import Settings

    settings = Settings.from_env({**os.environ, "NEWSRAG_HOME": str(home), "NEWSRAG_EMBEDDER_FORM": form})
    embedder = make_embedder(settings)
    archive = open_archive(settings, embedder, create=True)
    embedder.embed_documents(["预热 warm-up"])  # the model's load is not the pipeline's cost
    spent = [0.0]
    inner = embedder.embed_documents

    def timed(texts):
        t = time.perf_counter()
        try:
            return inner(texts)
        finally:
            spent[0] += time.perf_counter() - t

    embedder.embed_documents = timed  # type: ignore[method-assign]
    rep = ingest_paths([src], archive, embedder, batch_size=batch, images=PageImages(home))
    rest = rep.seconds - spent[0]
    print(f"in-process   {rep.chunks_added} chunks in {rep.seconds:.1f} s: embedder {spent[0]:.1f} s, "
          f"pipeline {rest:.1f} s = {100 * rest / max(spent[0], 1e-9):.1f}% of the embedder's time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path)
    ap.add_argument("--n", type=int, default=0, help="ingest only the first N lines of a JSONL file")
    ap.add_argument("--embedder", default=os.environ.get("NEWSRAG_EMBEDDER", "embeddinggemma"))
    ap.add_argument("--forms", default=os.environ.get("NEWSRAG_EMBEDDER_FORM", "auto"),
                    help="comma-separated run-time forms to compare (auto, float32, bfloat16, onnx-int8)")
    ap.add_argument("--rounds", type=int, default=1, help="runs of each form, alternating")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--overhead", action="store_true", help="also time the pipeline apart from the embedder")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.path, args.batch_size)
    forms = [f.strip() for f in args.forms.split(",") if f.strip()]
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-") as tmp:
        src = first_lines(args.path, args.n, Path(tmp)) if args.n else args.path
        print(f"input        {args.path}{f' (first {args.n} docs)' if args.n else ''}")
        print(f"embedder     {args.embedder}, batch {args.batch_size}")
        rates: dict[str, list[float]] = {f: [] for f in forms}
        for r in range(args.rounds):
            for form in forms:
                rep = _ingest(src, Path(tmp) / f"home-{form}-{r}", args.embedder, form, args.batch_size)
                rate = rep["chunks_added"] / max(rep["seconds"], 1e-9)
                rates[form].append(rate)
                print(f"{form:9s} #{r + 1}  articles {rep['articles']}  chunks {rep['chunks_added']}  "
                      f"ingest {rep['seconds']:.1f} s  wall {rep['wall']:.1f} s (incl. model load)  "
                      f"{rate:.2f} chunks/s  peak RSS {rep['peak_mb']:.0f} MB", flush=True)
        if len(forms) > 1:
            base = statistics.median(rates[forms[0]])
            for form in forms[1:]:
                print(f"ratio        {form} / {forms[0]}: {statistics.median(rates[form]) / base:.2f}× (medians)")
        if args.overhead:
            _overhead(src, Path(tmp) / "home-overhead", args.batch_size, forms[0])


if __name__ == "__main__":
    main()
