"""Article segmentation: the seed page field by field, and our own pages in the same style."""

from __future__ import annotations

import re

import pytest

from ingest.articles import _byline, segment_page
from ingest.pages import lines_from_text, read_file
from rag.records import IssueDate, Page

from .conftest import FIXTURES, SEED_PAGE

# (kicker, title, subtitle, byline, continues_on_page, body start, body end)
SEED_EXPECTED = [
    ("", "推动“亩均论英雄”改革 坚定走好渝中高质量发展之路", "", "本报评论员", 2,
     "“亩均论英雄”改革，是破除“成长烦恼”", "政策向总部倾斜、服务向总部强化。"),
    ("以赛促学强化办好网格“小案小事”硬实力 以比促干打造党建统领基层治理“升级版”",
     "我区举行党建统领基层治理网格员技能大比武", "黄茂军李松出席", "记者 李一", 2,
     "小网格里天地宽，服务群众大可为。", "要在互学互鉴中学出责任、学出担当、学出本领，"),
    ("", "我区举行学习贯彻习近平新时代中国特色社会主义思想 主题教育区级领导班子调研成果集中交流会",
     "黄茂军谢东何积光等作交流发言 李松出席", "记者 袁侨偲", 2,
     "11月30日，我区举行学习贯彻", "不断把主题教育引向深入。"),
    ("谢东在为区政府党员干部作专题党课时强调", "始终坚持高标准 全面提升执行力 建设让党放心让人民满意的模范机关",
     "", "记者 李传芳", 2, "日前，区政府办公室开展", "认真落实好区委工作安排。"),
    ("", "法治渝中“宪”在身边 渝中2023年“宪法宣传周”活动启动", "", "记者 李传芳", 2,
     "12月1日，“法治渝中‘宪’在身边”", "获评首批全国法治政府建设示范区。"),
    ("", "上清寺街道美专校社区成功申报市级“渝好空间”", "为妇女儿童打造“十分钟生活半径”友好生态圈",
     "记者 晏艳辉", 2, "近日，在市妇联举行的“渝好空间”", "全龄友好街区工作体系架构，"),
    ("", "区委常委会召开会议", "学习贯彻习近平总书记重要讲话精神 研究部署安全稳定等工作 黄茂军主持并讲话",
     "记者 李一", 2, "12月1日，区委常委会召开会议", "做扎实、做到位、做出彩。"),
    ("面对面听民声察民情 实打实解民忧促发展", "区人大常委会开展“主任接待日”活动", "", "记者 黄清娴", 4,
     "11月29日，区人大常委会主任何积光", "确保群众生命财产安全。"),
]


def test_seed_page_has_eight_articles(seed_articles):
    assert len(seed_articles) == 8


@pytest.mark.parametrize("i", range(8))
def test_seed_article_fields(seed_articles, i):
    kicker, title, subtitle, byline, cont, start, end = SEED_EXPECTED[i]
    a = seed_articles[i]
    assert a.kicker == kicker
    assert a.title == title
    assert a.subtitle == subtitle
    assert a.byline == byline
    assert a.continues_on_page == cont
    assert a.text.startswith(start)
    assert a.text.endswith(end)
    assert a.paper == "渝中报" and a.page == 1
    assert a.date == IssueDate(iso="", not_before="2023-12-01")


def _compact(s: str) -> str:
    return re.sub(r"\s+", "", s)


def test_seed_bodies_are_complete(seed_articles):
    """Every body character of the page lands in exactly one article, nothing else does."""
    raw = SEED_PAGE.read_text(encoding="utf-8")
    headline_lines = {
        _compact(part)
        for a in seed_articles
        for part in (a.kicker, a.title, a.subtitle)
        if part
    }
    bodies = _compact("".join(a.text for a in seed_articles))
    page = _compact(raw)
    page = re.sub(r"（下转\d版）", "", page)
    for a in seed_articles:
        for line in (a.kicker + " " + a.title + " " + a.subtitle).split():
            page = page.replace(line, "", 1)
    page = re.sub(r"本报讯（记者[^）]*）|本报评论员", "", page)
    assert len(bodies) == len(page)
    assert sorted(bodies) == sorted(page)
    for a in seed_articles:  # no headline line glued onto the end of a body
        assert not any(_compact(a.text).endswith(h) for h in headline_lines)


