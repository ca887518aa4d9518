"""The app's handlers and views with fake models (fast); the browser tests drive the real app."""

from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr
import pytest

from ingest.pipeline import ingest_paths
from ingest.uploads import FileOutcome, Upload, UploadOutcome, display_name, ingest_uploads
from rag.answering import AnswerChain
from rag.archive import Archive
from rag.chat_models import ExtractiveChat, FakeChat
from rag.embedding import FakeEmbedder
from rag.keyword import KeywordIndex
from rag.records import Answer, Citation, IssueDate
from rag.retrieval import HybridRetriever
from rag.store import InMemoryStore
from ui.app import AppServices, build_app
from ui.app.admin import AdminTab, outcome_label
from ui.app.api import ApiEndpoints
from ui.app.chat import ChatTab
from ui.app.feedback import FeedbackLog
from ui.app.quality import QualityTab
from ui.app.search import SearchTab
from ui.app.views import REFUSAL_NOTICE, highlight_terms, render_answer, snippet

from .conftest import SEED_PAGE

QUESTION = "渝中区宪法宣传周活动哪天启动？"


def _app(tmp_path, chat=None, admin=("admin", "secret")) -> SimpleNamespace:
    """The services and each tab's handlers over them, as ``build_app`` makes them."""
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    ingest_paths([SEED_PAGE.parent], arch, FakeEmbedder())
    chain = AnswerChain(HybridRetriever(FakeEmbedder(), arch), chat or ExtractiveChat())
    s = AppServices(chain, FeedbackLog(tmp_path / "feedback.jsonl"), tmp_path / "library", admin)
    return SimpleNamespace(s=s, chat=ChatTab(s), search=SearchTab(s), quality=QualityTab(s), admin=AdminTab(s),
                           api=ApiEndpoints(s))


def _run(gen):
    return list(gen)


def _session(app: SimpleNamespace) -> str:
    token = app.admin.login("admin", "secret")[0]
    assert token
    return token


# --- views ---------------------------------------------------------------------------------


def _cite(n=1, text="<b>粗体</b>12月1日活动启动。其后还有一句。", quote="12月1日活动启动。"):
    return Citation(n, "渝中报", IssueDate(), 1, "<script>alert(1)</script>标题", "a1", "s1", quote, text, 2, "下转2版：本库未收第2版")


def test_answer_html_escapes_corpus_text_and_links_only_valid_markers():
    a = Answer("q", "活动<img src=x onerror=alert(1)>在12月1日启动[1][7]。", False, (_cite(),))
    html = render_answer(a)
    assert "<img" not in html and "&lt;img" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;标题" in html
    assert "<b>" not in html and "&lt;b&gt;粗体&lt;/b&gt;" in html
    assert 'class="nr-cite" href="#nr-' in html and "[7]" not in html
    assert "<mark>12月1日活动启动。</mark>" in html
    assert "第1版" in html and "日期不详（不早于" not in html and "日期不详" in html
    assert "下转2版：本库未收第2版" in html


def test_refusal_and_unsupported_answers_carry_a_notice():
    assert REFUSAL_NOTICE in render_answer(Answer("q", "没有找到。", True))
    assert "请谨慎使用" in render_answer(Answer("q", "某事。", False, (), supported=False))


def test_highlight_matches_traditional_and_fullwidth_text_and_escapes():
    out = highlight_terms("網格員<技能>比武１１支", "网格员 11")
    assert "<mark>網格</mark>" in out and "&lt;技能&gt;" in out and "<mark>１１</mark>" in out
    assert snippet("甲" * 200 + "网格员比武", "网格员").startswith("…")


# --- chat ----------------------------------------------------------------------------------


def test_respond_streams_then_renders_cited_answer_and_keeps_turns(tmp_path):
    app = _app(tmp_path, FakeChat(["12月1日，宪法宣传周活动启动。", "11支代表队。"]))
    steps = _run(app.chat.respond(QUESTION, [], [], "", "", "全部版面"))
    assert len(steps) >= 3  # placeholder, streamed pieces, final
    assert any("▍" in s[0][-1]["content"] for s in steps[1:-1])
    chat, turns, cleared = steps[-1]
    assert cleared == "" and chat[0] == {"role": "user", "content": QUESTION}
    assert "nr-card" in chat[1]["content"] and "第1版" in chat[1]["content"]
    assert turns[0]["citations"][0]["page"] == 1 and not turns[0]["refused"]
    # a follow-up gets the history
    chat2, turns2, _ = _run(app.chat.respond("那网格员比赛有几支队？", chat, turns, "", "", "全部版面"))[-1]
    assert len(chat2) == 4 and len(turns2) == 2


