"""ko-KR understanding: (utterance, step, expected fields) tables.

today = 2026-12-01 (a Tuesday).  Utterances are space-separated Hangul
words, as the Korean Vosk model prints them.
"""
import datetime

import pytest

from ivr.dialog.intents import grammar, interpret, understand
from ivr.dialog.intents.numbers_ko import parse_sino, read_digits

TODAY = datetime.date(2026, 12, 1)

IDENTITY = [
    ("네", {"intent": "confirm"}),
    ("예", {"intent": "confirm"}),
    ("네 맞아요", {"intent": "confirm"}),
    ("맞습니다", {"intent": "confirm"}),
    ("응 그래요", {"intent": "confirm"}),
    ("예 제가 김민수입니다", {"intent": "confirm"}),
    ("음 어 네", {"intent": "confirm"}),
    ("아니요", {"intent": "deny"}),
    ("아니에요", {"intent": "deny"}),
    ("아닙니다", {"intent": "deny"}),
    ("아뇨", {"intent": "deny"}),
    ("아닌데요", {"intent": "deny"}),
    ("잘못 거셨어요", {"intent": "deny"}),
    ("저는 그 사람 아내예요", {"intent": "deny"}),
    ("아니 네 맞아요", {"intent": "confirm"}),      # self-correction: last word wins
    ("상담원 연결해 주세요", {"intent": "agent"}),
    ("사람이랑 통화하고 싶어요", {"intent": "agent"}),
    ("네 맞는데 상담사 바꿔 주세요", {"intent": "agent"}),
    ("상담원 필요 없어요 네 맞아요", {"intent": "confirm"}),  # negated agent request
    ("지금 바빠요", {"intent": "callback", "date": None, "time": None}),
    ("나중에 다시 전화 주세요", {"intent": "callback"}),
    ("네 그런데 지금 운전 중이에요", {"intent": "callback"}),
    ("오후 세 시에 다시 전화해 주세요", {"intent": "callback", "date": "2026-12-01", "time": "15:00"}),
    ("내일 오전 열 시에 전화 주세요", {"intent": "callback", "date": "2026-12-02", "time": "10:00"}),
    ("이따가 네 시 반에 전화 주세요", {"intent": "callback", "date": "2026-12-01", "time": "16:30"}),
    ("네 시에 전화 주세요", {"intent": "callback", "time": "16:00"}),  # 네 시 = four o'clock, not "yes"
    ("본인 아닙니다", {"intent": "deny"}),
    ("여보세요", {"intent": "unknown"}),
    # as the shipped Vosk model splits words (grammar tokens, see ko_kr.SPLITS)
    ("네 맞아 요", {"intent": "confirm"}),
    ("맞 습니다", {"intent": "confirm"}),
    ("아니 예요", {"intent": "deny"}),
    ("아니 에 요", {"intent": "deny"}),
    ("지금 바빠 요", {"intent": "callback"}),
    ("이 따가 네 시 반에 전화 주세요", {"intent": "callback", "time": "16:30"}),
]

