"""Where to put the relevance gate that refuses before calling the model.

    python -m bench.answer_gate tests/fixtures/seed_qa.jsonl tests/fixtures/seed_unanswerable.jsonl

Needs an index of the seed corpus (NEWSRAG_HOME, NEWSRAG_EMBEDDER). Prints, per
question, the share of its content words found in the best retrieved chunk and
the best dense cosine: the two signals AnswerChain's gate combines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.gate import relevance_signals
from rag.retrieval import open_retriever
from rag.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("answerable", type=Path)
    ap.add_argument("unanswerable", type=Path)
    args = ap.parse_args()
    r = open_retriever(Settings.from_env())
    print(f"embedder {r.embedder.name}")
    for label, path in (("answerable", args.answerable), ("unanswerable", args.unanswerable)):
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            q = json.loads(line)["question"]
            cov, cos = relevance_signals(q, r.search(q, 6))
            rows.append((cov, cos, q))
        print(f"--- {label}: {len(rows)} questions; min cosine {min(c for _, c, _ in rows):.3f}, max {max(c for _, c, _ in rows):.3f}")
        for cov, cos, q in sorted(rows, key=lambda x: x[1]):
            print(f"coverage {cov:.2f}  cosine {cos:.3f}  {q}")


if __name__ == "__main__":
    main()
