"""What counts as a whole answer to a yes/no-like question, the reading that lets 200 ms of silence end a
borrower's turn (ivr/dialog/turns.py): answer words only, and an intent."""
import pytest

from ivr.dialog.runner import whole_answer


@pytest.mark.parametrize("text, whole", [
    ("네", True), ("아니요", True), ("네 맞아요", True), ("나중에", True),
    ("", False),
    ("<unk>", False),            # garbage only
    ("네 <unk>", False),         # an answer, then more speech the grammar does not know: still talking
    ("내요", False),             # a word outside the identity answers (the plan's 네 misheard)
])
def test_korean_identity(text, whole):
    assert whole_answer(text, locale="ko-KR", step="identity") is whole


@pytest.mark.parametrize("text, whole", [("对", True), ("不是我", True), ("<unk>", False), ("对 <unk>", False)])
def test_chinese_identity(text, whole):
    assert whole_answer(text, locale="zh-CN", step="identity") is whole
