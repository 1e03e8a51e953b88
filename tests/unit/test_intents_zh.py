"""zh-CN understanding: (utterance, step, expected fields) tables.

today = 2026-12-01 (a Tuesday).  Utterances are written the way Vosk's
Chinese model prints them: words separated by spaces.
"""
import datetime
import json

import pytest

from ivr.dialog.intents import grammar, interpret, keypad, understand

TODAY = datetime.date(2026, 12, 1)
KEYS = ["intent", "date", "time", "amount", "digits"]

# (text, step, expected subset of the result)
IDENTITY = [
    ("是的", {"intent": "confirm"}),
    ("是 我", {"intent": "confirm"}),
    ("我 是", {"intent": "confirm"}),
    ("对 我 就是", {"intent": "confirm"}),
    ("嗯", {"intent": "confirm"}),
    ("嗯 是 本人", {"intent": "confirm"}),
    ("啊 对 对 对", {"intent": "confirm"}),
    ("呃 那个 是 我 啊", {"intent": "confirm"}),
    ("没错 是 我", {"intent": "confirm"}),
    ("不是", {"intent": "deny"}),
    ("不是 不是", {"intent": "deny"}),
    ("我 不是 他", {"intent": "deny"}),
    ("你 打错 了", {"intent": "deny"}),
    ("不 认识 这个 人", {"intent": "deny"}),
    ("我 是 他 老婆", {"intent": "deny"}),
    ("他 不在", {"intent": "deny"}),
    ("不对", {"intent": "deny"}),
    ("不是 哦 是 是 我", {"intent": "confirm"}),   # self-correction: last word wins
    ("是 啊 哦 不对 不是 我", {"intent": "deny"}),
    ("转 人工", {"intent": "agent"}),
    ("我 要 找 人工 客服", {"intent": "agent"}),
    ("是 我 但是 我 要 人工", {"intent": "agent"}),
    ("不要 人工 是 我", {"intent": "confirm"}),  # negated agent request
    ("现在 不方便", {"intent": "callback", "date": None, "time": None}),
    ("我 在 开车 晚点 再 打", {"intent": "callback"}),
    ("是 我 但是 我 在 开会", {"intent": "callback"}),
    ("稍后 再 打 吧", {"intent": "callback"}),
    ("下午 三点 再 打 给 我", {"intent": "callback", "date": "2026-12-01", "time": "15:00"}),
    ("明天 上午 十点 打给我", {"intent": "callback", "date": "2026-12-02", "time": "10:00"}),
    ("晚上 八点 再 联系", {"intent": "callback", "date": "2026-12-01", "time": "20:00"}),
    ("三点 以后 给 我 打", {"intent": "callback", "time": "15:00"}),
    ("你 好", {"intent": "unknown"}),
    ("喂 喂", {"intent": "unknown"}),
]

