"""Articles right on generated pages: per rendering (text layer, PDF, 200-dpi scan) and per variation.

    python -m bench.segmentation [--pages 300] [--texts ../shared/eval-data/crud_news_corpus_sample.jsonl]
                                 [--scans 300] [--workers 2] [--text auto|rules|roles]

Pages are planned and laid out by ``tests/newspages.py`` (3-8 columns, gutters down to one
character, lead stories, L-shaped and boxed stories, kickers and subtitles, wrapped and vertical
headlines, photos with captions, rules or white space, ads, mastheads and folios of several
papers, 下转/上接, many outlets' openings or none), printed by Chromium, scanned at 200 dpi
with mild damage, and written out as OCR'd text layers. The first three pages are the seed
page as an e-paper PDF and two pages of another paper (江南晚报); a drawn page the generator
laid out wrongly (stories over one another) is drawn again from another seed. Article texts
come from the project's fixtures, or from ``--texts`` (a JSONL file read where it lies).

Renders and OCR results are cached under ``bench/results/segmentation/`` (keyed by the page
plan, and by the OCR code), so a second run only segments. An article is exact when its
kicker, title, subtitle, byline names, whole body and continuation page are right (scans:
within 5% of characters: OCR misreads, mostly at gutters); "foreign" counts lines of another article inside
a body, "disorder" lines of its own body out of order.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from tests.newspages import (
    GENERATOR,
    Rendered,
    Renderer,
    TextPool,
    corpus_plans,
    defective,
    laid_out,
    scan_page,
    score_page,
    text_layer,
)

OUT = Path(__file__).resolve().parent / "results" / "segmentation"
ROOT = Path(__file__).resolve().parent.parent
TOL = {"text": 0.0, "pdf": 0.0, "scan": 0.05}


def _key(plan: dict) -> str:
    return hashlib.sha1(json.dumps([GENERATOR, plan], sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


def build(plans: list[dict], pool: TextPool, scans: int) -> list[Rendered]:
    """Render (or load from the cache) every page: truth, PDF, text layer; the first ``scans``
    scanned. A page the generator laid out wrongly is drawn again (``laid_out``)."""
    t0, made = time.perf_counter(), 0
    with ExitStack() as stack:
        renderer: list[Renderer] = []

        def render(plan: dict) -> Rendered:
            nonlocal made
            folder = OUT / "pages" / _key(plan)
            meta = folder / "page.json"
            if meta.is_file():
                got = Rendered.from_json(json.loads(meta.read_text(encoding="utf-8")), folder)
                layer = text_layer(got)  # (cheap: made again, so the generator's text layers may change)
                if got.txt.read_text(encoding="utf-8") != layer:
                    got.txt.write_text(layer, encoding="utf-8")
                return got
            if not renderer:
                renderer.append(stack.enter_context(Renderer()))
            got = renderer[0].render(plan, folder, "page")
            got.txt = folder / "page.txt"
            got.txt.write_text(text_layer(got), encoding="utf-8")
            meta.write_text(json.dumps(got.to_json(), ensure_ascii=False), encoding="utf-8")
            made += 1
            return got

        out = list(laid_out(plans, pool, render))
    redrawn = sum(r.plan["seed"] != p["seed"] for r, p in zip(out, plans))
    print(f"{made} pages rendered in {time.perf_counter() - t0:.0f} s; {redrawn} drawn again "
          f"(the generator laid the first draw out wrongly)", flush=True)
    for i, r in enumerate(out[:scans]):
        if r.png is None and r.pdf is not None:
            r.png = scan_page(r.pdf, r.pdf.with_suffix(".png"), seed=i)
    return out


def _ocr_version() -> str:
    h = hashlib.sha1()
    for f in ("ingest/readers/ocr.py", "ingest/readers/image.py"):
        h.update((ROOT / f).read_bytes())
    return h.hexdigest()[:10]


def _scan_lines(png: str) -> dict:
    """OCR of one scan (upright, straightened), cached: the page's lines and size."""
    from ingest.readers.image import read_image
    from ingest.readers.ocr import RapidOcr

    cache = Path(png).with_name(f"ocr-{_ocr_version()}.json")
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    global _ENGINE
    if "_ENGINE" not in globals():
        _ENGINE = RapidOcr()
    t0 = time.perf_counter()
    (page,) = read_image(Path(png).read_bytes(), _ENGINE)
    got = {"lines": [[ln.text, ln.font_size, list(ln.bbox)] for ln in page.lines], "rules": [list(r) for r in page.rules],
           "size": [page.image.width, page.image.height], "seconds": time.perf_counter() - t0}
    cache.write_text(json.dumps(got, ensure_ascii=False), encoding="utf-8")
    return got


