"""Chunks as flat metadata and back: what every backend stores beside a vector.

Chroma keeps scalars only and has no null, so absent values are left out and boxes are
written as strings. Every backend stores the same dicts, so they answer alike.
"""

from __future__ import annotations

import json
from typing import Any

from rag.records import Chunk, Hit, IssueDate, Place

__all__ = ["chunk_metadata", "place_metadata", "place_from_metadata", "hit_from_metadata"]


def chunk_metadata(c: Chunk) -> dict[str, Any]:
    """Flat metadata for a chunk; absent values are left out."""
    md: dict[str, Any] = {
        "article_id": c.article_id,
        "source_id": c.source_id,
        "page_key": c.page_key,
        "chunk_index": c.index,
        "title": c.title,
        "paper": c.paper,
        "date": c.date.iso,
        "date_not_before": c.date.not_before,
        "date_not_after": c.date.not_after,
        "byline": c.byline,
        "headline": c.metadata.get("headline", c.title),
        "source": c.metadata.get("source", ""),
    }
    if c.date.iso:
        md["date_int"] = int(c.date.iso.replace("-", ""))
    if c.page is not None:
        md["page"] = c.page
    if c.continues_on_page is not None:
        md["continues_on_page"] = c.continues_on_page
    for k in ("story_id", "segment_id", "jump_head", "continued_from_page"):
        if c.metadata.get(k) not in (None, ""):
            md[k] = c.metadata[k]
    place = c.metadata.get("place")
    if place is not None:
        md.update(place_metadata(place))
    return md


def _box_str(box) -> str:
    return ",".join(f"{v:.1f}" for v in box) if box else ""


def place_metadata(place: Place) -> dict[str, Any]:
    """A Place as flat metadata values."""
    return {
        "page_image": place.image,
        "page_size": _box_str(place.size),
        "region": _box_str(place.region),
        "bbox": _box_str(place.box),
        "lines": json.dumps([[s, e, *[round(v, 1) for v in b]] for s, e, b in place.lines], separators=(",", ":")),
    }


def parse_box(value: str):
    """``"x0,y0,x1,y1"`` (or a ``"w,h"`` size) as floats; None when empty or unreadable."""
    try:
        parts = tuple(float(v) for v in value.split(",")) if value else ()
    except ValueError:
        return None
    return parts if len(parts) in (2, 4) else None


def place_from_metadata(md: dict[str, Any]) -> Place | None:
    """The Place stored by ``place_metadata``, or None for text pages (or unreadable values)."""
    if not md.get("bbox") and not md.get("page_image"):
        return None
    try:
        lines = tuple((int(r[0]), int(r[1]), tuple(float(v) for v in r[2:6])) for r in json.loads(md.get("lines") or "[]"))
    except (ValueError, TypeError, IndexError):
        lines = ()
    return Place(image=md.get("page_image", ""), size=parse_box(md.get("page_size", "")) or (0.0, 0.0),
                 region=parse_box(md.get("region", "")), box=parse_box(md.get("bbox", "")), lines=lines)


def hit_from_metadata(chunk_id: str, text: str, md: dict[str, Any], score: float) -> Hit:
    """A stored chunk as a Hit."""
    return Hit(
        chunk_id=chunk_id,
        article_id=md.get("article_id", ""),
        source_id=md.get("source_id", ""),
        title=md.get("title", ""),
        paper=md.get("paper", ""),
        date=IssueDate(md.get("date", ""), md.get("date_not_before", ""), md.get("date_not_after", "")),
        page=md.get("page"),
        text=text,
        score=score,
        byline=md.get("byline", ""),
        continues_on_page=md.get("continues_on_page"),
        headline=md.get("headline", ""),
        chunk_index=md.get("chunk_index", 0),
        page_key=md.get("page_key", ""),
        source=md.get("source", ""),
        place=place_from_metadata(md),
        story_id=md.get("story_id", ""),
        continued_from_page=md.get("continued_from_page"),
        segment_id=md.get("segment_id", ""),
        jump_head=md.get("jump_head", ""),
    )
