"""The feedback log: one JSON object per line under NEWSRAG_HOME, appended, never rewritten."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["FeedbackLog"]

MAX_COMMENT_CHARS = 2000


class FeedbackLog:
    """Append-only JSONL of 👍/👎 ratings with optional comments.

    Each line: time (UTC ISO), answer_id, question, answer, citations, rating
    ("up" / "down"), comment. A comment sent after a rating is a new line with the
    same answer_id: readers take the last line per answer_id.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, *, answer_id: str, question: str, answer: str, citations: list[dict[str, Any]],
               rating: str, comment: str = "") -> dict[str, Any]:
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', got {rating!r}")
        row = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "answer_id": answer_id,
            "question": question,
            "answer": answer,
            "citations": citations,
            "rating": rating,
            "comment": (comment or "").strip()[:MAX_COMMENT_CHARS],
        }
        line = json.dumps(row, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        return row

    def read(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest ``limit`` lines, newest first; unreadable lines are skipped."""
        if not self.path.exists():
            return []
        rows = []
        with self._lock:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        for line in reversed(lines):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
            if len(rows) >= limit:
                break
        return rows
