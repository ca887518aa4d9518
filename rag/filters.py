"""Search filters in newsrag's own terms; each store and index translates them itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from rag.errors import InputError

__all__ = ["SearchFilters", "date_int"]

_FIELD_ZH = {"date_from": "开始日期", "date_to": "结束日期"}


def date_int(value: str | None, name: str = "date") -> int | None:
    """``YYYY-MM-DD`` as the integer YYYYMMDD (None for empty).

    Raises:
        InputError: not a real date in that form, naming the field.
    """
    if value in (None, ""):
        return None
    m = re.fullmatch(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*", str(value))
    try:
        if not m:
            raise ValueError
        d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise InputError(
            f"{name} must be a date like 2023-12-01, got {value!r}",
            zh=f"{_FIELD_ZH.get(name, '日期')}应写成 2023-12-01 这样的格式，{value!r} 不是",
        ) from None
    return d.year * 10000 + d.month * 100 + d.day


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search or a lookup; applied inside every leg. Dates are ISO strings.

    Chunks with an unknown date never pass a date filter.
    """

    date_from: str | None = None
    date_to: str | None = None
    paper: str | None = None
    page: int | None = None

    def __post_init__(self) -> None:
        lo, hi = self.date_from_int, self.date_to_int
        if lo and hi and lo > hi:
            raise InputError(f"date_from {self.date_from} is after date_to {self.date_to}", zh="开始日期晚于结束日期，请对调或改正")
        if self.page is not None and (not isinstance(self.page, int) or isinstance(self.page, bool) or self.page <= 0):
            raise InputError(f"page must be a positive number, got {self.page!r}", zh=f"版次应是正整数（例如 1 表示头版），{self.page!r} 不是")

    @property
    def date_from_int(self) -> int | None:
        return date_int(self.date_from, "date_from")

    @property
    def date_to_int(self) -> int | None:
        return date_int(self.date_to, "date_to")

    @property
    def empty(self) -> bool:
        return not (self.paper or self.page is not None or self.date_from or self.date_to)

    def admits(self, paper: str, page: int | None, date_value: int | None) -> bool:
        """Whether a chunk of this paper, page and date (YYYYMMDD, None when unknown) passes."""
        if self.paper and paper != self.paper:
            return False
        if self.page is not None and page != self.page:
            return False
        lo, hi = self.date_from_int, self.date_to_int
        if lo is not None and (date_value is None or date_value < lo):
            return False
        return not (hi is not None and (date_value is None or date_value > hi))
