"""Does citing a sentence clause by clause cite more answers, and cite them right?
The model's replies are generated once, then cited both ways (``check_answer``'s
``by_clause``).

    NEWSRAG_HOME=<RGB index> python -m bench.cite_clauses ../shared/eval-data/rgb_zh_qa.jsonl --split test

Prints, for each way: answers given, answers with a citation, answers citing a gold
passage and correct answers (RGB rule), then every answer whose text changed.
``--replies FILE`` keeps the generated replies (JSON) so a re-run skips the model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.answering import AnswerChain
from rag.citations import check_answer
from rag.evaluation import answer_matches, load_questions, split_questions
from rag.prompt import is_refusal
from rag.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qa", type=Path)
    ap.add_argument("--split", choices=["all", "dev", "test"], default="test")
    ap.add_argument("--replies", type=Path, default=None, help="JSON of generated replies (written if missing)")
    args = ap.parse_args()
    chain = AnswerChain.from_settings(Settings.from_env())
    qs = split_questions(load_questions(args.qa), args.split)
    replies = json.loads(args.replies.read_text(encoding="utf-8")) if args.replies and args.replies.is_file() else {}
    chain.warm_up()
    data = []
    for q in qs:
        st = chain.prepare.invoke({"question": q.question, "history": (), "filters": None})
        if q.id not in replies:
            replies[q.id] = "" if st.prompt is None else chain.chat.complete(st.prompt, chain.max_answer_tokens).strip()
        data.append((q, st, replies[q.id]))
    if args.replies:
        args.replies.write_text(json.dumps(replies, ensure_ascii=False), encoding="utf-8")
    texts: dict[str, list[str]] = {}
    for way, by_clause in (("whole sentences", False), ("clause by clause", True)):
        given = []
        for q, st, raw in data:
            checked = None
            if st.prompt is not None and not is_refusal(raw):
                checked = check_answer(raw, st.sources, st.query, chain.retriever.embedder,
                                       min_cited_coverage=chain.min_cited_coverage, by_clause=by_clause)
            texts.setdefault(q.id, []).append(checked.text if checked else "")
            if checked is not None and not checked.withdrawn:
                given.append((q, checked))
        print(f"{way}: n={len(data)} given={len(given)} cited={sum(bool(a.citations) for _, a in given)} "
              f"cites_gold={sum(any(c.source_id in q.gold for c in a.citations) for q, a in given)} "
              f"correct={sum(answer_matches(a.text, q.answer) for q, a in given)}")
    for q, _, _ in data:
        before, after = texts[q.id]
        if before != after:
            print(f"- {q.id} {q.question}\n    whole:   {before}\n    clauses: {after}")


if __name__ == "__main__":
    main()
