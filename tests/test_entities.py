"""People, organisations and places of an article (rag/entities.py), on short news texts of our own.

The rules are tested with a fake tagger that tags the names it is given, so each rule is seen
alone; the texts at the end run jieba's LAC model itself (shipped in jieba, loaded in about a
second) to show the whole extractor works.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from rag.entities import ENTITY_TYPES, Entity, extract_entities, normalize_name


class NamesTagger:
    """Tags the given names with their LAC label (PER, LOC, ORG, nr …) and everything else n."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.seen: list[str] = []

    def tag(self, sentences: list[str]) -> list[list[str]]:
        self.seen += sentences
        out = []
        for s in sentences:
            tags = ["n-B"] * len(s)
            for name, label in sorted(self.names.items(), key=lambda kv: -len(kv[0])):
                start = s.find(name)
                while start >= 0:
                    if tags[start : start + len(name)] == ["n-B"] * len(name):
                        tags[start : start + len(name)] = [f"{label}-B"] + [f"{label}-I"] * (len(name) - 1)
                    start = s.find(name, start + 1)
            out.append(tags)
        return out


def names(entities: list[Entity], typ: str | None = None) -> set[str]:
    return {e.name for e in entities if typ is None or e.type == typ}


# --- normalisation -------------------------------------------------------------------------

def test_normalize_name_joins_wrapped_and_padded_names_and_folds_width():
    assert normalize_name("谢\n东") == "谢东"
    assert normalize_name("区委书\r\n记谢东") == "区委书记谢东"
    assert normalize_name("8月\n13日，张\n 三") == "8月13日,张三"  # full-width punctuation folded too
    assert normalize_name("会议结束。\n记者 李 一") == "会议结束。\n记者 李一"  # a paragraph's end stays
    assert normalize_name("标题\n\n正文") == "标题\n\n正文"  # so does a blank line
    assert normalize_name("李 一") == "李一"
    assert normalize_name("李\u3000一") == "李一"
    assert normalize_name("特雷莎・梅") == "特雷莎·梅"  # katakana middle dot
    assert normalize_name("ＩＴ之家") == "IT之家"
    assert normalize_name("（集团）") == "(集团)"
    # two names side by side stay two: only lone characters are padding
    assert normalize_name("陈庆滨 夏震宇") == "陈庆滨 夏震宇"


def test_a_name_split_across_lines_is_found_and_its_offset_is_in_the_original_text():
    text = "本报讯（记者 李 一）区委书\n记谢\n东出席。"
    tagger = NamesTagger({"谢东": "PER", "李一": "PER"})
    found = extract_entities(text, tagger)
    assert names(found, "person") == {"谢东", "李一"}
    xie = next(e for e in found if e.name == "谢东")
    assert text[xie.offset] == "谢" and xie.count == 1
    li = next(e for e in found if e.name == "李一")
    assert text[li.offset] == "李"
    assert all("\n" not in s for s in tagger.seen)  # the model reads the joined text


def test_empty_or_blank_text_has_no_entities():
    tagger = NamesTagger({})
    assert extract_entities("", tagger) == []
    assert extract_entities(" \n\u3000", tagger) == []
    assert tagger.seen == []


# --- rules on the model's names -------------------------------------------------------------

def test_one_entity_per_name_with_its_count_and_first_offset_in_order():
    text = "张海峰到红岩村调研。张海峰指出，红岩村要抓好安全。记者 王 芳"
    found = extract_entities(text, NamesTagger({"张海峰": "PER", "红岩村": "LOC", "王芳": "PER"}))
    assert [(e.name, e.type, e.count) for e in found] == [
        ("张海峰", "person", 2), ("红岩村", "place", 2), ("王芳", "person", 1)]
    assert [e.offset for e in found] == [0, 4, text.index("王")]
    assert all(e.type in ENTITY_TYPES for e in found)


def test_honorifics_anonymised_names_and_typhoons_are_not_people():
    text = "王先生和张某说，受台风“杜苏芮”影响，李大娘家的屋顶被掀翻。撒切尔夫人曾访华。"
    tagger = NamesTagger({"王先生": "PER", "张某": "PER", "杜苏芮": "PER", "李大娘": "PER", "撒切尔夫人": "PER"})
    assert names(extract_entities(text, tagger), "person") == {"撒切尔"}


