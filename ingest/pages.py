"""Read page files into Pages (text to segment) or Articles (already segmented).

Every problem is reported per file (and line) with a reason; nothing here
raises for bad input, so one broken file never stops a batch.

A PDF reader would produce the same ``Page`` with ``Line.font_size`` and
``Line.bbox`` filled, and feed the same segmentation.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.records import DOC_KEY, PAGE_KEY, Article, IssueDate, Line, Page

__all__ = [
    "Problem",
    "FileResult",
    "MANIFEST_NAME",
    "SUPPORTED_SUFFIXES",
    "discover",
    "read_file",
    "decode_text",
    "parse_date",
    "lines_from_text",
]

MANIFEST_NAME = "issue.toml"
SUPPORTED_SUFFIXES = (".txt", ".jsonl")


@dataclass(frozen=True)
class Problem:
    """Something in the input that was skipped, and why."""

    file: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.reason}"


@dataclass
class FileResult:
    """What one file yielded. A file with only problems was skipped."""

    path: str
    pages: list[Page] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        return not self.pages and not self.articles and bool(self.problems)


def discover(paths: list[Path]) -> Iterator[Path]:
    """Files under the given paths, in a stable order; hidden files and manifests left out."""
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if f.is_file() and not any(part.startswith(".") for part in rel) and f.name != MANIFEST_NAME:
                    yield f
        else:
            yield p


# --- decoding -----------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str | None, str]:
    """Decode page text: UTF-8 (with or without BOM), then GB18030 (a superset of GBK).

    Returns (text, "") or (None, reason).
    """
    if not data.strip():
        return None, "空文件，没有可导入的内容 (empty file: nothing to ingest)"
    if b"\x00" in data[:8192] or _control_ratio(data[:8192]) > 0.05:
        return None, "二进制文件，不是版面文本，请另存为 UTF-8 .txt (binary file, not page text)"
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc == "gb18030" and _implausible(text):
            break
        return text.replace("\r\n", "\n").replace("\r", "\n"), ""
    return None, "无法解码：既不是 UTF-8 也不是 GBK/GB18030，请转换为 UTF-8 (undecodable text)"


def _control_ratio(data: bytes) -> float:
    ctrl = sum(1 for b in data if b < 32 and b not in (9, 10, 13, 12))
    return ctrl / max(len(data), 1)


def _implausible(text: str) -> bool:
    # GB18030 decodes most byte soup; real Chinese text is mostly common CJK,
    # ASCII and punctuation, so a high share of anything else means a wrong guess.
    odd = sum(
        1
        for ch in text
        if not (ch.isascii() or "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef" or ch in "“”‘’…—·")
    )
    return odd / max(len(text), 1) > 0.1


def lines_from_text(text: str) -> tuple[Line, ...]:
    """Split page text into lines; a blank line starts a new block (a column break)."""
    out: list[Line] = []
    block = 0
    pending_break = False
    for raw in text.split("\n"):
        s = raw.replace("\u3000", " ").strip()
        if not s:
            pending_break = True
            continue
        if pending_break and out:
            block += 1
        pending_break = False
        out.append(Line(text=s, block=block))
    return tuple(out)


# --- dates ----------------------------------------------------------------------

_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*(?:[T ].*)?$")


def parse_date(value: object) -> IssueDate | None:
    """Parse ``2023-12-01``, ``2023/12/1`` or ``2023年12月1日``; empty means unknown.

    Returns None when the value is present but not a date.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return IssueDate()
    if not isinstance(value, str):
        return None
    m = _DATE.match(value)
    if not m:
        return None
    y, mo, d = (int(g) for g in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return IssueDate(iso=f"{y:04d}-{mo:02d}-{d:02d}")


# --- manifests --------------------------------------------------------------------


@dataclass(frozen=True)
class _Manifest:
    paper: str
    issue: str
    date: IssueDate
    pages: dict[str, dict]
    superseded_issue: str = ""  # the name this issue had before undated folders were told apart


def issue_name(label: str) -> str:
    """An issue name as keys hold it: trimmed, one line, no "/" (it separates the key's parts)."""
    return " ".join(str(label).split()).replace("/", "／")


def _folder_issue(folder: Path) -> str:
    """The name of an undated issue folder whose manifest gives none: its folder name and a
    hash of where it is, so two undated folders of one paper stay two issues."""
    where = hashlib.sha1(str(folder.resolve()).encode("utf-8")).hexdigest()[:8]
    return f"{issue_name(folder.name)}~{where}"


def _load_manifest(folder: Path, cache: dict[Path, _Manifest | Problem | None]) -> _Manifest | Problem | None:
    if folder in cache:
        return cache[folder]
    path = folder / MANIFEST_NAME
    result: _Manifest | Problem | None = None
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
            date = parse_date(raw.get("date", ""))
            nb = parse_date(raw.get("date_not_before", ""))
            na = parse_date(raw.get("date_not_after", ""))
            if date is None or nb is None or na is None:
                result = Problem(str(path), "date / date_not_before / date_not_after 应写成 2023-12-01 或留空 (bad date in manifest)")
            else:
                named = issue_name(raw.get("issue", "") or "")
                # Without a name, a dated issue is its folder's name (one issue of a paper per day);
                # an undated one is also where its folder is: two undated folders are two issues.
                issue = named or (issue_name(folder.name) if date.known else _folder_issue(folder))
                result = _Manifest(
                    paper=str(raw.get("paper", "")).strip(),
                    issue=issue,
                    date=IssueDate(iso=date.iso, not_before=nb.iso, not_after=na.iso),
                    pages={str(k): dict(v) for k, v in (raw.get("pages") or {}).items()},
                    superseded_issue="" if named or date.known else issue_name(folder.name),
                )
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            result = Problem(str(path), f"清单文件无法解析，请修正 TOML 语法 (unreadable manifest: {exc})")
    cache[folder] = result
    return result


_PAGE_FROM_NAME = re.compile(r"^(?:page[-_ ]?|p|第)?0*(\d{1,3})(?:版)?$", re.I)


def _page_number(path: Path, entry: dict) -> int | None:
    if "page" in entry:
        try:
            n = int(entry["page"])
            return n if n > 0 else None
        except (TypeError, ValueError):
            return None
    m = _PAGE_FROM_NAME.match(path.stem)
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None


# --- readers ------------------------------------------------------------------------


def read_file(path: Path, manifests: dict | None = None) -> FileResult:
    """Read one file. Never raises for bad content: problems are in the result."""
    manifests = {} if manifests is None else manifests
    res = FileResult(path=str(path))
    suffix = path.suffix.lower()
    if not path.exists():
        res.problems.append(Problem(str(path), "文件不存在，请检查路径 (no such file)"))
        return res
    if suffix not in SUPPORTED_SUFFIXES:
        res.problems.append(
            Problem(str(path), f"不支持的文件类型 {path.suffix or '(无扩展名)'}，只接受 .txt 版面和 .jsonl 文章 (unknown file type)")
        )
        return res
    try:
        data = path.read_bytes()
    except OSError as exc:
        res.problems.append(Problem(str(path), f"无法读取文件 (cannot read file: {exc.strerror or exc})"))
        return res
    if suffix == ".jsonl":
        _read_jsonl(path, data, res)
    else:
        _read_txt(path, data, res, manifests)
    return res


def _read_txt(path: Path, data: bytes, res: FileResult, manifests: dict) -> None:
    text, why = decode_text(data)
    if text is None:
        res.problems.append(Problem(str(path), why))
        return
    manifest = _load_manifest(path.parent, manifests)
    if isinstance(manifest, Problem):
        res.problems.append(Problem(str(path), f"所在期的清单有误：{manifest.reason}"))
        return
    lines = lines_from_text(text)
    if not lines:
        res.problems.append(Problem(str(path), "空文件，没有可导入的内容 (empty file: nothing to ingest)"))
        return
    if manifest is not None:
        entry = manifest.pages.get(path.name, {})
        page = _page_number(path, entry)
        where = page if page else path.name
        key = f"{PAGE_KEY}{manifest.paper}/{manifest.issue}/{where}"
        source = str(entry.get("source", "") or path.name)
        old = (f"{PAGE_KEY}{manifest.paper}/{manifest.superseded_issue}/{where}",) if manifest.superseded_issue else ()
        res.pages.append(Page(manifest.paper, manifest.date, page, source, key, lines, supersedes=old))
    else:
        page = _page_number(path, {})
        key = f"file:{path.resolve()}"
        res.pages.append(Page("", IssueDate(), page, path.name, key, lines))


def _read_jsonl(path: Path, data: bytes, res: FileResult) -> None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        res.problems.append(Problem(str(path), "JSONL 文件必须是 UTF-8 编码，请转换 (JSONL must be UTF-8)"))
        return
    seen: set[str] = set()
    any_line = False
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        any_line = True
        art, why = _article_from_json(raw)
        if art is None:
            res.problems.append(Problem(str(path), why, line=n))
            continue
        if art.article_id in seen:
            res.problems.append(Problem(str(path), f"重复的 id {art.source_id!r}，同一报纸内 id 必须唯一 (duplicate id)", line=n))
            continue
        seen.add(art.article_id)
        res.articles.append(art)
    if not any_line:
        res.problems.append(Problem(str(path), "空文件，没有可导入的内容 (empty file: nothing to ingest)"))


def _article_from_json(raw: str) -> tuple[Article | None, str]:
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
            title=str(obj.get("title") or "").strip(),
            text=text.strip(),
            # the same id from two papers is two articles: key by both (a re-ingest of
            # one must not remove the other as stale)
            page_key=f"{DOC_KEY}{article_id}",
            source=sid,
        ),
        "",
    )
