"""How chunk size changes what retrieval hands to the answer step.

    python -m bench.chunk_size corpus/ tests/fixtures/seed_qa.jsonl

For each size, the corpus is ingested into a throwaway in-memory archive with
the configured embedder (NEWSRAG_EMBEDDER) and every question is searched with
the default hybrid retriever. Reported: the right article at rank 1, the
answer string inside the top-1 / top-3 chunks (what an answer step can quote),
and the characters of context those top-3 chunks cost.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ingest.pipeline import ingest_paths
from rag.archive import Archive
from rag.embedding import make_embedder
from rag.keyword import KeywordIndex
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import InMemoryStore
from rag.text import normalize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("qa", type=Path)
    ap.add_argument("--sizes", default="150,300,500,800")
    args = ap.parse_args()
    settings = Settings.from_env()
    embedder = make_embedder(settings)
    qa = [json.loads(line) for line in args.qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"embedder {embedder.name}; {len(qa)} questions")
    print("size | chunks | article@1 | answer in top-1 chunk | answer in top-3 chunks | top-3 context chars")
    for size in (int(s) for s in args.sizes.split(",")):
        archive = Archive(InMemoryStore(embedder.name), KeywordIndex())
        rep = ingest_paths([args.corpus], archive, embedder, chunk_chars=size)
        retr = HybridRetriever(embedder, archive)
        art1 = ans1 = ans3 = chars = 0
        for q in qa:
            hits = retr.search(q["question"], 3)
            answers = [normalize(a if isinstance(a, str) else a[0]) for a in q["answer"]]
            texts = [normalize(h.text) for h in hits]
            art1 += hits[0].source_id in q["source_doc_ids"]
            ans1 += all(a in texts[0] for a in answers)
            ans3 += all(any(a in t for t in texts) for a in answers)
            chars += sum(len(h.text) for h in hits)
        n = len(qa)
        print(f"{size:4d} | {rep.chunks_added:6d} | {art1 / n:9.3f} | {ans1 / n:21.3f} | {ans3 / n:22.3f} | {chars / n:8.0f}")


if __name__ == "__main__":
    main()