def test_respond_rejects_empty_question_and_bad_dates_in_chinese(tmp_path):
    app = _app(tmp_path)
    with pytest.raises(gr.Error, match="问题是空的"):  # the library's check, shown by the app
        _run(app.chat.respond("  ", [], [], "", "", "全部版面"))
    with pytest.raises(gr.Error, match="问题是空的"):
        app.api.ask_api("  ")
    with pytest.raises(gr.Error, match="开始日期应写成"):
        _run(app.chat.respond(QUESTION, [], [], "12/01", "", "全部版面"))
    with pytest.raises(gr.Error, match="开始日期晚于结束日期"):
        _run(app.chat.respond(QUESTION, [], [], "2023-12-31", "2023-12-01", "全部版面"))


def test_rating_and_comment_append_to_the_feedback_log(tmp_path):
    app = _app(tmp_path)
    chat, turns, _ = _run(app.chat.respond(QUESTION, [], [], "", "", "全部版面"))[-1]
    status, rated = app.chat.rate(SimpleNamespace(index=[1, 0], liked=False, value=chat[1]["content"]), turns)
    assert "踩" in status and rated["rating"] == "down"
    assert app.chat.comment("  ", rated)[0] == "意见是空的。"
    assert app.chat.comment("日期不对", rated) == ("谢谢，意见已记录。", "")
    assert app.chat.comment("x", None)[0].startswith("请先在要评价的回答下")
    lines = [json.loads(x) for x in (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(x["rating"], x["comment"]) for x in lines] == [("down", ""), ("down", "日期不对")]
    assert lines[0]["question"] == QUESTION and lines[0]["citations"][0]["page"] == 1
    assert lines[0]["answer_id"] == lines[1]["answer_id"] and lines[0]["time"]
    assert app.quality.feedback_rows(_session(app))[0][4] == "日期不对"


# --- search --------------------------------------------------------------------------------


def test_search_rows_are_articles_with_highlights_and_open_full_text(tmp_path):
    app = _app(tmp_path)
    rows, data, status = app.search.search("网格员技能大比武", "", "", "第1版", 5)
    assert rows and "篇" in status and len({d["article_id"] for d in data}) == len(rows)
    assert rows[0][1] == "第1版" and "<mark>" in rows[0][4] + rows[0][2]
    html = app.search.open_article(SimpleNamespace(index=[0, 2]), data)
    assert "nr-article" in html and "网格员" in html
    with pytest.raises(gr.Error):
        app.search.search("", "", "", "全部版面", 5)


# --- admin ---------------------------------------------------------------------------------


def test_admin_handlers_require_login(tmp_path):
    app = _app(tmp_path)
    assert app.admin.login("admin", "wrong")[0] == ""
    token = app.admin.login("admin", "secret")[0]
    assert len(token) > 30 and app.admin.issue_table(token)
    for forged in (True, "True", "x" * 43, ""):
        with pytest.raises(gr.Error, match="请先登录"):
            app.admin.issue_table(forged)
    with pytest.raises(gr.Error, match="请先登录"):
        app.admin.upload("", [str(SEED_PAGE)], "渝中报", "", progress=lambda *a, **k: None)
    assert app.admin.logout(token)[0] == ""
    with pytest.raises(gr.Error, match="请先登录"):
        app.admin.issue_table(token)  # logged out
    assert _app(tmp_path, admin=None).admin.login("admin", "secret")[0] == ""


def test_wrong_passwords_wait_longer_per_client_and_sessions_expire():
    from ui.app.login import FREE_TRIES, AdminLogin

    now = [1000.0]
    guard = AdminLogin("admin", "secret", session_s=3600, clock=lambda: now[0])
    for i in range(FREE_TRIES - 1):
        r = guard.login("admin", f"guess{i}", "10.0.0.9")
        assert not r.token and r.wait_s == 0 and "还可再试" in r.message
    waits = []
    for i in range(4):
        r = guard.login("admin", f"more{i}", "10.0.0.9")
        waits.append(r.wait_s)
        assert guard.login("admin", "secret", "10.0.0.9").token == ""  # even the right one waits
        now[0] += r.wait_s
    assert waits == [1.0, 2.0, 4.0, 8.0] and "秒后再试" in r.message
    assert guard.login("admin", "secret", "10.0.0.7").token  # another client is not held up
    token = guard.login("admin", "secret", "10.0.0.9").token  # after the wait, the right password works
    assert token and guard.valid(token)
    assert guard.login("admin", "wrong", "10.0.0.9").wait_s == 0  # and the count starts over
    now[0] += 3599
    assert guard.valid(token)
    now[0] += 2
    assert not guard.valid(token)  # expired after an hour


def test_served_beyond_this_machine_without_a_login_closes_quality_and_feedback(tmp_path):
    app = _app(tmp_path, admin=None)
    app.s.exposed = True
    with pytest.raises(gr.Error, match="NEWSRAG_ADMIN_USER"):
        app.quality.feedback_rows("")
    with pytest.raises(gr.Error, match="NEWSRAG_ADMIN_USER"):
        app.quality.run_quality("", None, "x.jsonl", False)


def test_upload_gbk_page_and_broken_file_then_delete_issue(tmp_path):
    app = _app(tmp_path)
    up = tmp_path / "up"
    up.mkdir()
    (up / "第2版.txt").write_bytes("本报讯（记者 张三）解放碑步行街今天举行迎新年灯会，共有三十组花灯展出。\n".encode("gbk"))
    (up / "page-03.txt").write_bytes(bytes(range(256)) * 20)
    (up / "notes.docx").write_bytes(b"PK\x03\x04")
    before = app.s.archive.count()
    assert app.chat.page_choices() == ["全部版面", "第1版"]
    token = _session(app)
    rows, status, issues, _ = app.admin.upload(token, [str(p) for p in sorted(up.iterdir())], "渝中报", "2023-12-08",
                                         progress=lambda *a, **k: None)
    outcome = dict(rows)
    assert outcome["第2版.txt"] == "已导入"
    assert outcome["page-03.txt"].startswith("未导入") and outcome["notes.docx"].startswith("未导入：不支持的文件类型")
    assert app.s.archive.count() > before and "1 个文件已导入，2 个未导入" in status
    key = "page:渝中报/2023-12-08"
    assert key in [r[0] for r in issues]
    kept = list((tmp_path / "library").rglob("*.txt"))
    assert [p.name for p in kept] == ["page-02.txt"]  # the broken file left nothing behind
    assert app.s.archive.newest_date().isoformat() == "2023-12-08"  # what 昨天/上周 count back from
    assert app.chat.page_filter()["choices"] == ["全部版面", "第1版", "第2版"]  # the chat tab's page filter follows
    with pytest.raises(gr.Error, match="确认删除"):
        app.admin.delete_issue(token, key, False)
    msg, issues, _, confirm = app.admin.delete_issue(token, key, True)
    assert msg.startswith("已删除") and key not in [r[0] for r in issues] and confirm is False
    assert app.s.archive.count() == before and not list((tmp_path / "library").rglob("*.txt"))
    assert app.chat.page_choices() == ["全部版面", "第1版"]


def test_deleting_an_article_issue_removes_its_lines_from_the_library_copy(tmp_path):
    app = _app(tmp_path)
    src = tmp_path / "up.jsonl"
    lines = [
        {"id": "w1", "paper": "晚报", "date": "2023-12-06", "page": 3, "title": "灯会", "text": "解放碑举行迎新年灯会，共有三十组花灯。"},
        {"id": "w2", "paper": "晚报", "date": "2023-12-07", "page": 3, "title": "集市", "text": "较场口夜市新开二十个摊位。"},
    ]
    src.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in lines), encoding="utf-8")
    token = _session(app)
    rows, *_ = app.admin.upload(token, [str(src)], "晚报", "", progress=lambda *a, **k: None)
    assert dict(rows) == {"up.jsonl": "已导入"}
    (copy,) = (tmp_path / "library").rglob("*.jsonl")
    app.admin.delete_issue(token, "doc:晚报/2023-12-06", True)
    assert [json.loads(x)["id"] for x in copy.read_text(encoding="utf-8").splitlines()] == ["w2"]
    assert "w1" not in {h["source_id"] for h in app.api.search_api("灯会", 10)}
    app.admin.delete_issue(token, "doc:晚报/2023-12-07", True)
    assert not list((tmp_path / "library").rglob("*.jsonl"))  # the emptied copy is gone, not re-ingestable