PLAN = [
    ("네 제때 갚을게요", {"intent": "confirm", "date": None}),
    ("네", {"intent": "confirm"}),
    ("알겠습니다 낼게요", {"intent": "confirm"}),
    ("기한 내에 낼 수 있어요", {"intent": "confirm"}),
    ("다음 주 금요일에 갚을게요", {"intent": "promise", "date": "2026-12-11"}),
    ("이번 주 금요일 오십만 원", {"intent": "promise", "date": "2026-12-04", "amount": 500000}),
    ("오늘 낼게요", {"intent": "promise", "date": "2026-12-01"}),
    ("내일 갚을게요", {"intent": "promise", "date": "2026-12-02"}),
    ("모레까지 낼게요", {"intent": "promise", "date": "2026-12-03"}),
    ("내일 아니 모레 낼게요", {"intent": "promise", "date": "2026-12-03"}),
    ("십오 일에 삼십만 원 낼게요", {"intent": "promise", "date": "2026-12-15", "amount": 300000}),
    ("15일에 낼게요", {"intent": "promise", "date": "2026-12-15", "amount": None}),
    ("다음 주 월요일에 이십만 원 낼게요", {"intent": "promise", "date": "2026-12-07", "amount": 200000}),
    ("다음 달 십 일에 낼게요", {"intent": "promise", "date": "2027-01-10"}),
    ("월말에 낼게요", {"intent": "promise", "date": "2026-12-31"}),
    ("이번 달 말까지 갚을게요", {"intent": "promise", "date": "2026-12-31"}),
    ("삼 일 후에 낼게요", {"intent": "promise", "date": "2026-12-04"}),
    ("십이월 이십 일에 이백만 원", {"intent": "promise", "date": "2026-12-20", "amount": 2000000}),
    ("오십만 원만 먼저 낼게요", {"intent": "promise", "date": None, "amount": 500000}),
    ("이십만 원 아니 삼십만 원", {"intent": "promise", "amount": 300000}),
    ("삼만 오천 원 낼게요", {"intent": "promise", "amount": 35000}),
    ("오천 원", {"intent": "promise", "amount": 5000}),
    ("30만 원 낼게요", {"intent": "promise", "amount": 300000}),
    ("조금만 기다려 주세요", {"intent": "promise", "date": None}),
    ("이틀 후에 낼게요", {"intent": "promise", "date": "2026-12-03"}),
    ("일요일에 낼게요", {"intent": "promise", "date": "2026-12-06"}),
    ("다음 주에 낼게요", {"intent": "promise", "date": None}),
    ("갚을 예정이에요", {"intent": "confirm"}),
    ("응급실에 있어요", {"intent": "hardship"}),
    ("천 원도 없어요", {"intent": "refuse"}),
    ("못 갚아요", {"intent": "refuse"}),
    ("못 내요", {"intent": "refuse"}),
    ("돈이 없어요", {"intent": "refuse"}),
    ("아니요", {"intent": "refuse"}),
    ("이번 달은 못 내요 다음 달 오 일에 낼게요", {"intent": "promise", "date": "2027-01-05"}),
    ("이미 갚았어요", {"intent": "dispute"}),
    ("이미 냈어요", {"intent": "dispute"}),
    ("제 대출이 아닌데요", {"intent": "dispute"}),
    ("금액이 틀려요", {"intent": "dispute"}),
    ("실직해서 힘들어요", {"intent": "hardship"}),
    ("아파서 병원에 있어요", {"intent": "hardship"}),
    ("회사에서 잘렸어요", {"intent": "hardship"}),
    ("상담사랑 얘기할게요", {"intent": "agent"}),
    ("사람 바꿔 주세요", {"intent": "agent"}),
    ("이미 냈는데 상담원 연결해 주세요", {"intent": "agent"}),
    ("이따가 전화해 주세요", {"intent": "callback"}),
    ("지금 회의 중이라 나중에 전화 주세요", {"intent": "callback"}),
    ("무슨 일이세요", {"intent": "unknown"}),
    ("못 갚아 요", {"intent": "refuse"}),
    ("이 미 갚았 어요", {"intent": "dispute"}),
    ("제 때 낼게요", {"intent": "confirm"}),
    ("월말 에 낼게요", {"intent": "promise", "date": "2026-12-31"}),
    ("다음 주 금요일 에 낼게요", {"intent": "promise", "date": "2026-12-11"}),
    ("십오 일 에 낼게요", {"intent": "promise", "date": "2026-12-15"}),
    ("내일 삼십 만 원", {"intent": "promise", "date": "2026-12-02", "amount": 300000}),
]

CONFIRM = [
    ("네 맞아요", {"intent": "confirm"}),
    ("예", {"intent": "confirm"}),
    ("맞습니다", {"intent": "confirm"}),
    ("아니요", {"intent": "deny"}),
    ("틀려요", {"intent": "deny"}),
    ("아니요 사십만 원이요", {"intent": "deny", "amount": 400000}),
    ("상담원", {"intent": "agent"}),
    ("뭐라고요", {"intent": "unknown"}),
]

DIGITS = [
    ("일 이 삼 사", {"intent": "digits", "digits": "1234"}),
    ("사 오 육 엑스", {"intent": "digits", "digits": "456X"}),
    ("칠 팔 구 공", {"intent": "digits", "digits": "7890"}),
    ("영 영 칠 엑스", {"intent": "digits", "digits": "007X"}),
    ("제 번호는 공 일 이 삼 입니다", {"intent": "digits", "digits": "0123"}),
    ("일 이 삼 사 오 육", {"intent": "digits", "digits": "3456"}),
    ("1 2 3 4", {"intent": "digits", "digits": "1234"}),
    ("음 구 구 팔 칠", {"intent": "digits", "digits": "9987"}),
    ("일 이", {"intent": "unknown"}),
    ("모르겠어요", {"intent": "unknown", "digits": None}),
]