def test_seed_lines_are_joined_without_spaces(seed_articles):
    grid = seed_articles[1].text
    assert "认真贯彻习近平总书记重要指示精神" in grid  # "习近\n平" rejoined
    assert "2006年浙江绍兴柯桥" in seed_articles[0].text  # OCR's "2006 年" tightened
    assert "“强党性 塑文明 比技能 建新功”" in grid  # spaces inside a slogan kept


def _articles(name: str):
    res = read_file(FIXTURES / "pages" / name)
    assert not res.problems
    return segment_page(res.pages[0])


def test_narrow_columns_and_correspondent_byline():
    arts = _articles("narrow_columns.txt")
    assert [a.title for a in arts] == ["解放碑步行街 新增二十处休憩座椅", "冬季消防安全培训走进社区"]
    assert arts[0].byline == "通讯员 王小明"
    assert arts[0].text.startswith("近日，解放碑步行街新增休憩座椅二十处，")
    assert "\n据介绍，此次新增座椅" in arts[0].text  # short sentence-final line ends a paragraph
    # a headline floating *below* its body is still attached to it
    assert arts[1].byline == "记者 张三 通讯员 李四"
    assert arts[1].subtitle == "大坪街道120余名居民参加"
    assert arts[1].continues_on_page == 3
    assert arts[1].text.endswith("并带领居民排查楼道隐患。")


def test_headline_sharing_few_words_and_article_without_headline():
    arts = _articles("low_overlap_headline.txt")
    assert len(arts) == 3
    first, second, third = arts
    assert first.title == "" and first.continued_from_page == 1
    assert first.text.startswith("会议要求，各街道")
    assert second.title == "暖冬行动" and second.byline == "记者 刘洋"
    assert third.title == "" and third.byline == "据新华社报道"
    assert third.text.startswith("据新华社报道，全国冬季供暖")


def test_wide_columns_kicker_title_subtitle_and_wire_dateline():
    arts = _articles("wide_columns.txt")
    a, b = arts
    assert a.kicker == "副区长赵敏在调研重点项目建设时强调"
    assert a.title == "抢抓施工黄金期 确保项目按期投运"
    assert a.subtitle == "区住房城乡建委相关负责人陪同"
    assert a.byline == "记者 陈晨" and a.continues_on_page == 2
    assert b.byline == "新华社北京12月2日电 记者 周明"
    assert b.text == "国家统计局2日发布数据，11月份全国居民消费价格同比上涨0.5%，环比持平。"


def test_font_sizes_decide_headlines_when_present():
    """A PDF reader gives font sizes; then size, not punctuation, marks headlines."""
    from rag.records import Line

    lines = (
        Line("区政府召开常务会议", 0, font_size=22.0),
        Line("本报讯（记者 王五）12月6日，区政府召", 1, font_size=10.0),
        Line("开常务会议，研究冬季安全工作", 1, font_size=10.0),
        Line("会议由区长主持", 1, font_size=10.0),
    )
    page = Page("渝中报", IssueDate(), 1, "x.pdf", "k", lines)
    (a,) = segment_page(page)
    assert a.title == "区政府召开常务会议"
    assert a.text == "12月6日，区政府召开常务会议，研究冬季安全工作会议由区长主持"


def test_article_ids_are_stable_and_distinct(seed_page, seed_articles):
    again = segment_page(seed_page)
    assert [a.article_id for a in again] == [a.article_id for a in seed_articles]
    assert len({a.article_id for a in seed_articles}) == 8


def test_blank_lines_are_column_breaks_not_paragraphs():
    text = "本报讯（记者 王五）区里今天开\n\n会研究工作，会议要求各部门\n落实责任。"
    page = Page("", IssueDate(), 1, "t", "t", lines_from_text(text))
    (a,) = segment_page(page)
    assert a.text == "区里今天开会研究工作，会议要求各部门落实责任。"


