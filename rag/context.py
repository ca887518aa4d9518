"""Fit retrieved chunks into the prompt's token budget.

A small model answers from what it is shown, so the budget goes to the sentences
that bear on the question rather than to whole chunks in rank order:

1. ``merge_windows``: the windows of one article become one source (joined in
   reading order, the overlap between neighbouring windows dropped), so the model
   never reads the same sentences twice and one article is one citation number.
2. ``fit_sources``: sentences are picked greedily by how many of the question's
   character bigrams they add (robust to jieba splitting names differently in
   question and source), then the text around them (the asked-for detail often
   sits just after the sentence that repeats the question's words), then the rest
   in rank order. Each source keeps its sentences in reading order, gaps shown as "……".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from rag.records import Hit, join_windows
from rag.text import bigrams, normalize, split_sentences

__all__ = ["merge_windows", "fit_sources", "GAP"]

GAP = "……"
# A sentence is picked for relevance while it adds at least MIN_SHARED and
# MIN_SHARE of the question's bigrams that no picked sentence holds yet.
MIN_SHARED = 2
MIN_SHARE = 0.25


def merge_windows(hits: Sequence[Hit]) -> list[Hit]:
    """One hit per article, at the rank of its best window, holding all its retrieved
    windows in reading order (runs of neighbouring windows joined, gaps as "……")."""
    groups: dict[str, list[Hit]] = {}
    for h in hits:
        groups.setdefault(h.article_id, []).append(h)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        ordered = sorted(group, key=lambda h: h.chunk_index)
        runs: list[list[str]] = [[ordered[0].text]]
        for prev, h in zip(ordered, ordered[1:]):
            if h.chunk_index == prev.chunk_index + 1:
                runs[-1].append(h.text)
            else:
                runs.append([h.text])
        out.append(replace(group[0], text=GAP.join(join_windows(r) for r in runs)))
    return out


def fit_sources(
    question: str, hits: Sequence[Hit], budget: int, cost: Callable[[str], int], head: Callable[[Hit], str],
    select: bool = True,
) -> list[tuple[Hit, str]]:
    """(hit, text to show) for the sources that fit in ``budget`` tokens, in rank order.

    ``cost`` estimates tokens; ``head`` is the source's header line (its cost counts).
    With ``select=False`` (e.g. a question in another language, where bigrams cannot
    match) whole sources are taken in rank order. When not one sentence fits, the start
    of the best hit is shown, trimmed to the budget.
    """
    sents = [split_sentences(h.text) or [h.text] for h in hits]
    chosen: list[set[int]] = [set() for _ in hits]
    left = budget

    def take(i: int, j: int) -> bool:
        nonlocal left
        if j in chosen[i] or not 0 <= j < len(sents[i]):
            return True
        price = cost(sents[i][j]) + (cost(head(hits[i])) if not chosen[i] else 0)
        if price > left:
            return False
        chosen[i].add(j)
        left -= price
        return True

    if select:
        # Greedy coverage of the question's bigrams: each pick counts only the bigrams
        # no sentence picked so far holds, so sentences repeating the question's topic
        # do not crowd out the one holding the asked-for detail, and a sentence must
        # add a fair share of the question to count as relevant at all.
        q = bigrams(normalize(question))
        floor = max(MIN_SHARED, MIN_SHARE * len(q))
        grams = {(i, j): bigrams(normalize(s)) & q for i, ss in enumerate(sents) for j, s in enumerate(ss)}
        covered: set[str] = set()
        picked: list[tuple[int, int]] = []
        while grams:
            (i, j), g = max(grams.items(), key=lambda kv: (len(kv[1] - covered), -kv[0][0], -kv[0][1]))
            if len(g - covered) < floor:
                break
            del grams[(i, j)]
            if take(i, j):
                covered |= g
                picked.append((i, j))
        # Then the text around each pick, the sentence after first: the detail asked
        # for usually follows the sentence that repeats the question's words.
        for r in range(1, max((len(ss) for ss in sents), default=0)):
            for i, j in picked:
                take(i, j + r)
                take(i, j - r)
    for i, ss in enumerate(sents):
        for j in range(len(ss)):
            if not take(i, j):
                break
    if not any(chosen) and hits:
        # Not even the best hit's first sentence fits: show the start of it, trimmed.
        return [(hits[0], _trim(hits[0].text, budget - cost(head(hits[0])), cost))]
    out = []
    for i, h in enumerate(hits):
        if chosen[i]:
            js = sorted(chosen[i])
            parts = [sents[i][js[0]]]
            for a, b in zip(js, js[1:]):
                parts.append((GAP if b != a + 1 else "") + sents[i][b])
            text = "".join(parts)
            if js[0] > 0:
                text = GAP + text
            if js[-1] < len(sents[i]) - 1:
                text += GAP
            out.append((h, text))
    return out


def _trim(text: str, budget: int, cost: Callable[[str], int]) -> str:
    """The longest start of ``text`` that ``cost`` puts within ``budget`` (at least one character)."""
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]