PLAN = [
    # confirm = will pay on time
    ("可以 按时 还", {"intent": "confirm", "date": None, "amount": None}),
    ("没问题", {"intent": "confirm"}),
    ("好 的", {"intent": "confirm"}),
    ("嗯 可以", {"intent": "confirm"}),
    ("我 一定 按时 还", {"intent": "confirm"}),
    ("放心 会 按时 还款 的", {"intent": "confirm"}),
    ("能", {"intent": "confirm"}),
    ("行 到期 还", {"intent": "confirm"}),
    # promise: date and/or amount
    ("我 下周五 还 三千", {"intent": "promise", "date": "2026-12-11", "amount": 3000}),
    ("明天 还", {"intent": "promise", "date": "2026-12-02", "amount": None}),
    ("后天 吧", {"intent": "promise", "date": "2026-12-03"}),
    ("三天后 还 一万二", {"intent": "promise", "date": "2026-12-04", "amount": 12000}),
    ("这周五 还 三千五", {"intent": "promise", "date": "2026-12-04", "amount": 3500}),
    ("下周一 先 还 一半", {"intent": "promise", "date": "2026-12-07", "amount": None}),
    ("月底 还", {"intent": "promise", "date": "2026-12-31"}),
    ("月末 吧", {"intent": "promise", "date": "2026-12-31"}),
    ("下个月 底 还 清", {"intent": "promise", "date": "2027-01-31"}),
    ("15号 还 两千五百元", {"intent": "promise", "date": "2026-12-15", "amount": 2500}),
    ("十五号 还", {"intent": "promise", "date": "2026-12-15"}),
    ("下个月 十号 还 一万二", {"intent": "promise", "date": "2027-01-10", "amount": 12000}),
    ("12月20日 还 3200块", {"intent": "promise", "date": "2026-12-20", "amount": 3200}),
    ("十二月 二十 号 还", {"intent": "promise", "date": "2026-12-20"}),
    ("后天 还 三千块钱", {"intent": "promise", "date": "2026-12-03", "amount": 3000}),
    ("先 还 五千", {"intent": "promise", "date": None, "amount": 5000}),
    ("我 只能 还 两千", {"intent": "promise", "amount": 2000}),
    ("三千 不对 四千", {"intent": "promise", "amount": 4000}),
    ("明天 不对 后天", {"intent": "promise", "date": "2026-12-03"}),
    ("嗯 就是 那个 下周五 吧", {"intent": "promise", "date": "2026-12-11"}),
    ("周五 还 一千五", {"intent": "promise", "date": "2026-12-04", "amount": 1500}),
    ("下 星期三 还", {"intent": "promise", "date": "2026-12-09"}),
    ("这个月 还不了 下个月 十号 还", {"intent": "promise", "date": "2027-01-10"}),
    ("能 不能 宽限 几天", {"intent": "promise", "date": None}),
    ("先 还 一部分", {"intent": "promise"}),
    ("二十号 还 两万", {"intent": "promise", "date": "2026-12-20", "amount": 20000}),
    ("大后天 还 八百 块", {"intent": "promise", "date": "2026-12-04", "amount": 800}),
    ("十天后 还", {"intent": "promise", "date": "2026-12-11"}),
    ("三千五 不是 三千八", {"intent": "promise", "amount": 3800}),
    ("一万 五千 下周五", {"intent": "promise", "amount": 15000, "date": "2026-12-11"}),
    ("行 那 就 下午 五点 前 还", {"intent": "promise", "date": "2026-12-01", "time": "17:00"}),
    ("我 还 2500", {"intent": "promise", "amount": 2500, "date": None}),
    ("我 还 三千 块 下 个 月 一 号", {"intent": "promise", "amount": 3000, "date": "2027-01-01"}),
    ("下周 吧", {"intent": "promise", "date": None}),   # a week is too vague to book
    # refuse
    ("还不了", {"intent": "refuse"}),
    ("我 没钱", {"intent": "refuse"}),
    ("还 不 上", {"intent": "refuse"}),
    ("不", {"intent": "refuse"}),
    ("不能", {"intent": "refuse"}),
    ("不 还 了", {"intent": "refuse"}),
    ("拿 不 出 来", {"intent": "refuse"}),
    ("这个 月 不行", {"intent": "refuse"}),
    # dispute
    ("我 已经 还 了", {"intent": "dispute"}),
    ("上 个 月 就 还清 了", {"intent": "dispute"}),
    ("这 不是 我 的 贷款", {"intent": "dispute"}),
    ("我 没 贷过 款", {"intent": "dispute"}),
    ("金额 不对", {"intent": "dispute"}),
    ("你们 扣错 了", {"intent": "dispute"}),
    ("不对 啊", {"intent": "dispute"}),
    ("不是 我 已经 还过 了", {"intent": "dispute"}),
    ("没有 这么 多 吧", {"intent": "dispute"}),
    # hardship
    ("我 失业 了", {"intent": "hardship"}),
    ("我 失业 了 还不上", {"intent": "hardship"}),
    ("最近 生病 住院 了", {"intent": "hardship"}),
    ("家里 出事 了 手头 紧", {"intent": "hardship"}),
    ("公司 倒闭 了 没 收入", {"intent": "hardship"}),
    ("工资 没发 周转 不开", {"intent": "hardship"}),
    ("被 裁员 了 下个月 十号 还", {"intent": "hardship", "date": "2027-01-10"}),
    # agent
    ("人工 客服", {"intent": "agent"}),
    ("我 要 转 人工", {"intent": "agent"}),
    ("已经 还 了 给 我 转 人工", {"intent": "agent"}),  # agent wins over everything
    ("不用 转 人工 我 下周五 还", {"intent": "promise", "date": "2026-12-11"}),
    # callback
    ("晚点 再 打 吧", {"intent": "callback"}),
    ("现在 不方便 明天 再 打", {"intent": "callback", "date": "2026-12-02", "time": None}),
    ("我 在 忙 下午 两点半 再说", {"intent": "callback", "date": "2026-12-01", "time": "14:30"}),
    ("明天 下午 三点 打 给 我", {"intent": "callback", "date": "2026-12-02", "time": "15:00"}),
    # unknown
    ("你们 是 哪里", {"intent": "unknown"}),
    ("喂", {"intent": "unknown"}),
]

