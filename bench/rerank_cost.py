"""What the optional rerank stage costs per query on this machine.

    python -m bench.rerank_cost tests/fixtures/seed_qa.jsonl --model <cross-encoder folder or hub name>
    python -m bench.rerank_cost tests/fixtures/seed_qa.jsonl --architecture xlm-roberta-large

Needs an index (NEWSRAG_HOME, NEWSRAG_EMBEDDER as for the app). Each question is searched
with the default retriever and with ``NEWSRAG_RERANK_CANDIDATES`` (default 20) fused
candidates reordered by the cross-encoder; printed: p50 / p95 of the search without and
with the stage, and of the stage alone.

No Chinese cross-encoder ships in a package registry, so ``--architecture
xlm-roberta-large`` builds one with random weights and the size of BAAI/bge-reranker-v2-m3
(24 layers, 1024 wide; EmbeddingGemma's tokenizer stands in for XLM-R's, which is not
on this machine). Its scores mean nothing; its cost is that of the real model.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rag.evaluation import load_questions
from rag.model_files import EMBEDDINGGEMMA, verified_model_dir
from rag.rerank import CrossEncoderReranker
from rag.retrieval import open_retriever
from rag.settings import Settings


def _random_xlm_roberta_large(folder: Path, cache: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForSequenceClassification

    gemma = verified_model_dir(EMBEDDINGGEMMA, cache)
    if gemma is None:
        raise SystemExit("EmbeddingGemma is not fetched (its tokenizer is used): run `newsrag models fetch`")
    tok = AutoTokenizer.from_pretrained(gemma)
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=len(tok), hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                              intermediate_size=4096, max_position_embeddings=8194, pad_token_id=tok.pad_token_id,
                              num_labels=1)
    XLMRobertaForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qa", type=Path)
    ap.add_argument("--model", default="", help="a CrossEncoder folder or hub name")
    ap.add_argument("--architecture", choices=["xlm-roberta-large"], default=None)
    args = ap.parse_args()
    settings = Settings.from_env()
    questions = load_questions(args.qa)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(_random_xlm_roberta_large(Path(tmp), settings.model_cache))
        plain = open_retriever(settings, reranker=None)
        reranked = replace(plain, reranker=CrossEncoderReranker(model), rerank_candidates=settings.rerank_candidates)
        reranked.search(questions[0].question, 5)  # load the model
        without, with_, stage = [], [], []
        for q in questions:
            t0 = time.perf_counter()
            plain.search(q.question, 5)
            without.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            _, timings = reranked.search_timed(q.question, 5)
            with_.append((time.perf_counter() - t0) * 1000)
            stage.append(timings.get("rerank_ms", 0.0))
    print(f"model {model if args.model else 'random XLM-R large (bge-reranker-v2-m3 size)'}; "
          f"{settings.rerank_candidates} candidates; {len(questions)} questions")
    for label, xs in (("search without rerank", without), ("search with rerank", with_), ("rerank stage", stage)):
        print(f"{label:22s} p50 {statistics.median(xs):8.1f} ms   p95 {_pct(xs, 0.95):8.1f} ms")


if __name__ == "__main__":
    main()
