"""Read page files into Pages (lines to segment) or Articles (already segmented).

One reader per format (``ingest/readers/``): text layers, JSONL articles, PDF pages (their
text layer, or OCR when they are scans) and scanned images. Lines with boxes are put in
reading order by ``ingest/layout.py``; PDF and scanned pages keep a page image for
citations. Page metadata comes from the issue's manifest and from file names.

Every problem is reported per file (and line, or page) with a reason; nothing here
raises for bad input, so one broken file never stops a batch.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from ingest.layout import reading_order
from ingest.page_images import PageImages
from ingest.readers.image import IMAGE_SUFFIXES, ImageProblem, read_image
from ingest.readers.jsonl import iter_jsonl, read_jsonl
from ingest.readers.ocr import OcrEngine
from ingest.readers.pdf import PdfProblem, read_pdf
from ingest.readers.text import decode_text, lines_from_text
from rag.records import Article, IssueDate, Line, Page, PageKey

__all__ = [
    "Problem",
    "FileResult",
    "MANIFEST_NAME",
    "SUPPORTED_SUFFIXES",
    "discover",
    "read_file",
    "read_parts",
    "decode_text",
    "parse_date",
    "lines_from_text",
]

MANIFEST_NAME = "issue.toml"
SUPPORTED_SUFFIXES = (".txt", ".jsonl", ".pdf", *IMAGE_SUFFIXES)
# The most one page file may weigh before it is read into memory (a JSONL file streams, so
# has none): a broadsheet's text layer is ~20 KB, its e-paper PDF ~5-30 MB, a 300 dpi scan ~60 MB.
MAX_FILE_MB = {".txt": 16, ".pdf": 512, **{s: 256 for s in IMAGE_SUFFIXES}}
PAGE_IMAGE_DPI = 150  # what a kept page image of a PDF is rendered at (then fitted to PageImages.width)


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


_PAGE_IN_NAME = re.compile(r"(?:page[-_ ]?|p|第)0*(\d{1,3})(?:版)?$|^0*(\d{1,3})$", re.I)


def page_in_name(name: str) -> int | None:
    """The page number a file name carries (``page-03.pdf``, ``p3.txt``, ``第3版.txt``,
    ``03.png``, ``渝中报-page-03.pdf``), or None."""
    m = _PAGE_IN_NAME.search(Path(name).stem)
    if not m:
        return None
    n = int(m.group(1) or m.group(2))
    return n if n > 0 else None


def _page_number(path: Path, entry: dict) -> int | None:
    if "page" in entry:
        try:
            n = int(entry["page"])
            return n if n > 0 else None
        except (TypeError, ValueError):
            return None
    return page_in_name(path.name)


# --- readers ------------------------------------------------------------------------


def read_file(path: Path, manifests: dict | None = None, *, images: PageImages | None = None,
              ocr: OcrEngine | None = None) -> FileResult:
    """Read one file. Never raises for bad content: problems are in the result.

    Args:
        manifests: a cache of the issue manifests read so far (shared across a batch).
        images: where page images of PDF and scanned pages are kept (None: not kept).
        ocr: reads scanned pages (None: scans are reported, not read).
    """
    manifests = {} if manifests is None else manifests
    res = FileResult(path=str(path))
    suffix = path.suffix.lower()
    if not path.exists():
        res.problems.append(Problem(str(path), "文件不存在，请检查路径 (no such file)"))
        return res
    if suffix not in SUPPORTED_SUFFIXES:
        res.problems.append(Problem(str(path), f"不支持的文件类型 {path.suffix or '(无扩展名)'}，只接受 .txt/.pdf 版面、"
                                               f"扫描图片（.png/.jpg/.tif）和 .jsonl 文章 (unknown file type)"))
        return res
    try:
        size_mb = path.stat().st_size / 2**20
        if size_mb > MAX_FILE_MB.get(suffix, float("inf")):
            res.problems.append(Problem(str(path), f"文件太大（{size_mb:.0f} MB，上限 {MAX_FILE_MB[suffix]} MB），不像一个版面，"
                                                   f"请检查或拆分 (file too large for a page: {size_mb:.0f} MB)"))
            return res
        data = path.read_bytes()
    except OSError as exc:
        res.problems.append(Problem(str(path), f"无法读取文件 (cannot read file: {exc.strerror or exc})"))
        return res
    if suffix == ".jsonl":
        articles, problems = read_jsonl(data, parse_date)
        res.articles.extend(articles)
        res.problems.extend(Problem(str(path), why, line=n) for n, why in problems)
    elif suffix == ".txt":
        _read_txt(path, data, res, manifests)
    elif isinstance(where := _where(path, manifests), Problem):
        res.problems.append(where)
    elif suffix == ".pdf":
        _read_pdf(path, data, res, where, images, ocr)
    else:
        _read_scan(path, data, res, where, images, ocr)
    return res


def read_parts(path: Path, manifests: dict | None = None, *, images: PageImages | None = None,
               ocr: OcrEngine | None = None, rows: int = 500) -> Iterator[FileResult]:
    """Read one file in parts of bounded size: a JSONL file streams ``rows`` articles at a
    time (it may hold a whole archive); every other file is one part, as ``read_file``."""
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        yield read_file(path, manifests, images=images, ocr=ocr)
        return
    try:
        fh = path.open("rb")
    except OSError as exc:
        yield FileResult(path=str(path), problems=[Problem(str(path), f"无法读取文件 (cannot read file: {exc.strerror or exc})")])
        return
    with fh:
        for articles, problems in iter_jsonl(fh, parse_date, rows=rows):
            yield FileResult(path=str(path), articles=articles,
                             problems=[Problem(str(path), why, line=n) for n, why in problems])


def _where(path: Path, manifests: dict) -> tuple[str, IssueDate, str | None, int | None, str, str] | Problem:
    """(paper, date, issue name (None: a file outside any issue), first page number, source,
    the issue name earlier versions keyed its pages by ("" when the same)) of a page file."""
    manifest = _load_manifest(path.parent, manifests)
    if isinstance(manifest, Problem):
        return Problem(str(path), f"所在期的清单有误：{manifest.reason}")
    if manifest is None:
        return "", IssueDate(), None, _page_number(path, {}), path.name, ""
    entry = manifest.pages.get(path.name, {})
    return (manifest.paper, manifest.date, manifest.issue, _page_number(path, entry),
            str(entry.get("source", "") or path.name), manifest.superseded_issue)


def _key(path: Path, paper: str, issue: str | None, page: int | None, index: int | None) -> PageKey:
    """A page's key: its number in its issue (or its file's name, and its place in the file);
    outside an issue, its file's path (and place)."""
    if issue is None:
        return PageKey.of_file(str(path.resolve()), index)
    return PageKey.of_page(paper, issue, page if page else path.name + (f"#{index}" if index else ""))


