"""Sentence-aware chunking of Chinese articles."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from rag.records import Article, Chunk, Place, embed_text, union_box
from rag.text import split_sentences as sentences

__all__ = ["split_sentences", "chunk_article", "window_chunk", "CHUNK_CHARS", "OVERLAP_CHARS", "chunk_id"]

# Target size in characters, chosen by bench/chunk_size.py on the seed page with our 32
# questions (tests/fixtures/seed_qa.jsonl), EmbeddingGemma, default hybrid retrieval:
#   size  answer in top-1 chunk  answer in top-3 chunks  top-3 context chars
#    150         0.844                 0.969                   324
#    300         0.875                 1.000                   703
#    500         0.938                 1.000                  1049
#    800         0.969                 1.000                  1527
# 300 is the smallest size that puts every answer in the top 3, at half the context
# (= prompt time for a 2-core local model) of 500. Embedding cost is per character
# (~1,200 chars/s for EmbeddingGemma at any length), so size does not change ingest time.
# RGB passages are short (95% under 300 chars), so they are mostly one chunk each.
CHUNK_CHARS = 300
# Overlap: the last sentence of a chunk is repeated at the start of the next when
# it is short, so a fact split across a boundary is still found with its context.
OVERLAP_CHARS = 80

_SOFT = re.compile(r"[^，、,：:]*(?:[，、,：:]|$)")


def split_sentences(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Split at 。！？； (keeping closing quotes with their sentence) and paragraph
    ends; a sentence longer than ``limit`` is cut at commas, then hard."""
    out: list[str] = []
    for s in sentences(text):
        if len(s) <= limit:
            out.append(s)
            continue
        piece = ""
        for part in (p.group(0) for p in _SOFT.finditer(s) if p.group(0)):
            while len(part) > limit:
                if piece:
                    out.append(piece)
                    piece = ""
                out.append(part[:limit])
                part = part[limit:]
            if len(piece) + len(part) > limit and piece:
                out.append(piece)
                piece = ""
            piece += part
        if piece:
            out.append(piece)
    return out


def chunk_id(article: Article, text: str) -> str:
    key = "|".join([article.paper, article.date.iso, str(article.page or ""), article.article_id, text])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def chunk_article(article: Article, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS) -> list[Chunk]:
    """Window an article into chunks of whole sentences near ``size`` characters."""
    sents = split_sentences(article.text, size)
    windows: list[list[int]] = []  # sentence indexes
    cur: list[int] = []
    for i, s in enumerate(sents):
        if cur and sum(len(sents[k]) for k in cur) + len(s) > size:
            windows.append(cur)
            tail = sents[cur[-1]]
            cur = [cur[-1]] if len(tail) <= overlap and len(tail) + len(s) <= size else []
        cur.append(i)
    if cur:
        windows.append(cur)
    chunks: list[Chunk] = []
    seen: set[str] = set()
    starts = _sentence_starts(article.text, sents) if article.place is not None else []
    for w in windows:
        text = "".join(sents[k] for k in w)
        place = _chunk_place(article.place, [(starts[k], len(sents[k])) for k in w]) if starts else None
        chunk = window_chunk(article, text, len(chunks), place, len(article.text))
        if chunk.chunk_id in seen:
            continue
        seen.add(chunk.chunk_id)
        chunks.append(chunk)
    return chunks


def window_chunk(article: Article, text: str, index: int, place: Place | None, article_chars: int) -> Chunk:
    """The chunk of one window of ``article``: its id, the text the embedder sees (headline and
    window), and what the store and the catalogue keep of the article beside it."""
    head = article.headline
    md: dict = {"headline": head, "source": article.source, "kicker": article.kicker,
                "subtitle": article.subtitle, "article_chars": article_chars}
    if place is not None:
        md["place"] = place
    if article.story_id:
        md["story_id"] = article.story_id
        md["segment_id"] = article.segment_id
        md["jump_head"] = article.jump_head
    if article.continued_from_page is not None:
        md["continued_from_page"] = article.continued_from_page
    return Chunk(
        chunk_id=chunk_id(article, text),
        article_id=article.article_id,
        source_id=article.source_id,
        page_key=article.page_key,
        index=index,
        text=text,
        embed_text=embed_text(head, text),
        title=article.title,
        paper=article.paper,
        date=article.date,
        page=article.page,
        byline=article.byline,
        continues_on_page=article.continues_on_page,
        metadata=md,
    )


def _sentence_starts(text: str, sents: list[str]) -> list[int]:
    """Where each sentence of ``split_sentences(text)`` starts in ``text``."""
    out, pos = [], 0
    for s in sents:
        i = text.find(s, pos)
        i = pos if i < 0 else i
        out.append(i)
        pos = i + len(s)
    return out


def _chunk_place(place: Place | None, pieces: list[tuple[int, int]]) -> Place | None:
    """The article's place cut to one window: its lines' spans in the window's text (the
    window joins sentences that start at ``pieces``' article offsets)."""
    if place is None:
        return None
    lines = []
    at = 0
    for start, length in pieces:
        for s, e, box in place.lines:
            a, b = max(s, start), min(e, start + length)
            if a < b:
                lines.append((at + a - start, at + b - start, box))
        at += length
    merged: dict = {}
    for s, e, box in lines:  # one entry per printed line
        m = merged.get(box)
        merged[box] = (min(s, m[0]), max(e, m[1])) if m else (s, e)
    spans = tuple(sorted((s, e, box) for box, (s, e) in merged.items()))
    boxes = [b for _, _, b in spans]
    return replace(place, box=union_box(boxes) if boxes else None, lines=spans)