CONFIRM = [
    ("对", {"intent": "confirm"}),
    ("是 的 没错", {"intent": "confirm"}),
    ("嗯 对 的", {"intent": "confirm"}),
    ("好", {"intent": "confirm"}),
    ("正确", {"intent": "confirm"}),
    ("不对", {"intent": "deny"}),
    ("不是", {"intent": "deny"}),
    ("错 了", {"intent": "deny"}),
    ("不对 是 四千", {"intent": "deny", "amount": 4000}),
    ("不 是 下周五", {"intent": "deny", "date": "2026-12-11"}),
    ("人工", {"intent": "agent"}),
    ("啥", {"intent": "unknown"}),
]

DIGITS = [
    ("一 二 三 四", {"intent": "digits", "digits": "1234"}),
    ("幺 二 三 x", {"intent": "digits", "digits": "123X"}),
    ("1 2 3 4", {"intent": "digits", "digits": "1234"}),
    ("三 四 五 叉", {"intent": "digits", "digits": "345X"}),
    ("三 四 五 艾克斯", {"intent": "digits", "digits": "345X"}),
    ("零 零 七 X", {"intent": "digits", "digits": "007X"}),
    ("五 六 七 八 九 零", {"intent": "digits", "digits": "7890"}),
    ("嗯 尾号 是 两 八 六 九", {"intent": "digits", "digits": "2869"}),
    ("一二三四", {"intent": "digits", "digits": "1234"}),
    ("洞 幺 两 拐", {"intent": "digits", "digits": "0127"}),
    ("一 二", {"intent": "unknown"}),
    ("我 不 记得 了", {"intent": "unknown", "digits": None}),
    ("转 人工", {"intent": "agent"}),
]

