"""Exploring a reporter's archive: how fast timelines, issue lists and names answer at archive
size, and what the catalogue adds to ingest.

    python -m bench.explore ../shared/eval-data/crud_news_corpus_sample.jsonl --home /tmp/crud-home
    python -m bench.explore ../shared/eval-data/crud_news_corpus_sample.jsonl --overhead 300

Latency: the archive at ``--home`` (ingested from the JSONL file first when it holds no index,
with ``NEWSRAG_EMBEDDER`` as set: ``fake`` ingests the 20,000 articles in minutes; a timeline
embeds nothing, so its latency does not depend on the embedder) is asked each query in turn,
neighbours differing, ``--rounds`` times: ``timeline`` (week periods, 3 cited per period),
``issues`` over the whole archive and over one month, ``entities`` (whole archive; one topic),
through the library and through the app's tab handlers as a click runs them; p50 and p95 in ms.

Overhead (``--overhead N``): the first N articles ingested with the default embedder in this
process, every write of the catalogue (issues, pages, articles, and the names found in each
chunk) timed; its share of the whole ingest is what the catalogue adds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = ["杜苏芮", "涿州", "大运会", "台风", "暴雨", "高温", "北京", "成都", "经济", "防汛", "救援", "旅游",
           "足球", "新能源", "人工智能", "消费", "涿州 救援", "台风 杜苏芮", "成都 大运会", "北京 暴雨"]


def cpu_name() -> str:
    """This machine's CPU model and the features that matter to newsrag's forms."""
    from rag.cpu import cpu_flags

    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown"
    name = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "unknown")
    flags = cpu_flags(text)
    feats = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return f"{name}, {os.cpu_count()} cores ({', '.join(feats)})"


def _ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def _p(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return f"p50 {statistics.median(xs):7.1f} ms   p95 {p95:7.1f} ms   (n={len(xs)})"


def latency(src: Path, home: Path, rounds: int) -> None:
    from rag.archive import open_archive
    from rag.embedding import make_embedder
    from rag.explore import entities, timeline
    from rag.settings import Settings

    env = {**os.environ, "NEWSRAG_HOME": str(home)}
    if not (home / "chroma").exists():
        print(f"ingesting {src} into {home} (NEWSRAG_EMBEDDER={env.get('NEWSRAG_EMBEDDER', 'embeddinggemma')}) …", flush=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(src), "--json"], env=env, check=False,
                       stdout=subprocess.DEVNULL)
        print(f"  ingested in {time.perf_counter() - t0:.0f} s")
    settings = Settings.from_env(env)
    archive = open_archive(settings, make_embedder(settings), create=False)
    issues = archive.issues()
    print(f"archive: {archive.count()} chunks, {sum(i.articles for i in issues)} articles, {len(issues)} issues "
          f"(papers and days); newest {archive.newest_date()}")
    lib: dict[str, list[float]] = {k: [] for k in ("timeline", "issues (all)", "issues (one month)", "entities (all)",
                                                   "entities (topic)")}
    totals = {}
    for _ in range(rounds):
        for i, q in enumerate(QUERIES):
            lib["timeline"].append(_ms(lambda q=q: totals.__setitem__(q, timeline(archive, q, by="week").total)))
            if i % 4 == 0:
                lib["issues (all)"].append(_ms(lambda: archive.issues()))
                lib["issues (one month)"].append(_ms(lambda: archive.issues("2023-08-01", "2023-08-31")))
                lib["entities (all)"].append(_ms(lambda: entities(archive, kind="person")))
            lib["entities (topic)"].append(_ms(lambda q=q: entities(archive, q, kind="person")))
    print("\nthrough the library (rag.explore, Archive.issues):")
    for k, xs in lib.items():
        print(f"  {k:20s} {_p(xs)}")
    print("  articles per query: " + ", ".join(f"{q} {n}" for q, n in totals.items()))
    _through_the_app(settings, rounds)


def _through_the_app(settings, rounds: int) -> None:
    """The same through the app's tab handlers, as a click on 查看时间线 or a date runs them."""
    try:
        from ui.app.browse import BrowseTab
        from ui.app.services import open_services
        from ui.app.timeline import TimelineTab
    except ImportError:
        print("\n(the app has no 时间线 / 浏览 tab here: not measured through the app)")
        return
    services = open_services(settings)
    tl_tab, browse_tab = TimelineTab(services), BrowseTab(services)
    app: dict[str, list[float]] = {"时间线 tab": [], "浏览 tab (a date)": []}
    for _ in range(rounds):
        for q in QUERIES:
            app["时间线 tab"].append(_ms(lambda q=q: tl_tab.run(q, "", "", "按周", "")))
            app["浏览 tab (a date)"].append(_ms(lambda: browse_tab.pick_date("2023-08-01")))
    print("\nthrough the app's handlers:")
    for k, xs in app.items():
        print(f"  {k:20s} {_p(xs)}")


def overhead(src: Path, n: int) -> None:
    from bench.common import first_lines
    from ingest.pipeline import ingest_paths
    from rag.archive import open_archive
    from rag.embedding import make_embedder
    from rag.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        part = first_lines(src, n, Path(tmp))
        settings = Settings.from_env({**os.environ, "NEWSRAG_HOME": str(Path(tmp) / "home")})
        embedder = make_embedder(settings)
        archive = open_archive(settings, embedder, create=True)
        embedder.embed_documents(["预热 warm-up"])  # the model's load is no part of either
        spent = [0.0]
        inner = archive.catalogue.add

        def timed(chunks):
            t0 = time.perf_counter()
            inner(chunks)
            spent[0] += time.perf_counter() - t0

        archive.catalogue.add = timed
        t0 = time.perf_counter()
        rep = ingest_paths([part], archive, embedder)
        total = time.perf_counter() - t0
    print(f"ingest of {n} articles ({rep.chunks_added} chunks) with {embedder.name} [{embedder.form or '-'}]: "
          f"{total:.1f} s; the catalogue's writes (names included): {spent[0]:.2f} s = {100 * spent[0] / total:.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jsonl", type=Path, help="the CRUD-RAG news sample (read from its path, never copied)")
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "newsrag-explore-bench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--overhead", type=int, default=0, metavar="N", help="measure the catalogue's share of ingest on N articles")
    args = ap.parse_args()
    print(f"CPU: {cpu_name()}")
    if args.overhead:
        overhead(args.jsonl, args.overhead)
    else:
        latency(args.jsonl, args.home, args.rounds)


if __name__ == "__main__":
    main()
