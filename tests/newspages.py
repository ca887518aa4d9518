"""Realistic newspaper pages with ground truth, made by the tests: many papers' conventions
laid out on column grids, printed by Chromium, scanned, and written out as OCR'd text.

A page is planned here (``plan_page``: a seeded random choice of paper, size, 3-8 columns,
gutters down to one character, a lead story across columns above a grid, L-shaped, boxed and
side-by-side stories, kicker / headline / subtitle, headlines wrapped or set vertically,
photos with captions, rules or white space only, ads, mastheads, folios and editors' lines,
下转 / 上接, the openings of many outlets or none), laid out in Chromium by a small script
that flows each body through its column frames the way page-layout programs do, and read
back: the text that landed in each story (the ground truth) and every printed line with its
box and role (masthead, folio, kicker, title, subtitle, byline, body, caption, ad, ...).

Each page then has three renderings: ``page.pdf`` (Chromium's print), ``page.png`` (a 200-dpi
scan of that PDF with mild noise, blur and skew) and ``page.txt`` (the printed lines as an
OCR'd text layer arrives: one line per printed line, blocks column by column, headlines
sometimes floating after the first column of their body, furniture and captions between).

Texts come from our own fixtures (the seed page's articles, ``fixtures/other_paper_stories.json``)
or, for benchmarks, from a JSONL file given by path (``TextPool.from_jsonl``), never copied.
Nothing here is product code.
"""

from __future__ import annotations

import base64
import io
import json
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

GENERATOR = 4  # bumped when the layout script changes what a plan renders to

__all__ = ["GENERATOR", "Truth", "PrintedLine", "Rendered", "TextPool", "plan_page", "seed_epaper_plan", "other_paper_plans",
           "Renderer", "text_layer", "text_layer_lines", "scan_page", "score_page", "PageScore", "corpus_plans"]

# --- what a page holds -----------------------------------------------------------------


@dataclass
class Truth:
    """One article as printed: what segmentation should give back."""

    sid: int
    kicker: str
    title: str  # printed phrases joined by a space
    subtitle: str
    formula: str  # the opening as printed ("本报讯（记者 李一）", "□本报记者 张三", "") before the body
    names: tuple[str, ...]  # the people of the byline, "记者 李一"
    body: str  # paragraphs joined by "\n", without the formula and the continuation mark
    continues_on_page: int | None = None
    continued_from_page: int | None = None
    tags: tuple[str, ...] = ()


@dataclass
class PrintedLine:
    text: str
    role: str  # masthead folio editors kicker title subtitle byline body caption ad
    sid: int  # the story it belongs to, -1 for none
    box: tuple[float, float, float, float]  # mm, origin top left
    size: float  # type size in pt
    frame: int = 0  # which frame of its story (body lines)


@dataclass
class Rendered:
    name: str
    plan: dict
    truths: list[Truth]
    lines: list[PrintedLine]
    pdf: Path | None = None
    png: Path | None = None
    txt: Path | None = None

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self.plan["tags"])

    def to_json(self) -> dict:
        return {"name": self.name, "plan": self.plan, "truths": [asdict(t) for t in self.truths],
                "lines": [asdict(ln) for ln in self.lines]}

    @classmethod
    def from_json(cls, d: dict, folder: Path) -> Rendered:
        truths = [Truth(**{**t, "names": tuple(t["names"]), "tags": tuple(t["tags"])}) for t in d["truths"]]
        lines = [PrintedLine(**{**ln, "box": tuple(ln["box"])}) for ln in d["lines"]]
        r = cls(d["name"], d["plan"], truths, lines)
        for ext in ("pdf", "png", "txt"):
            p = folder / f"{d['name']}.{ext}"
            setattr(r, ext, p if p.is_file() else None)
        return r


# --- texts -------------------------------------------------------------------------------

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉晶婷雪琳晨曦宇航浩然子涵思远欣怡雨轩博文嘉怡梓萱一鸣晓东立新海波建国志强春梅秋菊"


def _name(rng: random.Random) -> str:
    n = rng.choice((1, 2, 2))
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(n))


_PLACES = ["北京", "上海", "南京", "杭州", "武汉", "成都", "重庆", "广州", "西安", "长沙", "合肥", "济南", "郑州", "福州", "昆明"]
_OUTLETS = ["扬子晚报网", "中国网", "湖北日报", "潮新闻客户端", "极目新闻", "大众网", "荆楚网", "澎湃新闻", "人民网",
            "央视网", "中新网", "新浪科技", "IT之家", "中国青年报客户端", "环球网", "大河财立方", "红星新闻", "封面新闻"]


_SOURCE_OPENING = re.compile(r"^[^，。；：\s（(]{2,24}?(?:讯|电)\s*[（(][^）)]{1,40}[）)]\s*")
# an opening the source text carries without brackets, left in the body by the planner
# ("大众网记者 李梦雨 东营报道…", "中新社台北8月1日电 …"): a reader may take it off as the
# byline, as it takes a formula. Names end at a space, a digit or an opening quote; a name run
# into the text ("记者 屈旌据《纽约邮报》") stays ambiguous and is not taken.
_LEFT_OPENING = re.compile(
    r"^\s*(?:\S{0,16}?(?:记者|评论员)\s*[\u4e00-\u9fff]{2,3}(?:\s+(?:见习|实习)?(?:记者|通讯员)\s*[\u4e00-\u9fff]{2,3})*"
    r"(?:\s+[\u4e00-\u9fff]{0,6}报道|(?=[\s\d“]))|[^，。；：\s（(“]{2,24}?电(?=\s))")


@dataclass(frozen=True)
class Source:
    """A story's text before it is laid out."""

    title: tuple[str, ...]
    paragraphs: tuple[str, ...]
    kicker: str = ""
    subtitle: str = ""
    opening: str = ""  # a fixed opening of its own (fixtures)
    names: tuple[str, ...] = ()
    own_line: bool = False


class TextPool:
    """Stories to lay out: titles and paragraphs, drawn without repeating on a page."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = list(sources)

    @classmethod
    def fixtures(cls) -> TextPool:
        """The seed page's eight articles and our own other-paper stories."""
        out = []
        for a in json.loads((FIXTURES / "corpus_articles.json").read_text(encoding="utf-8")):
            out.append(Source(tuple(a["title"].split(" ")), tuple(a["text"].split("\n")), a["kicker"], a["subtitle"]))
        for s in json.loads((FIXTURES / "other_paper_stories.json").read_text(encoding="utf-8")):
            out.append(Source(tuple(s["title"]), tuple(s["paragraphs"]), s.get("kicker", ""), s.get("subtitle", ""),
                              s.get("opening", ""), tuple(s.get("names", ())), bool(s.get("own_line"))))
        return cls(out)

    @classmethod
    def from_jsonl(cls, path: Path, limit: int = 4000) -> TextPool:
        """News texts of a JSONL file (``text`` per row; CRUD-RAG's sample, for one), read where it lies.
        Titles are made from a clause of the text (the corpus has none)."""
        out = []
        with Path(path).open(encoding="utf-8") as f:
            for line in f:
                if len(out) >= limit:
                    break
                text = json.loads(line).get("text", "")
                # the corpus's header ("2023-07-29 11:49:25，正文：", "[2023/08/02 16:10]，正文：")
                text = re.sub(r"^.{0,40}?正文：", "", text).strip()
                if not text or text.startswith(("原标题", "来源", "文：", "编辑")) or len(text) < 200:
                    continue
                # its own opening ("新京报讯（记者 陈琳）", "中新网西安8月18日电(杨英琦)") is the story's
                m = _SOURCE_OPENING.match(text)
                opening, names = "", ()
                if m:
                    opening, text = m.group(0), text[m.end():]
                    names = tuple(f"{r} {n}" for r, n in re.findall(r"(记者|通讯员)\s*([\u4e00-\u9fff]{2,3})", opening)) or \
                        tuple(n for n in re.findall(r"[（(]([\u4e00-\u9fff]{2,3})[）)]", opening))
                sents = [s for s in re.split(r"(?<=[。！？])", text) if s.strip()]
                if len(sents) < 3:
                    continue
                paras, cur = [], ""
                rng = random.Random(len(out))
                for s in sents:
                    cur += s.strip()
                    if len(cur) > rng.randint(60, 200):
                        paras.append(cur)
                        cur = ""
                if cur:
                    paras.append(cur)
                clauses = [c for c in re.split(r"[，。；：！？、“”（）\s]", "".join(sents[1:])) if 6 <= len(c) <= 16]
                if not clauses:
                    continue
                title = (rng.choice(clauses),) if rng.random() < 0.6 or len(clauses) < 2 else tuple(rng.sample(clauses, 2))
                out.append(Source(title, tuple(paras), opening=opening, names=names))
        return cls(out)

    def draw(self, rng: random.Random, n: int) -> list[Source]:
        picks = list(range(len(self.sources)))
        rng.shuffle(picks)
        out = []
        for k in range(n):
            if k < len(picks):
                out.append(self.sources[picks[k]])
            else:  # more stories than texts: sentences of the pool in another order
                sents = [s for src in self.sources for p in src.paragraphs for s in re.split(r"(?<=。)", p) if len(s) > 8]
                body = "".join(rng.sample(sents, min(6, len(sents))))
                src = self.sources[picks[k % len(picks)]]
                out.append(Source(src.title[:1] + ("（续）",), (body,)))
        return out