# Tuning examples added with the one-pipeline work (negation scope, colloquial days and amounts,
# phone-style digits). The held-out set (data/zh_cn_heldout.tsv) is never tuned on; these are.
IDENTITY += [
    ("我 不是 她 本人", {"intent": "deny"}),
    ("不 是 我 本人", {"intent": "deny"}),
    ("我不是本人", {"intent": "deny"}),
    ("并 不 是 他", {"intent": "deny"}),
    ("不是 他 本人 啊", {"intent": "deny"}),
    ("不 是 的", {"intent": "deny"}),
    ("她 本人 不在", {"intent": "deny"}),
    ("本人 不 在 这儿", {"intent": "deny"}),
    ("我 是 她 妈妈", {"intent": "deny"}),
    ("他 是 我 儿子 不在 家", {"intent": "deny"}),
    ("我 替 他 接 的 电话", {"intent": "deny"}),
    ("我 是 他 同事", {"intent": "deny"}),
    ("没有 这个 人 啊", {"intent": "deny"}),
    ("不 是 我 可以 帮 你 转告", {"intent": "deny"}),   # 可以 agrees to something, not "I am him"
    ("我 不是 李娜 本人", {"intent": "deny"}),         # a copula negates its whole complement
    ("本人 没 在", {"intent": "deny"}),
    ("他 本人 不 在 家", {"intent": "deny"}),
    ("她 不在 是 我 老公 接 的", {"intent": "deny"}),
    ("我 也 不是 他", {"intent": "deny"}),
    ("非 本人", {"intent": "deny"}),
    ("张伟 啊 他 不 住 这 了", {"intent": "deny"}),
    ("他 早 搬走 了", {"intent": "deny"}),
    ("我 就是 本人", {"intent": "confirm"}),
    ("我 就是 他", {"intent": "confirm"}),
    ("是 我 本人 没错", {"intent": "confirm"}),
    ("好 的", {"intent": "unknown"}),                  # "OK" is no answer to "are you X?"
    ("不好意思 我 在 开会", {"intent": "callback"}),
    ("听 不 见 你 说话", {"intent": "unknown"}),
    ("信号 差", {"intent": "unknown"}),
    ("你 明天 下午 打 过来", {"intent": "callback", "date": "2026-12-02", "time": None}),
    ("等下 再 说", {"intent": "callback"}),
]
PLAN += [
    ("不会 逾期", {"intent": "confirm"}),
    ("保证 不 拖", {"intent": "confirm"}),
    ("不会 晚 的 放心", {"intent": "confirm"}),
    ("不会 耽误 的", {"intent": "confirm"}),
    ("不 一定 能 还", {"intent": "refuse"}),          # a negated yes is no yes
    ("礼拜四 还", {"intent": "promise", "date": "2026-12-03"}),
    ("下 礼拜 二 还 三千", {"intent": "promise", "date": "2026-12-08", "amount": 3000}),
    ("这 礼拜 六", {"intent": "promise", "date": "2026-12-05"}),
    ("这 周末 还 一千", {"intent": "promise", "date": "2026-12-06", "amount": 1000}),
    ("过 五 天 再 还", {"intent": "promise", "date": "2026-12-06"}),
    ("今儿 就 还", {"intent": "promise", "date": "2026-12-01"}),
    ("后儿 还", {"intent": "promise", "date": "2026-12-03"}),
    ("1月20号 还", {"intent": "promise", "date": "2027-01-20"}),
    ("明年 一 月 三 号", {"intent": "promise", "date": "2027-01-03"}),
    ("两 周 后 还", {"intent": "promise", "date": "2026-12-15"}),
    ("一个 礼拜 后 还 两千", {"intent": "promise", "date": "2026-12-08", "amount": 2000}),
    ("年末 吧", {"intent": "promise", "date": "2026-12-31"}),
    ("明年 初", {"intent": "promise", "date": "2027-01-01"}),
    ("一 月 底 还", {"intent": "promise", "date": "2027-01-31"}),
    ("3K", {"intent": "promise", "amount": 3000}),
    ("2k 后天", {"intent": "promise", "amount": 2000, "date": "2026-12-03"}),
    ("5千 下周一", {"intent": "promise", "amount": 5000, "date": "2026-12-07"}),
    ("四千 多 吧", {"intent": "promise", "amount": 4000}),
    ("两千 来 块", {"intent": "promise", "amount": 2000}),
    ("一千 左右", {"intent": "promise", "amount": 1000}),
    ("一万 出头", {"intent": "promise", "amount": 10000}),
    ("两千三 月底 还", {"intent": "promise", "amount": 2300, "date": "2026-12-31"}),
    ("还 八十", {"intent": "unknown", "amount": None}),    # too small to be a payment without a unit
    ("分 三 次 还 行 吗", {"intent": "promise"}),
    ("能 分期 吗", {"intent": "promise"}),
    ("等 工资 到账 就 还", {"intent": "promise", "date": None}),
    ("发了 工资 我 就 还", {"intent": "promise", "date": None}),
    ("先 还 几千 块 行 吗", {"intent": "promise", "amount": None}),
    ("明天 就 还 了", {"intent": "promise", "date": "2026-12-02"}),  # 了 here is "then", not past
    ("没有 办法 还", {"intent": "refuse"}),
    ("没 能力 还 了", {"intent": "refuse"}),
    ("不 愿意 还", {"intent": "refuse"}),
    ("不 准备 还 了", {"intent": "refuse"}),
    ("前天 就 交 了", {"intent": "dispute", "date": None}),
    ("上 周 就 还 过 了", {"intent": "dispute"}),
    ("已经 转 了", {"intent": "dispute"}),
    ("已经 打 过去 了", {"intent": "dispute"}),
    ("我 没 欠 你们 钱", {"intent": "dispute"}),
    ("十一 月 三十 号 就 还 了", {"intent": "dispute", "date": None}),
    ("手头 很 紧", {"intent": "hardship"}),
    ("经济 上 有点 困难", {"intent": "hardship"}),
    ("一千 块 钱 都 拿 不 出 来", {"intent": "refuse", "amount": None}),   # "not even 1000"
    ("五百 都 还 不 起", {"intent": "refuse", "amount": None}),
    ("按时 还 不 了", {"intent": "refuse"}),
    ("再 给 我 几 天 时间", {"intent": "promise", "date": None}),
    ("我 尽快 还", {"intent": "promise", "date": None}),
    ("先 还 最低 的", {"intent": "promise", "amount": None}),
    ("这 钱 我 不 认", {"intent": "dispute"}),
    ("让 你们 主管 接 电话", {"intent": "agent"}),
    ("找 负责人", {"intent": "agent"}),
    ("等下 再 打", {"intent": "callback"}),
]
CONFIRM += [
    ("不对 不对 是 后天", {"intent": "deny", "date": "2026-12-03"}),
    ("数目 不对", {"intent": "deny"}),
    ("钱数 错 了", {"intent": "deny"}),
    ("不 是 的", {"intent": "deny"}),
    ("可以", {"intent": "confirm"}),
    ("没 说 对", {"intent": "deny"}),
    ("不 太 对", {"intent": "deny"}),
    ("不 行", {"intent": "deny"}),
]