def test_names_the_model_runs_together_are_separated():
    text = "编辑：徐远哲 责编：李洋 官毅 审核：冯飞"
    tagger = NamesTagger({"李洋 官毅": "PER", "徐远哲": "PER", "冯飞": "PER"})
    assert names(extract_entities(text, tagger), "person") == {"徐远哲", "李洋", "官毅", "冯飞"}


def test_a_name_cut_in_two_is_joined_and_a_name_only_inside_a_longer_one_is_dropped():
    text = "自由潜水冠军威廉·特鲁布里奇说，作者Chris Anderson。英国首相特雷莎·梅。"
    tagger = NamesTagger({"威廉·特": "PER", "鲁布里奇": "PER", "Chris": "PER", "Anderson": "PER",
                          "特雷莎·梅": "PER", "雷莎·梅": "PER", "英国": "LOC"})
    found = extract_entities(text, tagger)
    assert names(found, "person") == {"威廉·特鲁布里奇", "Chris Anderson", "特雷莎·梅"}


def test_words_tagged_only_as_name_shaped_parts_of_speech_need_a_name_shape():
    # nr is LAC's part of speech for names; it also gives it to words that are none
    text = "他昂扬地说，章富夫和龚侣到场。"
    assert names(extract_entities(text, NamesTagger({"昂扬": "nr", "章富夫": "nr", "龚侣": "nr"}))) == {
        "章富夫", "龚侣"}


def test_organisations_joined_by_a_conjunction_split_and_trailing_verbs_dropped():
    text = "北京市规划和自然资源委员会门头沟分局会同门头沟区气象局发布预警。活动由区律师工作委员会协办。"
    tagger = NamesTagger({"北京市规划和自然资源委员会门头沟分局会同门头沟区气象局": "ORG", "区律师工作委员会协办": "ORG"})
    assert names(extract_entities(text, tagger), "organization") == {
        "北京市规划和自然资源委员会门头沟分局", "门头沟区气象局", "区律师工作委员会"}


def test_party_and_government_bodies_are_found_without_the_model():
    text = "黄浦区委书记杲云出席。区委常委、组织部部长王南，区人大常委会主任何积光参加。"
    found = extract_entities(text, NamesTagger({"黄浦区": "LOC", "杲云": "PER", "王南": "PER", "何积光": "PER"}))
    assert names(found, "organization") == {"黄浦区委", "区委", "组织部", "区人大常委会"}
    assert "黄浦区" not in names(found)  # only inside 黄浦区委 here


def test_places_run_together_are_separated_and_direction_words_dropped():
    text = "山东省烟台市芝罘区的居民说，广东东部和东北地区也下了雨，渠江流域水位上涨。"
    tagger = NamesTagger({"山东省烟台市芝罘区": "LOC", "广东东部": "LOC", "东北地区": "LOC", "渠江流域": "LOC"})
    assert names(extract_entities(text, tagger), "place") == {"山东省", "烟台市", "芝罘区", "广东", "东北", "渠江"}


def test_a_person_beside_the_same_name_as_a_place_is_that_place():
    text = "舒兰公职人员奔赴一线。舒兰市普降暴雨。"
    found = extract_entities(text, NamesTagger({"舒兰": "PER", "舒兰市": "LOC"}))
    assert {(e.name, e.type) for e in found} == {("舒兰", "place"), ("舒兰市", "place")}


# --- the whole extractor, with jieba's LAC model -----------------------------------------------

LOCAL = ("本报讯（记者 李 一）12月5日，区委书记张海\n峰主持召开区委常委会会议。区委副书记、区长刘\n晓梅，"
         "区人大常委会主任何建国出席会议。张海峰强调，要做好冬季安全工作。")
DISASTER = "受台风“杜苏芮”影响，河北省涿州市出现强降雨。涿州市消防救援支队连夜转移群众300余人。"
SPORT = "在成都大运会田径女子100米决赛中，中国选手王丽娟以11秒30夺冠，西班牙选手玛丽亚·洛佩斯获得亚军。"
WIRE = "新华社北京8月2日电（记者 陈\u3000明）国务院新闻办公室2日举行新闻发布会，水利部副部长刘伟平介绍了海河防汛工作。"


def test_local_news_titles_before_names_and_names_split_across_lines():
    found = extract_entities(LOCAL)
    assert names(found, "person") == {"李一", "张海峰", "刘晓梅", "何建国"}
    assert {"区委", "区委常委会", "区人大常委会"} <= names(found, "organization")
    zhang = next(e for e in found if e.name == "张海峰")
    assert zhang.count == 2 and LOCAL[zhang.offset] == "张"


