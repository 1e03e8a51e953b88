"""ko-KR reader for the understanding pipeline (``common.interpret``): normaliser, keyword
table with negators, and the Korean slot readers (``dates_ko``, ``numbers_ko``).

Vosk's Korean model prints Hangul words separated by spaces, and may or may
not split a phrase the way we write it, so multi-word phrases are written as
regexes with optional spaces (``\\s*``).  Short words that also occur inside
other words (네, 예, 응, 사람) are anchored to word boundaries.
"""
from __future__ import annotations

import re

from . import common, dates_ko, numbers_ko

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
FILLER_TOKENS = {"음", "음음", "으음", "어", "어어", "그", "그게", "저기", "저기요", "아", "에", "뭐",
                 "그러니까", "있잖아요", "저", "흠", "어음"}
PUNCT = re.compile(r"[,.!?~…\"'()·]+")

B = r"(?<![가-힣])"    # word start
E = r"(?![가-힣])"     # word end


def W(word: str, tail: str = "요?") -> str:
    """A whole word, optionally followed by ``tail`` (네 / 네요 / 네네)."""
    return f"re:{B}(?:{word})+{tail}{E}"


LEXICON = {
    "agent_neg": [r"re:(?:상담원|상담사|사람|직원)\s*(?:연결\s*)?(?:은|는)?\s*(?:필요\s*없|안\s*해도|안\s*돼|말고|괜찮|됐어)",
                  r"re:연결\s*(?:안\s*해도|하지\s*마)"],
    "agent": ["상담원", "상담사", "직원", "담당자", "상담 원", r"re:{B}사람(?:이랑|하고|과|을|으로|한테|이요)?\s*(?:연결|바꿔|통화|얘기|이야기|좀)".replace("{B}", B),
              W("사람"), r"re:연결해\s*주", "매니저", "실제 사람", r"re:바꿔\s*주세요"],
    "callback": ["나중에", "이따가", "이따", r"re:다시\s*(?:전화|연락|걸어)", r"re:바빠|바쁘|바쁜",
                 r"re:운전\s*중", r"re:회의\s*중", r"re:일하는\s*중", r"re:통화\s*(?:하기\s*)?(?:어려|힘들|곤란|안\s*돼|못\s*해)",
                 r"re:지금\s*(?:곤란|안\s*돼|못|좀\s*그래)", r"re:전화\s*주세요", r"re:전화\s*해\s*주세요"],
    "dispute": [r"re:이미\s*(?:다\s*)?(?:갚았|냈|납부|상환|입금|보냈|송금)", r"re:벌써\s*(?:다\s*)?(?:갚았|냈|납부|입금)",
                r"re:다\s*갚았", "완납", r"re:(?:제|내)\s*(?:대출|차|빚)\s*(?:이|가)?\s*(?:아니|아닌)",
                r"re:대출\s*(?:받은|한)\s*적\s*(?:이|도)?\s*없", r"re:빌린\s*적\s*(?:이|도)?\s*없",
                r"re:금액\s*(?:이|은)?\s*(?:틀|달라|다르|이상|잘못|안\s*맞)", r"re:잘못\s*(?:청구|나왔|된)",
                r"re:저번\s*달에\s*냈", r"re:입금\s*했"],
    "hardship": ["실직", "실업", r"re:망했|망해서|망하",  r"re:직장\s*(?:을|도)?\s*잃", r"re:회사\s*(?:에서)?\s*(?:잘렸|짤렸|그만)", r"re:잘렸|짤렸",
                 "해고", "퇴사", "응급실", r"re:다쳤|다쳐|다친", "폐업", "부도", r"re:아파|아픈|아프", "병원", "입원", "수술", "사고",
                 r"re:(?:형편|사정|상황)\s*(?:이)?\s*(?:어려|안\s*좋|힘들)", r"re:장사\s*(?:가)?\s*안",
                 r"re:월급\s*(?:이|을|도)?\s*(?:안|못|밀)", r"re:일자리\s*(?:가|를)?\s*(?:없|잃)", "수입이 없"],
    "refuse": [r"re:못\s*(?:갚|내|드려|드릴|해요|하겠|줘|주)", r"re:돈\s*(?:이|도)?\s*없", r"re:갚을\s*(?:수|돈)\s*(?:가|이)?\s*없",
               r"re:낼\s*(?:수|돈)\s*(?:가|이)?\s*없", r"re:안\s*(?:갚|낼|내|줄)", r"re:(?:갚기|내기)\s*(?:가)?\s*(?:어렵|힘들)",
               r"re:어려울\s*것\s*같", r"re:힘들\s*것\s*같", r"re:안\s*될\s*것\s*같", r"re:불가능", r"re:(?<![가-힣])안\s*돼요?(?![가-힣])",
               r"re:제때\s*(?:는|에)?\s*못", r"re:못\s*정하", r"re:정할\s*수\s*(?:가|는)?\s*없",
               r"re:(?:한\s*푼|천\s*원|십\s*원|일\s*원)\s*도\s*없"],
    "ontime": ["제때", "기한 내", "기한내", r"re:날짜\s*(?:에|에\s*맞춰)", "제날짜", r"re:정해진\s*날", "약정일", r"re:예정\s*대로", "문제없", "문제 없"],
    "partial": ["일부", "조금만", "조금씩", r"re:며칠\s*만", r"re:미뤄|연기|늦춰|기다려", "분할", "나눠서", "반만",
                r"re:다음\s*(?:주|달)(?!\s*[월화수목금토일]요일)", r"re:월급\s*(?:받으면|들어오면|나오면)"],
    "wrong": [W("틀렸어|틀려|틀립니다|틀렸습니다"), r"re:잘못\s*(?:말했|했|들|됐|되었)", "그게 아니라"],
    # a payment in the past tense: a dispute unless a new date is said (rules.decide)
    "paid": [r"re:(?:냈|갚았|납부했|입금했|송금했|보냈)(?:어요|는데|습니다|어)?"],
    "no": [W("아니요|아니에요|아닙니다|아니|아뇨|아녜요|아니오|아니야", ""), r"re:잘못\s*(?:거셨|걸었|건|거신|걸|아셨|알고)", r"re:번호\s*(?:를|가)?\s*잘못",
           r"re:그런\s*사람\s*(?:없|아니|아닌)", r"re:모르는\s*(?:사람|분)", r"re:없는\s*(?:사람|번호)", r"re:(?:지금\s*)?(?:안\s*계세요|없어요)(?![가-힣])",
           r"re:본인\s*(?:이|은|이가)?\s*(?:아니|아닌)",
           # "제가 아니에요", "(그) 사람 아닌데요", "그분 아니에요": the person named, then negated
           r"re:(?:제가|저는|전|본인|사람|그분|분)\s*(?:이|가|은|는)?\s*(?:아니|아닌|아녜|아냐)[가-힣]*",
           r"re:(?:맞|그렇)지\s*않[가-힣]*", r"re:(?<![가-힣])아닌데", r"re:(?<![가-힣])아니거든", r"re:(?:저는|전|제가)\s*(?:\S+\s*){0,2}?(?:아내|와이프|남편|가족|엄마|아빠|어머니|아버지|딸|아들|동생|형|누나|언니|오빠|친구|동료)"],
    "yes": [W("네|예|응|넵|녜", "(?:요|에)?"), "맞아요", "맞습니다", "맞아", "맞고요", "그래요", "그렇습니다", "그렇죠", "그럼요",
            r"re:(?:제가|저예요|저에요|전데요|본인)"],
    # agreement that says nothing about who is speaking (a yes to a plan or a read-back only)
    "ok": ["알겠습니다", "알겠어요", "알았어요", "좋아요", "괜찮아요",
           r"re:갚을게|낼게|낼\s*수\s*있|갚을\s*수\s*있|드릴게|입금할게|넣을게|넣어\s*놓을게|할게요|하겠습니다",
           "가능해요", "가능합니다", r"re:(?:갚을|낼|납부할)\s*예정", "물론", "그럴게요", "확인"],
}

