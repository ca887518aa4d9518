"""Does picking the question's sentences for the prompt (rag/context.py) beat whole chunks
in rank order? Asks RGB-zh dev questions with the default local model both ways.

    NEWSRAG_HOME=<RGB index> python -m bench.answer_context ../shared/eval-data/rgb_zh_qa.jsonl --every 5 --limit 40

Prints, per setting, correct answers (RGB rule), answers citing a gold passage and the
median time to first token, then the questions where the two settings differ.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from rag.answering import AnswerChain
from rag.evaluation import answer_matches, load_questions, split_questions
from rag.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qa", type=Path)
    ap.add_argument("--every", type=int, default=5, help="take every Nth dev question")
    ap.add_argument("--limit", type=int, default=40)
    args = ap.parse_args()
    qs = split_questions(load_questions(args.qa), "dev")[:: args.every][: args.limit]
    chain = AnswerChain.from_settings(Settings.from_env())
    chain.warm_up()
    results = {}
    for select in (True, False):
        chain.select_sentences = select
        rows = []
        for q in qs:
            a = chain.ask(q.question)
            ok = not a.refused and answer_matches(a.text, q.answer)
            rows.append((ok, any(c.source_id in q.gold for c in a.citations), a.timings_ms.get("first_token_ms", 0.0), a.text))
        results[select] = rows
        print(f"select_sentences={select}: n={len(rows)} correct={sum(r[0] for r in rows)} "
              f"cites_gold={sum(r[1] for r in rows)} first_token_p50={statistics.median(r[2] for r in rows):.0f} ms",
              flush=True)
    for q, on, off in zip(qs, results[True], results[False]):
        if on[0] != off[0]:
            print(f"  {'selected' if on[0] else 'whole'} right: {q.question} | {on[3][:60]} | {off[3][:60]}")


if __name__ == "__main__":
    main()