def test_line_roles_read_as_a_sequence_take_the_likeliest_path():
    """Viterbi over the learned transitions: a line the classifier alone calls body, between a
    title and a subtitle where body never stands, is read as the title's second line."""
    import numpy as np

    from ingest.line_roles import decode

    # roles: 0 title, 1 subtitle, 2 body
    lp = np.log(np.array([[0.9, 0.05, 0.05], [0.4, 0.05, 0.55], [0.1, 0.8, 0.1], [0.05, 0.05, 0.9]]))
    never = np.log(1e-6)
    same = np.log(np.array([[0.5, 0.3, 0.2], [1e-6, 0.5, 0.5], [1e-6, 1e-6, 1.0]]))
    same[2, 1] = never  # a subtitle never follows body
    trans = {"same": same, "new": same, "first": np.log(np.array([0.6, 0.1, 0.3]))}
    assert decode(lp, [False] * 4, trans) == [0, 0, 1, 2]
    assert list(lp.argmax(axis=1)) == [0, 2, 1, 2]  # line by line, the second line would be body


def test_an_opening_formula_inside_a_paragraph_starts_no_story():
    """Read by the learned roles, a line of a paragraph that begins like a formula (据…消息)
    stays in its story: a formula opens a story only after a sentence's end."""
    from ingest.articles import segment

    text = ("云南少年滞留缅北 家人多方求助\n\n"
            "本报讯（记者 余玉燕）云南红河州16岁少\n年小勇（化名），于端午节后前往缅北\n果敢老街，至今滞留国外。根\n"
            "据其发回的消息，目前他已经被控制人\n身自由，“每个院子都有武装人员”。\n小勇的哥哥告诉记者，和小勇一同出境\n"
            "的还有一名同乡少年。\n")
    (a,) = segment(Page("渝中报", IssueDate(), 1, "t", "k", lines_from_text(text)), "roles").articles
    assert a.title == "云南少年滞留缅北 家人多方求助" and a.byline == "记者 余玉燕"
    assert "根据其发回的消息" in a.text and a.text.endswith("的还有一名同乡少年。")


@pytest.mark.parametrize("opening, byline", [
    ("记者 韩志磊 报道 今天上午", "记者 韩志磊"),  # a name set apart ends at its space
    ("记者 欧阳娜娜 报道 今天上午", "记者 欧阳娜娜"),
    ("大众网记者 韩志磊 滨州报道 今天上午", "记者 韩志磊"),
    ("记者韩志磊滨州报道 今天上午", "记者 韩志磊"),  # run on into the place: the dictionary
])
def test_reporter_named_in_an_x_reports_opening(opening, byline):
    assert _byline(opening)[0] == byline


def test_line_roles_context_places_each_line_in_its_headline_run():
    """The second reading's features: where a line stands in its run of headline-like lines (as
    the first reading took them), its length against the run's longest, how many lines reach it."""
    import numpy as np

    from ingest.line_roles import context

    lines = lines_from_text("聚焦高质量发展\n目前全体职工24小时驻守水\n库\n本报讯 今天全体职工驻守水库，一切正常。\n")
    classes = ["body", "kicker", "start", "title"]
    p = np.array([[0.1, 0.7, 0.1, 0.1], [0.1, 0.2, 0.1, 0.6], [0.2, 0.1, 0.1, 0.6], [0.1, 0.0, 0.8, 0.1]])
    x = context(lines, np.log(np.maximum(p, 1e-9)), classes)
    run = x[:, -6:]  # run length, place in it, lines after, length / longest, lines as long, this one as long
    assert run[:3, 0].tolist() == [3, 3, 3] and run[:3, 1].tolist() == [0, 1, 2] and run[:3, 2].tolist() == [2, 1, 0]
    assert run[1, 3] == 1.0 and run[2, 3] == 1 / 13 and run[1, 5] == 1.0 and run[0, 5] == 0.0
    assert run[3].tolist() == [0.0] * 6  # a story's first line stands in no headline run
    assert np.allclose(x[1, 8:12], p[0]) and np.allclose(x[0, 12:16], p[1])  # the line before, the line after
    assert np.allclose(x[2, 4:8], p[0]) and x[0, 4:12].tolist() == [0.0] * 8  # two before; none before the first


def test_a_line_whose_words_stand_in_the_text_around_it_is_marked():
    """A headline takes its words from its story: the feature says when a line, or the line run
    on into the next (a title wrapped at its width), stands word for word in the text nearby."""
    from ingest.line_roles import FEATURES, features

    lines = lines_from_text("民生实事进行时\n全体职工驻守\n水库\n\n本报讯 今天全体职工驻 守水库，一切正常。\n")
    rows = features(lines)
    at, joined = FEATURES.index("verbatim nearby"), FEATURES.index("verbatim with next")
    assert [r[at] for r in rows[:3]] == [0.0, 1.0, 0.0]  # (a line of two characters is too short to tell)
    assert rows[1][joined] == 1.0 and rows[0][joined] == 0.0


