"""Reading files: encodings, line ends, manifests, JSONL, and every kind of bad input."""

from __future__ import annotations

import json

import pytest

from ingest.pages import decode_text, lines_from_text, parse_date, read_file
from rag.records import IssueDate

PAGE = "区委常委会召开会议\n\n本报讯（记者 李一）12月1日，区委常委会召开\n会议。\n"


@pytest.mark.parametrize(
    "encoding,prefix",
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("gbk", b""), ("gb18030", b"")],
)
def test_encodings_decode_to_the_same_page(tmp_path, encoding, prefix):
    f = tmp_path / "p.txt"
    f.write_bytes(prefix + PAGE.encode(encoding))
    res = read_file(f)
    assert not res.problems
    assert [ln.text for ln in res.pages[0].lines][0] == "区委常委会召开会议"
    assert res.pages[0].lines[1].text.startswith("本报讯")


def test_crlf_line_ends(tmp_path):
    f = tmp_path / "p.txt"
    f.write_bytes(PAGE.replace("\n", "\r\n").encode("utf-8"))
    lines = read_file(f).pages[0].lines
    assert all("\r" not in ln.text for ln in lines)
    assert [ln.block for ln in lines] == [0, 1, 1]


def test_gb18030_only_characters(tmp_path):
    text = "本报讯（记者 李一）𠀀字与㐀字同在一页。"
    f = tmp_path / "p.txt"
    f.write_bytes(text.encode("gb18030"))
    assert read_file(f).pages[0].lines[0].text == text


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("empty.txt", b"", "空文件"),
        ("blank.txt", b"  \n\n \r\n", "空文件"),
        ("binary.txt", bytes(range(256)) * 4, "二进制文件"),
        ("garbled.txt", b"\xff\xfe\xfa\xfb" * 50, "无法解码"),
        ("page.doc", "本报讯".encode(), "不支持的文件类型"),
        ("empty.jsonl", b"\n\n", "空文件"),
        ("latin1.jsonl", '{"id": "a", "text": "caf\xe9"}'.encode("latin-1"), "UTF-8"),
    ],
)
def test_bad_files_are_reported_with_a_reason(tmp_path, name, data, reason):
    f = tmp_path / name
    f.write_bytes(data)
    res = read_file(f)
    assert res.skipped
    assert reason in res.problems[0].reason
    assert res.problems[0].file == str(f)


def test_missing_file(tmp_path):
    res = read_file(tmp_path / "nope.txt")
    assert res.skipped and "不存在" in res.problems[0].reason


def test_jsonl_bad_lines_are_skipped_and_good_ones_kept(tmp_path):
    rows = [
        json.dumps({"id": "a1", "text": "第一篇。", "title": "标题", "date": "2023-07-29", "paper": "晚报", "page": 3}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"text": "no id"}),
        json.dumps({"id": "a2", "text": ""}),
        json.dumps({"id": "a3", "text": "x", "date": "yesterday"}),
        json.dumps({"id": "a4", "text": "x", "page": "front"}),
        json.dumps({"id": "a1", "paper": "晚报", "text": "dup"}),  # the same paper and id again
        json.dumps({"id": 7, "text": "数字 id 也可以。", "date": "2023年8月1日"}),
    ]
    f = tmp_path / "docs.jsonl"
    f.write_text("\n".join(rows), encoding="utf-8")
    res = read_file(f)
    assert [a.source_id for a in res.articles] == ["a1", "7"]
    assert [p.line for p in res.problems] == [2, 3, 4, 5, 6, 7, 8]
    a1 = res.articles[0]
    assert (a1.title, a1.paper, a1.page, a1.date.iso) == ("标题", "晚报", 3, "2023-07-29")
    assert res.articles[1].date.iso == "2023-08-01"
    assert not res.skipped


def test_manifest_gives_paper_date_and_page(tmp_path):
    issue = tmp_path / "wanbao" / "2023-12-05"
    issue.mkdir(parents=True)
    (issue / "issue.toml").write_text('paper = "晚报"\ndate = "2023-12-05"\n[pages."a.txt"]\npage = 3\n', encoding="utf-8")
    (issue / "a.txt").write_text(PAGE, encoding="utf-8")
    (issue / "page-07.txt").write_text(PAGE, encoding="utf-8")
    p3 = read_file(issue / "a.txt").pages[0]
    p7 = read_file(issue / "page-07.txt").pages[0]
    assert (p3.paper, p3.date.iso, p3.page) == ("晚报", "2023-12-05", 3)
    assert p7.page == 7  # from the file name when the manifest is silent
    assert p3.key == "page:晚报/2023-12-05/3" and p7.key == "page:晚报/2023-12-05/7"


def test_broken_manifest_is_reported(tmp_path):
    (tmp_path / "issue.toml").write_text("paper = \n", encoding="utf-8")
    (tmp_path / "a.txt").write_text(PAGE, encoding="utf-8")
    res = read_file(tmp_path / "a.txt")
    assert res.skipped and "清单" in res.problems[0].reason


def test_page_without_manifest_has_unknown_date():
    assert IssueDate().label_zh() == "日期不详"
    assert IssueDate(not_before="2023-12-01").label_zh() == "日期不详（不早于2023年12月1日）"
    assert IssueDate(iso="2023-12-05").label_zh() == "2023年12月5日"


@pytest.mark.parametrize(
    "value,iso",
    [("2023-12-01", "2023-12-01"), ("2023/12/1", "2023-12-01"), ("2023年12月1日", "2023-12-01"),
     ("2023-07-29 11:49:25", "2023-07-29"), ("", ""), (None, "")],
)
def test_parse_date(value, iso):
    assert parse_date(value).iso == iso


@pytest.mark.parametrize("value", ["yesterday", "2023-13-01", 20231201])
def test_parse_date_rejects(value):
    assert parse_date(value) is None


def test_blank_lines_start_blocks():
    lines = lines_from_text("a\nb\n\n\nc\n\u3000\nd")
    assert [(ln.text, ln.block) for ln in lines] == [("a", 0), ("b", 0), ("c", 1), ("d", 2)]


def test_decode_text_prefers_utf8():
    assert decode_text("中文".encode())[0] == "中文"