# --- openings ----------------------------------------------------------------------------

def _opening(rng: random.Random, kind: str, paper: str) -> tuple[str, tuple[str, ...], bool]:
    """(formula, names, on a line of its own) of one opening convention."""
    a, b = _name(rng), _name(rng)
    m, d = rng.randint(1, 12), rng.randint(1, 28)
    place, outlet = rng.choice(_PLACES), rng.choice(_OUTLETS)
    if kind == "benbao":
        if rng.random() < 0.5:
            return f"本报讯（记者 {a}）", (f"记者 {a}",), False
        return f"本报讯（记者 {a} 通讯员 {b}）", (f"记者 {a}", f"通讯员 {b}"), False
    if kind == "outlet_xun":
        if rng.random() < 0.5:
            return f"{outlet}{m}月{d}日讯（通讯员 {b} 记者 {a}）", (f"通讯员 {b}", f"记者 {a}"), False
        return f"{outlet}讯（记者 {a}）", (f"记者 {a}",), False
    if kind == "dian":
        if rng.random() < 0.4:
            return f"新华社{place}{m}月{d}日电（记者 {a}、{b}）", (f"记者 {a}", b), False
        return f"{rng.choice(['中新网', '本报', '人民网'])}{place}{m}月{d}日电（记者 {a}）", (f"记者 {a}",), False
    if kind == "xiaoxi":
        return rng.choice([f"{outlet}{m}月{d}日消息，", "央视网消息：", f"【{outlet}消息】"]), (), False
    if kind == "baodao":
        return rng.choice([f"据{outlet}{m}月{d}日报道，", "【环球网报道】"]), (), False
    if kind == "reporter":
        return f"{outlet}记者 {a} {place}报道 ", (f"记者 {a}",), False
    if kind == "own_line":
        return rng.choice([f"□本报记者 {a} 通讯员 {b}", f"文/图 记者 {a}", f"本报记者 {a}"]), (), True
    if kind == "commentary":
        return rng.choice(["本报评论员", f"{paper}评论员 {a}"]), (), True
    return "", (), False


def _own_line_names(formula: str) -> tuple[str, ...]:
    return tuple(f"{r} {n}" for r, n in re.findall(r"(记者|通讯员|评论员)\s*([\u4e00-\u9fff]{2,3})", formula))


@dataclass(frozen=True)
class Paper:
    name: str
    openings: dict[str, float]
    sections: tuple[str, ...]
    folio: str  # "A{page:02d}" or "第{page}版"


PAPERS = (
    Paper("渝中报", {"benbao": 0.75, "own_line": 0.05, "commentary": 0.05, "dian": 0.05, "none": 0.1},
          ("要闻", "综合新闻", "社会", "文化"), "第{page}版"),
    Paper("江南晚报", {"outlet_xun": 0.25, "benbao": 0.15, "none": 0.35, "xiaoxi": 0.1, "reporter": 0.05, "own_line": 0.05,
                   "commentary": 0.05}, ("社会新闻", "城事", "民生", "体育"), "A{page:02d}"),
    Paper("东海日报", {"benbao": 0.35, "dian": 0.25, "none": 0.2, "baodao": 0.05, "xiaoxi": 0.05, "own_line": 0.1},
          ("要闻", "经济", "国内", "国际"), "第{page}版"),
    Paper("山城商报", {"none": 0.4, "xiaoxi": 0.15, "outlet_xun": 0.15, "reporter": 0.1, "baodao": 0.1, "benbao": 0.1},
          ("财经", "产经", "城市", "消费"), "B{page:02d}"),
    Paper("北岸都市报", {"none": 0.5, "outlet_xun": 0.2, "own_line": 0.15, "dian": 0.15},
          ("都市", "社会", "文体", "天下"), "A{page:02d}"),
)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


_KICKERS = ["{a}在调研时强调", "{a}在座谈会上指出", "聚焦高质量发展", "民生实事进行时", "奋进新征程 建功新时代", "{a}出席会议并讲话时要求"]
_SUBTITLES = ["{a}{b}出席", "——{c}", "{a}主持并讲话", "{c}"]


# --- planning ----------------------------------------------------------------------------


def _partition(rng: random.Random, n: int, max_w: int) -> list[int]:
    out = []
    while n > 0:
        w = min(n, rng.choice([1, 2, 2, 3, 3, 4][: max(1, max_w + 2)]), max_w)
        out.append(w)
        n -= w
    rng.shuffle(out)
    return out