def test_uploads_never_use_the_sent_name_as_a_path(tmp_path):
    src = tmp_path / "x.txt"
    src.write_text("本报讯 某街道举行活动，居民参加。\n", encoding="utf-8")
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    res = ingest_uploads([Upload("../../../etc/page-04.txt", src)], paper="渝中报", date="", library=tmp_path / "lib",
                         store=arch, embedder=FakeEmbedder())
    assert res.files == {"page-04.txt": FileOutcome(UploadOutcome.IMPORTED)}  # an article (本报讯), not a fallback
    (kept,) = (tmp_path / "lib").rglob("*.txt")
    assert kept.is_relative_to(tmp_path / "lib") and kept.name == "page-04.txt"
    assert display_name("C:\\Users\\a\\第1版.txt") == "第1版.txt" and display_name("a\x00b.txt") == "ab.txt"
    # re-uploading the same page replaces it: nothing is duplicated
    n = arch.count()
    ingest_uploads([Upload("page-04.txt", src)], paper="渝中报", date="", library=tmp_path / "lib", store=arch, embedder=FakeEmbedder())
    assert arch.count() == n


def test_upload_outcomes_read_as_before_in_the_upload_table(tmp_path):
    from ingest import Problem

    imported, replaced = FileOutcome(UploadOutcome.IMPORTED), FileOutcome(UploadOutcome.REPLACED)
    assert (outcome_label(imported), outcome_label(replaced)) == ("已导入", "已替换")
    assert outcome_label(FileOutcome(UploadOutcome.SKIPPED, "文件过大 (file too large)")) == "未导入：文件过大 (file too large)"
    lines = tuple(Problem("a.jsonl", f"坏行{n}", n) for n in range(1, 8))
    assert outcome_label(FileOutcome(UploadOutcome.IMPORTED, replaced_articles=2, skipped_lines=lines)) == (
        "已导入（替换了 2 篇已有文章）（跳过 7 行：第1行 坏行1；第2行 坏行2；第3行 坏行3；第4行 坏行4；第5行 坏行5）")
    # an article file with a bad line, uploaded twice: the second time its articles replace the first's
    src = tmp_path / "wb.jsonl"
    src.write_text(json.dumps({"id": "w1", "paper": "晚报", "date": "2023-12-06", "page": 3, "title": "灯会",
                               "text": "解放碑举行迎新年灯会。"}, ensure_ascii=False) + "\n{broken\n", encoding="utf-8")
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    kw = dict(paper="晚报", date="", library=tmp_path / "lib", store=arch, embedder=FakeEmbedder())
    first = ingest_uploads([Upload("wb.jsonl", src)], **kw).files["wb.jsonl"]
    assert first.outcome is UploadOutcome.IMPORTED and [p.line for p in first.skipped_lines] == [2]
    assert outcome_label(first).startswith("已导入（跳过 1 行：第2行 ")
    src.write_text(src.read_text(encoding="utf-8").replace("灯会。", "灯会，共有三十组花灯。"), encoding="utf-8")
    again = ingest_uploads([Upload("wb.jsonl", src)], **kw).files["wb.jsonl"]
    assert again.replaced_articles == 1 and outcome_label(again).startswith("已导入（替换了 1 篇已有文章）（跳过 1 行：第2行 ")


