"""Sentence-aware chunking of Chinese articles."""

from __future__ import annotations

import hashlib
import re

from rag.records import Article, Chunk

__all__ = ["split_sentences", "chunk_article", "CHUNK_CHARS", "OVERLAP_CHARS", "chunk_id"]

# Target size in characters. Chinese news sentences here run 30-120 characters;
# RGB gold passages have a median of 209 and CRUD articles 679. bench/chunk_size.py
# measured hit@5 on the RGB dev split for 150/300/500/800 (see README "Chunking"):
# 300 keeps one or two facts per chunk (so a hit quotes the right sentence) while
# matching the longer windows on recall, and keeps EmbeddingGemma input short
# (its cost grows with length).
CHUNK_CHARS = 300
# Overlap: the last sentence of a chunk is repeated at the start of the next when
# it is short, so a fact split across a boundary is still found with its context.
OVERLAP_CHARS = 80

_SENT = re.compile(r"[^。！？；!?;\n]*(?:[。！？；!?;]+['\"”’」』）)]*|\n|$)")
_SOFT = re.compile(r"[^，、,：:]*(?:[，、,：:]|$)")


def split_sentences(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Split at 。！？； (keeping closing quotes with their sentence) and paragraph
    ends; a sentence longer than ``limit`` is cut at commas, then hard."""
    out: list[str] = []
    for m in _SENT.finditer(text):
        s = m.group(0).strip()
        if not s:
            continue
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
    windows: list[list[str]] = []
    cur: list[str] = []
    for s in sents:
        if cur and sum(map(len, cur)) + len(s) > size:
            windows.append(cur)
            tail = cur[-1]
            cur = [tail] if len(tail) <= overlap and len(tail) + len(s) <= size else []
        cur.append(s)
    if cur:
        windows.append(cur)
    head = article.headline
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for w in windows:
        text = "".join(w)
        cid = chunk_id(article, text)
        if cid in seen:
            continue
        seen.add(cid)
        chunks.append(
            Chunk(
                chunk_id=cid,
                article_id=article.article_id,
                source_id=article.source_id,
                page_key=article.page_key,
                index=len(chunks),
                text=text,
                embed_text=f"{head}\n{text}" if head else text,
                title=article.title,
                paper=article.paper,
                date=article.date,
                page=article.page,
                byline=article.byline,
                continues_on_page=article.continues_on_page,
                metadata={"headline": head, "source": article.source},
            )
        )
    return chunks
