"""The real app in a real browser: `newsrag serve` with the default models on the seed corpus,
driven by Playwright through Debian's Chromium (never `playwright install`).

Screenshots are saved to test-artifacts/: the chat with its sources, a PDF source card's crop,
the 时间线 tab (a dated topic and an undated one) and the 浏览 tab (an issue and an article).
"""

from __future__ import annotations

import json
import os
import re
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
DATED = ROOT / "tests" / "fixtures" / "yuzhong-dated.jsonl"  # 渝中区 on five dates, 2023-11-06 to 2024-01-08
SEED_ISSUE = "2023-12-undated"


def _chromium() -> str:
    exe = os.environ.get("NEWSRAG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.fail("Debian's Chromium is needed for the browser tests: apt-get install chromium (make test does it)")
    return exe


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """`newsrag serve` on 127.0.0.1 with the seed corpus ingested by `newsrag ingest`, page 2
    of the seed issue as an e-paper PDF (made by the tests) continuing two of its stories, and
    five dated articles of our own (tests/fixtures/yuzhong-dated.jsonl) for the 时间线 and 浏览 tabs."""
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
    subprocess.run([exe, "ingest", str(corpus), str(DATED)], env=env, check=True, capture_output=True, timeout=600)
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
    # (the file may exist a moment before its line is written: wait for a whole line)
    while time.time() < deadline and not (log.exists() and log.read_text(encoding="utf-8").endswith("\n")):
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
    # (a hidden cell of the table may match first, as it did once in CI under load: wait for a visible one)
    table.get_by_text("第2版").filter(visible=True).first.wait_for()


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


def _shot(pg, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _days(labels: list[str]) -> list[str]:
    """``2023年12月4日`` labels as ISO days."""
    return [f"{int(y):04d}-{int(m):02d}-{int(d):02d}" for y, m, d in (re.match(r"(\d+)年(\d+)月(\d+)日", t).groups() for t in labels)]


def _fill(pg, elem_id: str, text: str) -> None:
    pg.locator(f"#{elem_id} textarea, #{elem_id} input").first.fill(text)


def test_browse_tab_shows_an_issues_pages_and_opens_articles_with_related_coverage(page):
    page.get_by_role("tab", name="浏览").click()
    page.locator("#nr-browse-issue input").click()
    page.get_by_role("option", name=re.compile(SEED_ISSUE)).click()
    pages = page.locator("#nr-browse-pages .nr-bpage")
    pages.nth(1).wait_for()
    assert pages.count() == 2
    assert "第1版" in pages.nth(0).inner_text() and "宪法宣传周" in pages.nth(0).inner_text()
    assert pages.nth(0).locator("img").count() == 0  # a text page: its headlines only
    # page 2 is an e-paper PDF: the page image, each article outlined on it and numbered like the list
    img, regions = pages.nth(1).locator("img"), pages.nth(1).locator(".nr-region")
    assert regions.count() >= 2 and regions.count() <= pages.nth(1).locator(".nr-heads li").count()
    deadline = time.time() + 30
    while time.time() < deadline and not img.evaluate("i => i.complete && i.naturalWidth > 0"):
        time.sleep(0.3)
    frame, box = img.bounding_box(), regions.first.bounding_box()
    assert frame["height"] > 300 and box["height"] > 10
    assert frame["x"] - 1 <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
    assert frame["y"] - 1 <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"] + 1

    # the undated seed article: its whole story, and why there is no coverage on other dates
    titles = _column(page, "nr-browse-articles", 1)
    row = next(i for i, t in enumerate(titles) if "宪法宣传周" in t)
    page.locator(f"#nr-browse-articles [data-testid='cell-{row}-1']").click()
    page.locator("#nr-browse-article .nr-article").first.wait_for()
    assert "12月1日" in page.locator("#nr-browse-article").inner_text()
    page.locator("#nr-browse-related-note").get_by_text("日期不详，无法按日期查找前后的相关报道").wait_for()
    names = page.locator("#nr-browse-names")
    assert names.is_visible() or "没有记录到人物" in page.locator("#nr-browse-names-note").inner_text()
    _shot(page, "browse-issue.png")

    # a dated issue found by its date: its article has coverage before and after it, each clickable
    _fill(page, "nr-browse-date", "2023-12-04")
    page.locator("#nr-browse-date-go").click()
    page.locator("#nr-browse-pages").get_by_text("首部加装电梯").wait_for()
    page.locator("#nr-browse-articles [data-testid='cell-0-1']").click()
    page.locator("#nr-browse-article").get_by_text("大坪街道").wait_for()
    earlier = page.locator("#nr-browse-earlier")
    earlier.locator("[data-testid='cell-0-3']").wait_for()
    earlier_days, later_days = (_days(_column(page, elem_id, 0)) for elem_id in ("nr-browse-earlier", "nr-browse-later"))
    # other tests add issues of their own (2023-12-08): other dates, in date order, the most alike among them
    assert earlier_days and max(earlier_days) < "2023-12-04" and "2023-11-06" in earlier_days and earlier_days == sorted(earlier_days)
    assert later_days and min(later_days) > "2023-12-04" and "2024-01-08" in later_days and later_days == sorted(later_days)
    assert page.locator("#nr-browse-related-note").inner_text().strip() == ""
    _shot(page, "browse-article-related.png")
    headline = earlier.locator("[data-testid='cell-0-3']").inner_text()
    earlier.locator("[data-testid='cell-0-3']").click()
    page.locator("#nr-browse-article .nr-card-title").get_by_text(headline).wait_for()


def test_timeline_tab_charts_a_dated_topic_cites_its_first_mention_and_lists_a_periods_articles(page):
    page.get_by_role("tab", name="时间线").click()
    _fill(page, "nr-timeline-query", "渝中区")
    page.locator("#nr-timeline-by").get_by_text("按月").click()
    page.locator("#nr-timeline-go").click()
    status = page.locator("#nr-timeline-status")
    status.get_by_text("最早提及").wait_for()
    m = re.search(r"共 (\d+) 篇，日期不详 (\d+) 篇", status.inner_text())
    assert m and int(m.group(1)) >= 5 + int(m.group(2)) and int(m.group(2)) >= 1  # the seed pages are undated
    first = status.locator(".nr-sources").first
    assert "2023年11月6日" in first.inner_text() and "第2版" in first.inner_text() and "老旧小区改造首批" in first.inner_text()
    assert first.locator("mark").count() == 1
    assert "2024年1月8日" in status.locator(".nr-sources").last.inner_text()
    chart = page.locator("#nr-timeline-chart")
    chart.locator("svg").first.wait_for()
    assert chart.is_visible() and "2023-11" in chart.inner_text() and "2024-01" in chart.inner_text()
    bars = chart.locator("g.plot_marks path[aria-roledescription=bar]")
    assert bars.count() == 3 and all(bars.nth(i).bounding_box()["height"] > 20 for i in range(3))  # from 0, not 1
    assert _column(page, "nr-timeline-periods", 0) == ["2023-11", "2023-12", "2024-01", "日期不详"]
    assert _column(page, "nr-timeline-periods", 1)[:3] == ["2", "2", "1"]
    page.locator("#nr-timeline-periods [data-testid='cell-1-0']").click()
    listing = page.locator("#nr-timeline-articles")
    listing.get_by_text("2023-12：2 篇").wait_for()
    assert listing.locator(".nr-card").count() == 2 and "首部加装电梯" in listing.inner_text()
    _shot(page, "timeline-dated.png")
    # a range brushed on the chart lists the articles of the periods it covers
    svg = chart.locator("svg").first.bounding_box()
    y = svg["y"] + svg["height"] * 0.5
    page.mouse.move(svg["x"] + svg["width"] * 0.12, y)
    page.mouse.down()
    page.mouse.move(svg["x"] + svg["width"] * 0.6, y, steps=10)
    page.mouse.up()
    listing.get_by_text(re.compile(r"2023-11 至 2023-12：4 篇")).wait_for()
    # 生成经过: dated lines, each [n] a link to its card
    page.locator("#nr-timeline-summary-go").click()
    summary = page.locator("#nr-timeline-summary")
    summary.locator("ol.nr-summary li").first.wait_for()
    for link in summary.locator("a.nr-cite").all():
        assert summary.locator(f".nr-card{link.get_attribute('href')}").count() == 1
    assert "2023年11月6日" in summary.locator("li").first.inner_text()
    _shot(page, "timeline-summary.png")


def test_timeline_of_an_undated_topic_says_so_instead_of_a_chart(page):
    page.get_by_role("tab", name="时间线").click()
    _fill(page, "nr-timeline-query", "网格员")
    page.locator("#nr-timeline-go").click()
    status = page.locator("#nr-timeline-status")
    status.get_by_text("都没有注明出版日期").wait_for()
    m = re.search(r"共 (\d+) 篇，日期不详 (\d+) 篇", status.inner_text())
    assert m and m.group(1) == m.group(2) and int(m.group(1)) >= 1
    assert not page.locator("#nr-timeline-chart").is_visible()
    assert _column(page, "nr-timeline-periods", 0) == ["日期不详"]
    page.locator("#nr-timeline-periods [data-testid='cell-0-0']").click()
    listing = page.locator("#nr-timeline-articles")
    listing.locator(".nr-card").first.wait_for()
    assert "网格员" in listing.inner_text() and "日期不详" in listing.inner_text()
    _shot(page, "timeline-undated.png")
    page.locator("#nr-timeline-summary-go").click()
    page.locator("#nr-timeline-summary").get_by_text("无法生成经过").wait_for()
    # a bad date, in Chinese
    _fill(page, "nr-timeline-from", "12/01")
    page.locator("#nr-timeline-go").click()
    page.get_by_text("开始日期应写成").first.wait_for()


def test_phone_width_layout_fits_the_screen(browser, app_server):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    pg.goto(app_server[0])
    box = pg.get_by_label("你的问题")
    box.wait_for()
    assert box.bounding_box()["width"] <= 390
    assert pg.evaluate("document.documentElement.scrollWidth") <= 392
    ctx.close()
