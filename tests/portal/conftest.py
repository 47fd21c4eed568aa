"""Portal fixtures: two customers, each with a portal login and issued invoices; customer A also has
invoices it must never see (a draft, one pending approval, one approved but not issued)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from billing.models import Invoice
from billing.services import payments
from customers.models import Customer
from quotes.models import Quote
from tests.factories import CustomerFactory, PriceBookFactory

from .factories import make_invoice, portal_user


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"  # rendered invoice PDFs


@dataclass
class World:
    acme: Customer
    globex: Customer
    user_a: User
    user_b: User
    a_partly_paid: Invoice  # 110.00, 50.00 paid
    a_open: Invoice  # 275.00
    a_void: Invoice  # issued, then voided
    a_draft: Invoice
    a_pending: Invoice
    a_approved: Invoice
    b_issued: Invoice


@pytest.fixture
def world(db, finance_user) -> World:
    acme = CustomerFactory(name="Acme Corp", currency="USD")
    globex = CustomerFactory(name="Globex Inc", currency="USD")
    user_a = portal_user(acme, "ap@acme.example")
    user_b = portal_user(globex, "ap@globex.example")
    a1 = make_invoice(acme, "100.00")
    a2 = make_invoice(acme, "200.00", "50.00")
    a3 = make_invoice(acme, "10.00", status="void", by=finance_user)
    b1 = make_invoice(globex, "300.00")
    draft = make_invoice(acme, "999.00", status="draft")
    pending = make_invoice(acme, "888.00", status="pending_approval")
    approved = make_invoice(acme, "777.00", status="approved")
    # 80.00 received, 50.00 of it applied to the first invoice: 30.00 stays as Acme's credit.
    payments.payment_record(customer=acme, amount="80.00", currency="USD", reference="WIRE-1001",
                            allocations=[{"invoice": a1.pk, "amount": "50.00"}], by=finance_user)
    payments.payment_record(customer=globex, amount="5.00", currency="USD", reference="GLOBEX-WIRE",
                            by=finance_user)
    for inv in (a1, a2, a3, b1):
        inv.refresh_from_db()
    return World(acme, globex, user_a, user_b, a1, a2, a3, draft, pending, approved, b1)


@pytest.fixture
def make_quote(make_user):
    rep = make_user("sales_rep", first_name="Rita", last_name="Rep")
    book = PriceBookFactory(name="List USD", currency="USD")
    counter = {"n": 0}

    def make(customer: Customer, status: str, **extra) -> Quote:
        counter["n"] += 1
        today = timezone.localdate()
        sent = status in ("sent", "accepted", "rejected", "expired")
        return Quote.objects.create(
            number=f"Q-2027-{counter['n']:06d}", customer=customer, owner=rep, currency="USD", price_book=book,
            status=status, start_date=today, valid_until=today + timedelta(days=30), term_months=12,
            mrr=D("400.00"), arr=D("4800.00"), tcv=D("4800.00"),
            sent_at=timezone.now() if sent else None, acceptance_nonce="n" * 32 if sent else "", **extra)

    return make
