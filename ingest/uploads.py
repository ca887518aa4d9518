"""Pages uploaded through the app: checked, ingested, and kept in a library folder.

An uploaded file's name is never used as a path. Its page number is read from it
(``page-03.txt``, ``第3版.txt``) and the name is kept only as the page's ``source``
string. Files are written under generated names into a staging folder with a
generated ``issue.toml``, ingested from there, and only the files that were
ingested move into ``<library>/<paper hash>/<issue folder>/``; a bad file is reported
and leaves nothing behind.

An upload never replaces a page of another issue. The issue is the date when it is
known, else the name the uploader gives (期号 or a free label); an undated upload
without a name is a new issue of its own, named from its content, never merged into
another. Uploading the same page of the same issue again replaces it (``UploadOutcome.REPLACED``,
shown by the app as 已替换).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tomllib
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from ingest.page_images import PageImages
from ingest.pages import MANIFEST_NAME, SUPPORTED_SUFFIXES, Problem, issue_name, page_in_name, parse_date
from ingest.pipeline import IngestReport, ingest_paths
from ingest.readers.image import IMAGE_SUFFIXES
from ingest.readers.ocr import OcrEngine
from rag.archive import Archive, DeletedIssue
from rag.embedding import Embedder
from rag.errors import InputError
from rag.records import IssueDate

__all__ = ["MAX_UPLOAD_BYTES", "Upload", "UploadOutcome", "FileOutcome", "UploadResult", "ingest_uploads", "delete_issue", "remove_article_copies", "remove_issue_copy"]

MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # a broadsheet scanned at 300 dpi is 20-40 MB as PNG
PAGE_SUFFIXES = (".txt", ".pdf", *IMAGE_SUFFIXES)


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the user's browser sent, and where its bytes are now."""

    name: str
    path: Path


class UploadOutcome(Enum):
    """What became of one uploaded file."""

    IMPORTED = "imported"  # ingested and kept in the library
    REPLACED = "replaced"  # a page that replaced the same page of the same issue
    SKIPPED = "skipped"  # not ingested, nothing kept: see ``FileOutcome.reason``


@dataclass(frozen=True)
class FileOutcome:
    """One uploaded file's outcome, with the details the app shows beside it."""

    outcome: UploadOutcome
    reason: str = ""  # why a skipped file was not ingested (Chinese, then English detail)
    replaced_articles: int = 0  # an article file's articles that replaced ones the archive held
    skipped_lines: tuple[Problem, ...] = ()  # lines of an ingested file that were left out, and why
    fell_back: bool = False  # a page where no article was recognised: ingested as page-level articles

    @property
    def ingested(self) -> bool:
        return self.outcome is not UploadOutcome.SKIPPED


@dataclass
class UploadResult:
    """Per-file outcome (original name -> ``FileOutcome``), the issue the pages were filed
    under, and the ingest report."""

    files: dict[str, FileOutcome] = field(default_factory=dict)
    report: IngestReport = field(default_factory=IngestReport)
    issue: str = ""

    @property
    def ok(self) -> bool:
        return all(f.ingested for f in self.files.values())

    @property
    def ingested(self) -> int:
        return sum(1 for f in self.files.values() if f.ingested)

    @property
    def replaced(self) -> int:
        """Page files that replaced the same page of the same issue."""
        return sum(1 for f in self.files.values() if f.outcome is UploadOutcome.REPLACED)


def _skipped(reason: str) -> FileOutcome:
    return FileOutcome(UploadOutcome.SKIPPED, reason)


def display_name(name: str) -> str:
    """The last path component of a browser-sent name, without control characters, at most 120 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return base[:120] or "（无名文件）"


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _paper_dir(paper: str) -> str:
    return "p-" + hashlib.sha1(paper.encode("utf-8")).hexdigest()[:10]


def _issue_dir(issue: str) -> str:
    """The library folder of an issue: its date or ``undated`` as before, a hash of any other name."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}|undated", issue):
        return issue
    return "i-" + hashlib.sha1(issue.encode("utf-8")).hexdigest()[:12]


