"""Ready-made articles, one JSON object per line (how the evaluation corpora are imported)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator

from ingest.readers.text import no_surrogates
from rag.records import Article, PageKey

__all__ = ["read_jsonl", "iter_jsonl"]

Problems = list[tuple[int | None, str]]


def read_jsonl(data: bytes, parse_date) -> tuple[list[Article], Problems]:
    """The articles of a JSONL file and its problems as (line number or None, reason).

    ``parse_date`` reads a date value (the manifest's rules), None when it is no date.
    """
    articles: list[Article] = []
    problems: Problems = []
    for arts, probs in iter_jsonl(io.BytesIO(data), parse_date):
        articles.extend(arts)
        problems.extend(probs)
    return articles, problems


def iter_jsonl(lines: Iterable[bytes], parse_date, rows: int = 500) -> Iterator[tuple[list[Article], Problems]]:
    """The articles and problems of a JSONL file read line by line, ``rows`` articles at a time,
    so a file of any size is held in memory only one part at a time."""
    seen: set[str] = set()
    any_line = False
    articles: list[Article] = []
    problems: Problems = []
    for n, line in enumerate(lines, start=1):
        try:
            raw = line.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError:
            yield articles, [*problems, (None, "JSONL 文件必须是 UTF-8 编码，请转换 (JSONL must be UTF-8)")]
            return
        if not raw.strip():
            continue
        any_line = True
        art, why = _article_from_json(raw, parse_date)
        if art is None:
            problems.append((n, why))
        elif art.article_id in seen:
            problems.append((n, f"重复的 id {art.source_id!r}，同一报纸内 id 必须唯一 (duplicate id)"))
        else:
            seen.add(art.article_id)
            articles.append(art)
        if len(articles) >= rows:
            yield articles, problems
            articles, problems = [], []
    if not any_line:
        problems.append((None, "空文件，没有可导入的内容 (empty file: nothing to ingest)"))
    if articles or problems:
        yield articles, problems


def _article_from_json(raw: str, parse_date) -> tuple[Article | None, str]:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"JSON 格式错误，第 {exc.colno} 列：{exc.msg} (malformed JSON)"
    if not isinstance(obj, dict):
        return None, "每行必须是含 id 和 text 的 JSON 对象 (not a JSON object)"
    doc_id, text = obj.get("id"), obj.get("text")
    if not isinstance(doc_id, (str, int)) or not str(doc_id).strip():
        return None, "缺少 id，每篇文章都需要唯一的 id (missing 'id')"
    if not isinstance(text, str) or not text.strip():
        return None, f"文章 {doc_id!r} 没有 text 正文 (missing 'text')"
    date = parse_date(obj.get("date"))
    if date is None:
        return None, f"文章 {doc_id!r} 的日期 {obj.get('date')!r} 无法识别，应写成 2023-12-01 (bad date)"
    page_raw = obj.get("page")
    page: int | None = None
    if page_raw not in (None, ""):
        try:
            page = int(page_raw)
        except (TypeError, ValueError):
            return None, f"文章 {doc_id!r} 的版次 {page_raw!r} 不是数字 (bad page)"
    paper = str(obj.get("paper") or "").strip()
    sid = str(doc_id).strip()
    article_id = hashlib.sha256(f"doc|{paper}|{sid}".encode()).hexdigest()[:16]
    return (
        Article(
            article_id=article_id,
            source_id=sid,
            paper=paper,
            date=date,
            page=page,
            title=no_surrogates(str(obj.get("title") or "").strip()),
            text=no_surrogates(text.strip()),
            # the same id from two papers is two articles: key by both (a re-ingest of
            # one must not remove the other as stale)
            page_key=str(PageKey.of_doc(article_id)),
            source=sid,
        ),
        "",
    )
