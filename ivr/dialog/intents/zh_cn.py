"""zh-CN reader for the understanding pipeline (``common.interpret``): normaliser, keyword
table with negators, and the Chinese slot readers (``dates_zh``, ``numbers_zh``).

Vosk's Chinese model prints words separated by spaces; ``normalise`` joins them (spaces are not
word boundaries in Chinese), turns fillers into a boundary, and blanks out connectives that
contain an answer word but answer nothing (但是, 是不是).
"""
from __future__ import annotations

import re

from . import common, dates_zh, numbers_zh

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
# Connectives and set phrases that contain an answer word (是, 好, 对, 能) but answer nothing:
# the A-not-A question (是不是, 能不能, 可不可以), apologies, complaints about the line, and
# 肯定/一定 before a negation (肯定不行 is no promise).
NEUTRAL = re.compile(r"但是|可是|还是|要是|只是|是否|于是|老是|总是|银行|不管怎么样|你好|您好|不好意思"
                     r"|可不可以|(?<!不)(是|能|行|好|对|会|要|可以)不\1"
                     r"|信号不好|信号差|信号不太好|听不清|听不太清|听不见|听不到|没听清|没听见"
                     r"|是(?=哪|谁|什么|干嘛|干什么|怎么)"
                     r"|(?:肯定|一定|确实|绝对|保证|真的)(?=还?不|没)")   # intensifiers of a negation
# Fillers carry no answer, but a filler between two words often marks a new start ("不是 哦
# 是我", "三千 哦 不 三千五"), so it becomes a space: phrases never match across it.
FILLERS = re.compile(r"嗯+|啊+|呃+|额(?![度数])|哦+|噢|唉|诶|欸|哎|那个|就是(?![我他她本]|$)|然后呢|嘛|呀|吧|呢")
PUNCT = re.compile(r"[\s,，。.!！?？、;；:：~～…\"'“”‘’()（）\-—]+")
# Words that negate the answer word after them (不是本人, 并不是我, 不太对; 没错 is a phrase of its
# own). A copula (不是) negates its whole complement, so a few words may sit between it and the
# answer word (不是张伟本人); other negators allow a pronoun or an adverb (不太对, 没说对).
NEGATORS = (r"(?:并不是|不是|并非|非)[^是对嗯\s#，]{0,4}?"
            r"|(?:不|没有|没|别)(?:他|她|我|你|您|太|怎么|完全|全|大|说|很)?")
# Who else may answer the borrower's phone: "我是他老婆", "他是我儿子".
RELATIONS = ("老婆|老公|爱人|媳妇|妻子|丈夫|太太|先生|对象|女朋友|男朋友|妈妈|妈|爸爸|爸|母亲|父亲"
             "|儿子|女儿|哥哥|哥|姐姐|姐|弟弟|弟|妹妹|妹|朋友|同事|家人|家里人|亲戚|邻居|室友|同学"
             "|老板|领导|秘书|助理|员工|司机|保姆")
# Numbers said as counts, not money or digits ("分两次", "几千").
_N = "[一二两三四五六七八九十几\\d]"

