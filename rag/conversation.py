"""Conversation: turns, follow-up questions made standalone, and relative dates.

Deterministic and instant: no model call sits before retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from rag.citations import strip_markers

__all__ = ["Turn", "rewrite_question", "resolve_relative_dates"]


@dataclass(frozen=True)
class Turn:
    """One exchange of a conversation."""

    question: str
    answer: str


_ORDINAL = re.compile(r"第([一二三四五六七八九十\d]+)(?:个|项|条|位|篇|件)")
_FOLLOW_UP = re.compile(r"^(?:那|那么|还有|另外|再|它|他|她|他们|这|该|其)|[呢吗]？?$|^(?:what about|and )", re.I)
_CN_NUM = {c: i for i, c in enumerate("一二三四五六七八九十", 1)}


def _ordinal(s: str) -> int:
    return int(s) if s.isdigit() else _CN_NUM.get(s, 0)


def _items(answer: str) -> list[str]:
    text = strip_markers(answer)
    numbered = re.findall(r"(?:^|\n)\s*\d+[.、)）]\s*([^\n]+)", text)
    if len(numbered) >= 2:
        return [i.strip(" 。；;") for i in numbered]
    parts = [p.strip(" 。；;，,") for p in re.split(r"[、；;，,\n]|和|及", text)]
    return [p for p in parts if p]


def rewrite_question(question: str, history: Sequence[Turn]) -> str:
    """Make a follow-up standalone, from the conversation so far.

    "那第二个呢？" after a list becomes the list's second item plus the earlier
    question; an elliptical follow-up ("那时间呢？", "在哪里举办的呢？", or a very
    short one like "几点？") carries the earlier question's words along.
    Standalone questions pass through unchanged.
    """
    q = question.strip()
    if not history:
        return q
    prev = history[-1]
    m = _ORDINAL.search(q)
    if m:
        items = _items(prev.answer)
        n = _ordinal(m.group(1))
        if 1 <= n <= len(items):
            rest = _ORDINAL.sub("", q).strip(" ？?呢吗那")
            return f"{items[n - 1]} {rest}".strip() if rest else f"{items[n - 1]}（{prev.question}）"
    if len(q.rstrip("？?。")) <= 6 or _FOLLOW_UP.search(q):
        return f"{prev.question} {q}"
    return q


# word -> (days back to the range's first day, days back to its last day)
_RELATIVE = {
    "今天": (0, 0), "今日": (0, 0), "昨天": (1, 1), "昨日": (1, 1), "前天": (2, 2),
    "本周": (6, 0), "这周": (6, 0), "上周": (13, 7), "最近": (30, 0), "近日": (30, 0), "上个月": (60, 30),
}


def resolve_relative_dates(
    question: str, reference: date | Callable[[], date | None] | None
) -> tuple[str, str] | None:
    """Turn 昨天/上周/… into a date range (ISO from, ISO to) counted back from the archive's
    newest issue (``reference``, or a function that reads it only when the question needs
    it), never from today's date. None when no such word or no reference."""
    for word, (back_from, back_to) in _RELATIVE.items():
        if word in question:
            ref = reference() if callable(reference) else reference
            if ref is None:
                return None
            return (ref - timedelta(days=back_from)).isoformat(), (ref - timedelta(days=back_to)).isoformat()
    return None
