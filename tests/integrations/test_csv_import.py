"""CSV import of customers, contacts, products and prices: a dry run reports every error by row and column
and writes nothing; a file with one bad row writes nothing; a good file writes through the services."""
from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from catalog import models as cm
from customers.models import Contact, Customer
from integrations.services.csv_import import csv_import
from revops.kernel.models import OutboxEvent

pytestmark = pytest.mark.django_db

CUSTOMERS = (
    "external_id,name,currency,billing_email,country,size,region,acquisition_channel\r\n"
    "ACME-1,Acme Corp,USD,AP@acme.example,us,enterprise,na,outbound\r\n"
    "GLOBEX-2,Globex,eur,billing@globex.example,DE,mid_market,emea,partner\r\n"
)
BAD_CUSTOMERS = (
    "external_id,name,currency,billing_email,country,size\n"
    "X-1,Good One,USD,ok@x.example,US,smb\n"
    "X-2,,USD,not-an-email,USA,huge\n"
    ",No Id,USD,,,\n"
    "X-4,Bad currency,ZZZ,,,\n"
)


def _snapshot():
    return (Customer.objects.count(), Contact.objects.count(), cm.Product.objects.count(), cm.Price.objects.count(),
            OutboxEvent.objects.count())


def test_a_good_file_creates_then_updates_through_the_services():
    report = csv_import(model="customers", content=CUSTOMERS)
    assert (report.ok, report.written, report.rows, report.new) == (True, True, 2, 2)
    assert list(Customer.objects.order_by("external_id").values_list(
        "external_id", "name", "currency", "billing_email", "country", "size")) == [
        ("ACME-1", "Acme Corp", "USD", "ap@acme.example", "US", "enterprise"),
        ("GLOBEX-2", "Globex", "EUR", "billing@globex.example", "DE", "mid_market")]
    assert OutboxEvent.objects.filter(type="customer.created").count() == 2  # through customer_create
    again = csv_import(model="customers", content=CUSTOMERS.replace("Acme Corp", "Acme Corporation"))
    assert (again.new, again.updated, again.skipped) == (0, 1, 1)
    assert Customer.objects.get(external_id="ACME-1").name == "Acme Corporation"
    assert OutboxEvent.objects.filter(type="customer.updated").count() == 1


def test_a_dry_run_reports_the_row_and_column_of_every_error_and_writes_nothing():
    before = _snapshot()
    report = csv_import(model="customers", content=BAD_CUSTOMERS, dry_run=True)
    assert [(e.row, e.line, e.column) for e in report.errors] == [
        (2, 3, "billing_email"), (2, 3, "country"), (2, 3, "name"), (2, 3, "size"),
        (3, 4, "external_id"), (4, 5, "currency")]
    assert str(report.errors[1]) == ("row 2 (line 3), column 'country': Ensure this value has at most 2 characters "
                                     "(it has 3).")
    assert "ZZZ" in report.errors[-1].message
    assert (report.ok, report.written) == (False, False)
    assert _snapshot() == before


def test_a_file_with_one_bad_row_writes_nothing_even_without_dry_run():
    content = CUSTOMERS + "BAD-3,Bad Row,USD,,United States,,\r\n"
    report = csv_import(model="customers", content=content)
    assert [(e.row, e.column) for e in report.errors] == [(3, "country")]
    assert report.written is False
    assert _snapshot() == (0, 0, 0, 0, 0)


def test_a_good_dry_run_writes_nothing_and_says_what_it_would_do():
    report = csv_import(model="customers", content=CUSTOMERS, dry_run=True)
    assert (report.ok, report.written, report.new) == (True, False, 2)
    assert _snapshot() == (0, 0, 0, 0, 0)


def test_unknown_and_missing_columns_are_reported_before_any_row():
    report = csv_import(model="customers", content="name,colour\nAcme,red\n")
    assert [(e.row, e.column, e.message[:15]) for e in report.errors] == [
        (0, "colour", "unknown column;"), (0, "external_id", "required column")]
    assert Customer.objects.count() == 0


def test_contacts_are_matched_to_customers_by_external_id_and_updated_by_email():
    csv_import(model="customers", content=CUSTOMERS)
    content = ("customer_external_id,name,email,title,role\n"
               "ACME-1,Wile Coyote,Wile@Acme.example,CTO,technical\n"
               "NOPE-9,Ghost,ghost@x.example,,\n")
    report = csv_import(model="contacts", content=content)
    assert [(e.row, e.column, e.message) for e in report.errors] == [
        (2, "customer_external_id", "no customer has external id 'NOPE-9'")]
    assert Contact.objects.count() == 0
    report = csv_import(model="contacts", content=content.splitlines(keepends=True)[0] +
                        content.splitlines(keepends=True)[1])
    assert report.written and Contact.objects.get().email == "wile@acme.example"
    csv_import(model="contacts", content="customer_external_id,name,email,title\nACME-1,Wile E. Coyote,"
                                         "wile@acme.example,CEO\n")
    assert list(Contact.objects.values_list("name", "title")) == [("Wile E. Coyote", "CEO")]


