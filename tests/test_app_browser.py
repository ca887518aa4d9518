"""The real app in a real browser: `newsrag serve` with the default models on the seed corpus,
driven by Playwright through Debian's Chromium (never `playwright install`).

A screenshot of the chat with its sources is saved to test-artifacts/chat-with-sources.png.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, _free_port, wait_for_http

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
QUESTION = "渝中区宪法宣传周活动哪天启动？"
HEADLINE = "法治渝中“宪”在身边 渝中2023年“宪法宣传周”活动启动"
ADMIN = ("editor", "s3cret-pass")


def _chromium() -> str:
    exe = os.environ.get("NEWSRAG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.fail("Debian's Chromium is needed for the browser tests: apt-get install chromium (make test does it)")
    return exe


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """`newsrag serve` on 127.0.0.1 with the seed corpus ingested by `newsrag ingest`, and page 2
    of the seed issue as an e-paper PDF (made by the tests) continuing two of its stories."""
    from .pagegen import continuation_stories, page_html, render_pdf

    home = tmp_path_factory.mktemp("app-home")
    corpus = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    render_pdf(page_html(continuation_stories(), columns=3, page_no=2),
               corpus / "yuzhongbao" / "2023-12-undated" / "page-02.pdf")
    env = {**os.environ, "NEWSRAG_HOME": str(home), "NEWSRAG_ADMIN_USER": ADMIN[0], "NEWSRAG_ADMIN_PASSWORD": ADMIN[1],
           "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("NEWSRAG_LLM", None)
    exe = str(Path(sys.executable).parent / "newsrag")
    subprocess.run([exe, "ingest", str(corpus)], env=env, check=True, capture_output=True, timeout=600)
    port = _free_port()
    log = open(home / "serve.log", "wb")
    proc = subprocess.Popen([exe, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    wait_for_http(url, proc, 240, f"newsrag serve (log: {home / 'serve.log'})")
    yield url, home
    proc.terminate()
    proc.wait(20)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(app_server[0])
    yield pg
    ctx.close()


def _ask(pg, question: str) -> list[str]:
    """Type a question, press Enter, and record the answer as it streams in."""
    box = pg.get_by_label("你的问题")
    box.fill(question)
    box.press("Enter")
    seen: list[str] = []
    deadline = time.time() + 240
    while time.time() < deadline:
        bots = pg.locator("#nr-chat .message-row.bot-row, #nr-chat .bot")
        text = bots.last.inner_text() if bots.count() else ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if pg.locator("#nr-chat .nr-card, #nr-chat .nr-notice").count():
            return seen
        time.sleep(0.05)
    pytest.fail(f"no answer within 240 s; saw {seen[-3:]}")


def _column(pg, elem_id: str, col: int) -> list[str]:
    """The texts of one column of a Gradio Dataframe (its body cells carry data-col)."""
    return pg.locator(f"#{elem_id} [role=gridcell][data-col='{col}']").all_inner_texts()


def test_chat_streams_a_cited_answer_with_a_source_card_and_records_a_thumbs_down(page, app_server):
    seen = _ask(page, QUESTION)
    assert any("▍" in s for s in seen), f"the answer did not stream: {seen}"
    chat = page.locator("#nr-chat")
    link = chat.locator("a.nr-cite").first
    assert link.inner_text() == "[1]"
    card = chat.locator(f".nr-card#{link.get_attribute('href').lstrip('#')}")
    assert "第1版" in card.inner_text() and HEADLINE in card.inner_text()
    assert "日期不详" in card.inner_text() and "下转2版" in card.inner_text()
    assert card.locator("mark").count() == 1
    assert "12月1日" in chat.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-with-sources.png"), full_page=True)

    log = Path(app_server[1]) / "feedback.jsonl"
    chat.get_by_role("button", name="踩").last.click()
    deadline = time.time() + 20
    while time.time() < deadline and not log.exists():
        time.sleep(0.1)
    (line,) = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    assert line["rating"] == "down" and line["question"] == QUESTION and line["citations"][0]["page"] == 1
    page.get_by_label("补充意见（可选，点赞或点踩后填写）").fill("希望写明年份")
    page.get_by_role("button", name="提交意见").click()
    page.get_by_text("谢谢，意见已记录。").wait_for()
    assert json.loads(log.read_text(encoding="utf-8").splitlines()[-1])["comment"] == "希望写明年份"


def test_a_pdf_page_source_card_shows_the_page_cropped_with_the_quote_highlighted(page):
    _ask(page, "网格员技能大比武的一等奖由哪个代表队获得？")
    card = page.locator("#nr-chat .nr-card").filter(has=page.locator(".nr-crop")).first
    card.wait_for()
    assert "第2版" in card.inner_text() and "我区举行党建统领基层治理网格员技能大比武" in card.inner_text()
    assert card.locator(".nr-crop .nr-hl").count() >= 1  # the quoted sentence's lines
    box, hl = card.locator(".nr-crop").bounding_box(), card.locator(".nr-crop .nr-hl").first.bounding_box()
    assert box["x"] <= hl["x"] and hl["x"] + hl["width"] <= box["x"] + box["width"] + 1
    # the crop shows the printed page: dark text on it, not the page's blank margin. The chat may
    # re-render the message once the answer is complete, which makes a new <img> that decodes
    # again, so the live element is looked up and shot until it is painted or 30 s pass; this
    # before the whole page opens below it and the chat scrolls.
    from io import BytesIO

    from PIL import Image, ImageStat

    crop, mean, state = card.locator(".nr-crop"), 255.0, {}
    deadline = time.time() + 30
    while time.time() < deadline:
        state = crop.locator("img").evaluate(
            "img => ({complete: img.complete, natural: img.naturalWidth, src: img.src, style: img.getAttribute('style')})")
        if state["complete"] and state["natural"] > 0:
            mean = ImageStat.Stat(Image.open(BytesIO(crop.screenshot())).convert("L")).mean[0]
            if mean < 235:
                break
        time.sleep(0.5)
    ARTIFACTS.mkdir(exist_ok=True)
    crop.screenshot(path=str(ARTIFACTS / "pdf-source-card-crop.png"))
    assert mean < 235, f"the crop stayed blank (mean grey {mean:.0f}); its image: {state}, box {crop.bounding_box()}"
    card.get_by_text("查看整版").click()
    region = card.locator(".nr-whole .nr-region")
    region.wait_for()
    assert region.bounding_box()["height"] > 10  # the article outlined on the whole page


def test_search_tab_lists_articles_with_highlights_and_opens_full_text(page):
    page.get_by_role("tab", name="检索").click()
    page.locator("#nr-search-query textarea").fill("网格员技能大比武")
    page.locator("#nr-search-go").click()
    results = page.locator("#nr-search-results")
    title = results.locator("[data-testid='cell-0-2']")
    title.locator("mark").first.wait_for()
    assert results.locator("[data-testid='cell-0-1']").inner_text() == "第1版"
    title.click()
    article = page.locator("#nr-article .nr-article").first
    article.wait_for()
    assert len(article.inner_text()) > 200
    # the story goes on on page 2 (the e-paper page of the fixture): shown after it
    assert page.locator("#nr-article .nr-card").count() == 2 and "第2版" in page.locator("#nr-article").inner_text()


def test_admin_uploads_gbk_page_reports_broken_file_and_shows_html_as_text(page, tmp_path):
    files = tmp_path / "uploads"
    files.mkdir()
    gbk = files / "第2版.txt"
    gbk.write_bytes("本报讯（记者 王五）解放碑步行街今天举行迎新年灯会，共有三十组花灯展出，市民纷纷前来观赏。\n".encode("gbk"))
    broken = files / "page-03.txt"
    broken.write_bytes(bytes(range(256)) * 40)
    html_page = files / "page-04.txt"
    html_page.write_text("本报讯 较场口社区发布通知<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"
                         "请居民按时参加消防演练。\n", encoding="utf-8")

    page.get_by_role("tab", name="档案管理").click()
    page.get_by_label("管理员用户名").fill(ADMIN[0])
    page.get_by_label("密码").fill("wrong")
    page.get_by_role("button", name="登录").click()
    page.get_by_text("用户名或密码不对。").wait_for()
    page.get_by_label("密码").fill(ADMIN[1])
    page.get_by_role("button", name="登录").click()
    page.locator("#nr-issues [data-testid='cell-0-1']").wait_for()
    assert "渝中报" in _column(page, "nr-issues", 1)

    page.locator("#nr-upload input[type=file]").set_input_files([str(gbk), str(broken), str(html_page)])
    page.locator("#nr-upload-paper textarea, #nr-upload-paper input").first.fill("渝中报")
    page.locator("#nr-upload-date textarea, #nr-upload-date input").first.fill("2023-12-08")
    page.locator("#nr-upload-go").click()
    page.locator("#nr-upload-status").get_by_text("导入完成").wait_for(timeout=180_000)
    outcome = dict(zip(_column(page, "nr-upload-results", 0), _column(page, "nr-upload-results", 1)))
    assert outcome["第2版.txt"] == "已导入" and outcome["page-04.txt"] == "已导入"
    assert outcome["page-03.txt"].startswith("未导入")
    page.locator("#nr-issues").get_by_text("page:渝中报/2023-12-08").wait_for()

    page.get_by_role("tab", name="检索").click()
    page.locator("#nr-search-query textarea").fill("较场口社区消防演练")
    page.locator("#nr-search-go").click()
    page.get_by_text("篇相关文章").wait_for()
    assert "<script>" in page.locator("#nr-search-results [data-testid='cell-0-4']").inner_text()
    page.locator("#nr-search-results [data-testid='cell-0-2']").click()
    article = page.locator("#nr-article .nr-article")
    article.wait_for()
    assert "<script>window.__pwned=1</script>" in article.inner_text()
    assert page.locator("#nr-article script, #nr-article img").count() == 0
    assert page.evaluate("window.__pwned") is None

    page.get_by_role("tab", name="检索").click()
    page.locator("#nr-search-query textarea").fill("解放碑迎新年灯会")
    page.locator("#nr-search-go").click()
    table = page.locator("#nr-search-results")
    table.get_by_text("第2版").first.wait_for()


def test_admin_tab_needs_login_and_api_hides_admin_functions(app_server):
    from gradio_client import Client

    client = Client(app_server[0], verbose=False)
    api = client.view_api(return_format="dict", print_info=False)
    names = set(api["named_endpoints"])
    assert {"/ask", "/search"} <= names
    assert not any(n.startswith(("/upload", "/delete", "/login", "/issue")) for n in names)


def test_api_ask_answers_with_citations_and_queues_concurrent_users(app_server):
    from gradio_client import Client
    from gradio_client.utils import Status

    client = Client(app_server[0], verbose=False)
    jobs = [client.submit(QUESTION, "", "", 0, api_name="/ask"),
            client.submit("网格员技能大比武有几支代表队进入决赛？", "", "", 1, api_name="/ask")]
    seen = set()
    while not all(j.done() for j in jobs):
        seen.update((i, j.status().code, j.status().rank) for i, j in enumerate(jobs))
        time.sleep(0.02)
    first, second = (j.result() for j in jobs)
    # one generation at a time: whoever came second waited with a visible place in the queue
    assert any(code == Status.IN_QUEUE and rank is not None for _, code, rank in seen), seen
    assert not first["refused"] and first["citations"][0]["page"] == 1
    assert first["citations"][0]["title"] == HEADLINE
    assert "11" in second["answer"] and not second["refused"]
    hits = client.predict("宪法宣传周", 3, "", "", 1, api_name="/search")
    assert hits[0]["page"] == 1 and {"chunk_id", "article_id", "title", "text", "score"} <= set(hits[0])


def test_phone_width_layout_fits_the_screen(browser, app_server):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    pg.goto(app_server[0])
    box = pg.get_by_label("你的问题")
    box.wait_for()
    assert box.bounding_box()["width"] <= 390
    assert pg.evaluate("document.documentElement.scrollWidth") <= 392
    ctx.close()