def segment(r: Rendered, how: str, ocr: dict | None = None, text: str = "auto") -> list:
    from ingest.articles import segment as segment_text
    from ingest.articles import segment_page
    from ingest.layout import reading_order
    from ingest.pages import read_file
    from rag.records import IssueDate, Line, Page

    if how == "scan":
        lines = [Line(t, 0, s, tuple(b)) for t, s, b in ocr["lines"]]
        page = Page(r.plan["paper"], IssueDate(), r.plan["page"], "scan", "page:b/x/1",
                    reading_order(lines, [tuple(x) for x in ocr.get("rules", [])]), size=tuple(ocr["size"]))
        return segment_page(page)
    path = r.txt if how == "text" else r.pdf
    res = read_file(path)
    if not res.pages:
        return []
    return segment_text(res.pages[0], text=text).articles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--scans", type=int, default=None, help="how many of the pages to scan and OCR (default: all)")
    ap.add_argument("--texts", type=Path, default=None, help="a JSONL file of news texts (default: the fixtures)")
    ap.add_argument("--workers", type=int, default=2, help="OCR processes")
    ap.add_argument("--renderings", default="text,pdf,scan")
    ap.add_argument("--text", default="auto", choices=("auto", "rules", "roles"), help="how text layers are read")
    ap.add_argument("--show", type=int, default=0, help="print the misses of this many pages")
    args = ap.parse_args()
    pool = TextPool.from_jsonl(args.texts) if args.texts else TextPool.fixtures()
    plans = corpus_plans(args.pages, pool)
    scans = args.pages if args.scans is None else args.scans
    renderings = args.renderings.split(",")
    pages = build(plans, pool, scans if "scan" in renderings else 0)
    ocr: dict[int, dict] = {}
    if "scan" in renderings:
        pngs = [(i, str(r.png)) for i, r in enumerate(pages[:scans]) if r.png]
        t0 = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as ex:
            for (i, _), got in zip(pngs, ex.map(_scan_lines, [p for _, p in pngs])):
                ocr[i] = got
        secs = [o["seconds"] for o in ocr.values()]
        print(f"OCR: {len(ocr)} scans ready in {time.perf_counter() - t0:.0f} s "
              f"(OCR {sum(secs) / max(len(secs), 1):.1f} s per page when read)", flush=True)
    table: dict[str, dict[str, list]] = {h: defaultdict(list) for h in renderings}
    shown = 0
    report = []
    for i, r in enumerate(pages):
        for how in renderings:
            if how == "scan" and i not in ocr:
                continue
            arts = segment(r, how, ocr.get(i), args.text)
            sc = score_page(arts, r, TOL[how])
            report.append({"page": i, "how": how, "name": r.pdf.parent.name, "exact": sc.exact, "why": sc.why,
                           "pieces": sc.pieces, "truths": len(sc.exact),
                           "foreign": sc.foreign})
            rows = table[how]
            scored = [t for t in r.truths if t.body.strip()]
            broken = defective(r)
            for t, ok, fo, ff, di in zip(scored, sc.exact, sc.foreign, sc.foreign_from, sc.disorder):
                keys = {"all"} | set(r.tags) & _PAGE_TAGS | set(t.tags)
                if t.sid in broken:
                    rows["layout defect (generator)"].append((ok, fo, di))
                else:  # (lines of a defective story inside its body are that story's fault)
                    rows["well-formed layout"].append((ok, sum(n for s, n in ff.items() if s not in broken), di))
                if i == 0:
                    keys.add("seed e-paper page")
                if r.plan["paper"] == "江南晚报" and r.plan["seed"] in (1000, 1001):
                    keys.add("other-paper pages (江南晚报)")
                for k in keys:
                    rows[k].append((ok, fo, di))
            rows["_pieces"].append((sc.pieces, len(scored)))
            if args.show and shown < args.show and not all(sc.exact):
                shown += 1
                print(f"page {i} {how} {r.pdf.parent.name}: {sc.why}")
    (OUT / "report.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in report), encoding="utf-8")
    print(f"\n{len(pages)} pages, texts: {args.texts or 'fixtures'}")
    print(f"| variation | {' | '.join(f'{h}: exact (n) · foreign · disorder' for h in renderings)} |")
    print(f"|---|{'---|' * len(renderings)}")
    keys = sorted({k for h in renderings for k in table[h] if not k.startswith("_")}, key=lambda k: (k != "all", k))
    for k in keys:
        cells = []
        for h in renderings:
            v = table[h].get(k, [])
            if not v:
                cells.append("—")
                continue
            exact = sum(1 for ok, _, _ in v if ok) / len(v)
            cells.append(f"{100 * exact:.1f}% ({len(v)}) · {sum(f for _, f, _ in v)} · {sum(d for _, _, d in v)}")
        print(f"| {k} | {' | '.join(cells)} |")
    for h in renderings:
        p = table[h]["_pieces"]
        print(f"{h}: {sum(a for a, _ in p)} pieces found for {sum(b for _, b in p)} articles")


_PAGE_TAGS = {f"{n} columns" for n in range(3, 9)} | {f"gutter {g:g} em" for g in (1.0, 1.25, 1.5, 2.0)} | {
    "rules", "white space only", "masthead", "folio", "ad", "editors' line", "渝中报", "江南晚报", "东海日报", "山城商报", "北岸都市报"}


if __name__ == "__main__":
    main()