def test_disaster_news_places_and_organisations_not_the_typhoon():
    found = extract_entities(DISASTER)
    assert names(found, "person") == set()
    assert {"河北省", "涿州市"} <= names(found, "place")
    assert "涿州市消防救援支队" in names(found, "organization")


def test_sport_news_chinese_and_foreign_names_and_countries():
    found = extract_entities(SPORT)
    assert names(found, "person") == {"王丽娟", "玛丽亚·洛佩斯"}
    assert {"中国", "西班牙"} <= names(found, "place")


def test_wire_copy_agency_dateline_and_ministry():
    found = extract_entities(WIRE)
    assert names(found, "person") == {"陈明", "刘伟平"}
    assert {"新华社", "国务院新闻办公室", "水利部"} <= names(found, "organization")
    assert "北京" in names(found, "place")


def test_one_character_sentences_and_odd_text_with_the_model():
    assert extract_entities("好") == []
    assert extract_entities("。") == []
    assert extract_entities("好。对。\n是！") == []


def test_honorifics_and_anonymised_people_with_the_model():
    assert names(extract_entities("王先生告诉记者，涉事男子张某已被警方控制。"), "person") == set()


@pytest.mark.parametrize("text", [LOCAL, DISASTER, SPORT, WIRE])
def test_full_width_text_gives_the_same_names(text):
    wide = text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    assert {(e.name, e.type) for e in extract_entities(wide)} == {(e.name, e.type) for e in extract_entities(text)}


def test_importing_the_module_loads_neither_jieba_nor_onnxruntime_nor_torch():
    code = ("import sys, rag, rag.entities; "
            "print(sorted(m for m in ('jieba', 'onnxruntime', 'onnx', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_name_tagged_as_two_kinds_takes_the_kind_the_model_gives_most():
    class Votes(NamesTagger):
        def tag(self, sentences):
            out = super().tag(sentences)
            first = sentences[0].find("武隆")
            if first >= 0:  # the first sentence's 武隆 tagged as a person's name
                out[0][first : first + 2] = ["nr-B", "nr-I"]
            return out

    text = "武隆出现暴雨。武隆的河水上涨。游客离开武隆。"
    assert {(e.name, e.type) for e in extract_entities(text, Votes({"武隆": "LOC"}))} == {("武隆", "place")}


def test_a_person_always_followed_by_a_firms_word_is_part_of_the_firm():
    text = "公司获得顺为资本、乾明资本等机构的投资。"
    found = extract_entities(text, NamesTagger({"乾明": "PER", "顺为资本": "ORG"}))
    assert {(e.name, e.type) for e in found} == {("顺为资本", "organization")}


def test_media_before_their_reporters_and_bodies_after_the_place_they_belong_to():
    text = "7月31日下午，大皖新闻记者连线商户。来源：二三里资讯。石油路街道党工委协办。水利部门预计降雨减弱。"
    found = extract_entities(text, NamesTagger({"石油路街道": "LOC", "党工委": "ORG"}))
    assert names(found, "organization") == {"大皖新闻", "二三里资讯", "石油路街道党工委"}  # not 水利部


def test_a_list_of_places_the_model_takes_for_one_organisation_is_places():
    # most of them places in jieba's dictionary (潼南, 合川, 江津 are; 铜梁 and 大足 are not)
    text = "潼南、合川、江津、铜梁等区县出现暴雨。"
    found = extract_entities(text, NamesTagger({"潼南、合川、江津、铜梁": "ORG"}))
    assert {(e.name, e.type) for e in found} == {(n, "place") for n in ("潼南", "合川", "江津", "铜梁")}


def test_national_organisations_run_together_and_a_programme_after_a_name():
    text = "四川省科技扶贫基金会中华社会救助基金会联合中华思源工程基金会扬帆计划执行救援。"
    tagger = NamesTagger({"四川省科技扶贫基金会中华社会救助基金会": "ORG", "中华思源工程基金会扬帆计划": "ORG"})
    assert names(extract_entities(text, tagger), "organization") == {
        "四川省科技扶贫基金会", "中华社会救助基金会", "中华思源工程基金会"}


def test_a_body_at_the_start_takes_no_place_from_the_texts_end():
    text = "区委召开会议。黄浦区代表发言。会议在黄浦"
    found = extract_entities(text, NamesTagger({"黄浦区": "LOC"}))
    assert "区委" in names(found, "organization")
