"""Approval rules as data: which rules a quote triggers, in order, with the reason each fired."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from revops.kernel import money

from ..models import ApprovalRule, Quote, QuoteLine


@dataclass(frozen=True)
class Trigger:
    rule: ApprovalRule
    reason: str


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}"


def evaluate(quote: Quote, lines: list[QuoteLine], rules: list[ApprovalRule] | None = None) -> list[Trigger]:
    """The active rules this quote triggers, ordered by rule order. Pure over the given rows."""
    rules = list(ApprovalRule.objects.filter(active=True).select_related("approver_group", "product")) \
        if rules is None else rules
    triggers = []
    for rule in sorted(rules, key=lambda r: (r.order, r.pk)):
        reason = _reason(rule, quote, lines)
        if reason:
            triggers.append(Trigger(rule, reason))
    return triggers


def _reason(rule: ApprovalRule, quote: Quote, lines: list[QuoteLine]) -> str | None:
    C = ApprovalRule.Condition
    if rule.condition == C.LINE_DISCOUNT_ABOVE:
        worst = max(lines, key=lambda line: line.manual_discount_percent, default=None)
        if worst is not None and worst.manual_discount_percent > rule.threshold:
            return (f"{worst.product.sku} has a {_fmt(worst.manual_discount_percent)}% discount, above "
                    f"{_fmt(rule.threshold)}%")
    elif rule.condition == C.QUOTE_DISCOUNT_ABOVE:
        if quote.list_total > 0:
            pct = (quote.discount_total / quote.list_total * 100).quantize(Decimal("0.01"))
            if pct > rule.threshold:
                return f"the quote's total discount is {_fmt(pct)}%, above {_fmt(rule.threshold)}%"
    elif rule.condition == C.TCV_ABOVE:
        if quote.tcv > rule.threshold:
            return f"TCV {money.format_money(quote.tcv, quote.currency)} is above {_fmt(rule.threshold)}"
    elif rule.condition == C.NON_STANDARD_PAYMENT_TERMS:
        if quote.payment_terms not in Quote.STANDARD_PAYMENT_TERMS:
            return f"payment terms {quote.get_payment_terms_display()} are longer than Net 30"
    elif rule.condition == C.PRODUCT_INCLUDED and any(line.product_id == rule.product_id for line in lines):
        return f"the quote includes {rule.product.sku}"
    return None