def test_a_vertical_headline_owns_the_column_beside_it_under_an_empty_column_top():
    # a story low in the first column with its headline set vertically on its right; the
    # column above it is empty, so the headline of the story in the next column, high up,
    # reaches over it: the vertical headline beside the body, level with its top, owns it
    from ingest.layout import reading_order
    from rag.records import Line

    def at(text, x0, y0, size, x1):
        return Line(text, 0, size, (x0, y0, x1, y0 + size))

    a_body = "山西平遥十八日在古老的县衙举办第二十三届平遥国际摄影大展新闻发布会本届摄影展共收到全球二十八个国家和地区的两千多名摄影师作品将聚焦人工智能与摄影探索人工智能与摄影艺术融合发展。"
    b_body = "女子谈未让座遭大妈诅咒近日一段女子未让座被大妈辱骂诅咒家人的视频引起网友关注当事女子称大妈来抢座还推了自己自己离得近便率先坐下然后遭到辱骂大妈骂了两三站后来下车离开了现场。"
    lines = [at("民生实事进行时", 135, 55, 11, 212), at("也创下大展历年之最", 135, 72, 16, 279),
             at("本报讯（记者胡健）" + a_body[:2], 136, 100, 9, 235)]
    lines += [at(a_body[k: k + 11], 136, 113.5 + (k - 2) // 11 * 13.5, 9, 235) for k in range(2, len(a_body), 11)]
    lines.append(at("本报讯（记者赖彬）", 28, 302, 9, 91))
    lines += [at(b_body[k: k + 7], 28, 315.5 + k // 7 * 13.5, 9, 91) for k in range(0, len(b_body), 7)]
    lines += [Line(ch, 0, 20, (105, 301 + 20 * k, 125, 321 + 20 * k)) for k, ch in enumerate("你小心给我摔那")]
    page = Page("山城商报", IssueDate(), 1, "pdf", "page:b/x/1", reading_order(lines, []), size=(600, 800))
    got = {a.title: a.text for a in segment_page(page)}
    assert got["你小心给我摔那"].startswith("女子谈未让座") and got["也创下大展历年之最"].startswith("山西平遥")


@pytest.mark.parametrize("text, byline, first", [
    # the rest of a name on the next line, alone or before a space
    ("江南晚报评论员 何娜\n桂\n△犯罪嫌疑人指认\n盗窃财物重庆一男\n子做生意经营不善\n", "江南晚报 评论员 何娜桂", "△犯罪嫌疑人指认"),
    ("金融投资报记者 吉雪\n娇 四川在线记者 田\n姣华小峰8月16日，\n《白皮书》正式对外\n发布，引起关注。\n",
     "金融投资报 记者 吉雪娇", "四川在线记者 田"),
    # the place reported from
    ("封面新闻记者 雷敏\n昆明报道 今晚湖南北部\n局地大雨，明天高温\n热带低压北上影响\n", "封面新闻 记者 雷敏", "今晚湖南北部"),
    # a second byline on a line of its own
    ("□本报记者 丁梅华\n通讯员 康鸣霞\n8月18日，中邮创业\n基金发布高管变更\n", "本报记者 丁梅华 通讯员 康鸣霞", "8月18日，中邮创业"),
    # a short byline line: the next line is the body's ("今天" is no part of the name)
    ("本报记者 张三\n今天 上午，区里召开全区\n工作会议，部署下一阶\n段的重点工作任务。\n", "本报记者 张三", "今天 上午，区里召开全区"),
])
def test_a_byline_line_wrapped_at_the_column_runs_on_into_the_next(text, byline, first):
    """A text layer's byline on a line of its own, cut where the column ran out: the rest of the
    name, a second byline or the place reported from stands on the next line, not in the body."""
    from ingest.articles import _own_line_byline

    got, rest = _own_line_byline(list(lines_from_text(text)))
    assert got == byline and rest[0].text == first


def test_a_headline_after_a_story_first_column_stays_with_it_when_its_words_are_that_column(monkeypatch):
    """Read by line roles: a headline standing after a column that ends a sentence heads the
    story that goes on below it when its words are in that column (anywhere in it, not only in its
    first lines) rather than in the lines after it."""
    from ingest import articles, line_roles

    column = ["本报讯（记者 王五）区里今天召开", "全区工作会议，研究部署", "下一阶段的重点工作，各", "部门负责同志参加会议。",
              "会议听取了各部门工作", "情况汇报，分析了当前形", "势，明确了下一步的目标", "和措施，要求抓好落实。",
              "会议强调，要全力推进乡", "村振兴，做好各项工作。"]
    rest = ["会议还对安全生产、防汛", "抗旱等工作作出安排，要", "求压实责任，确保群众生", "命财产安全和社会稳定。"]
    text = "\n".join(column) + "\n\n全力推进乡村振兴\n\n" + "\n".join(rest) + "\n"
    roles = ["start"] + ["body"] * (len(column) - 1) + ["title"] + ["body"] * len(rest)
    monkeypatch.setattr(line_roles, "predict", lambda lines, sequence=True: roles)
    (a,) = articles.segment(Page("渝中报", IssueDate(), 1, "t", "k", lines_from_text(text)), "roles").articles
    assert a.title == "全力推进乡村振兴" and a.text.endswith("命财产安全和社会稳定。")


def test_headline_runs_go_to_bodies_for_the_best_sum_not_the_best_pair_first():
    """A headline printed after its story's body (the run's options: the body after it, with the
    bonus of standing above it, or the body before it) gives way to the next story's own headline
    when that one can go nowhere else; a run sharing no word with its only body still heads it."""
    from ingest.articles import _match_runs

    assert _match_runs([[(0.8, 1), (0.6, 0)], [(0.7, 1)]]) == {0: 0, 1: 1}
    assert _match_runs([[(0.5, 0)], [(0.0, 1)], [(0.9, 2), (0.0, 1)]]) == {0: 0, 1: 1, 2: 2}
    assert _match_runs([[(0.9, 1), (0.1, 0)], [(0.2, 1)]]) == {0: 1}  # a pair worth more than both


def test_a_headline_line_wider_than_where_another_wrapped_is_set_smaller():
    """The second reading's wrap features (a text layer has no type sizes): a title phrase wrapped
    at its width ("在现场葡萄集" / "市上"), and a line under it wider than that (a subtitle, set
    smaller); two lines wrapping at one width are one size."""
    from ingest.line_roles import _wrap_sizes

    wraps, wrapped, above, below, same = zip(*_wrap_sizes(["在现场葡萄集", "市上", "按照往年的销售"]))
    assert wraps == (1.0, 0.0, 0.0) and wrapped == (0.0, 1.0, 0.0)
    assert above == (0.0, 0.0, 7 / 6) and below == (0.0, 0.0, 0.0) and same == (0.0, 0.0, 0.0)
    rows = _wrap_sizes(["的名义骗取医保部", "门授权文件", "抓获犯罪嫌疑人7", "名", "此次公布的典型案例中"])
    assert [r[4] for r in rows] == [1.0, 0.0, 1.0, 0.0, 0.0] and rows[4][2] == 10 / 7.5


@pytest.mark.parametrize("opening, reading", [("新华社北京7月24日电 ", "roles"), ("本报讯 ", "rules")])
def test_auto_keeps_the_rules_only_where_the_papers_own_formula_opens_each_story(monkeypatch, opening, reading):
    """Two readings of a text layer that find as many stories, each opened by a formula: the
    rules were written for this paper's conventions (本报讯), so on another outlet's stories
    the learned roles' reading is kept (bench.segmentation: +1.6 points on generated pages)."""
    import ingest.articles as articles
    from rag.records import Article

    def story(title: str, byline: str) -> Article:
        return Article(title, "s", "渝中报", IssueDate(), 1, title, "区里今年推进老旧小区改造。", byline=byline)

    ruled = [story("规则一", "新华社"), story("规则二", "新华社")]
    roled = [story("角色一", "新华社"), story("角色二", "")]
    monkeypatch.setattr(articles, "_segment_text", lambda page: ruled)
    monkeypatch.setattr(articles, "_segment_roles", lambda page: roled)
    text = "\n".join(f"{opening}区里今年推进老旧小区改造，已完成加装电梯{i}部。" for i in range(2))
    got = articles.segment(Page("渝中报", IssueDate(), 1, "t", "k", lines_from_text(text)), "auto").articles
    assert got == (ruled if reading == "rules" else roled)