def plan_page(seed: int, pool: TextPool, *, paper: Paper | None = None, page_no: int | None = None,
              cols: int | None = None) -> dict:
    """A page plan: paper, size, grid and the stories' places, from ``seed`` (deterministic)."""
    rng = random.Random(seed)
    paper = paper or rng.choice(PAPERS)
    page_no = page_no or rng.choice([1, 1, 2, 3, 4, 5, 6, 8])
    cols = cols or rng.choice([3, 4, 4, 5, 5, 6, 6, 7, 8])
    body_pt = rng.choice([9.0, 9.0, 9.5, 10.0])
    em = body_pt * 25.4 / 72
    gutter_em = rng.choice([1.0, 1.0, 1.0, 1.25, 1.5, 2.0])
    # a column of 9-16 characters at the body size
    col_chars = rng.uniform(9, 14) if cols >= 6 else rng.uniform(10, 16)
    margin = 10.0
    width = round(cols * col_chars * em + (cols - 1) * gutter_em * em + 2 * margin)
    height = round(width * rng.uniform(1.3, 1.45))
    rules = rng.random() < 0.5
    tags = {f"{cols} columns", f"gutter {gutter_em:g} em", "rules" if rules else "white space only", paper.name}
    colw = (width - 2 * margin - (cols - 1) * gutter_em * em) / cols
    plan: dict = {"seed": seed, "paper": paper.name, "page": page_no, "w": width, "h": height, "margin": margin,
                  "cols": cols, "body_pt": body_pt, "gutter": gutter_em * em, "rules": rules, "stories": [],
                  "ads": [], "furniture": []}
    date = f"2023年{rng.randint(1, 12)}月{rng.randint(1, 28)}日 星期{rng.choice('一二三四五六日')}"
    editors = f"责任编辑：{_name(rng)} 美术编辑：{_name(rng)} 校对：{_name(rng)}"
    if page_no == 1:
        plan["furniture"].append({"kind": "masthead", "lines": [paper.name],
                                  "info": [date + f" 农历{rng.choice('正二三四五六七八九十冬腊')}月初{rng.choice('一二三四五六七八九十')}",
                                           f"第{rng.randint(1000, 9999)}期 今日{rng.choice([8, 12, 16])}版",
                                           f"国内统一连续出版物号 CN {rng.randint(10, 65)}-{rng.randint(1, 99):04d}"]})
        top = margin + 30
        tags.add("masthead")
    else:
        folio = paper.folio.format(page=page_no)
        plan["furniture"].append({"kind": "folio", "text": f"{folio} {rng.choice(paper.sections)}  {date}  {paper.name}"})
        top = margin + 9
        tags.add("folio")
    bottom = height - margin
    if rng.random() < 0.6:
        plan["furniture"].append({"kind": "editors", "text": editors})
        bottom -= 6
        tags.add("editors' line")
    plan["top"], plan["bottom"] = top, bottom
    # bands: an optional lead story across the page, then rows of stories
    avail = bottom - top
    lead = rng.random() < 0.55 and cols >= 4
    bands: list[float] = []
    if lead:
        bands.append(avail * rng.uniform(0.3, 0.42))
    rest = avail - sum(bands)
    nb = max(1, min(3, int(rest // 70)))
    cuts = sorted(rng.uniform(0.3, 0.7) for _ in range(nb - 1))
    edges = [0.0] + cuts + [1.0]
    bands += [rest * (b - a) for a, b in zip(edges, edges[1:])]
    gap = rng.uniform(3.0, 5.0)
    # occupancy: which story owns (band, column)
    cells: dict[tuple[int, int], int] = {}
    slots = []  # (band, col0, ncols, kind)
    ad_band = len(bands) - 1 if rng.random() < 0.35 else -1
    for bi in range(len(bands)):
        free = [c for c in range(cols) if (bi, c) not in cells]
        runs, cur = [], []
        for c in free:
            if cur and c != cur[-1] + 1:
                runs.append(cur)
                cur = []
            cur.append(c)
        if cur:
            runs.append(cur)
        for run in runs:
            if bi == 0 and lead and len(run) == cols:
                widths = [cols] if rng.random() < 0.5 else [cols - rng.choice([1, 2]), 0]
                widths = [w for w in widths if w] + ([cols - widths[0]] if widths[0] < cols else [])
            else:
                widths = _partition(rng, len(run), 4)
            c0 = run[0]
            for w in widths:
                kind = "story"
                if bi == ad_band and not any(s[3] == "ad" for s in slots) and w <= 3 and rng.random() < 0.7:
                    kind = "ad"
                slots.append((bi, c0, w, kind))
                for c in range(c0, c0 + w):
                    cells[(bi, c)] = len(slots) - 1
                c0 += w
        # an L: a story of this band reaching down into the next one with some of its columns
        if bi + 1 < len(bands) and rng.random() < 0.45:
            cand = [k for k, s in enumerate(slots) if s[0] == bi and s[2] >= 2 and s[3] == "story" and not (lead and bi == 0 and s[2] == cols)]
            if cand:
                k = rng.choice(cand)
                _, c0, w, _ = slots[k]
                m = rng.randint(1, w - 1)
                down = list(range(c0, c0 + m)) if rng.random() < 0.5 else list(range(c0 + w - m, c0 + w))
                for c in down:
                    cells[(bi + 1, c)] = k
    band_top = [top]
    for h in bands[:-1]:
        band_top.append(band_top[-1] + h)
    n_stories = sum(1 for s in slots if s[3] == "story")
    sources = pool.draw(rng, n_stories)
    sid = 0
    for k, (bi, c0, w, kind) in enumerate(slots):
        y0 = band_top[bi] + (gap / 2 if bi else 0)
        heights = []
        for c in range(c0, c0 + w):
            last = bi
            while (last + 1, c) in cells and cells[(last + 1, c)] == k:
                last += 1
            y1 = band_top[last] + bands[last] - (gap / 2 if last < len(bands) - 1 else 0)
            heights.append(y1 - y0)
        if kind == "ad":
            plan["ads"].append({"col0": c0, "ncols": w, "y0": y0, "h": min(heights), "lines": _ad(rng)})
            tags.add("ad")
            continue
        src = sources[sid]
        width_mm = w * colw + (w - 1) * plan["gutter"]
        story = _story(rng, src, paper, page_no, sid, c0, w, y0, heights, lead and bi == 0 and w == cols, width_mm)
        if story["rule_right"] is None:
            story["rule_right"] = rules and c0 + w < cols
        story["rule_below"] = rules
        plan["stories"].append(story)
        sid += 1
    for s in plan["stories"]:
        tags.update(s["tags"])
    plan["tags"] = sorted(tags)
    return plan


def _ad(rng: random.Random) -> list[str]:
    what = rng.choice(["滨江华府 火热认购中", "夏季家电焕新季", "名校暑期托管班招生", "诚聘英才"])
    return [what, f"咨询热线：0{rng.randint(10, 999)}-{rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            f"地址：{rng.choice(_PLACES)}市{rng.choice(['中山路', '人民路', '解放路'])}{rng.randint(1, 300)}号", "广告"]


def _story(rng: random.Random, src: Source, paper: Paper, page_no: int, sid: int, c0: int, w: int, y0: float,
           heights: list[float], lead: bool, width_mm: float, keep_opening: bool = False) -> dict:
    tags: list[str] = []
    if src.opening or keep_opening:
        formula, names, own = src.opening, src.names, src.own_line
        kind = "fixture"
    else:
        kind = _pick(rng, paper.openings)
        formula, names, own = _opening(rng, kind, paper.name)
        if own:
            names = _own_line_names(formula)
    tags.append({"benbao": "opening 本报讯", "outlet_xun": "opening …讯", "dian": "opening …电", "xiaoxi": "opening …消息",
                 "baodao": "opening 据…报道/【…】", "reporter": "opening 记者 X 报道", "own_line": "byline on its own line",
                 "commentary": "commentary", "none": "no opening formula",
                 "fixture": "opening (fixture)" if formula else "no opening formula"}[kind])
    kicker, subtitle = src.kicker, src.subtitle
    a, b = _name(rng), _name(rng)
    clause = rng.choice([p for p in re.split(r"[，。；]", "".join(src.paragraphs)) if 6 <= len(p) <= 18] or ["今年以来成效明显"])
    if not kicker and rng.random() < 0.2:
        kicker = rng.choice(_KICKERS).format(a=a)
    if not subtitle and rng.random() < 0.25:
        subtitle = rng.choice(_SUBTITLES).format(a=a, b=b, c=clause)
    cont_from = None
    title = list(src.title)
    if page_no > 1 and rng.random() < 0.12:
        cont_from = rng.choice([1, 1, page_no - 1])
        formula, names, own, kicker, subtitle = f"（上接{cont_from}版）", (), False, "", ""
        title = [title[0][: rng.randint(6, 10)]]
        tags.append("上接")
    if kicker:
        tags.append("kicker")
    if subtitle:
        tags.append("subtitle")
    vertical = (not lead and 1 <= w <= 3 and min(heights) > 70 and len("".join(title)) <= 14 and not kicker
                and not subtitle and rng.random() < 0.12)
    # the largest size at which each printed phrase takes at most two lines (three, now and then)
    most = 3 if rng.random() < 0.2 else 2
    fitting = [pt for pt in ([13, 14, 16] if w == 1 else []) + ([24, 26, 28, 30] if lead else [16, 18, 20, 22, 24])
               if all(len(p) <= most * (width_mm / (pt * 25.4 / 72) - 1) for p in title)]
    title_pt = rng.choice(fitting[-2:]) if fitting else 12
    per_line = width_mm / (title_pt * 25.4 / 72) - 1
    if not vertical and any(len(p) > per_line for p in title):
        tags.append("headline wrapped")
    photo = None
    if not vertical and w >= 2 and rng.random() < 0.22:
        pc = rng.randint(1, w)
        pcol = rng.randint(0, w - pc)
        photo = {"col": pcol, "ncols": pc, "h": rng.uniform(22, 38),
                 "caption": f"图为{clause}。记者 {_name(rng)} 摄" if rng.random() < 0.7 else f"（记者 {_name(rng)} 摄）",
                 "seed": rng.randint(0, 10**6)}
        tags.append("photo with caption")
    if vertical:
        tags.append("vertical headline")
    boxed = not lead and rng.random() < 0.1
    if boxed:
        tags.append("boxed")
    if len(set(round(h, 1) for h in heights)) > 1:
        tags.append("L-shaped")
    if lead:
        tags.append("lead story")
    if w == 1:
        tags.append("one column")
    cont_to = rng.choice([2, 3, 4, 5, 8]) if rng.random() < 0.45 else None
    return {"sid": sid, "col0": c0, "ncols": w, "y0": y0, "heights": heights, "kicker": kicker, "title": title,
            "subtitle": subtitle, "formula": formula, "own_line": own, "names": list(names),
            "paragraphs": list(src.paragraphs), "cont_from": cont_from, "cont_to": cont_to, "title_pt": title_pt,
            "align": rng.choice(["center", "center", "left"]), "vertical": vertical,
            "vertical_side": rng.choice(["left", "right"]), "photo": photo, "boxed": boxed, "rule_right": None,
            "tags": tags}


def seed_epaper_plan(pool: TextPool | None = None) -> dict:
    """The seed page as district papers print it: its eight articles, the grid story (kicker,
    headline, subtitle) across the page with its body in four columns, the others in a grid
    below, gutters of one character, rules between stories."""
    seed = json.loads((FIXTURES / "corpus_articles.json").read_text(encoding="utf-8"))
    rng = random.Random(8)
    em = 9 * 25.4 / 72
    cols, margin = 6, 10.0
    width = round(cols * 12 * em + (cols - 1) * em + 2 * margin)
    plan = {"seed": -1, "fixed": True, "paper": "渝中报", "page": 1, "w": width, "h": 620, "margin": margin, "cols": cols,
            "body_pt": 9.0, "gutter": em, "rules": True, "stories": [], "ads": [],
            "furniture": [{"kind": "masthead", "lines": ["渝中报"], "info": ["2023年12月 第1版 · 要闻", "中共重庆市渝中区委机关报"]}],
            "top": margin + 30, "bottom": 610.0}
    order = [1, 0, 2, 3, 4, 5, 6, 7]
    # (col0, ncols, y0, heights)
    places = [(0, 6, 40, [150] * 6), (0, 2, 192, [190, 190]), (2, 4, 192, [95] * 4), (2, 4, 289, [93] * 4),
              (0, 3, 384, [110] * 3), (3, 3, 384, [110] * 3), (0, 3, 496, [114] * 3), (3, 3, 496, [114] * 3)]
    for sid, (i, (c0, w, y0, hs)) in enumerate(zip(order, places)):
        a = seed[i]
        opening = a["byline"] if a["byline"] == "本报评论员" else f"本报讯（{a['byline']}）"
        names = () if a["byline"] == "本报评论员" else (a["byline"],)
        st = _story(rng, Source(tuple(a["title"].split(" ")), tuple(a["text"].split("\n")), a["kicker"], a["subtitle"],
                                opening, names, a["byline"] == "本报评论员"), PAPERS[0], 1, sid, c0, w, y0, hs, sid == 0,
                    w * 12 * em + (w - 1) * em)
        st.update(kicker=a["kicker"], subtitle=a["subtitle"], cont_to=a["continues_on_page"], photo=None,
                  vertical=False, boxed=False, title_pt=26 if sid == 0 else 18, align="center",
                  rule_right=c0 + w < cols, rule_below=True)
        plan["stories"].append(st)
    plan["tags"] = sorted({"seed page", "rules", "6 columns", "gutter 1 em", "masthead"}
                          | {t for s in plan["stories"] for t in s["tags"]})
    return plan


def other_paper_plans() -> list[dict]:
    """Two inner pages of another paper (江南晚报, A05 社会新闻), four stories each, opening
    「扬子晚报网7月24日讯（通讯员 … 记者 …）」, 「潮新闻客户端 评论员 …」, 「7月24日16时15分，…」,
    「今年6月22日晚，…」 and the like, each under a headline and sometimes a subtitle; rules
    on the first, white space only on the second."""
    mine = [s for s in TextPool.fixtures().sources if s.opening or not s.kicker and s.paragraphs[0][:1] in "7今夜"]
    em = 9.5 * 25.4 / 72
    cols, margin = 5, 10.0
    width = round(cols * 13 * em + (cols - 1) * em + 2 * margin)
    plans = []
    for k in range(2):
        rng = random.Random(1000 + k)
        plan = {"seed": 1000 + k, "fixed": True, "paper": "江南晚报", "page": 5, "w": width, "h": 330, "margin": margin, "cols": cols,
                "body_pt": 9.5, "gutter": em, "rules": k == 0, "stories": [], "ads": [],
                "furniture": [{"kind": "folio", "text": "A05 社会新闻  2023年7月25日 星期二  江南晚报"},
                              {"kind": "editors", "text": "责任编辑：韩梅 美术编辑：郑凯 校对：许静"}],
                "top": margin + 9, "bottom": 314.0}
        places = [(0, 3, 19, [140] * 3), (3, 2, 19, [140] * 2), (0, 2, 163, [150] * 2), (2, 3, 163, [150] * 3)]
        for sid, (src, (c0, w, y0, hs)) in enumerate(zip(mine[k * 4:(k + 1) * 4], places)):
            st = _story(rng, src, PAPERS[1], 5, sid, c0, w, y0, hs, False, w * 13 * em + (w - 1) * em, keep_opening=True)
            st.update(photo=None, vertical=False, boxed=False, cont_from=None, rule_right=k == 0 and c0 + w < cols,
                      rule_below=k == 0, cont_to=None)
            plan["stories"].append(st)
        plan["tags"] = sorted({"other paper (江南晚报)", "folio", "editors' line", "5 columns", "gutter 1 em",
                               "rules" if k == 0 else "white space only"} | {t for s in plan["stories"] for t in s["tags"]})
        plans.append(plan)
    return plans


def corpus_plans(n: int, pool: TextPool, first_seed: int = 0) -> list[dict]:
    """``n`` varied page plans (seeds ``first_seed`` …), the seed e-paper page and the two
    other-paper pages first."""
    plans = [seed_epaper_plan(), *other_paper_plans()]
    plans += [plan_page(first_seed + i, pool) for i in range(max(0, n - len(plans)))]
    return plans[:n] if n >= 3 else plans[:n]


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def defective(r: Rendered) -> set[int]:
    """Stories the generator laid out wrongly, from what it printed (no reader involved): a
    headline, column or caption on top of another story's or of its own story's other parts,
    a headline over none of its columns (a vertical one: beside none), a headline right over
    another story's column or headline, a line wider than its column (an unbreakable string),
    a vertical headline longer than its story is tall (run on into a second column), a
    story's rule drawn through another story's columns. No reader can get these right: such
    a page is drawn again (``laid_out``), and counted apart if it stays wrong."""
    parts: dict[int, list] = defaultdict(list)
    frames: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    widths: dict[int, list] = defaultdict(list)
    for ln in r.lines:
        if ln.sid < 0:
            continue
        if ln.role in ("kicker", "title", "subtitle"):
            parts[ln.sid].append(("head", ln.box))
        elif ln.role == "caption":
            parts[ln.sid].append(("caption", ln.box))
        elif ln.role == "body":
            frames[ln.sid][ln.frame].append(ln.box)
            widths[ln.sid].append(ln.box[2] - ln.box[0])
    cols: dict[int, list] = {}
    for sid, fr in frames.items():
        cols[sid] = sorted((min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs))
                           for bs in fr.values())
        parts[sid] += [("frame", c) for c in cols[sid]]
    bad = set()
    stories = {st["sid"]: st for st in r.plan.get("stories", [])}
    em = r.plan.get("body_pt", 9.0) * 25.4 / 72
    for sid, mine in parts.items():
        heads = [b for k, b in mine if k == "head"]
        across = 1 if stories.get(sid, {}).get("vertical") else 0  # (a vertical headline stands beside its columns)
        if heads and cols.get(sid) and not any(min(h[2 + across], c[2 + across]) > max(h[across], c[across])
                                               for h in heads for c in cols[sid]):
            bad.add(sid)
        ws = sorted(widths[sid])
        if ws and ws[-1] > 1.15 * ws[len(ws) // 2]:
            bad.add(sid)
        if across and len(heads) > 1:  # a vertical headline (one column, up to 14 characters) run on into a second
            bad.add(sid)
        # its own headline, columns and caption on top of each other (a vertical headline run
        # over into its body, a caption over the headline)
        if any(_overlap(a, b) > 2.0 for i, (ka, a) in enumerate(mine) for kb, b in mine[i + 1:] if ka != kb):
            bad.add(sid)
        for other, theirs in parts.items():
            if other != sid and any(_overlap(a, b) > 2.0 for _, a in mine for _, b in theirs):
                bad |= {sid, other}
            # a headline right over another story's column or headline (its own column there
            # left empty)
            below = cols.get(other, []) + [b for k, b in theirs if k == "head"]
            for h in heads:
                if other != sid and any(min(h[2], c[2]) - max(h[0], c[0]) > 0.3 * min(c[2] - c[0], h[2] - h[0])
                                        and 0 <= c[1] - h[3] < 3 * em for c in below):
                    bad |= {sid, other}
    plan = r.plan
    if plan.get("rules") and "cols" in plan:
        colw = (plan["w"] - 2 * plan["margin"] - (plan["cols"] - 1) * plan["gutter"]) / plan["cols"]
        for st in plan["stories"]:
            if not st.get("rule_right"):
                continue
            x = plan["margin"] + st["col0"] * (colw + plan["gutter"]) + st["ncols"] * colw + (st["ncols"] - 0.5) * plan["gutter"]
            y0, y1 = st["y0"], st["y0"] + max(st["heights"])
            for sid, cs in cols.items():
                for a, b in zip(cs, cs[1:]):
                    if a[2] - 0.5 <= x <= b[0] + 0.5 and min(a[3], b[3], y1) - max(a[1], b[1], y0) > 5:
                        bad |= {sid, st["sid"]}
    return bad


REDRAWS = 4


def laid_out(plans: Sequence[dict], pool: TextPool, render: Callable[[dict], Rendered]) -> Iterator[Rendered]:
    """Each plan rendered by ``render``; a drawn page the generator laid out wrongly
    (``defective``) is drawn again from another seed, up to ``REDRAWS`` times, so what is
    measured is what a paper could print. The fixed pages (seed e-paper, other paper) are kept."""
    for plan in plans:
        got = render(plan)
        for attempt in range(1, REDRAWS + 1):
            if plan.get("fixed") or not defective(got):
                break
            plan = plan_page(plan["seed"] + 1_000_003 * attempt, pool)
            got = render(plan)
        yield got


# --- rendering in Chromium -----------------------------------------------------------------

_JS = r"""
(plan) => {
  const MM = 96 / 25.4, PT = 96 / 72;
  const root = document.getElementById('page');
  const esc = s => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  function el(tag, cls, css, parent, html) {
    const e = document.createElement(tag); if (cls) e.className = cls;
    if (css) Object.assign(e.style, css); if (html !== undefined) e.innerHTML = html;
    (parent || root).appendChild(e); return e;
  }
  const px = v => (v * MM) + 'px';
  const out = {stories: [], marks: [], dropped: []};
  const colw = (plan.w - 2 * plan.margin - (plan.cols - 1) * plan.gutter) / plan.cols;
  const colx = c => plan.margin + c * (colw + plan.gutter);
  // furniture
  for (const f of plan.furniture) {
    if (f.kind === 'masthead') {
      const m = el('div', 'masthead', {left: px(plan.margin), top: px(plan.margin), width: px(plan.w - 2 * plan.margin)});
      el('div', 'mname', null, m, esc(f.lines[0])).dataset.role = 'masthead';
      const info = el('div', 'minfo', null, m);
      for (const t of f.info) el('div', null, null, info, esc(t)).dataset.role = 'masthead';
    } else if (f.kind === 'folio') {
      el('div', 'folio', {left: px(plan.margin), top: px(plan.margin), width: px(plan.w - 2 * plan.margin)}, null, esc(f.text)).dataset.role = 'folio';
    } else {
      el('div', 'editors', {left: px(plan.margin), top: px(plan.h - plan.margin - 4.5), width: px(plan.w - 2 * plan.margin)}, null, esc(f.text)).dataset.role = 'editors';
    }
  }
  if (plan.rules) el('div', 'hrule', {left: px(plan.margin), top: px(plan.top - 2), width: px(plan.w - 2 * plan.margin)});
  for (const ad of plan.ads) {
    const x = colx(ad.col0), w = ad.ncols * colw + (ad.ncols - 1) * plan.gutter;
    const a = el('div', 'ad', {left: px(x), top: px(ad.y0 + 1), width: px(w), height: px(ad.h - 2)});
    el('div', 'adbig', null, a, esc(ad.lines[0])).dataset.role = 'ad';
    for (const t of ad.lines.slice(1, -1)) el('div', 'adsmall', null, a, esc(t)).dataset.role = 'ad';
    el('div', 'adtag', null, a, esc(ad.lines[ad.lines.length - 1])).dataset.role = 'ad';
  }
  const fits = f => f.scrollHeight <= f.clientHeight + 0.5;
  function slice(paras, a, b, mark) {
    let html = '', off = 0, last = -1;
    for (let i = 0; i < paras.length; i++) {
      const p = paras[i], s = off, e = off + p.text.length; off = e;
      if (e <= a || s >= b) continue;
      const lo = Math.max(a, s) - s, hi = Math.min(b, e) - s, t = p.text.slice(lo, hi);
      const bold = Math.max(0, Math.min(p.bold, hi) - lo);
      const cls = p.cls + (lo > 0 ? ' cont' : '') + (hi < p.text.length ? ' mid' : '');
      html += `<p class="${cls}">` + (bold ? '<b>' + esc(t.slice(0, bold)) + '</b>' : '') + esc(t.slice(bold)) + '</p>';
    }
    if (mark) {
      const m = `<span class="mark">${esc(mark)}</span>`;
      html = html.endsWith('</p>') ? html.slice(0, -4).replace(/ mid"/, '"') + m + '</p>' : html + `<p class="cont">${m}</p>`;
      html = html.replace(/class="([^"]*) mid"([^]*)$/, 'class="$1"$2');
    }
    return html;
  }
  function fill(frames, paras, total) {
    let pos = 0;
    for (const f of frames) {
      f._a = pos;
      let lo = 0, hi = total - pos;
      f.innerHTML = slice(paras, pos, pos + hi);
      if (fits(f)) lo = hi;
      else {
        while (lo < hi) {
          const mid = Math.ceil((lo + hi) / 2);
          f.innerHTML = slice(paras, pos, pos + mid);
          if (fits(f)) lo = mid; else hi = mid - 1;
        }
        f.innerHTML = slice(paras, pos, pos + lo);
      }
      pos += lo; f._b = pos;
    }
    return pos;
  }
  for (const s of plan.stories) {
    const x = colx(s.col0), w = s.ncols * colw + (s.ncols - 1) * plan.gutter;
    const maxh = Math.max(...s.heights);
    const box = el('div', 'story' + (s.boxed ? ' boxed' : ''), {left: px(x), top: px(s.y0), width: px(w), height: px(maxh)});
    box.dataset.sid = s.sid;
    const pad = s.boxed ? 2.5 : 0;
    let head = null, headH = 0, vw = 0;
    const parts = [];
    if (s.kicker) parts.push(['kicker', s.kicker.split(' ')]);
    parts.push(['title', s.title]);
    if (s.subtitle) parts.push(['subtitle', s.subtitle.split(' ')]);
    if (s.vertical) {
      vw = s.title_pt * 25.4 / 72 * 1.35;
      head = el('div', 'vhead', {top: px(s.y0 + pad + 1), height: px(Math.min(...s.heights) - 2 * pad - 2), width: px(vw),
        left: px(s.vertical_side === 'left' ? x + pad : x + w - pad - vw), fontSize: s.title_pt + 'pt'});
      el('div', 'title', null, head, esc(s.title.join(''))).dataset.role = 'title';
      head.dataset.sid = s.sid;
    } else {
      head = el('div', 'head', {left: px(x + pad), top: px(s.y0 + pad), width: px(w - 2 * pad), textAlign: s.align});
      head.dataset.sid = s.sid;
      const small = Math.max(10.5, Math.min(12, 0.7 * s.title_pt));
      for (const [role, phrases] of parts) {
        const g = el('div', role, {fontSize: (role === 'title' ? s.title_pt : small) + 'pt'}, head);
        for (const p of phrases) el('div', null, null, g, esc(p)).dataset.role = role;
      }
      headH = head.getBoundingClientRect().height / MM + 1.5;
      // a headline takes at most 40% of its story's height: a smaller size, then no kicker or subtitle
      const room = Math.min(...s.heights) - 2 * pad;
      const t = head.querySelector('.title');
      let pt = s.title_pt;
      while (headH > 0.4 * room && pt > 12) {
        pt -= 1; t.style.fontSize = pt + 'pt';
        headH = head.getBoundingClientRect().height / MM + 1.5;
      }
      for (const role of ['kicker', 'subtitle']) {
        const g = head.querySelector('.' + role);
        if (g && headH > 0.4 * room) { g.remove(); headH = head.getBoundingClientRect().height / MM + 1.5; out.dropped.push([s.sid, role]); }
      }
    }
    // body frames: the story's columns (beside a vertical headline: the rest of the width)
    const bx = s.vertical && s.vertical_side === 'left' ? x + pad + vw + plan.gutter : x + pad;
    const bw = w - 2 * pad - (s.vertical ? vw + plan.gutter : 0);
    const n = s.ncols, fw = (bw - (n - 1) * plan.gutter) / n;
    let top = s.y0 + pad + headH;
    const frames = [];
    let photoBottom = top;
    if (s.photo) {
      s.photo.h = Math.min(s.photo.h, 0.35 * (Math.min(...s.heights) - headH));
      const px0 = bx + s.photo.col * (fw + plan.gutter), pw = s.photo.ncols * fw + (s.photo.ncols - 1) * plan.gutter;
      const img = el('img', 'photo', {left: px(px0), top: px(top), width: px(pw), height: px(s.photo.h)});
      img.dataset.sid = s.sid;
      img.src = plan.photos[s.photo.seed];
      const cap = el('div', 'caption', {left: px(px0), top: px(top + s.photo.h + 0.8), width: px(pw)}, null, esc(s.photo.caption));
      cap.dataset.role = 'caption'; cap.dataset.sid = s.sid;
      photoBottom = top + s.photo.h + 0.8 + cap.getBoundingClientRect().height / MM + 1.5;
    }
    for (let j = 0; j < n; j++) {
      const under = s.photo && j >= s.photo.col && j < s.photo.col + s.photo.ncols;
      const ft = under ? photoBottom : top;
      const colIndex = Math.min(j, s.heights.length - 1);
      const fb = s.y0 + s.heights[colIndex] - pad - (s.boxed ? 0 : 0.5);
      const f = el('div', 'frame', {left: px(bx + j * (fw + plan.gutter)), top: px(ft), width: px(fw), height: px(Math.max(0, fb - ft))});
      f.dataset.sid = s.sid; f.dataset.frame = j; f._h = Math.max(0, fb - ft);
      frames.push(f);
    }
    const paras = [];
    if (s.own_line && s.formula) paras.push({text: s.formula, bold: s.formula.length, cls: 'byline'});
    s.paragraphs.forEach((t, i) => {
      const lead = i === 0 && !s.own_line ? s.formula : '';
      paras.push({text: lead + t, bold: lead.length, cls: 'p'});
    });
    const total = paras.reduce((a, p) => a + p.text.length, 0);
    let end = fill(frames, paras, total);
    let mark = '';
    if (end < total) {
      if (s.cont_to) {
        mark = `（下转${s.cont_to}版）`;
        const used = frames.filter(f => f._b > f._a);
        const f = used[used.length - 1] || frames[frames.length - 1];
        let lo = 0, hi = f._b - f._a;
        while (lo < hi) {
          const mid = Math.ceil((lo + hi) / 2);
          f.innerHTML = slice(paras, f._a, f._a + mid, mark);
          if (fits(f)) lo = mid; else hi = mid - 1;
        }
        f.innerHTML = slice(paras, f._a, f._a + lo, mark);
        f._b = f._a + lo; end = f._b;
        for (const g of frames) if (g._a >= end && g !== f) { g.innerHTML = ''; g._a = g._b = end; }
      } else {
        // end at the last sentence that fits
        const text = paras.map(p => p.text).join('');
        let k = end;
        while (k > 0 && !/[。！？]/.test(text[k - 1]) && !(/[”’」）]/.test(text[k - 1]) && /[。！？]/.test(text[k - 2] || ''))) k--;
        if (k === 0) k = end;
        for (const f of frames) {
          if (f._b > k) { f._b = Math.max(f._a, k); f._a = Math.min(f._a, f._b); f.innerHTML = slice(paras, f._a, f._b); }
        }
        end = k;
      }
    } else {
      // balance the columns: the lowest common bottom that still holds the whole story
      const text = frames.map(f => f._h);
      let lo = 0, hi = Math.max(...text);
      for (let it = 0; it < 12; it++) {
        const mid = (lo + hi) / 2;
        frames.forEach(f => { f.style.height = px(Math.min(f._h, mid)); });
        if (fill(frames, paras, total) >= total) hi = mid; else lo = mid;
      }
      frames.forEach(f => { f.style.height = px(Math.min(f._h, hi)); });
      end = fill(frames, paras, total);
    }
    if (end - (s.own_line ? 0 : s.formula.length) < 60) {
      // no room for a body: a page never prints a headline alone, so the story goes
      for (const e of [box, head, ...frames, ...root.querySelectorAll(`.caption[data-sid="${s.sid}"], img[data-sid="${s.sid}"]`)]) e.remove();
      out.stories.push({sid: s.sid, placed: [], mark: '', complete: false, removed: true});
      continue;
    }
    const text = paras.map(p => p.text).join('');
    // the truth: the paragraphs as placed, the formula taken off
    const placed = [];
    let off = 0;
    for (const p of paras) {
      const s0 = off, e0 = off + p.text.length; off = e0;
      if (s0 >= end) break;
      placed.push({text: p.text.slice(0, Math.min(e0, end) - s0), cls: p.cls, bold: p.bold});
    }
    out.stories.push({sid: s.sid, placed, mark, complete: end >= total});
  }
  // every printed line, with its box and role
  const lines = [];
  function walk(e, role, sid, frame) {
    const vertical = e.closest('.vhead') !== null;
    const chars = [];
    const tw = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = tw.nextNode())) {
      const r = document.createRange();
      for (let i = 0; i < node.data.length; i++) {
        r.setStart(node, i); r.setEnd(node, i + 1);
        const b = r.getBoundingClientRect();
        if (b.width === 0 && b.height === 0) continue;
        const fs = parseFloat(getComputedStyle(node.parentElement).fontSize) / PT;
        chars.push({c: node.data[i], x0: b.left, y0: b.top, x1: b.right, y1: b.bottom, fs});
      }
    }
    let cur = null;
    for (const ch of chars) {
      const key = vertical ? ch.x0 : ch.y0;
      const size = vertical ? (ch.x1 - ch.x0) : (ch.y1 - ch.y0);
      if (!cur || Math.abs(key - cur.key) > 0.5 * size) {
        cur = {key, text: '', x0: ch.x0, y0: ch.y0, x1: ch.x1, y1: ch.y1, fs: ch.fs};
        lines.push({cur, role, sid, frame});
      }
      cur.text += ch.c; cur.fs = Math.max(cur.fs, ch.fs);
      cur.x0 = Math.min(cur.x0, ch.x0); cur.y0 = Math.min(cur.y0, ch.y0);
      cur.x1 = Math.max(cur.x1, ch.x1); cur.y1 = Math.max(cur.y1, ch.y1);
    }
  }
  document.querySelectorAll('[data-role]').forEach(e => {
    const st = e.closest('[data-sid]');
    walk(e, e.dataset.role, st ? +st.dataset.sid : -1, 0);
  });
  document.querySelectorAll('.frame').forEach(f => {
    f.querySelectorAll('p').forEach(p => walk(p, p.classList.contains('byline') ? 'byline' : 'body', +f.dataset.sid, +f.dataset.frame));
  });
  out.lines = lines.map(({cur, role, sid, frame}) => ({text: cur.text.replace(/\s+/g, ' ').trim(), role, sid, frame,
    box: [cur.x0 / MM, cur.y0 / MM, cur.x1 / MM, cur.y1 / MM], size: cur.fs})).filter(l => l.text);
  // rules between stories
  if (plan.rules) {
    for (const s of plan.stories) {
      const x = colx(s.col0), w = s.ncols * colw + (s.ncols - 1) * plan.gutter;
      const bottom = s.y0 + Math.max(...s.heights);
      if (s.rule_below && bottom < plan.bottom - 3) {
        // under each column at its own bottom (an L has a step)
        s.heights.forEach((h, j) => {
          const cx = colx(s.col0 + j) - (j ? plan.gutter : 0);
          el('div', 'hrule', {left: px(cx), top: px(s.y0 + h + 1.2), width: px(colw + (j ? plan.gutter : 0))});
        });
      }
      if (s.rule_right) {
        const h = Math.max(...s.heights);
        el('div', 'vrule', {left: px(x + w + plan.gutter / 2), top: px(s.y0), height: px(h)});
      }
    }
  }
  return out;
}
"""

_CSS = """
@page { size: %(w)smm %(h)smm; margin: 0; }
html, body { margin: 0; padding: 0; }
#page { position: relative; width: %(w)smm; height: %(h)smm; overflow: hidden; background: #fff; color: #000;
        font-family: "Noto Serif CJK SC", serif; font-size: %(pt)spt; line-height: 1.5; }
#page > * { position: absolute; box-sizing: border-box; }
.masthead { display: flex; justify-content: space-between; align-items: flex-end; border-bottom: 2px solid #000; padding-bottom: 1.5mm; }
.mname { font-family: "Noto Sans CJK SC", sans-serif; font-weight: 900; font-size: 40pt; line-height: 1.1; }
.minfo { font-size: 7.5pt; line-height: 1.4; text-align: right; }
.folio { font-size: 8pt; border-bottom: 1px solid #000; padding-bottom: 1mm; font-family: "Noto Sans CJK SC", sans-serif; white-space: pre; }
.editors { font-size: 7.5pt; white-space: pre; }
.story.boxed { border: 0.8pt solid #000; }
.head { font-family: "Noto Sans CJK SC", sans-serif; line-height: 1.25; }
.head .kicker { font-weight: 700; margin-bottom: 0.6mm; }
.head .title { font-weight: 900; margin-bottom: 0.8mm; }
.head .subtitle { margin-bottom: 0.5mm; }
.vhead { writing-mode: vertical-rl; font-family: "Noto Sans CJK SC", sans-serif; font-weight: 900; line-height: 1.2; }
.frame { overflow: hidden; contain: strict; }
.frame p { margin: 0; text-indent: 2em; text-align: justify; }
.frame p.cont { text-indent: 0; }
.frame p.mid { text-align-last: justify; }
.frame p.byline { text-indent: 0; font-family: "Noto Sans CJK SC", sans-serif; font-weight: 700; }
.frame b { font-family: "Noto Sans CJK SC", sans-serif; font-weight: 700; }
.photo { object-fit: cover; }
.caption { font-size: 7.5pt; line-height: 1.35; font-family: "Noto Sans CJK SC", sans-serif; }
.ad { border: 1.5pt solid #000; padding: 3mm; text-align: center; font-family: "Noto Sans CJK SC", sans-serif; }
.adbig { font-size: 20pt; font-weight: 900; margin: 2mm 0; }
.adsmall { font-size: 9pt; }
.adtag { font-size: 7pt; position: absolute; right: 1mm; bottom: 0.5mm; }
.hrule { border-top: 0.6pt solid #000; height: 0; }
.vrule { border-left: 0.6pt solid #000; width: 0; }
"""


def _photo_uri(seed: int) -> str:
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    arr = rng.integers(40, 230, (12, 16), dtype=np.uint8)
    img = Image.fromarray(arr, "L").resize((320, 240), Image.BICUBIC).filter(ImageFilter.GaussianBlur(6))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def chromium_path() -> str:
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise RuntimeError("Debian's chromium is not installed: run `make browser` (or `make test`)")
    return exe


class Renderer:
    """One headless Chromium (Debian's, driven by Playwright) laying out and printing pages."""

    def __enter__(self) -> Renderer:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(
            executable_path=chromium_path(),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        self._page = self._browser.new_page()
        return self

    def __exit__(self, *exc) -> None:
        self._browser.close()
        self._pw.stop()

    def render(self, plan: dict, folder: Path, name: str, *, pdf: bool = True) -> Rendered:
        """Lay the page out, print it to ``folder/name.pdf``; the ground truth and printed lines."""
        plan = dict(plan, stories=[dict(st) for st in plan["stories"]])
        plan["photos"] = {s["photo"]["seed"]: _photo_uri(s["photo"]["seed"]) for s in plan["stories"] if s["photo"]}
        css = _CSS % {"w": plan["w"], "h": plan["h"], "pt": plan["body_pt"]}
        html = f"<!doctype html><html><head><meta charset='utf-8'><style>{css}</style></head><body><div id='page'></div></body></html>"
        page = self._page
        page.set_content(html)
        page.evaluate("document.fonts.ready.then(() => true)")
        out = page.evaluate(_JS, plan)
        del plan["photos"]
        folder.mkdir(parents=True, exist_ok=True)
        pdf_path = None
        if pdf:
            pdf_path = folder / f"{name}.pdf"
            page.pdf(path=str(pdf_path), width=f"{plan['w']}mm", height=f"{plan['h']}mm", print_background=True,
                     prefer_css_page_size=True, margin={"top": "0", "bottom": "0", "left": "0", "right": "0"})
        for sid, role in out["dropped"]:  # the headline did not fit its story with them
            plan["stories"][sid] = {**plan["stories"][sid], role: ""}
        truths = []
        for s, got in zip(plan["stories"], out["stories"]):
            if got.get("removed"):
                continue
            placed = got["placed"]
            body = "\n".join(t for t in (p["text"][p["bold"]:] for p in placed if p["cls"] == "p") if t)
            tags = list(s["tags"]) + (["下转"] if got["mark"] else [])
            truths.append(Truth(s["sid"], s["kicker"], " ".join(s["title"]), s["subtitle"], s["formula"] if placed else "",
                                tuple(s["names"]), body, int(got["mark"][3:-2]) if got["mark"] else None,
                                s["cont_from"], tuple(tags)))
        lines = [PrintedLine(ln["text"], ln["role"], ln["sid"], tuple(ln["box"]), ln["size"], ln["frame"]) for ln in out["lines"]]
        return Rendered(name, plan, truths, lines, pdf_path)


# --- the other two renderings ----------------------------------------------------------------


def text_layer(r: Rendered, seed: int | None = None) -> str:
    """The page as an OCR'd text layer arrives: one line per printed line; the masthead or folio
    first (or not at all: set as images); each story's body frame by frame (a blank line at
    most column breaks, now and then one inside a column), its headline lines above it, or
    floating after its first column or after the whole body; a 下转 mark at its line's end or on
    a line of its own; captions after their story; ads where they stand; the editors' line last."""
    return "\n".join(t for t, _, _ in text_layer_lines(r, seed)) + "\n"


def text_layer_lines(r: Rendered, seed: int | None = None) -> list[tuple[str, str, int]]:
    """``text_layer``'s lines with the role and story of each ("", "", -1 for a blank line)."""
    rng = random.Random(r.plan["seed"] if seed is None else seed)
    by_story: dict[int, list[PrintedLine]] = {}
    for ln in r.lines:
        by_story.setdefault(ln.sid, []).append(ln)
    blank = ("", "", -1)
    out: list[tuple[str, str, int]] = []

    def put(lines: Iterable[PrintedLine], noise: bool = False) -> None:
        out.extend(((_ocr_noise(rng, ln.text) if noise else ln.text), ln.role, ln.sid) for ln in lines)

    top = [ln for ln in r.lines if ln.role in ("masthead", "folio")]
    if rng.random() < 0.3:
        top = []  # the masthead and folio set as images: not in the text layer at all
    put(top)
    if top:
        out.append(blank)
    ads = [ln for ln in r.lines if ln.role == "ad"]
    for s in r.plan["stories"]:
        lines = by_story.get(s["sid"], [])
        if not lines:
            continue
        head = [ln for ln in lines if ln.role in ("kicker", "title", "subtitle")]
        caps = [ln for ln in lines if ln.role == "caption"]
        frames: dict[int, list[PrintedLine]] = {}
        for ln in lines:
            if ln.role in ("body", "byline"):
                frames.setdefault(ln.frame, []).append(ln)
        cols = [sorted(v, key=lambda ln: ln.box[1]) for _, v in sorted(frames.items())]
        where = rng.choices(["above", "after first", "after body"], weights=[0.55, 0.3, 0.15])[0]
        if s["vertical"]:
            where = rng.choice(["above", "after body"])
        if where == "above" and head:
            put(head)
            if rng.random() < 0.7:
                out.append(blank)
        for k, col in enumerate(cols):
            if len(col) > 4 and rng.random() < 0.25:
                # OCR starts a new block inside a column now and then (a wide line gap)
                cut = rng.randint(2, len(col) - 2)
                put(col[:cut], noise=True)
                out.append(blank)
                col = col[cut:]
            last = col[-1] if col else None
            if k == len(cols) - 1 and last is not None and _MARK_END.search(last.text) and rng.random() < 0.5:
                # the continuation mark read as a line of its own, after a blank line or not
                m = _MARK_END.search(last.text)
                put(col[:-1], noise=True)
                if last.text[: m.start()].strip():
                    put([replace(last, text=last.text[: m.start()].rstrip())], noise=True)
                if rng.random() < 0.5:
                    out.append(blank)
                put([replace(last, text=m.group(0).strip())])
            else:
                put(col, noise=True)
            if k == 0 and where == "after first" and head:
                out.append(blank)
                put(head)
                out.append(blank)
            elif k < len(cols) - 1 and rng.random() < 0.6:
                out.append(blank)
        if where == "after body" and head:
            out.append(blank)
            put(head)
        if caps:
            out.append(blank)
            put(caps)
        out.append(blank)
    if ads:
        put(ads)
        out.append(blank)
    put([ln for ln in r.lines if ln.role == "editors"])
    # no more than one blank line in a row, none at the ends
    tidy: list[tuple[str, str, int]] = []
    for item in out:
        if not item[0] and (not tidy or not tidy[-1][0]):
            continue
        tidy.append(item)
    while tidy and not tidy[-1][0]:
        tidy.pop()
    return tidy


_MARK_END = re.compile(r"\s*[（(]下转\s*\d+\s*版[）)]\s*$")


def _ocr_noise(rng: random.Random, s: str) -> str:
    """What OCR'd text layers do to a line now and then: a stray space between characters,
    a half-width comma for a full-width one."""
    if len(s) > 6 and rng.random() < 0.08:
        k = rng.randint(1, len(s) - 1)
        if not (s[k - 1].isascii() or s[k].isascii()):
            s = s[:k] + " " + s[k:]
    return s


def scan_page(pdf: Path, out: Path, seed: int, dpi: int = 200) -> Path:
    """A mildly damaged 200-dpi scan of the PDF (noise, blur, skew up to 1°)."""
    from tests.pagegen import scan

    rng = random.Random(seed)
    return scan(pdf, out, dpi=dpi, noise=rng.uniform(2, 7), blur=rng.uniform(0, 0.7), skew=rng.uniform(-1.0, 1.0), seed=seed)


# --- scoring -------------------------------------------------------------------------------

_WS = re.compile(r"[\s\u200b-\u200d\ufeff]+")  # (zero-width characters are not printed)


def _c(s: str) -> str:
    return _WS.sub("", s)


@dataclass
class PageScore:
    """How the articles of one page came back."""

    exact: list[bool] = field(default_factory=list)  # per truth article
    foreign: list[int] = field(default_factory=list)  # lines of other articles inside its body
    foreign_from: list[dict] = field(default_factory=list)  # ... counted by the article they belong to
    disorder: list[int] = field(default_factory=list)  # its lines out of order
    pieces: int = 0  # articles found
    why: list[str] = field(default_factory=list)


def _grams(s: str) -> set[str]:
    s = _c(s)
    return {s[i:i + 2] for i in range(len(s) - 1)}


def _close(a: str, b: str, tol: float) -> bool:
    if tol == 0:
        return a == b
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b) <= tol * max(len(b), 4)


def score_page(articles: Sequence, r: Rendered, tol: float = 0.0) -> PageScore:
    """Each truth article against the piece that holds most of its body: exact when kicker,
    title, subtitle, the byline's names, the body (whitespace aside; the opening formula may
    stay in the text) and the continuation page all agree (``tol``: the share of characters
    OCR may get wrong); lines of other articles inside that body, and its own lines out of
    order, are counted."""
    from rapidfuzz import fuzz

    sc = PageScore(pieces=len(articles))
    preds = [(a, _grams(a.text)) for a in articles]
    body_lines: dict[int, list[str]] = {}
    for ln in r.lines:
        if ln.role == "body" and len(_c(ln.text)) >= 6:
            body_lines.setdefault(ln.sid, []).append(_c(ln.text))
    for t in r.truths:
        if not _c(t.body):
            continue
        g = _grams(t.body)
        best = max(preds, key=lambda p: len(p[1] & g) / max(len(g), 1), default=None)
        if best is None or not (best[1] & g):
            sc.exact.append(False)
            sc.foreign.append(0)
            sc.foreign_from.append({})
            sc.disorder.append(0)
            sc.why.append(f"[{t.sid}] {t.title}: not found")
            continue
        a = best[0]
        text = _c(a.text)
        formula = _c(t.formula)
        if formula and not _close(text[: len(formula)], formula, tol) and _close(text[: len(formula)], formula, max(tol, 0.2)):
            pass
        if formula and _close(text[: len(formula)], formula, tol):
            text = text[len(formula):]
        reasons = []
        left = _LEFT_OPENING.match(t.body)
        if not _close(text, _c(t.body), tol) and not (left and _close(text, _c(t.body[left.end():]), tol)):
            reasons.append("body")
        for part in ("kicker", "title", "subtitle"):
            if not _close(_c(getattr(a, part)), _c(getattr(t, part)), tol):
                reasons.append(part)
        where = _c(a.byline) + _c(a.text)[:80]
        for name in t.names:
            person = _c(name.split(" ")[-1])
            if person not in where and not (tol and fuzz.partial_ratio(person, where) >= 60):
                reasons.append("byline")
                break
        if a.continues_on_page != t.continues_on_page:
            reasons.append("下转")
        sc.exact.append(not reasons)
        if reasons:
            sc.why.append(f"[{t.sid}] {t.title}: {', '.join(reasons)}")
        # reading order: where each printed body line stands in the piece's text
        own = body_lines.get(t.sid, [])
        positions = []
        full = _c(a.text)
        for ln in own:
            # (the first place after the line before: a phrase the story says twice is not out of order)
            after = positions[-1] + 1 if positions else 0
            k = _find(ln, full[after:], tol)
            k = after + k if k >= 0 else _find(ln, full, tol)
            if k >= 0:
                positions.append(k)
        sc.disorder.append(len(positions) - _lis(positions))
        foreign: dict[int, int] = {}
        for sid, lns in body_lines.items():
            if sid == t.sid:
                continue
            for ln in lns:
                if len(ln) >= 8 and (ln in full if not tol else _find(ln, full) >= 0) and ln not in _c(t.body):
                    foreign[sid] = foreign.get(sid, 0) + 1
        sc.foreign.append(sum(foreign.values()))
        sc.foreign_from.append(foreign)
    return sc


def _find(needle: str, hay: str, tol: float = 0.05) -> int:
    """Where ``needle`` stands in ``hay``: exactly, or (``tol``, OCR) by a close alignment."""
    from rapidfuzz import fuzz

    if needle in hay:
        return hay.index(needle)
    if not tol:
        return -1
    al = fuzz.partial_ratio_alignment(needle, hay, score_cutoff=85)
    return al.dest_start if al is not None else -1


def _lis(xs: Iterable[int]) -> int:
    import bisect

    tails: list[int] = []
    for x in xs:
        k = bisect.bisect_left(tails, x)
        if k == len(tails):
            tails.append(x)
        else:
            tails[k] = x
    return len(tails)