@pytest.mark.parametrize("text,step,intent", [
    ("我 不是 他 本人", "identity", "deny"), ("不是 本人", "identity", "deny"),
    ("本人 不在 这", "identity", "deny"), ("不 是 的", "confirm", "deny"),
    ("肯定 不 行", "plan", "refuse"), ("不会 逾期", "plan", "confirm"), ("按时 还 不 了", "plan", "refuse"),
])
def test_negation_is_one_answer_not_a_conflict(text, step, intent):
    """A negated yes is a single "no" (or a promise to be on time), never also a yes."""
    got = interpret(text, locale="zh-CN", step=step, today=TODAY)
    assert (got["intent"], got["conflict"]) == (intent, []), got


@pytest.mark.parametrize("text,step,conflict", [
    ("是 我 哦 不是", "identity", ["no", "yes"]),
    ("明天 还 三千 但是 我 不 还", "plan", ["pay", "refuse"]),
    ("好 的 我 已经 还 了", "plan", ["dispute", "pay"]),
])
def test_real_conflicts_are_still_reported(text, step, conflict):
    assert interpret(text, locale="zh-CN", step=step, today=TODAY)["conflict"] == conflict


def test_coverage_tells_answers_from_other_speech():
    answer = interpret("不是 本人", locale="zh-CN", step="identity", today=TODAY)
    other = interpret("你们 公司 在 哪里", locale="zh-CN", step="identity", today=TODAY)
    assert answer["covered"] == 1.0 and other["covered"] < 0.5 and other["intent"] == "unknown"


