"""PDF documents (quotes, invoices): WeasyPrint with a fetcher that can reach nothing but `data:` URIs
and the project's own static files, and a formatter that turns figures into finished strings (money
through revops.kernel.money.format_money, so templates never round)."""
from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from django.conf import settings
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from . import money

logger = logging.getLogger(__name__)


class URLRefused(ValueError):
    pass


def static_root() -> Path:
    return (Path(settings.BASE_DIR) / "static").resolve()


# --- fetching: nothing but data: URIs and our own static files ----------------------------------------

class StaticOnlyURLFetcher(URLFetcher):
    """Serves `data:` URIs and `file:` URLs inside the static folder; refuses (and records) the rest.

    WeasyPrint catches the refusal, logs a warning and renders without the resource. `fetched` and
    `refused` keep the URLs asked for, so a caller (or a test) can see what the document tried to load.
    """

    def __init__(self, root: Path | None = None) -> None:
        super().__init__(timeout=2, allowed_protocols=("data", "file"), allow_redirects=False)
        self.root = (root or static_root()).resolve()
        self.fetched: list[str] = []
        self.refused: list[str] = []

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return True
        if scheme != "file" or parts.netloc not in ("", "localhost"):
            return False
        path = Path(url2pathname(parts.path)).resolve()  # resolves "..", symlinks
        return path.is_relative_to(self.root) and path.is_file()

    def fetch(self, url, headers=None):
        if not self.allows(url):
            self.refused.append(url)
            logger.warning("PDF: refused to fetch %.200s", url)
            raise URLRefused(f"refused to fetch {url[:200]}")
        self.fetched.append(url)
        return super().fetch(url, headers)


def html_to_pdf(html: str, *, url_fetcher: URLFetcher | None = None) -> bytes:
    """PDF bytes of an HTML document, resolving relative URLs against the static folder."""
    return HTML(
        string=html.encode("utf-8"), encoding="utf-8", base_url=static_root().as_uri() + "/",
        url_fetcher=url_fetcher or StaticOnlyURLFetcher(),
    ).write_pdf()



class DocumentFormatter:
    """Figures as finished strings in one currency and locale."""

    def __init__(self, currency: str, locale: str) -> None:
        self.currency, self.locale = currency, locale

    def money(self, amount: Decimal) -> str:
        return money.format_money(amount, self.currency, self.locale)

    def unit_price(self, amount: Decimal) -> str:
        """Unit prices may carry up to 6 places ($0.0008 per call): shown in full, never rounded away."""
        if amount == money.quantize(amount, self.currency):
            return self.money(amount)
        return format_currency(amount.normalize(), self.currency, locale=self.locale, currency_digits=True,
                               decimal_quantization=False)

    def number(self, value: Decimal | int) -> str:
        return format_decimal(Decimal(value).normalize(), format="#,##0.######", locale=self.locale)

    def date(self, d: date) -> str:
        return format_date(d, format="long", locale=self.locale)