def test_upload_limits_and_missing_fields(tmp_path):
    src = tmp_path / "page-01.txt"
    src.write_text("本报讯 内容。\n", encoding="utf-8")
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    kw = dict(library=tmp_path / "lib", store=arch, embedder=FakeEmbedder())
    too_big = ingest_uploads([Upload("page-01.txt", src)], paper="渝中报", date="", max_bytes=4, **kw).files["page-01.txt"]
    assert too_big.outcome is UploadOutcome.SKIPPED and "文件过大" in too_big.reason
    assert "请先填写报名" in ingest_uploads([Upload("page-01.txt", src)], paper="", date="", **kw).files["page-01.txt"].reason
    assert "版次" in ingest_uploads([Upload("notes.txt", src)], paper="渝中报", date="", **kw).files["notes.txt"].reason
    from rag.errors import InputError

    with pytest.raises(InputError, match="2023-12-01") as bad_date:
        ingest_uploads([Upload("page-01.txt", src)], paper="渝中报", date="十二月", **kw)
    assert bad_date.value.for_user().startswith("出版日期应写成 2023-12-01 或留空（the issue date must look like")
    assert arch.count() == 0


# --- quality and wiring --------------------------------------------------------------------


def test_quality_run_scores_a_question_file(tmp_path):
    app = _app(tmp_path)
    qa = tmp_path / "qa.jsonl"
    src = next(h.source_id for h in app.s.archive.store.find() if "宪法宣传周" in h.title)
    qa.write_text(json.dumps({"id": "1", "question": QUESTION, "answer": ["12月1日"], "source_doc_ids": [src]},
                             ensure_ascii=False) + "\n", encoding="utf-8")

    class _Progress:
        def __call__(self, *a, **k):
            pass

        def tqdm(self, it, **k):
            return it

    rows, md, report = app.quality.run_quality(_session(app), str(qa), "", True, progress=_Progress())
    assert rows[0][3] == 1 and rows[0][4] == "通过" and "12月1日" in rows[0][2]
    assert "hit@10: 1.000 / 1.000 / 1.000" in md and "正确率 accuracy 1.000" in md and report.endswith(".zip")
    import zipfile

    with zipfile.ZipFile(report) as z:
        assert {"report.md", "hit_at_k.png", "answers.jsonl", "summary.json"} <= set(z.namelist())
        (row,) = [json.loads(x) for x in z.read("answers.jsonl").decode("utf-8").splitlines()]
        assert row["id"] == "1" and row["correct"] and "refused_without_gold" not in row
    with pytest.raises(gr.Error, match=".jsonl"):
        app.quality.run_quality(_session(app), None, str(SEED_PAGE), False, progress=_Progress())