DIGITS += [
    ("尾号 四 位 一 二 三 X", {"intent": "digits", "digits": "123X"}),
    ("最后 四位 幺 三", {"intent": "unknown", "digits": "13"}),
    ("两 拐 拐 洞", {"intent": "digits", "digits": "2770"}),
]

CASES = ([(t, "identity", e) for t, e in IDENTITY] + [(t, "plan", e) for t, e in PLAN]
         + [(t, "confirm", e) for t, e in CONFIRM] + [(t, "digits", e) for t, e in DIGITS])


@pytest.mark.parametrize("text,step,expected", CASES, ids=[f"{s}:{t}" for t, s, _ in CASES])
def test_utterance(text, step, expected):
    got = understand(text, locale="zh-CN", step=step, today=TODAY)
    assert {k: got[k] for k in expected} == expected, got


def test_enough_utterances():
    assert len(CASES) >= 110


def test_exact_shape_and_json():
    got = understand("我 下周五 还 三千", locale="zh-CN", step="plan", today=TODAY)
    assert list(got) == KEYS
    assert got == {"intent": "promise", "date": "2026-12-11", "time": None, "amount": 3000, "digits": None}
    assert json.loads(json.dumps(got, ensure_ascii=False)) == got


def test_amount_is_int_not_float():
    got = understand("还 3200", locale="zh-CN", step="plan", today=TODAY)
    assert got["amount"] == 3200 and type(got["amount"]) is int


def test_date_day_is_not_an_amount():
    got = understand("15号 还", locale="zh-CN", step="plan", today=TODAY)
    assert got["amount"] is None and got["date"] == "2026-12-15"


def test_empty_text():
    assert understand("", locale="zh-CN", step="plan", today=TODAY)["intent"] == "unknown"
    assert understand("   ", locale="zh-CN", step="identity", today=TODAY)["intent"] == "unknown"


def test_default_today_runs():
    assert understand("明天 还", locale="zh-CN", step="plan")["date"] is not None


def test_bad_locale_and_step():
    with pytest.raises(ValueError):
        understand("是", locale="en-US", step="identity")
    with pytest.raises(ValueError):
        understand("是", locale="zh-CN", step="nope")


@pytest.mark.parametrize("step", ["identity", "plan", "digits", "confirm"])
def test_grammar(step):
    g = grammar("zh-CN", step)
    assert len(g) == len(set(g)) and "[unk]" not in g
    assert all(isinstance(p, str) and p for p in g)
    if step == "digits":
        assert {"一", "幺", "叉"} <= set(g)
    else:
        assert "人工" in g
    if step == "plan":
        assert {"月底还", "还不了"} <= set(g)


@pytest.mark.parametrize("step,keys,intent", [
    ("identity", "1", "confirm"), ("identity", "2", "deny"), ("identity", "0", "agent"),
    ("identity", "9", "callback"), ("identity", "7", "unknown"), ("identity", "", "unknown"),
    ("plan", "1", "confirm"), ("plan", "2", "promise"), ("plan", "3", "refuse"),
    ("plan", "4", "dispute"), ("plan", "5", "hardship"), ("plan", "0", "agent"),
    ("plan", "9", "callback"), ("plan", "1#", "confirm"),
    ("confirm", "1", "confirm"), ("confirm", "2", "deny"),
])
def test_keypad_menu(step, keys, intent):
    got = keypad(step, keys)
    assert list(got) == KEYS and got["intent"] == intent


@pytest.mark.parametrize("keys,digits", [("1234", "1234"), ("123*", "123X"), ("991234#", "1234"), ("0*", "0X")])
def test_keypad_digits(keys, digits):
    assert keypad("digits", keys) == {"intent": "digits", "date": None, "time": None,
                                      "amount": None, "digits": digits}


def test_keypad_digits_empty():
    assert keypad("digits", "#")["intent"] == "unknown"
