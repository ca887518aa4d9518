"""Seconds and peak memory of `newsrag ingest`, run as a child process on a fresh index.

    python -m bench.ingest_bench corpus/
    python -m bench.ingest_bench ../shared/eval-data/crud_news_corpus_sample.jsonl --n 2000

With --n, the first N lines of a JSONL file are ingested (the data is read from
the given path, never copied into the project).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path)
    ap.add_argument("--n", type=int, default=0, help="ingest only the first N lines of a JSONL file")
    ap.add_argument("--embedder", default=os.environ.get("NEWSRAG_EMBEDDER", "embeddinggemma"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-") as tmp:
        src = args.path
        if args.n:
            src = Path(tmp) / f"first-{args.n}.jsonl"
            with args.path.open(encoding="utf-8") as f, src.open("w", encoding="utf-8") as out:
                for i, line in enumerate(f):
                    if i >= args.n:
                        break
                    out.write(line)
        env = {**os.environ, "NEWSRAG_HOME": str(Path(tmp) / "home"), "NEWSRAG_EMBEDDER": args.embedder}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "ui.cli", "ingest", str(src), "--json"], env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode not in (0, 1):
            sys.exit(f"ingest failed ({proc.returncode}): {proc.stderr[-2000:]}")
        rep = json.loads(proc.stdout)
    print(f"input        {args.path}{f' (first {args.n} docs)' if args.n else ''}")
    print(f"embedder     {args.embedder}")
    print(f"articles     {rep['articles']}   chunks {rep['chunks_added']}   skipped {len(rep['skipped'])}")
    print(f"wall         {wall:.1f} s (process, incl. model load)   ingest {rep['seconds']:.1f} s")
    print(f"throughput   {rep['chunks_added'] / max(rep['seconds'], 1e-9):.2f} chunks/s")
    print(f"peak RSS     {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
