"""Does citing a sentence clause by clause (AnswerChain._cite_clauses) cite more answers,
and cite them right? The model's replies are generated once, then cited both ways.

    NEWSRAG_HOME=<RGB index> python -m bench.cite_clauses ../shared/eval-data/rgb_zh_qa.jsonl --split test

Prints, for each way: answers given, answers with a citation, answers citing a gold
passage and correct answers (RGB rule), then every answer whose text changed.
``--replies FILE`` keeps the generated replies (pickle) so a re-run skips the model.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

from rag.answering import AnswerChain
from rag.evaluation import answer_matches, load_questions, split_questions
from rag.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qa", type=Path)
    ap.add_argument("--split", choices=["all", "dev", "test"], default="test")
    ap.add_argument("--replies", type=Path, default=None, help="pickle of generated replies (written if missing)")
    args = ap.parse_args()
    chain = AnswerChain.from_settings(Settings.from_env())
    if args.replies and args.replies.is_file():
        data = pickle.loads(args.replies.read_bytes())
    else:
        qs = load_questions(args.qa)
        qs = qs if args.split == "all" else split_questions(qs, args.split)
        chain.warm_up()
        data = []
        for q in qs:
            st = chain.prepare.invoke({"question": q.question, "history": (), "filters": None})
            raw = "" if st.refuse_early else "".join(chain.chat.stream(st.messages, chain.max_answer_tokens)).strip()
            data.append((q, st, raw))
        if args.replies:
            args.replies.write_bytes(pickle.dumps(data))
    clause_wise = chain._cite_clauses
    texts = {}
    for way in ("whole sentences", "clause by clause"):
        chain._cite_clauses = clause_wise if way == "clause by clause" else (lambda sentence, _texts: (sentence, []))
        given = []
        for q, st, raw in data:
            a = None if st.refuse_early else chain._cite(st, raw, "REFUSED")
            texts.setdefault(q.id, []).append(a.text if a else "")
            if a is not None and not a.refused:
                given.append((q, a))
        print(f"{way}: n={len(data)} given={len(given)} cited={sum(bool(a.citations) for _, a in given)} "
              f"cites_gold={sum(any(c.source_id in q.gold for c in a.citations) for q, a in given)} "
              f"correct={sum(answer_matches(a.text, q.answer) for q, a in given)}")
    for q, _, _ in data:
        before, after = texts[q.id]
        if before != after:
            print(f"- {q.id} {q.question}\n    whole:   {before}\n    clauses: {after}")


if __name__ == "__main__":
    main()