def test_products_and_prices_import_with_the_catalog_rules():
    book = cm.PriceBook.objects.create(name="USD list", currency="USD", is_default=True)
    products = ("sku,name,kind,ssp,unit_cost,family\n"
                "SEATS,Seats,recurring,10,1.5,Platform\n"
                "SETUP,Onboarding,one_time,500,,Services\n")
    assert csv_import(model="products", content=products).written
    assert list(cm.Product.objects.values_list("sku", "recognition", "ssp", "unit_cost")) == [
        ("SEATS", "ratable", D("10.000000"), D("1.500000")), ("SETUP", "point_in_time", D("500.000000"),
                                                              D("0.000000"))]
    prices = ("product_sku,price_book,billing_period,model,unit_amount,flat_amount\n"
              "SEATS,USD list,month,per_unit,10.00,\n"
              "SETUP,USD list,one_time,flat,,500.00\n"
              "SEATS,USD list,year,per_unit,-5,\n"
              "GHOST,EUR list,month,per_unit,1,\n")
    report = csv_import(model="prices", content=prices, dry_run=True)
    assert [(e.row, e.column) for e in report.errors] == [(3, "unit_amount"), (4, "price_book"), (4, "product_sku")]
    assert cm.Price.objects.count() == 0
    good = "\n".join(prices.splitlines()[:3]) + "\n"
    assert csv_import(model="prices", content=good).written
    assert list(cm.Price.objects.order_by("product__sku").values_list(
        "product__sku", "price_book", "model", "unit_amount", "flat_amount")) == [
        ("SEATS", book.pk, "per_unit", D("10.000000"), None), ("SETUP", book.pk, "flat", None, D("500.00"))]
    assert OutboxEvent.objects.filter(type="price.created").count() == 2


def test_the_management_command_prints_every_error_and_fails(tmp_path, capsys):
    bad = tmp_path / "customers.csv"
    bad.write_text(BAD_CUSTOMERS)
    with pytest.raises(CommandError, match="6 error"):
        call_command("import_csv", "customers", str(bad), "--dry-run")
    err = capsys.readouterr().err
    assert "row 2 (line 3), column 'size': Value 'huge' is not a valid choice." in err
    good = tmp_path / "good.csv"
    good.write_text(CUSTOMERS)
    call_command("import_csv", "customers", str(good), "--dry-run")
    assert Customer.objects.count() == 0
    call_command("import_csv", "customers", str(good))
    assert Customer.objects.count() == 2


def test_the_admin_import_button_checks_then_imports(client, admin_user_role, make_user):
    client.force_login(admin_user_role)
    page = client.get("/admin/catalog/product/import/")
    assert page.status_code == 200
    upload = SimpleUploadedFile("products.csv", b"sku,name,kind\nSEATS,Seats,recurring\nBAD,Bad,weird\n",
                                content_type="text/csv")
    checked = client.post("/admin/catalog/product/import/", {"import_file": upload, "format": "0"})
    assert checked.status_code == 200
    assert b"weird" in checked.content and cm.Product.objects.count() == 0
    client.force_login(make_user("sales_rep", is_staff=True))  # may view products, not add them
    assert client.get("/admin/catalog/product/import/").status_code == 403


def test_the_admin_import_confirms_a_clean_file_and_imports_it(client, admin_user_role):
    client.force_login(admin_user_role)
    upload = SimpleUploadedFile("products.csv", b"sku,name,kind,ssp\nSEATS,Seats,recurring,10\n",
                                content_type="text/csv")
    checked = client.post("/admin/catalog/product/import/", {"import_file": upload, "format": "0"})
    assert checked.status_code == 200 and cm.Product.objects.count() == 0  # the dry run: nothing yet
    confirm = checked.context["confirm_form"]
    data = {name: confirm.initial.get(name, field.initial) for name, field in confirm.fields.items()}
    done = client.post("/admin/catalog/product/process_import/", {k: v for k, v in data.items() if v is not None})
    assert done.status_code == 302
    assert list(cm.Product.objects.values_list("sku", "recognition", "ssp")) == [("SEATS", "ratable", D("10.000000"))]
    assert OutboxEvent.objects.filter(type="product.created").count() == 1