# Negation in any wording is never a confirm (tuning set for the one-pipeline work).
IDENTITY += [
    ("아니요 본인 아닌데요", {"intent": "deny"}),
    ("제가 아니에요", {"intent": "deny"}),
    ("저 그 사람 아닌데요", {"intent": "deny"}),      # 사람 here is no request for a human
    ("저는 그 사람이 아니에요", {"intent": "deny"}),
    ("그분 아니에요", {"intent": "deny"}),
    ("제가 아니고 제 남편이에요", {"intent": "deny"}),
    ("그분 지금 안 계세요", {"intent": "deny"}),
    ("맞지 않아요", {"intent": "deny"}),
    ("안 맞아요", {"intent": "deny"}),
    ("번호 잘못 거신 거예요", {"intent": "deny"}),
    ("전 그 사람 아내인데요", {"intent": "deny"}),
    ("알겠습니다", {"intent": "unknown"}),            # "understood" is no answer to "are you X?"
    ("상담원 연결 안 해도 돼요 제가 본인이에요", {"intent": "confirm"}),
]
PLAN += [
    ("이번 주말에 낼게요", {"intent": "promise", "date": "2026-12-06"}),
    ("다음 주말까지 갚을게요", {"intent": "promise", "date": "2026-12-13"}),
    ("지난주에 입금했어요", {"intent": "dispute", "date": None}),
    ("어제 냈는데요", {"intent": "dispute", "date": None}),
    ("가게가 망해서 힘들어요", {"intent": "hardship"}),
    ("제때 못 낼 것 같아요", {"intent": "refuse"}),
    ("알겠습니다", {"intent": "confirm"}),
]
CONFIRM += [
    ("안 맞아요", {"intent": "deny"}),
    ("맞지 않아요", {"intent": "deny"}),
    ("그렇지 않아요", {"intent": "deny"}),
    ("금액이 잘못됐어요", {"intent": "deny"}),
    ("그게 아니라 삼십만 원이요", {"intent": "deny", "amount": 300000}),
]

CASES = ([(t, "identity", e) for t, e in IDENTITY] + [(t, "plan", e) for t, e in PLAN]
         + [(t, "confirm", e) for t, e in CONFIRM] + [(t, "digits", e) for t, e in DIGITS])


@pytest.mark.parametrize("text,step,expected", CASES, ids=[f"{s}:{t}" for t, s, _ in CASES])
def test_utterance(text, step, expected):
    got = understand(text, locale="ko-KR", step=step, today=TODAY)
    assert list(got) == ["intent", "date", "time", "amount", "digits"]
    assert {k: got[k] for k in expected} == expected, got


def test_enough_utterances():
    assert len(CASES) >= 60


@pytest.mark.parametrize("text,value", [
    ("삼십만", 300000), ("오십만", 500000), ("이만 오천", 25000), ("천오백", 1500), ("만", 10000),
    ("백만", 1000000), ("십오", 15), ("이십", 20), ("3만5천", 35000), ("15", 15), ("공", 0),
    ("삼 십 만", 300000), ("구천구백구십구", 9999), ("내일", None),
])
def test_parse_sino(text, value):
    assert parse_sino(text) == value


def test_read_digits_skips_words():
    assert read_digits("뒷자리는 일 이 삼 엑스 입니다") == "123X"


@pytest.mark.parametrize("text,step,intent", [
    ("제가 아니에요", "identity", "deny"), ("그 사람 아니에요", "identity", "deny"),
    ("안 맞아요", "confirm", "deny"), ("맞지 않아요", "confirm", "deny"),
])
def test_negation_is_one_answer_not_a_conflict(text, step, intent):
    got = interpret(text, locale="ko-KR", step=step, today=TODAY)
    assert (got["intent"], got["conflict"]) == (intent, []), got


def test_yes_and_no_together_is_a_conflict():
    """A recognizer mix-up ("아닙니다" heard as "아뇨 네") is reported, whichever word wins."""
    got = interpret("아뇨 네", locale="ko-KR", step="identity", today=TODAY)
    assert got["conflict"] == ["no", "yes"]


@pytest.mark.parametrize("text,step,low", [
    ("네 맞아요", "identity", False), ("아니요 사십만 원이요", "confirm", False), ("오천 원", "plan", False),
    ("오늘 날씨 좋네요", "identity", True), ("누구세요", "identity", True),
])
def test_coverage(text, step, low):
    covered = interpret(text, locale="ko-KR", step=step, today=TODAY)["covered"]
    assert (covered < 0.6) == low, covered


@pytest.mark.parametrize("step", ["identity", "plan", "digits", "confirm"])
def test_grammar(step):
    g = grammar("ko-KR", step)
    assert len(g) == len(set(g)) and "[unk]" not in g
    if step == "digits":
        assert {"일", "공", "엑스"} <= set(g)
    else:
        assert {"네", "상담원"} <= set(g)


@pytest.mark.parametrize("text, digits", [
    ("끝자리 육 사 이 일이요", "6421"),     # 이요 after 일 is "it is", not the digit two
    ("칠이에요", "7"),
    ("사이", "42"),                          # after a vowel 이 is a digit
    ("삼 이요", "32"),
    ("공이요 일 이 삼", "0123"),
])
def test_read_digits_tells_the_copula_from_the_digit_two(text, digits):
    assert read_digits(text) == digits


@pytest.mark.parametrize("text, step, intent", [
    ("번호 잘못 아셨어요", "identity", "deny"),
    ("날짜는 못 정하겠어요", "plan", "refuse"),
])
def test_more_ways_to_say_wrong_number_and_no_date(text, step, intent):
    assert understand(text, locale="ko-KR", step=step, today=datetime.date(2026, 12, 1))["intent"] == intent
