"""Extractive answers: no LLM, the source sentences that best cover the question.

What ``chat_models.ExtractiveChat`` replies with. It works on the prompt's sources and
question as data (``Prompt.sources``), never on the rendered prompt text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from rag.prompt import NO_ANSWER
from rag.text import asks_for_date, content_words, normalize, split_sentences

__all__ = ["extract_answer", "best_sentences", "trim_to_answer"]


_ASKS_NUMBER = re.compile(r"几|多少|数量|比例|百分")
# a count or amount, not a date and not the ubiquitous 一 ("一次", "一个"): "11支", "37家", "三千床"
_HAS_NUMBER = re.compile(
    r"(?:\d+(?:\.\d+)?|[二三四五六七八九十两][一二三四五六七八九十百千万两]*)\s*"
    r"(?:%|个|支|家|名|人|项|次|处|位|条|万|亿|元|岁|倍|床|户|米|公里|所|座|辆)"
)
_HAS_DATE = re.compile(r"\d+月\d+日|\d{4}年|日前|近日|昨天|今天")


def extract_answer(question: str, sources: Mapping[int, str], max_sentences: int = 1) -> str:
    """Up to ``max_sentences`` source sentences answering ``question``, each cited ("…[n]"),
    or NO_ANSWER when none covers enough of it."""
    picked = best_sentences(question, sources, max_sentences)
    if not picked:
        return NO_ANSWER
    return "".join(f"{trim_to_answer(question, sent)}[{n}]" for n, sent in picked)


def best_sentences(question: str, sources: Mapping[int, str], k: int = 2) -> list[tuple[int, str]]:
    """The source sentences that best answer the question: most question words covered,
    plus a bonus when a sentence holds the kind of answer asked for (a number for
    几/多少, a date for 哪天/何时)."""
    q = content_words(question)
    if not q:
        return []
    wants_number, wants_date = bool(_ASKS_NUMBER.search(question)), asks_for_date(normalize(question))
    cands = [(rank, n, pos, sent, content_words(sent)) for rank, (n, text) in enumerate(sources.items())
             for pos, sent in enumerate(split_sentences(text))]
    # words shared by many candidate sentences (the topic) say less than rare ones (the detail asked about)
    df = {t: sum(1 for c in cands if t in c[4]) for t in q}
    idf = {t: math.log(1 + len(cands) / (1 + df[t])) for t in q}
    total = sum(idf.values()) or 1.0
    scored = []
    for rank, n, pos, sent, s in cands:
        overlap = sum(idf[t] for t in q & s) / total
        if wants_number and _HAS_NUMBER.search(sent):
            overlap += 0.3
        if wants_date and _HAS_DATE.search(sent):
            overlap += 0.3
        if overlap > 0:
            # earlier sources and earlier sentences win ties: retrieval ranked them
            scored.append((overlap - 0.01 * rank - 0.001 * pos, n, sent))
    scored.sort(key=lambda x: -x[0])
    if not scored or scored[0][0] < 0.34:
        return []
    top = scored[0][0]
    return [(n, sent) for sc, n, sent in scored[:k] if sc >= top * 0.8]


def trim_to_answer(question: str, sentence: str, max_chars: int = 60) -> str:
    """Shorten a long sentence to the clauses that carry the question's words or the
    kind of answer asked for; short sentences are returned whole."""
    if len(sentence) <= max_chars:
        return sentence
    clauses = [c for c in re.split(r"(?<=[，,；;：:])", sentence) if c.strip()]
    q = content_words(question)
    wants_number, wants_date = bool(_ASKS_NUMBER.search(question)), asks_for_date(normalize(question))

    def score(c: str) -> float:
        sc = len(q & content_words(c)) / (len(q) or 1)
        sc += 0.5 if wants_number and _HAS_NUMBER.search(c) else 0.0
        sc += 0.5 if wants_date and _HAS_DATE.search(c) else 0.0
        return sc

    scores = [score(c) for c in clauses]
    top = max(scores)
    if top <= 0:
        return sentence
    kept = "".join(c for c, sc in zip(clauses, scores) if sc >= 0.4 * top).rstrip("，,；;：: ")
    return kept + "。" if not re.search(r"[。！？!?”」]$", kept) else kept