def _add_pages(path: Path, res: FileResult, where, found: list[tuple[int, tuple[Line, ...], str, tuple[float, float]]]) -> None:
    """Pages of one file: (index in the file, lines in reading order, image ref, page size) each."""
    paper, date, issue, first, source, old = where
    many = len(found) > 1 or (found and found[0][0] > 0)
    for index, lines, image, size in found:
        page = (first or 1) + index if (many or first) else None
        key = _key(path, paper, issue, page, index + 1 if many else None)
        supersedes = (str(replace(key, issue=old)),) if old else ()
        res.pages.append(Page(paper, date, page, source, str(key), lines, supersedes=supersedes, image=image, size=size))


def _read_pdf(path: Path, data: bytes, res: FileResult, where: tuple, images: PageImages | None,
              ocr: OcrEngine | None) -> None:
    try:
        doc, pages = read_pdf(data, ocr)
    except PdfProblem as exc:
        res.problems.append(Problem(str(path), str(exc)))
        return
    found = []
    try:
        for pp in pages:
            if pp.problem:
                res.problems.append(Problem(str(path), pp.problem))
                continue
            image = ""
            if images is not None:
                image = images.save(pp.render(doc, PAGE_IMAGE_DPI), images.key(data, pp.index))
            found.append((pp.index, reading_order(pp.lines, pp.rules), image, pp.size))
    finally:
        doc.close()
    _add_pages(path, res, where, found)


def _read_scan(path: Path, data: bytes, res: FileResult, where: tuple, images: PageImages | None,
               ocr: OcrEngine | None) -> None:
    if ocr is None:
        res.problems.append(Problem(str(path), "扫描图片需要 OCR，但 OCR 未启用 (a scan needs OCR, which is off)"))
        return
    try:
        scans = read_image(data, ocr)
    except ImageProblem as exc:
        res.problems.append(Problem(str(path), str(exc)))
        return
    found = []
    for sp in scans:
        if sp.problem:
            res.problems.append(Problem(str(path), sp.problem))
            continue
        image = images.save(sp.image, images.key(data, sp.index)) if images is not None else ""
        found.append((sp.index, reading_order(sp.lines, sp.rules), image, (float(sp.image.width), float(sp.image.height))))
    _add_pages(path, res, where, found)


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
        key = _key(path, manifest.paper, manifest.issue, page, None)
        source = str(entry.get("source", "") or path.name)
        old = (str(replace(key, issue=manifest.superseded_issue)),) if manifest.superseded_issue else ()
        res.pages.append(Page(manifest.paper, manifest.date, page, source, str(key), lines, supersedes=old))
    else:
        page = _page_number(path, {})
        res.pages.append(Page("", IssueDate(), page, path.name, str(_key(path, "", None, page, None)), lines))