LEXICON = {
    "agent_neg": ["不要人工", "不用人工", "不需要人工", "不用转人工", "不要转人工", "别转人工",
                  "不用找人工", "不要客服", "不用客服", "不找人工", "不转人工", "不需要转人工",
                  "不用真人", "不要真人"],
    "agent": ["人工", "客服", "真人", "转接", "找个人", "活人", "接线员", "工作人员", "业务员",
              "re:(?:你们)?(?:经理|领导|主管|负责人)", "re:跟(?:人|你们的人)说", "投诉"],
    "callback": ["晚点", "晚些", "晚一点", "稍后", "等会", "待会", "回头再", "过会", "过一会",
                 "一会儿再", "一会再", "改天", "再打", "再联系", "再说吧", "回头打",
                 "不方便", "没空", "没时间", "在忙", "很忙", "正忙", "有点忙", "在开车", "开车呢",
                 "在开会", "开会呢", "在上班", "上班呢", "打给我", "给我打", "回电话", "回电",
                 "以后说", "再聊", "打过来", "打回来", "等下", "re:一会儿?(?:再|打|联系|说)", "re:下班(?:了|以后|后)"],
    "dispute": ["已经还了", "已经还过", "已经还清", "还过了", "还清了", "早就还了", "早还了",
                "已还", "已经交了", "交过了", "已经付了", "付过了", "已经扣了", "扣过了", "已经结清",
                "结清了", "提前还清", "不是我的", "不是我借", "不是我贷", "没借过", "没贷过",
                "没有贷款", "没有借", "没办过", "没有买车", "没买车", "没有车贷", "金额不对",
                "数目不对", "钱数不对", "数不对", "金额错", "算错", "扣错", "多扣", "扣多",
                "搞错", "弄错", "不止这么多", "没那么多", "没有这么多", "怎么这么多",
                "我还过", "不是我的车", "早就结清", "re:(?:已经|早就|早都|早)(?:还|交|付|转|打|汇|存|结)",
                "re:(?:不|没)欠", "re:不认(?:账|这笔)?"],
    "hardship": ["失业", "丢了工作", "工作丢了", "没工作", "没有工作", "没了工作", "被裁", "裁员",
                 "下岗", "被开除", "辞退", "生病", "病了", "住院", "身体不好", "做手术", "手术",
                 "看病", "医院", "出车祸", "出了车祸", "困难", "周转不开", "周转不过来", "资金紧张",
                 "手头紧", "手头有点紧", "倒闭", "生意不好", "生意亏", "亏了", "家里出事", "出事了",
                 "工资没发", "没发工资", "欠薪", "拖欠工资", "没收入", "没有收入", "疫情",
                 "re:手头(?:有点|有些|比较|很|太|挺|非常|特别)?紧",
                 "re:(?:经济|资金|钱)上?(?:有点|有些|比较|很|太|挺|非常|特别)?(?:紧|困难)"],
    "refuse": ["还不了", "还不上", "还不起", "不能还", "没法还", "没办法还", "不还", "不想还",
               "不会还", "拿不出", "没钱", "没有钱", "不能按时", "不行", "不可能", "没能力",
               "还不出", "付不了", "交不了", "交不上", "扣不了", "不能", "不可以", "做不到",
               "没法按时", "来不及", "re:一(?:分|毛)钱?都没", "要钱没有",
               "re:没有?(?:能力|办法|法子)", "re:不(?:打算|准备|想|愿意|肯)再?还",
               "re:(?:按时|准时|按期)还不(?:了|上|起)", "re:(?<=[钱块元分毛十百千万\\d])都(?:没有?|拿不出|还不起|还不上|凑不齐)"],
    "ontime": ["按时", "准时", "到期还", "按期", "按约定", "正常还", "正常扣", "会还的", "照常",
               "re:不(?:会|要|能)?再?(?:逾期|拖|晚|耽误|超期|延迟|迟)"],
    "partial": ["一部分", "一半", "部分", "先还点", "先还一点", "宽限", "缓几天", "晚几天", "推迟",
                "延期", "过几天", "分期还", "分几次", "下周", "下星期", "下礼拜", "下个月",
                "下月", "等工资", "分期", f"re:分{_N}+[次期个]", "re:发了?工资|工资(?:发了|到了|到账|下来|出来)",
                f"re:{_N}?几[十百千万]", "re:(?:再|多)?给我?几天", "几天时间", "尽快", "尽量", "最低"],
    # a payment said in the past tense ("还了", "转过去了"): a dispute unless a new date follows
    "paid": ["re:(?:还|交|付|汇)(?:过|了)|(?:转|打|汇|存)(?:过去|进去)了?|转了"],
    "wrong": ["不对", "错了", "说错", "不是这个", "不是这样"],
    "no": ["不是", "没有", "不用", "不要", "不认识", "打错", "找错", "不在", "查无此人", "re:没有?(?:这|这个|此|那个)个?人",
           f"re:(?:我|这)就?是(?:他|她)的?(?:{RELATIONS})", f"re:(?:他|她)是我的?(?:{RELATIONS})",
           f"re:是我的?(?:{RELATIONS})", "re:(?:替|帮|给)(?:他|她)接",
           "re:(?:他|她)?本人(?:现在|今天)?(?:不|没)(?:在|是)", "re:不住(?:这|这儿|这里)", "搬走了", "re:^不+$", "re:^没$", "不清楚"],
    "yes": ["是的", "是我", "我是", "就是我", "我就是", "本人", "对的", "对对", "对", "是", "没错", "嗯",
            "确认", "正确"],
    "ok": ["没问题", "好的", "好", "可以", "行", "re:能(?![力够否])", "会的", "放心", "一定", "保证", "肯定",
           "知道了", "明白", "收到"],
}

_LEX = common.Lexicon(LEXICON, negators=NEGATORS)


# ---------------------------------------------------------------------------
# Logic
# ---------------------------------------------------------------------------
def normalise(text: str) -> str:
    """Vosk zh output is space separated: join it, drop punctuation and fillers."""
    s = PUNCT.sub("", text or "")
    s = s.replace("０", "0")
    # full-width digits -> ASCII
    s = s.translate({ord(c): ord("0") + i for i, c in enumerate("０１２３４５６７８９")})
    only_hmm = re.fullmatch(r"[嗯恩]+[的啊]?", s) is not None
    s = NEUTRAL.sub("，", s)
    s = FILLERS.sub(" ", s).strip()
    if only_hmm:
        s = "嗯"  # a lone 嗯 on the phone is a yes
    return s


_X_OR_CHAR = re.compile("|".join(re.escape(w) for w in numbers_zh.X_WORDS) + r"|\S")


def digit_tokens(text: str) -> list[tuple[str, bool]]:
    """Characters (an X word is one token), each marked when it is a digit said aloud."""
    return [(t, bool(numbers_zh.find_digits(t))) for t in _X_OR_CHAR.findall(text)]


READER = common.Reader(
    locale="zh-CN",
    normalise=normalise,
    lexicon=_LEX,
    read_digits=numbers_zh.find_digits,
    digit_tokens=digit_tokens,
    find_dates=dates_zh.find_dates,
    pick=dates_zh.pick,
    find_amounts=numbers_zh.find_amounts,
)
