"""Tune fusion settings on the RGB-zh dev split; report dev and test for the chosen ones.

Needs an index holding the RGB corpus (NEWSRAG_HOME, NEWSRAG_EMBEDDER as for the app):

    newsrag ingest ../shared/eval-data/rgb_zh_corpus.jsonl
    python -m bench.tune_retrieval ../shared/eval-data/rgb_zh_qa.jsonl

Each leg is queried once per question (candidates cached); every setting is then
scored offline with the retriever's own fusion and dedupe code. Choices are made
on dev (questions not at positions 4, 8, 12, …) only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.common import METRICS, CachedArchive, summarise
from rag.archive import Archive
from rag.evaluation import Question, load_questions, split_questions
from rag.keyword import KeywordIndex
from rag.retrieval import HybridRetriever, open_retriever
from rag.settings import Settings
from rag.text import normalize


def _score(questions, dense, keyword, retr: HybridRetriever, top_k: int = 10) -> dict:
    def found(q: Question) -> list[str]:
        legs = (dense[q.id] if retr.dense_weight else [], keyword[q.id] if retr.keyword_weight else [])
        return [h.source_id for h in retr.dedupe(retr.fuse(*legs, normalize(q.question)))]

    s = summarise(questions, found, top_k)
    return {m: s[m] for m in METRICS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qa", type=Path)
    ap.add_argument("--candidates", type=int, default=50)
    ap.add_argument("--out", type=Path, default=Path("bench/results/tune_retrieval.json"))
    args = ap.parse_args()
    settings = Settings.from_env()
    questions = load_questions(args.qa)
    dev, test = split_questions(questions, "dev"), split_questions(questions, "test")
    base = open_retriever(settings)
    archive: Archive = base.archive
    dense, kw_word, kw_bi, all_hits = {}, {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        word_index = KeywordIndex(Path(tmp) / "words.sqlite", bigrams=False)
        Archive(archive.store, word_index).sync()
        bi_index = KeywordIndex(Path(tmp) / "bigrams.sqlite", bigrams=True)
        Archive(archive.store, bi_index).sync()
        for q in questions:
            text = normalize(q.question)
            dense[q.id] = archive.query(base.embedder.embed_query(text), args.candidates)
            kw_word[q.id] = word_index.search(text, args.candidates)
            kw_bi[q.id] = bi_index.search(text, args.candidates)
            for h in dense[q.id]:
                all_hits[h.chunk_id] = h
        need = {cid for d in (kw_word, kw_bi) for lst in d.values() for cid, _ in lst} - set(all_hits)
        all_hits.update({h.chunk_id: h for h in archive.get(sorted(need))})
    cached = CachedArchive(all_hits)
    proto = HybridRetriever(base.embedder, cached)  # type: ignore[arg-type]
    rows = []
    grid = itertools.product(["words", "words+bigrams"], [5, 10, 20, 30, 60], [0.0, 0.2, 0.35, 0.5, 0.75, 1.0], [1, 2], [1.0, 0.0])
    for tok, k, kw_w, per_article, dense_w in grid:
        if dense_w == 0 and kw_w != 1.0:
            continue
        r = replace(proto, rrf_k=float(k), keyword_weight=kw_w, dense_weight=dense_w, per_article=per_article)
        kw = kw_word if tok == "words" else kw_bi
        rows.append({
            "tokens": tok, "rrf_k": k, "keyword_weight": kw_w, "dense_weight": dense_w, "per_article": per_article,
            "dev": _score(dev, dense, kw, r), "test": _score(test, dense, kw, r),
        })
    best = max(rows, key=lambda r: (r["dev"]["hit@5"] + r["dev"]["mrr@10"], r["dev"]["hit@1"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"best": best, "rows": rows}, ensure_ascii=False, indent=1))

    def show(label, r):
        d, t = r["dev"], r["test"]
        print(f"{label:44s} dev h@1 {d['hit@1']:.3f} h@5 {d['hit@5']:.3f} h@10 {d['hit@10']:.3f} mrr {d['mrr@10']:.3f}"
              f" | test h@1 {t['hit@1']:.3f} h@5 {t['hit@5']:.3f} h@10 {t['hit@10']:.3f} mrr {t['mrr@10']:.3f}")

    def pick(**kw):
        return next(r for r in rows if all(r[k] == v for k, v in kw.items()))

    show("dense only", pick(dense_weight=1.0, keyword_weight=0.0, rrf_k=60, per_article=1, tokens="words"))
    show("BM25 jieba only", pick(dense_weight=0.0, rrf_k=60, per_article=1, tokens="words"))
    show("BM25 jieba+bigrams only", pick(dense_weight=0.0, rrf_k=60, per_article=1, tokens="words+bigrams"))
    show("RRF k=60 equal weights", pick(dense_weight=1.0, keyword_weight=1.0, rrf_k=60, per_article=1, tokens="words"))
    show("RRF k=60 equal, bigrams", pick(dense_weight=1.0, keyword_weight=1.0, rrf_k=60, per_article=1, tokens="words+bigrams"))
    for pa in (1, 2):
        top = max((r for r in rows if r["per_article"] == pa and r["dense_weight"] == 1.0),
                  key=lambda r: (r["dev"]["hit@5"] + r["dev"]["mrr@10"]))
        show(f"best on dev, per_article={pa}: k={top['rrf_k']} w_kw={top['keyword_weight']} {top['tokens']}", top)
    show(f"CHOSEN k={best['rrf_k']} w_kw={best['keyword_weight']} pa={best['per_article']} {best['tokens']}", best)
    print(f"all {len(rows)} settings in {args.out}")


if __name__ == "__main__":
    main()
