"""Text normalisation shared by indexing and querying.

Questions arrive as people type them: traditional characters, full-width
digits and punctuation. Both sides of every comparison go through the same
normalisation, so 「臺灣２０２３年」 finds 台湾2023年.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "normalize",
    "tokenize",
    "bigrams",
    "content_words",
    "jaccard",
    "is_english",
    "Query",
    "STOPWORDS",
    "asks_for_date",
    "states_date",
    "split_sentences",
    "TOKEN_PATTERN",
]

# Function words and question words: frequent in questions, useless for matching.
STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 或 等 也 就 都 而 对 为 以 将 把 被 从 于 之 其 这 那 有 个 吗 呢 啊 吧 么 "
    "什么 哪 哪些 哪个 哪里 怎么 怎样 如何 多少 几 谁 请问 是否 为什么 什么样 还是 一个 我们 你们 他们 "
    "哪一天 哪天 哪年 何时 时候 吗 呀 嘛 着 过 得 地 所 并 又 还 但 不".split()
)

# What the keyword index cuts text into before jieba: Latin words, numbers, runs of Chinese.
TOKEN_PATTERN = _TOKEN = re.compile(r"[a-z]+(?:['’][a-z]+)*|\d+(?:[.,]\d+)*%?|[\u3400-\u4dbf\u4e00-\u9fff]+")


@functools.lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC  # opencc-python-reimplemented: pure Python, ships its dictionaries

    return OpenCC("t2s")


@functools.lru_cache(maxsize=1)
def jieba_ready():
    """jieba with its dictionary loaded, quietly (about a second, once per process)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@functools.lru_cache(maxsize=4096)
def word_across(a: str, b: str) -> bool:
    """Whether a word runs across the break between two lines ("…技" / "能大比武"): jieba
    cuts the last characters of ``a`` and the first of ``b`` with a word over the seam."""
    tail, head = a[-4:], b[:4]
    pos = 0
    for w in jieba_ready().cut(tail + head, HMM=False):
        if pos < len(tail) < pos + len(w):
            return True
        pos += len(w)
    return False


def printed_width(s: str) -> float:
    """How wide ``s`` prints, in Chinese characters: an ASCII character (a letter, a digit, a
    space) takes half a character's width."""
    return sum(0.5 if ch.isascii() else 1.0 for ch in s)


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), traditional to simplified, lower case."""
    return _t2s().convert(unicodedata.normalize("NFKC", text)).lower()


def tokenize(text: str, bigrams: bool = False) -> list[str]:
    """Keyword tokens: jieba search-mode words for Chinese, numbers (``0.5%``, ``2023``)
    and Latin words whole, stopwords dropped; optionally Chinese character bigrams too."""
    jb = jieba_ready()
    out: list[str] = []
    for m in _TOKEN.finditer(normalize(text)):
        s = m.group()
        if s[0].isascii():
            out.append(s)
            continue
        out.extend(w for w in jb.cut_for_search(s) if w not in STOPWORDS)
        if bigrams:
            out.extend(s[i : i + 2] for i in range(len(s) - 1))
    return out


# A sentence: up to 。！？； (with the closing quotes after it), or a line.
_SENT = re.compile(r"[^。！？；!?;\n]*(?:[。！？；!?;]+['\"”’」』）)]*|\n|$)")


def split_sentences(text: str) -> list[str]:
    """Sentences of a text, stripped: cut after 。！？； (keeping closing quotes with their
    sentence) and at line ends. Chunking (ingest/chunks.py) and claim checking share it."""
    return [s for m in _SENT.finditer(text) if (s := m.group(0).strip())]


def bigrams(text: str) -> set[str]:
    """Character bigrams over letters and digits (punctuation and spaces dropped)."""
    t = "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isalnum())
    return {t[i : i + 2] for i in range(len(t) - 1)} or ({t} if t else set())


def jaccard(a: set[str], b: set[str]) -> float:
    """Overlap of two sets (e.g. of bigrams), 0 when either is empty."""
    return len(a & b) / len(a | b) if a and b else 0.0


def content_words(text: str) -> set[str]:
    """The words of a text that carry its subject: tokens of two or more characters, and numbers."""
    return {t for t in tokenize(text) if len(t) > 1 or t.isdigit()}


def is_english(text: str) -> bool:
    """Mostly Latin letters: an English question or answer (the sources are Chinese)."""
    letters = sum(ch.isascii() and ch.isalpha() for ch in text)
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    return letters > 2 * cjk


@dataclass(frozen=True)
class Query:
    """A question analysed once, for every step that needs its words or its language."""

    text: str
    english: bool
    words: frozenset[str]

    @classmethod
    def of(cls, text: str) -> Query:
        return cls(text, is_english(text), frozenset(content_words(text)))


# A question whose answer is a date, in the words people use (after ``normalize``:
# simplified, lower case): "哪天", "什么时候", "上映时间", "开幕日期", "哪一年", "when".
_ASKS_DATE = re.compile(r"时间|日期|哪天|哪一天|何时|什么时候|几月|几号|哪年|哪一年|\bwhen\b|what (?:date|day|year)")
# "时间" that asks for hours of the day or a duration, not a date: "营业时间", "多长时间".
_NOT_A_DATE = re.compile(r"(?:营业|开放|办公|工作|上班|下班|开门|关门|服务)时间|多长时间|多少时间")
# A stated date: "12月1日", "12月1号", "1日", "2023年12月", "2023-12-01", "十二月一日".
# A bare "3号" is not one ("轨道交通3号线", "1号文件").
_CN_NUM = "[一二三四五六七八九十廿卅〇零]"
_STATES_DATE = re.compile(
    rf"\d{{1,2}}月\d{{1,2}}[日号]|\d{{1,2}}日|\d{{4}}年\d{{1,2}}月|\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|{_CN_NUM}+月{_CN_NUM}+[日号]"
)


def asks_for_date(question: str) -> bool:
    """Whether a (normalised) question asks when something happens or happened."""
    return bool(_ASKS_DATE.search(_NOT_A_DATE.sub("", question)))


def states_date(text: str) -> bool:
    """Whether a passage states a day or a month (full-width digits count)."""
    return bool(_STATES_DATE.search(unicodedata.normalize("NFKC", text)))