def ingest_uploads(
    uploads: Sequence[Upload],
    *,
    paper: str,
    date: str,
    library: Path,
    store: Archive,
    embedder: Embedder,
    issue: str = "",
    date_not_before: str = "",
    date_not_after: str = "",
    max_bytes: int = MAX_UPLOAD_BYTES,
    progress: Callable[[int, int], None] | None = None,
    images: PageImages | None = None,
    ocr: OcrEngine | None = None,
) -> UploadResult:
    """Ingest uploaded pages (.txt, .pdf, scans) and article files (.jsonl) as one issue.

    Args:
        uploads: the files, with the names the browser sent.
        paper: the paper's name, required for .txt pages (e.g. 渝中报).
        date: the issue date (2023-12-01) or empty when unknown.
        library: where ingested files are kept, one folder per paper and issue.
        issue: the issue's name (期号 or a free label); what identifies an undated issue,
            so that its pages can be uploaded at different times. Without a date or a
            name, the upload is a new issue named from its content.
        date_not_before / date_not_after: what is known of an undated issue's day.

    Raises:
        InputError: the paper, a date or the name is unusable (nothing is ingested then).
    """
    paper = (paper or "").strip()
    dates = []
    for name, label, value in (("the issue date", "出版日期", date), ("date_not_before", "“不早于”日期", date_not_before),
                               ("date_not_after", "“不晚于”日期", date_not_after)):
        parsed = parse_date(value or "")
        if parsed is None:
            raise InputError(f"{name} must look like 2023-12-01, got {value!r}", zh=f"{label}应写成 2023-12-01 或留空")
        dates.append(parsed.iso)
    issue_date = IssueDate(*dates)
    if issue_date.not_before and issue_date.not_after and issue_date.not_before > issue_date.not_after:
        raise InputError("date_not_before is after date_not_after", zh="“不早于”的日期晚于“不晚于”的日期，请改正")
    if not uploads:
        raise InputError("no files were uploaded", zh="没有选择文件")
    name = issue_name(issue or "")
    if len(name) > 60:
        raise InputError(f"the issue name is {len(name)} characters long; at most 60", zh="期号或名称太长（最多 60 个字）")
    result = UploadResult()
    staging = Path(library) / ".staging" / uuid.uuid4().hex
    staging.mkdir(parents=True)
    try:
        pages: dict[str, dict] = {}
        staged: dict[Path, str] = {}
        for up in uploads:
            shown = display_name(up.name)
            reason = _check(up, shown, paper, max_bytes)
            if reason:
                result.files[shown] = _skipped(reason)
                continue
            suffix = Path(shown).suffix.lower()
            data = Path(up.path).read_bytes()
            if suffix in PAGE_SUFFIXES:
                page = page_in_name(shown)
                ext = ".jpg" if suffix == ".jpeg" else ".tif" if suffix == ".tiff" else suffix
                # a PDF without a page in its name is a whole issue: its pages from 1 on
                target = staging / (f"page-{page:02d}{ext}" if page else f"issue-{hashlib.sha1(data).hexdigest()[:12]}{ext}")
                pages[target.name] = {"page": page or 1, "source": shown}
            else:
                target = staging / f"articles-{hashlib.sha1(data).hexdigest()[:12]}.jsonl"
            if target in staged:
                result.files[staged[target]] = _skipped(f"已被同版次的 {shown} 替换 (replaced by a later file for the same page)")
            target.write_bytes(data)
            staged[target] = shown
        if not staged:
            return result
        issue = result.issue = name or issue_date.iso or _content_issue(staged)
        if pages:
            _write_manifest(staging / MANIFEST_NAME, paper, issue, issue_date, pages)
        result.report = rep = ingest_paths(sorted(staged), store, embedder, progress=progress, images=images, ocr=ocr)
        problems: dict[str, list[Problem]] = {}
        for p in rep.skipped:
            problems.setdefault(Path(p.file).name, []).append(p)
        skipped = {fname for fname, ps in problems.items() if any(p.line is None for p in ps)}
        keep = Path(library) / _paper_dir(paper or "articles") / _issue_dir(issue)
        for target, shown in staged.items():
            ps = problems.get(target.name, [])
            if target.name in skipped:
                result.files[shown] = _skipped("；".join(p.reason for p in ps))
                continue
            keep.mkdir(parents=True, exist_ok=True)
            shutil.move(str(target), keep / target.name)
            keys = rep.keys_by_file.get(str(target), [])
            replaced = sum(1 for k in keys if k in rep.replaced)
            lines = tuple(Problem(shown, p.reason, p.line) for p in ps)
            if target.suffix in PAGE_SUFFIXES:
                outcome = UploadOutcome.REPLACED if replaced else UploadOutcome.IMPORTED
                fell_back = any(w.startswith(str(target)) for w in rep.pages_fallback)
                result.files[shown] = FileOutcome(outcome, skipped_lines=lines, fell_back=fell_back)
            else:  # an article file: some of its articles may have replaced ones already held
                result.files[shown] = FileOutcome(UploadOutcome.IMPORTED, replaced_articles=replaced, skipped_lines=lines)
        kept_pages = {name: entry for name, entry in pages.items() if name not in skipped}
        if kept_pages:
            # keep the library issue's earlier pages, add the ones ingested now
            manifest = keep / MANIFEST_NAME
            entries = dict(tomllib.loads(manifest.read_text(encoding="utf-8")).get("pages") or {}) if manifest.exists() else {}
            entries.update(kept_pages)
            _write_manifest(manifest, paper, issue, issue_date, entries)
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check(up: Upload, shown: str, paper: str, max_bytes: int) -> str:
    """Why the file cannot be taken (Chinese, then English detail), or "" when it can."""
    suffix = Path(shown).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return (f"不支持的文件类型 {suffix or '(无扩展名)'}，只接受 .txt/.pdf 版面、扫描图片（.png/.jpg/.tif）"
                f"和 .jsonl 文章 (unknown file type)")
    try:
        size = Path(up.path).stat().st_size
    except OSError:
        return "上传未完成，请重新上传 (the upload is incomplete)"
    if size > max_bytes:
        return f"文件过大（{size / 1048576:.1f} MB），上限 {max_bytes / 1048576:.0f} MB (file too large)"
    if suffix in PAGE_SUFFIXES:
        if not paper:
            return "请先填写报名，版面文件需要它 (a paper name is needed for page files)"
        if page_in_name(shown) is None and suffix != ".pdf":
            return (f"无法从文件名看出版次，请命名为 page-01{suffix} 或 第1版{suffix} "
                    f"(no page number in the file name)")
    return ""


