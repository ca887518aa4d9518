"""Does splitting coordinated questions help? ("2021年香港和澳门的GDP增长率" ->
"2021年香港的GDP增长率" + "2021年澳门的GDP增长率", each searched, fused by RRF with the
original.) Measured on RGB-zh, chosen on dev only. Result: no (see README "Retrieval").

    NEWSRAG_HOME=<RGB index> python -m bench.experiments.query_split ../shared/eval-data/rgb_zh_qa.jsonl
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

import jieba

from bench.common import rrf, summarise
from rag.evaluation import load_questions, split_questions
from rag.retrieval import open_retriever
from rag.settings import Settings

jieba.setLogLevel(60)
_CONJ = {"和", "与", "及", "以及", "、"}


def sub_queries(q: str) -> list[str]:
    """Two questions, one per conjunct of the first coordination; [] when there is none."""
    toks = list(jieba.cut(q))
    out = []
    for i, t in enumerate(toks):
        if t not in _CONJ or i == 0 or i + 1 >= len(toks):
            continue
        # conjuncts: one token each side; "2022年和2023年" -> number+unit pairs
        lo, hi = i - 1, i + 1
        if toks[lo] in ("年", "月", "日") and lo > 0 and toks[lo - 1].isdigit():
            lo -= 1
        if toks[hi].isdigit() and hi + 1 < len(toks) and toks[hi + 1] in ("年", "月", "日"):
            hi += 1
        left, right = "".join(toks[lo:i]), "".join(toks[i + 1:hi + 1])
        if not left.strip() or not right.strip() or re.fullmatch(r"\W+", left + right):
            continue
        pre, post = "".join(toks[:lo]), "".join(toks[hi + 1:])
        # "2022和2023年": the unit after the right conjunct belongs to both
        if left.isdigit() and right.endswith("年") and not left.endswith("年"):
            left += "年"
        out += [pre + left + post, pre + right + post]
        break
    return [s for s in out if s != q]


def main() -> None:
    qs = load_questions(Path(sys.argv[1]))
    dev, test = split_questions(qs, 'dev'), split_questions(qs, 'test')
    r = open_retriever(Settings.from_env())
    orig, subs, hits = {}, {}, {}
    for q in qs:
        orig[q.id] = r.search(q.question, 50)
        subs[q.id] = [r.search(s.replace('分别', ''), 50) for s in sub_queries(q.question)]
        for lst in [orig[q.id], *subs[q.id]]:
            hits.update((h.chunk_id, h) for h in lst)

    def score(questions, w, k):
        def found(q) -> list[str]:
            legs = [([h.chunk_id for h in orig[q.id]], 1.0)] + [([h.chunk_id for h in sub], w) for sub in subs[q.id]]
            return [hits[c].source_id for c in rrf(legs, k)]

        return summarise(questions, found)

    for w, k in itertools.product([0, 0.25, 0.5, 0.75, 1.0], [10, 30, 60]):
        d, t = score(dev, w, k), score(test, w, k)
        print(f"w_sub={w} k={k} dev h@1 {d['hit@1']:.3f} h@5 {d['hit@5']:.3f} mrr {d['mrr@10']:.3f} int h@5 {d['by_type']['rgb_zh_int']['hit@5']:.3f} | test h@1 {t['hit@1']:.3f} h@5 {t['hit@5']:.3f} mrr {t['mrr@10']:.3f} int h@5 {t['by_type']['rgb_zh_int']['hit@5']:.3f}", flush=True)
    

if __name__ == "__main__":
    main()
