"""How search time grows with the archive: hybrid p50 / p95 and each leg, on real indexes, and
the dense leg alone on generated vectors.

    NEWSRAG_HOME=<index> python -m bench.retrieval_scale hybrid QUESTIONS.jsonl [--n 100]
    python -m bench.retrieval_scale keyword ../shared/eval-data/crud_news_corpus_sample.jsonl --index /tmp/kw.sqlite
    python -m bench.retrieval_scale dense --vectors 1000000 [--dim 768]

``hybrid`` runs the questions of a QA file (the RGB file's, say) through the configured
retriever, in file order, and prints p50 / p95 of the whole search and of each stage (query
embedding, dense leg, keyword leg, fusion). ``keyword`` chunks a JSONL corpus as ingest does,
builds the SQLite keyword index once (kept at --index; the embedder plays no part in it), and
times its own queries: the headlines (or, where there are none, the first 20 characters) of
evenly spaced articles, plus very common terms
(渝中区, 发展, 中国 经济 发展) that touch most postings, each query both ways side by side:
as searches run (common terms pruned where that is provably exact) and with every posting
summed. ``dense`` puts N random unit vectors (dim 768, EmbeddingGemma's) in a fresh embedded
Chroma collection with the HNSW settings newsrag uses and, at 10%, 25%, 50% and 100% of N,
times queries and prints the build time so far, the size on disk and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _pcts(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return f"p50 {statistics.median(xs):7.1f} ms  p95 {p95:7.1f} ms"


def hybrid(qa: Path, n: int) -> None:
    from rag.evaluation import load_questions
    from rag.retrieval import open_retriever
    from rag.settings import Settings

    settings = Settings.from_env()
    retriever = open_retriever(settings)
    questions = load_questions(qa)[:n]
    retriever.search(questions[0].question, 5)  # loads the embedder
    stages: dict[str, list[float]] = {}
    for q in questions:
        t0 = time.perf_counter()
        _, t = retriever.search_timed(q.question, 5)
        stages.setdefault("hybrid", []).append((time.perf_counter() - t0) * 1000)
        for k, v in t.items():
            stages.setdefault(k.removesuffix("_ms"), []).append(v)
    print(f"index {settings.chroma_url or settings.home}: {retriever.archive.count()} chunks, {len(questions)} questions")
    for k, v in stages.items():
        print(f"  {k:8s} {_pcts(v)}")


def keyword(corpus: Path, index: Path, n: int) -> None:
    from ingest.chunks import chunk_article
    from ingest.pages import read_parts
    from rag.keyword import KeywordIndex

    titles: list[str] = []
    fresh = not index.exists()
    idx = KeywordIndex(index)
    t0 = time.perf_counter()
    for part in read_parts(corpus, rows=2000):
        # CRUD-RAG has no headlines: an article's opening words stand in for a reporter's query
        titles.extend(a.title or _opening(a.text) for a in part.articles)
        if fresh:
            idx.add([c for a in part.articles for c in chunk_article(a)])
    if fresh:
        print(f"built {index} in {time.perf_counter() - t0:.0f} s")
    queries = titles[:: max(1, len(titles) // n)][:n] + ["渝中区", "发展", "中国 经济 发展", "记者 表示 工作"]
    full = KeywordIndex(index)  # the same index, every posting of every term summed (no pruning)
    full.prune_above = 10**12
    idx.search(queries[0], 50)
    full.search(queries[0], 50)
    times: dict = {"pruned": [], "full": []}
    same = 0
    for q in queries:  # the two ways side by side, query by query
        got = {}
        for name, ix in (("pruned", idx), ("full", full)):
            t = time.perf_counter()
            got[name] = ix.search(q, 50)
            times[name].append((time.perf_counter() - t) * 1000)
        same += [c for c, _ in got["pruned"]] == [c for c, _ in got["full"]]
    print(f"keyword index {index}: {idx.count()} chunks; the same 50 ids both ways for {same}/{len(queries)} queries")
    for name, ts in times.items():
        print(f"  {name:7s} headlines {_pcts(ts[:-4])}  ({len(ts) - 4} queries, 50 results);"
              f"  common terms {' / '.join(f'{x:.0f}' for x in ts[-4:])} ms ({', '.join(queries[-4:])})")


def _opening(text: str, chars: int = 20) -> str:
    body = text.split("正文：", 1)[-1].strip()
    return body[:chars]


def dense(vectors: int, dim: int, n: int) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="newsrag-dense-") as tmp:
        client = chromadb.PersistentClient(path=tmp, settings=ChromaSettings(anonymized_telemetry=False))
        col = client.create_collection("scale", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
        print(f"HNSW: {json.dumps(col.configuration_json.get('hnsw'))}")
        qs = rng.standard_normal((n, dim), dtype=np.float32)
        marks = sorted({vectors // 10, vectors // 4, vectors // 2, vectors} - {0})
        t0, step, done = time.perf_counter(), 5000, 0
        for mark in marks:  # how it grows: the build so far and the queries, at each mark
            while done < mark:
                v = rng.standard_normal((min(step, mark - done), dim), dtype=np.float32)
                v /= np.linalg.norm(v, axis=1, keepdims=True)
                col.add(ids=[str(j) for j in range(done, done + len(v))], embeddings=v)
                done += len(v)
            build = time.perf_counter() - t0
            col.query(query_embeddings=qs[:1], n_results=50)
            times = []
            for q in qs:
                t = time.perf_counter()
                col.query(query_embeddings=q[None, :], n_results=50, include=["distances"])
                times.append((time.perf_counter() - t) * 1000)
            size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
            print(f"dense leg, {done} vectors of {dim}: built in {build:.0f} s, query {_pcts(times)} ({n} queries, 50 results);"
                  f" on disk {size:.0f} MiB, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    h = sub.add_parser("hybrid")
    h.add_argument("qa", type=Path)
    h.add_argument("--n", type=int, default=100)
    k = sub.add_parser("keyword")
    k.add_argument("corpus", type=Path)
    k.add_argument("--index", type=Path, required=True)
    k.add_argument("--n", type=int, default=200)
    d = sub.add_parser("dense")
    d.add_argument("--vectors", type=int, default=1_000_000)
    d.add_argument("--dim", type=int, default=768)
    d.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    if args.what == "hybrid":
        hybrid(args.qa, args.n)
    elif args.what == "keyword":
        keyword(args.corpus, args.index, args.n)
    else:
        dense(args.vectors, args.dim, args.n)


if __name__ == "__main__":
    main()