# ---------------------------------------------------------------------------
# Words a recognizer may split into pieces (맞아요 -> 맞아 요, 이미 -> 이 미): ``normalise`` glues
# them back, so text from any source (a recognizer, a transcript, `ivr nlu`) reads the same.
# Recognizer grammars themselves live in prompts/ko-KR/grammar.yaml (ivr/dialog/grammars.py).
# ---------------------------------------------------------------------------
SPLITS = {
    "가능합니다": "가능 합니다", "가능해요": "가능해 요", "갚아요": "갚아 요", "갚았어요": "갚았 어요",
    "괜찮아요": "괜찮아 요", "그럴게요": "그럴 게요", "그럼요": "그럼 요", "나눠서": "나눠 서",
    "맞고요": "맞고 요", "맞습니다": "맞 습니다", "맞아요": "맞아 요", "반만": "반 만",
    "아니에요": "아니 예요", "알겠습니다": "알겠 습니다", "알겠어요": "알겠 어요", "알았어요": "알았 어요",
    "열한": "열 한", "이따가": "이 따가", "이따": "이 따", "이미": "이 미", "제날짜": "제 날짜", "제때": "제 때",
    "갚을게요": "갚을 게요", "거셨어요": "거 셨어요", "바빠요": "바빠 요", "중이에요": "중 이에요",
    "본인입니다": "본인 입니다", "실직했어요": "실직 했어요", "잘렸어요": "잘렸 어요", "틀려요": "틀려 요",
    "금요일에": "금요일 에", "월말에": "월말 에", "대출이": "대출 이", "안돼요": "안돼 요",
    "힘들어요": "힘들어 요", "어려워요": "어려워 요", "삼십만": "삼십 만", "오십만": "오십 만",
    "이십만": "이십 만", "사십만": "사십 만", "백만": "백 만", "일에": "일 에",
}
# Other ways the recognizer spells the same word (glued back as well).
_ALT_SPLITS = {"아니에요": ["아니 에 요", "아니예 요"], "맞습니다": ["맞습 니다"], "알겠습니다": ["알 겠습니다"]}

