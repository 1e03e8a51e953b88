"""Per-locale message templates for the fallback SMS / WeChat messages.

A template is text with `{name}`-style fields from the borrower row (name, amount_due, due_date,
loan_tail = last 4 characters of the loan id) and the lender (`lender`). Messages go only to the
borrower's own numbers, never to third-party contacts.
"""
from __future__ import annotations

TEMPLATES: dict[str, dict[str, str]] = {
    "unreachable": {
        "zh-CN": "【{lender}】{name}您好，您尾号{loan_tail}的借款应还{amount_due}元，到期日{due_date}。"
                 "我们多次致电未能联系到您，请尽快还款或回电。",
        "ko-KR": "[{lender}] {name}님, 대출(끝자리 {loan_tail}) 상환 예정 금액은 {amount_due}원, 만기일은 {due_date}입니다. "
                 "여러 번 연락드렸으나 통화가 되지 않았습니다. 확인 부탁드립니다.",
    },
    "message_requested": {
        "zh-CN": "【{lender}】{name}您好，按您的要求发送还款信息：尾号{loan_tail}的借款应还{amount_due}元，到期日{due_date}。",
        "ko-KR": "[{lender}] {name}님, 요청하신 상환 안내입니다: 대출(끝자리 {loan_tail}) {amount_due}원, 만기일 {due_date}.",
    },
}
DEFAULT_LENDER = {"zh-CN": "汽车金融", "ko-KR": "오토파이낸스"}


class TemplateError(KeyError):
    pass


def render(template: str, locale: str, borrower: dict, lender: str = "") -> tuple[str, dict]:
    """(text, params) of `template` in `locale` for this borrower."""
    try:
        text = TEMPLATES[template][locale]
    except KeyError:
        raise TemplateError(f"no template {template!r} for locale {locale!r}") from None
    params = {"name": borrower.get("name") or "", "amount_due": borrower.get("amount_due") or "",
              "due_date": borrower.get("due_date") or "", "loan_tail": str(borrower.get("loan_id") or "")[-4:],
              "lender": lender or DEFAULT_LENDER.get(locale, "")}
    return text.format(**params), params
