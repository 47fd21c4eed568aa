"""Customer pages (Django test client): who may see them, the list's search, filters and htmx partial,
the forms (service errors beside the field, nothing saved on refusal), contacts and history.

The last section covers the shared layout and the home page per role, which the customer pages use.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from customers.models import Contact, Customer
from revops.kernel import roles
from revops.kernel.models import AuditEntry, OutboxEvent
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db

LIST = reverse("customers:list")
CREATE = reverse("customers:create")

VALID_FORM = {
    "name": "Acme GmbH",
    "external_id": "CRM-ACME",
    "currency": "eur",  # the form upper-cases it
    "billing_email": "ap@acme.example",
    "country": "de",
    "tax_id": "DE123456789",
    "industry": "manufacturing",
    "size": "enterprise",
    "region": "emea",
    "acquisition_channel": "partner",
    "address": "Hauptstr. 1\n10115 Berlin",
    "owner": "",
}


def _client(client, user):
    client.force_login(user)
    return client


def _field_errors(html: str, field: str) -> list[str]:
    """The messages shown beside `field` (the <ul id="id_<field>_errors"> after its input)."""
    match = re.search(rf'<ul class="field-errors" id="id_{field}_errors"[^>]*>(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", match.group(1), re.S) if match else []


def _snapshot():
    return (
        Customer.objects.count(),
        Contact.objects.count(),
        OutboxEvent.objects.count(),
        AuditEntry.objects.count(),
    )


@pytest.fixture
def portal_user(make_user):
    user = make_user(username="portal@client.example")
    ContactFactory(portal_user=user)
    return user


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", roles.STAFF_ROLES)
def test_every_staff_role_sees_the_list_and_the_detail(client, make_user, role):
    customer = CustomerFactory(name="Acme Corp")
    ContactFactory(customer=customer, name="Ada Buyer", email="ada@acme.example")
    c = _client(client, make_user(role))

    listing = c.get(LIST)
    detail = c.get(reverse("customers:detail", args=[customer.pk]))

    assert listing.status_code == 200
    assert "Acme Corp" in listing.text
    assert detail.status_code == 200
    assert "Acme Corp" in detail.text
    assert "ada@acme.example" in detail.text


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(LIST)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={LIST}"


@pytest.mark.parametrize("who", ["no_role", "portal"])
def test_users_without_a_staff_role_get_403_on_every_customer_page(client, make_user, portal_user, who):
    user = portal_user if who == "portal" else make_user()
    customer = CustomerFactory()
    c = _client(client, user)
    before = _snapshot()

    pages = [
        LIST,
        CREATE,
        reverse("customers:detail", args=[customer.pk]),
        reverse("customers:edit", args=[customer.pk]),
    ]
    for url in pages:
        response = c.get(url)
        assert response.status_code == 403, url
        assert "Your account has no role in revops" in response.text
    posted = c.post(CREATE, VALID_FORM)
    contact = c.post(
        reverse("customers:contact_create", args=[customer.pk]),
        {"name": "X", "email": "x@example.com", "role": "other"},
    )

    assert posted.status_code == 403
    assert contact.status_code == 403
    assert _snapshot() == before


def test_a_role_without_add_customer_cannot_open_or_post_the_create_form(client, finance_user):
    c = _client(client, finance_user)
    before = _snapshot()

    shown = c.get(CREATE)
    posted = c.post(CREATE, VALID_FORM)
    listing = c.get(LIST)

    assert shown.status_code == 403
    assert posted.status_code == 403
    assert "customers.add_customer" in posted.text
    assert _snapshot() == before
    assert "New customer" not in listing.text  # the button is hidden too


def test_a_role_without_add_contact_cannot_add_a_contact(client, finance_user):
    customer = CustomerFactory()
    c = _client(client, finance_user)
    before = _snapshot()

    response = c.post(
        reverse("customers:contact_create", args=[customer.pk]),
        {"name": "Bo", "email": "bo@example.com", "role": "billing"},
    )
    detail = c.get(reverse("customers:detail", args=[customer.pk]))

    assert response.status_code == 403
    assert _snapshot() == before
    assert "Add a contact" not in detail.text


def test_an_unknown_customer_is_404(client, sales_rep):
    response = _client(client, sales_rep).get(reverse("customers:detail", args=[999999]))

    assert response.status_code == 404


# --- list, search, filters, htmx ------------------------------------------------------------------


def test_search_matches_name_external_id_and_billing_email(client, sales_rep):
    CustomerFactory(name="Acme Corp", external_id="CRM-1", billing_email="ap@acme.example")
    CustomerFactory(name="Globex", external_id="ACME-LEGACY", billing_email="ap@globex.example")
    CustomerFactory(name="Initech", external_id="CRM-3", billing_email="billing@initech.example")
    c = _client(client, sales_rep)

    response = c.get(LIST, {"q": "acme"})

    assert response.status_code == 200
    assert "Acme Corp" in response.text
    assert "Globex" in response.text  # external id ACME-LEGACY
    assert "Initech" not in response.text
    assert "2 customers match" in response.text


def test_filters_by_size_region_industry_channel_and_currency(client, sales_rep):
    CustomerFactory(
        name="Big EU",
        size="enterprise",
        region="emea",
        industry="retail",
        acquisition_channel="partner",
        currency="EUR",
    )
    CustomerFactory(
        name="Big US",
        size="enterprise",
        region="na",
        industry="retail",
        acquisition_channel="partner",
        currency="USD",
    )
    CustomerFactory(
        name="Small EU",
        size="smb",
        region="emea",
        industry="software",
        acquisition_channel="inbound",
        currency="EUR",
    )
    c = _client(client, sales_rep)

    def names(**params):
        html = c.get(LIST, params).text
        return sorted(n for n in ("Big EU", "Big US", "Small EU") if f">{n}</a>" in html)

    assert names(size="enterprise") == ["Big EU", "Big US"]
    assert names(region="emea") == ["Big EU", "Small EU"]
    assert names(industry="software") == ["Small EU"]
    assert names(acquisition_channel="partner", currency="EUR") == ["Big EU"]
    assert names(currency="USD") == ["Big US"]
    assert names(size="smb", region="na") == []


def test_the_filter_bar_offers_the_industries_and_currencies_in_use(client, sales_rep):
    CustomerFactory(industry="retail", currency="EUR")
    CustomerFactory(industry="software", currency="JPY")
    CustomerFactory(industry="", currency="USD")

    html = _client(client, sales_rep).get(LIST, {"industry": "retail"}).text

    assert '<option value="retail" selected>retail</option>' in html
    assert '<option value="software">software</option>' in html
    assert '<option value="JPY">JPY</option>' in html
    assert '<option value=""' in html


def test_an_htmx_request_gets_only_the_results_partial(client, sales_rep):
    CustomerFactory(name="Acme Corp")
    CustomerFactory(name="Globex")
    c = _client(client, sales_rep)

    partial = c.get(LIST, {"q": "glob"}, HTTP_HX_REQUEST="true")
    full = c.get(LIST, {"q": "glob"})

    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="customer-results"')
    assert "<html" not in partial.text
    assert "Globex" in partial.text
    assert "Acme Corp" not in partial.text
    assert "<html" in full.text and 'id="customer-results"' in full.text
    assert "HX-Request" in partial["Vary"]


def test_the_list_is_paginated_and_keeps_the_filters_in_the_page_links(client, sales_rep):
    for n in range(30):
        CustomerFactory(name=f"Retail {n:02d}", industry="retail")
    CustomerFactory(name="Software Co", industry="software")
    c = _client(client, sales_rep)

    first = c.get(LIST, {"industry": "retail"})
    second = c.get(LIST, {"industry": "retail", "page": 2})

    assert "Page 1 of 2" in first.text
    assert "Retail 00" in first.text and "Retail 24" in first.text and "Retail 25" not in first.text
    assert "?industry=retail&amp;page=2" in first.text
    assert "Retail 25" in second.text and "Retail 29" in second.text and "Retail 24" not in second.text
    assert "Software Co" not in second.text


def test_the_list_costs_the_same_number_of_queries_for_5_or_40_customers(
    client, sales_rep, django_assert_num_queries
):
    owner = sales_rep
    for _ in range(5):
        CustomerFactory(owner=owner)
    c = _client(client, sales_rep)
    # session, user, roles, industries, currencies, count, page (owner joined), 2 x permissions
    with django_assert_num_queries(9):
        small = c.get(LIST)
    for _ in range(35):
        CustomerFactory(owner=owner)
    with django_assert_num_queries(9):
        big = c.get(LIST)

    assert small.status_code == big.status_code == 200
    assert big.text.count(sales_rep.username) >= 25


# --- create and edit ------------------------------------------------------------------------------


def test_a_sales_rep_creates_a_customer_through_the_form(client, sales_rep):
    c = _client(client, sales_rep)

    response = c.post(CREATE, {**VALID_FORM, "owner": sales_rep.pk})

    customer = Customer.objects.get(external_id="CRM-ACME")
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:detail", args=[customer.pk])
    assert (customer.name, customer.currency, customer.country, customer.size, customer.owner) == (
        "Acme GmbH",
        "EUR",
        "DE",
        "enterprise",
        sales_rep,
    )
    event = OutboxEvent.objects.get(type="customer.created")
    assert event.aggregate_id == str(customer.pk)
    assert event.actor == sales_rep
    assert event.payload["currency"] == "EUR"
    detail = c.get(response["Location"])
    assert "Customer Acme GmbH created." in detail.text
    assert "Created" in detail.text and sales_rep.username in detail.text  # history: who created it


def test_the_create_form_shows_required_fields_and_defaults(client, sales_rep):
    response = _client(client, sales_rep).get(CREATE)

    assert response.status_code == 200
    assert 'name="currency"' in response.text and 'value="USD"' in response.text
    assert f'<option value="{sales_rep.pk}" selected>' in response.text  # owner defaults to the rep


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"currency": "XYZ"}, "currency", "unknown currency code &#x27;XYZ&#x27;"),
        ({"country": "Germany"}, "country", "use a two-letter ISO 3166 country code, e.g. US or DE"),
        ({"name": "   "}, "name", "This field is required."),
        ({"billing_email": "not-an-email"}, "billing_email", "Enter a valid email address."),
    ],
)
def test_refused_input_is_shown_beside_its_field_and_nothing_is_saved(
    client, sales_rep, changes, field, message
):
    c = _client(client, sales_rep)
    before = _snapshot()

    response = c.post(CREATE, {**VALID_FORM, **changes})

    assert response.status_code == 200
    assert _field_errors(response.text, field) == [message]
    assert "Please correct the fields marked below." in response.text
    assert _snapshot() == before


def test_a_duplicate_external_id_is_refused_beside_the_field(client, sales_rep):
    CustomerFactory(external_id="CRM-ACME")
    c = _client(client, sales_rep)
    before = _snapshot()

    response = c.post(CREATE, VALID_FORM)

    assert _field_errors(response.text, "external_id") == [
        "another customer already has external id &#x27;CRM-ACME&#x27;"
    ]
    assert _snapshot() == before
    assert 'value="Acme GmbH"' in response.text  # what was typed is kept


def test_finance_edits_billing_details_and_the_change_is_recorded(client, finance_user):
    customer = CustomerFactory(name="Acme Corp", billing_email="old@acme.example", currency="USD")
    c = _client(client, finance_user)
    form = c.get(reverse("customers:edit", args=[customer.pk]))
    assert 'value="old@acme.example"' in form.text

    data = {
        **VALID_FORM,
        "name": "Acme Corp",
        "external_id": customer.external_id,
        "currency": "USD",
        "billing_email": "ap@acme.example",
        "country": "US",
        "tax_id": "",
        "industry": "software",
        "size": "smb",
        "region": "na",
        "acquisition_channel": "inbound",
        "address": "",
    }
    response = c.post(reverse("customers:edit", args=[customer.pk]), data)

    customer.refresh_from_db()
    assert response.status_code == 302
    assert customer.billing_email == "ap@acme.example"
    event = OutboxEvent.objects.get(type="customer.updated")
    assert event.payload["changed"] == ["billing_email"]
    assert event.actor == finance_user
    detail = c.get(reverse("customers:detail", args=[customer.pk]))
    assert "<del>old@acme.example</del> &rarr; <ins>ap@acme.example</ins>" in detail.text


def test_an_edit_that_changes_nothing_records_nothing(client, success_user):
    customer = CustomerFactory(name="Acme Corp", country="US", address="")
    c = _client(client, success_user)
    initial = c.get(reverse("customers:edit", args=[customer.pk])).context["form"].initial
    data = {k: ("" if v is None else v) for k, v in initial.items()}
    data["tax_exempt"] = "on" if data["tax_exempt"] else ""
    before = _snapshot()

    response = c.post(reverse("customers:edit", args=[customer.pk]), data)

    assert response.status_code == 302
    assert _snapshot() == before
    assert "Nothing changed." in c.get(response["Location"]).text


def test_a_refused_edit_leaves_the_customer_as_it_was(client, sales_manager):
    customer = CustomerFactory(name="Acme Corp", country="US", currency="USD")
    c = _client(client, sales_manager)
    before = _snapshot()

    response = c.post(
        reverse("customers:edit", args=[customer.pk]),
        {**VALID_FORM, "name": "Acme Corp", "currency": "usd", "country": "USA"},
    )

    customer.refresh_from_db()
    assert _field_errors(response.text, "country") == [
        "use a two-letter ISO 3166 country code, e.g. US or DE"
    ]
    assert (customer.country, customer.name) == ("US", "Acme Corp")
    assert not Customer.objects.filter(external_id="CRM-ACME").exists()
    assert _snapshot() == before


# --- contacts -----------------------------------------------------------------------------------


def test_customer_success_adds_a_contact_from_the_detail_page(client, success_user):
    customer = CustomerFactory(name="Acme Corp")
    c = _client(client, success_user)

    response = c.post(
        reverse("customers:contact_create", args=[customer.pk]),
        {
            "name": "Bo Payer",
            "email": "Bo@Acme.example",
            "phone": "+1 555 0100",
            "title": "AP lead",
            "role": "billing",
        },
    )

    assert response.status_code == 302
    contact = Contact.objects.get(customer=customer)
    assert (contact.name, contact.email, contact.role) == ("Bo Payer", "bo@acme.example", "billing")
    assert OutboxEvent.objects.get(type="contact.created").payload["contact"] == contact.pk
    detail = c.get(reverse("customers:detail", args=[customer.pk]))
    assert "Bo Payer" in detail.text and "Contact Bo Payer added." in detail.text


def test_a_duplicate_contact_email_is_shown_beside_the_email_field(client, sales_rep):
    customer = CustomerFactory(name="Acme Corp")
    ContactFactory(customer=customer, email="bo@acme.example")
    c = _client(client, sales_rep)
    before = _snapshot()

    response = c.post(
        reverse("customers:contact_create", args=[customer.pk]),
        {"name": "Bo Again", "email": "bo@acme.example", "role": "other"},
    )

    assert response.status_code == 200
    assert _field_errors(response.text, "email") == [
        "Acme Corp already has a contact with email bo@acme.example"
    ]
    assert '<details class="add-contact" open>' in response.text
    assert _snapshot() == before


def test_a_contact_without_a_name_is_refused(client, sales_rep):
    customer = CustomerFactory()
    before = _snapshot()

    response = _client(client, sales_rep).post(
        reverse("customers:contact_create", args=[customer.pk]),
        {"name": "", "email": "x@example.com", "role": "other"},
    )

    assert _field_errors(response.text, "name") == ["This field is required."]
    assert _snapshot() == before


def test_the_detail_page_shows_segment_contacts_and_history(client, sales_rep):
    customer = CustomerFactory(
        name="Acme Corp",
        size="enterprise",
        region="emea",
        industry="retail",
        acquisition_channel="partner",
        tax_exempt=True,
    )
    ContactFactory(customer=customer, name="Ada Buyer", email="ada@acme.example", role="decision_maker")
    customer.billing_email = "new@acme.example"
    customer.save()

    html = _client(client, sales_rep).get(reverse("customers:detail", args=[customer.pk])).text

    for text in ("Enterprise", "EMEA", "retail", "Partner", "Tax exempt", "Ada Buyer", "Decision maker"):
        assert text in html
    history = html[html.index('id="history"') :]
    assert history.index("Updated") < history.index("Created")  # newest first
    assert "<strong>Billing email</strong>" in history


# --- layout and home page per role (kernel pages) -------------------------------------------------


def test_the_layout_has_nav_user_roles_logout_htmx_and_csrf_header(client, sales_rep):
    html = _client(client, sales_rep).get(LIST).text

    assert re.search(r'<a href="/customers/" class="active" aria-current="page">Customers</a>', html)
    assert '<a href="/catalog/">Catalog</a>' in html
    assert '<a href="/catalog/price-books/">Price books</a>' in html
    assert sales_rep.username in html and "Sales rep" in html
    assert re.search(
        r'<form method="post" action="/accounts/logout/"[^>]*>\s*<input type="hidden" '
        r'name="csrfmiddlewaretoken"',
        html,
    )
    assert 'src="/static/django_htmx/htmx-2.min.js"' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html


def test_price_books_not_catalog_is_active_on_a_price_book_page(client, sales_rep):
    html = _client(client, sales_rep).get(reverse("catalog:price_books")).text

    assert '<a href="/catalog/price-books/" class="active" aria-current="page">Price books</a>' in html
    assert '<a href="/catalog/">Catalog</a>' in html


def test_logout_is_a_post_and_ends_the_session(client, sales_rep):
    c = _client(client, sales_rep)

    response = c.post(reverse("logout"))

    assert response.status_code == 302
    assert c.get(LIST).status_code == 302


def test_the_login_page_shows_a_clear_error_for_a_wrong_password(client, sales_rep):
    response = client.post(reverse("login"), {"username": sales_rep.username, "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.text
    assert '<div class="alert alert-error" role="alert">' in response.text


def test_the_login_form_signs_in_and_lands_on_home(client, sales_rep):
    response = client.post(
        reverse("login"), {"username": sales_rep.username, "password": "pw-for-tests-1"}, follow=True
    )

    assert response.redirect_chain == [(reverse("home"), 302)]
    assert "Welcome," in response.text


@pytest.mark.parametrize(
    ("role", "title", "links"),
    [
        (roles.SALES_REP, "Sales", ["Customers", "New customer", "Catalog", "Price books"]),
        (roles.SALES_MANAGER, "Sales management", ["Customers", "New customer", "Catalog", "Price books"]),
        (roles.FINANCE, "Finance", ["Customers", "Price books", "Catalog"]),
        (roles.CUSTOMER_SUCCESS, "Customer success", ["Customers", "Catalog"]),
        (
            roles.ADMIN,
            "Administration",
            ["Admin site", "Outbox events", "Event deliveries", "Audit trail", "Users and roles"],
        ),
    ],
)
def test_each_role_has_its_own_home_panel(client, make_user, role, title, links):
    user = make_user(role, is_staff=(role == roles.ADMIN))
    CustomerFactory(owner=user)
    CustomerFactory()

    response = _client(client, user).get(reverse("home"))

    assert response.status_code == 200
    panels = response.context["panels"]
    assert [p.title for p in panels] == [title]
    assert [label for label, _url in panels[0].links] == links
    assert f'data-role="{role}"' in response.text
    assert "coming" not in response.text.lower()


def test_home_figures_come_from_the_selectors(client, make_user):
    rep = make_user(roles.SALES_REP, roles.FINANCE)
    CustomerFactory(owner=rep)
    CustomerFactory(owner=rep)
    CustomerFactory()

    panels = _client(client, rep).get(reverse("home")).context["panels"]

    assert [p.title for p in panels] == ["Sales", "Finance"]
    assert dict(panels[0].figures)["Customers you own"] == 2
    assert dict(panels[1].figures) == {"Active price books": 0, "Active prices": 0}


def test_an_admin_without_staff_status_gets_no_admin_links(client, make_user):
    user = make_user(roles.ADMIN)

    response = _client(client, user).get(reverse("home"))

    assert response.context["panels"][0].links == []
    assert "staff status is off" in response.text


def test_home_sends_a_portal_user_to_the_customer_portal(client, portal_user):
    response = _client(client, portal_user).get(reverse("home"))

    assert (response.status_code, response["Location"]) == (302, "/portal/")


def test_home_is_a_403_for_users_without_a_staff_role(client, make_user):
    user = make_user()

    response = _client(client, user).get(reverse("home"))

    assert response.status_code == 403
    assert "Your account has no role in revops" in response.text
    assert 'href="/customers/"' not in response.text  # no staff navigation either
