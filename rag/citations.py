"""Tie answer sentences to the source sentences that support them.

Small local models rarely write [n] markers, so citations never depend on
them: every answer sentence is matched to its best-supporting source sentence
by lexical overlap (names and numbers weigh most), and model-written markers
are checked the same way. Markers are parsed with a bounds check: [0] or a
number past the last source is dropped, never mapped to another source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from rag.text import normalize, tokenize

__all__ = [
    "content_words",
    "drop_unsourced_years",
    "parse_markers",
    "strip_markers",
    "strip_source_talk",
    "split_sentences",
    "support",
    "best_support",
    "best_sentences",
    "trim_to_answer",
    "unsourced_numbers",
    "SUPPORT_THRESHOLD",
]

_MARKER = re.compile(r"\[(\d{1,3})\]|【(\d{1,3})】")
_NUMBER = re.compile(r"\d+(?:\.\d+)?%?")
_SENT = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]*[”’」』）)]*")

# A sentence counts as supported when at least this share of its content words
# (numbers count double) appears in one source sentence, and every number it
# states appears there too. 0.5 accepts paraphrase ("共吸纳37家成员单位" for
# "共吸纳成员单位37家") and rejects sentences that merely share a topic word.
SUPPORT_THRESHOLD = 0.5


def parse_markers(text: str, n_sources: int) -> list[int]:
    """Valid citation numbers in order of first appearance (1-based, bounds-checked)."""
    out: list[int] = []
    for m in _MARKER.finditer(text):
        n = int(m.group(1) or m.group(2))
        if 1 <= n <= n_sources and n not in out:
            out.append(n)
    return out


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text)


# "根据来源1和来源3，" — the prompt's own labels, which the model sometimes writes as a
# lead-in. Readers see [n] markers instead, and the label's digits would otherwise
# count as figures no source states.
_SOURCE_TALK = re.compile(
    r"(?:根据|据|从|由|在)?【?来源\s*\d+】?(?:\s*[和、与及]\s*【?(?:来源)?\s*\d+】?)*"
    r"(?:中|里|所述|所示|显示|可知|提到)?[，,：:]\s*"
)


def strip_source_talk(answer: str) -> str:
    """Remove lead-ins that name the prompt's sources ("根据来源1，…") from an answer."""
    return _SOURCE_TALK.sub("", answer)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.findall(text) if s.strip()]


def content_words(text: str) -> set[str]:
    """The words of a text that carry its subject: tokens of two or more characters, and numbers."""
    return {t for t in tokenize(text) if len(t) > 1 or t.isdigit()}


def support(claim: str, source_sentence: str) -> float:
    """How well one source sentence supports a claim, 0..1."""
    c, s = content_words(strip_markers(claim)), content_words(source_sentence)
    if not c:
        return 0.0
    nums = set(_NUMBER.findall(normalize(strip_markers(claim))))
    if not nums <= set(_NUMBER.findall(normalize(source_sentence))):
        return 0.0  # a number the source does not state is never supported
    weight = {t: (2.0 if _NUMBER.fullmatch(t) else 1.0) for t in c}
    return sum(w for t, w in weight.items() if t in s) / sum(weight.values())


def best_support(claim: str, sources: Mapping[int, str]) -> tuple[int, str, float]:
    """(source number, supporting sentence, score) of the best match; (0, "", 0) if none."""
    best = (0, "", 0.0)
    for n, text in sources.items():
        for sent in split_sentences(text):
            sc = support(claim, sent)
            if sc > best[2]:
                best = (n, sent, sc)
    return best


_ASKS_NUMBER = re.compile(r"几|多少|数量|比例|百分")
_ASKS_DATE = re.compile(r"哪天|哪一天|何时|什么时候|几月|几号|日期|哪年|哪一年|when", re.I)
# a count or amount, not a date: "11支", "37家", "0.5%", "三千床"
# a count or amount, not a date and not the ubiquitous 一 ("一次", "一个"): "11支", "37家", "三千床"
_HAS_NUMBER = re.compile(
    r"(?:\d+(?:\.\d+)?|[二三四五六七八九十两][一二三四五六七八九十百千万两]*)\s*"
    r"(?:%|个|支|家|名|人|项|次|处|位|条|万|亿|元|岁|倍|床|户|米|公里|所|座|辆)"
)
_HAS_DATE = re.compile(r"\d+月\d+日|\d{4}年|日前|近日|昨天|今天")


def best_sentences(question: str, sources: Mapping[int, str], k: int = 2) -> list[tuple[int, str]]:
    """The source sentences that best answer the question (for the extractive backend):
    most question words covered, plus a bonus when a sentence holds the kind of
    answer asked for (a number for 几/多少, a date for 哪天/何时)."""
    q = content_words(question)
    if not q:
        return []
    wants_number, wants_date = bool(_ASKS_NUMBER.search(question)), bool(_ASKS_DATE.search(question))
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
    wants_number, wants_date = bool(_ASKS_NUMBER.search(question)), bool(_ASKS_DATE.search(question))

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


_ZH_FULL_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_EN_FULL_DATE = re.compile(r"\b((?:January|February|March|April|May|June|July|August|September|October|November|December)"
                           r"\s+\d{1,2})(?:st|nd|rd|th)?,\s*(\d{4})\b")


def drop_unsourced_years(answer: str, sources: Mapping[int, str]) -> str:
    """Remove a year the model added to a date when no source states that year.

    Pages often print "11月27日" without a year, and an issue's date may be unknown;
    small models then write "2023年11月27日". The year is a guess, so it goes, and
    the month and day the source does state stay ("11月27日").
    """
    known = {n for text in sources.values() for n in _NUMBER.findall(normalize(text))}

    def zh(m: re.Match) -> str:
        return m.group(0) if m.group(1) in known else f"{int(m.group(2))}月{int(m.group(3))}日"

    def en(m: re.Match) -> str:
        return m.group(0) if m.group(2) in known else m.group(1)

    return _EN_FULL_DATE.sub(en, _ZH_FULL_DATE.sub(zh, answer))


def unsourced_numbers(claim: str, sources: Mapping[int, str]) -> set[str]:
    """Numbers stated in the claim that no source states anywhere."""
    stated = set(_NUMBER.findall(normalize(strip_markers(claim))))
    known = {n for text in sources.values() for n in _NUMBER.findall(normalize(text))}
    return stated - known