def _content_issue(staged: dict[Path, str]) -> str:
    """A name for an undated, unnamed upload: from its files' content, so the same upload
    again is the same issue (replaced, not duplicated) and any other upload another."""
    digests = sorted(hashlib.sha1(p.read_bytes()).hexdigest() for p in staged)
    return "undated-" + hashlib.sha1("|".join(digests).encode()).hexdigest()[:10]


def _write_manifest(path: Path, paper: str, issue: str, date: IssueDate, pages: dict[str, dict]) -> None:
    lines = [f"paper = {_toml_str(paper)}", f"issue = {_toml_str(issue)}", f"date = {_toml_str(date.iso)}"]
    lines += [f"date_not_before = {_toml_str(date.not_before)}"] if date.not_before else []
    lines += [f"date_not_after = {_toml_str(date.not_after)}", ""] if date.not_after else [""]
    for name, entry in sorted(pages.items()):
        lines += [f"[pages.{_toml_str(name)}]", f"page = {int(entry['page'])}", f"source = {_toml_str(str(entry.get('source', '')))}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def delete_issue(archive: Archive, library: Path, key: str) -> DeletedIssue | None:
    """Delete one issue (a key of ``Archive.issues``) from the archive and its kept copy from
    the library, so that ingesting the library again does not bring it back.

    Returns:
        What was removed, or None when the archive holds no such issue.
    """
    gone = archive.delete_issue(key)
    if gone is None:
        return None
    if gone.issue.kind == "page":
        remove_issue_copy(library, gone.issue.paper, gone.issue.issue)
    elif gone.issue.kind == "doc" and gone.source_ids:
        remove_article_copies(library, gone.issue.paper, gone.source_ids)
    return gone


def remove_issue_copy(library: Path, paper: str, issue: str) -> bool:
    """Delete the library copy of an uploaded issue (after its chunks were deleted)."""
    folder = Path(library) / _paper_dir(paper) / _issue_dir(issue)
    if folder.is_dir() and (folder / MANIFEST_NAME).exists():
        shutil.rmtree(folder)
        return True
    return False


def remove_article_copies(library: Path, paper: str, source_ids: Sequence[str]) -> int:
    """Drop deleted articles from the library's uploaded ``.jsonl`` copies.

    One uploaded file may hold articles of several issues, so the file is rewritten
    without the lines of ``paper``'s articles ``source_ids`` (a file left empty is
    removed). Without this, ingesting the library again would bring them back.

    Returns:
        How many lines were removed.
    """
    gone, removed = set(source_ids), 0
    root = Path(library)
    for path in sorted(root.rglob("*.jsonl")) if root.is_dir() else []:
        if ".staging" in path.relative_to(root).parts:
            continue
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not _is_deleted(line, paper, gone)]
        if len(kept) == len(lines):
            continue
        removed += len(lines) - len(kept)
        if any(line.strip() for line in kept):
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(kept), encoding="utf-8")
            tmp.replace(path)
        else:
            path.unlink()
            if not any(path.parent.iterdir()):
                path.parent.rmdir()
    return removed


def _is_deleted(line: str, paper: str, source_ids: set[str]) -> bool:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return False  # a line ingest skipped stays as it was
    return (isinstance(obj, dict) and str(obj.get("paper") or "").strip() == paper
            and str(obj.get("id", "")).strip() in source_ids)