def _glue_table() -> list[tuple[re.Pattern, str]]:
    pairs = [(v, k) for k, v in SPLITS.items()] + [(a, k) for k, alts in _ALT_SPLITS.items() for a in alts]
    pairs.sort(key=lambda p: -len(p[0]))
    return [(re.compile(r"(?<!\S)" + re.escape(v) + r"(?!\S)"), k) for v, k in pairs]


_GLUE = _glue_table()

# 안 / 못 before an answer word negate it ("안 맞아요"); Korean also negates after the word, and
# those forms (맞지 않아요, 제가 아니에요) are whole phrases of the "no" table above.
NEGATORS = r"(?<![가-힣])(?:안|못)\s*"
_LEX = common.Lexicon(LEXICON, negators=NEGATORS)


# ---------------------------------------------------------------------------
# Logic
# ---------------------------------------------------------------------------
def normalise(text: str) -> str:
    s = PUNCT.sub(" ", text or "")
    toks = [t for t in s.split() if t not in FILLER_TOKENS]
    s = " ".join(toks)
    for rx, word in _GLUE:
        s = rx.sub(word, s)
    return s


def digit_tokens(text: str) -> list[tuple[str, bool]]:
    """Words, each marked when it is wholly digits read aloud (일, 공, 칠이에요)."""
    return [(t, bool(numbers_ko.read_digits(t))) for t in text.split()]


READER = common.Reader(
    locale="ko-KR",
    normalise=normalise,
    lexicon=_LEX,
    read_digits=numbers_ko.read_digits,
    digit_tokens=digit_tokens,
    find_dates=dates_ko.find_dates,
    pick=dates_ko.pick,
    find_amounts=numbers_ko.find_amounts,
)