def test_quality_and_feedback_need_the_login_once_an_admin_is_configured(tmp_path):
    app = _app(tmp_path)  # admin configured
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"id": "1", "question": QUESTION, "answer": ["12月1日"], "source_doc_ids": []},
                             ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(gr.Error, match="请先在「档案管理」页登录"):
        app.quality.run_quality("", None, str(qa), False)
    with pytest.raises(gr.Error, match="请先在「档案管理」页登录"):
        app.quality.feedback_rows("")
    local = _app(tmp_path, admin=None)  # no admin configured: a local single-user tool, open
    assert local.quality.feedback_rows("") == []


def test_build_app_exposes_ask_and_search_api_and_hides_admin_without_login(tmp_path):
    app = _app(tmp_path, admin=None)
    demo = build_app(app.s)
    names = {d.api_name for d in demo.fns.values() if d.api_visibility == "public"}
    assert {"ask", "search"} <= names
    assert all(not (d.api_name or "").startswith(("upload", "delete", "login")) for d in demo.fns.values()
               if d.api_visibility == "public")


def test_build_app_refreshes_the_chat_page_filter_on_each_visit_and_after_uploads_and_deletions(tmp_path):
    cfg = build_app(_app(tmp_path).s).get_config_file()
    deps = {d["id"]: d for d in cfg["dependencies"]}
    (respond,) = [d for d in deps.values() if d["api_name"] == "respond"]
    refresh = [d for d in deps.values() if d["api_name"].startswith("page_filter")]
    assert refresh and all(d["outputs"] == [respond["inputs"][-1]] for d in refresh)  # the chat's 版面 dropdown
    assert sorted(deps[d["trigger_after"]]["api_name"] for d in refresh if d["trigger_after"] is not None) == ["delete_issue", "upload"]
    assert all(d["trigger_only_on_success"] for d in refresh if d["trigger_after"] is not None)
    assert [t[1] for d in refresh if d["trigger_after"] is None for t in d["targets"]] == ["load"]


def test_long_passage_card_shows_the_quote_with_one_sentence_either_side():
    long = "甲" * 100 + "。" + "乙" * 100 + "。丙丙。" + "丁" * 100 + "。" + "戊" * 100 + "。"
    html = render_answer(Answer("q", "丙丙[1]", False, (_cite(text=long, quote="丙丙。"),)))
    assert "…" + "乙" * 100 + "。<mark>丙丙。</mark>" + "丁" * 100 + "。…" in html
    assert "甲" not in html and "戊" not in html


def test_upload_of_only_a_broken_page_reports_it_and_keeps_nothing(tmp_path):
    bad = tmp_path / "page-05.txt"
    bad.write_bytes(bytes(range(256)) * 20)
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    res = ingest_uploads([Upload("page-05.txt", bad)], paper="渝中报", date="", library=tmp_path / "lib",
                         store=arch, embedder=FakeEmbedder())
    assert res.files["page-05.txt"].outcome is UploadOutcome.SKIPPED and arch.count() == 0
    assert outcome_label(res.files["page-05.txt"]).startswith("未导入：")
    assert not [p for p in (tmp_path / "lib").rglob("*") if p.is_file()]


def test_an_upload_where_no_article_is_recognised_says_so(tmp_path):
    src = tmp_path / "x.txt"
    src.write_text("一 二 三 四\n五 六 七 八\n\n九 十\n百 千\n", encoding="utf-8")
    arch = Archive(InMemoryStore("fake"), KeywordIndex())
    res = ingest_uploads([Upload("page-05.txt", src)], paper="渝中报", date="2023-12-09", library=tmp_path / "lib",
                         store=arch, embedder=FakeEmbedder())
    got = res.files["page-05.txt"]
    assert got.fell_back and got.outcome is UploadOutcome.IMPORTED and arch.count() == 2
    assert outcome_label(got) == "已导入（注意：未识别出文章，已按版块整体导入）"
