import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework.renderers import BaseRenderer, JSONRenderer

from .. import money


class PDFRenderer(BaseRenderer):
    """Lets `Accept: application/pdf` reach the PDF endpoints (the views answer the bytes themselves)."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return JSONRenderer().render(data)  # an error body, should one be rendered here


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` (or `Accept: text/csv`) reach views that write their CSV themselves (a streamed
    response); anything else handed to it (an error body) is rendered as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        return JSONRenderer().render(data)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_safe(value) -> str:
    """A cell: None is empty; text a spreadsheet would run as a formula (=, +, -, @ first) gets a leading
    apostrophe; Decimals keep their places (amounts are plain decimal strings)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value if isinstance(value, str) else str(value)


def amount(attr: str, currency_attr: str = "currency"):
    """A column accessor: the amount quantized to the row's currency (a plain decimal string)."""
    def get(obj):
        value = getattr(obj, attr)
        return None if value is None else money.quantize(value, getattr(obj, currency_attr))

    return get


def field(path: str):
    """A column accessor following `a.b.c` (None when a link is empty); dates come out ISO."""
    def get(obj):
        for name in path.split("."):
            obj = getattr(obj, name, None)
            if obj is None:
                return None
        return obj.isoformat() if hasattr(obj, "isoformat") else obj

    return get


def csv_rows(columns, rows: Iterable, *, lines_per_chunk: int = 500) -> Iterator[str]:
    """The CSV text: the header, then `[accessor(row) for each column]` per row, handed out a few hundred
    lines at a time (one write per line would cost a WSGI write each)."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow([name for name, _ in columns])
    batch = []
    for row in rows:
        batch.append(writer.writerow([csv_safe(get(row)) for _, get in columns]))
        if len(batch) >= lines_per_chunk:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


class CSVExportMixin:
    """`?format=csv` on a list endpoint: every row the filters select (no pagination), streamed from the
    database in chunks so 100,000 rows never sit in memory. The view names its columns:

        csv_columns = [("number", attrgetter("number")), ("total", lambda inv: money.quantize(...))]
        csv_filename = "invoices"

    Other actions answer JSON only; errors are JSON even when CSV was asked for (API.md: one error body).
    """

    csv_columns: list = []
    csv_filename = "export"
    csv_chunk_size = 2000

    def get_renderers(self):
        renderers = super().get_renderers()
        if getattr(self, "action", None) == "list":
            renderers.append(CSVRenderer())
        return renderers

    def csv_records(self, queryset) -> Iterable:
        """The rows of the export: by default the filtered queryset's objects, without the prefetches the
        JSON pages need (the columns read their own and select_related fields), in chunks."""
        return queryset.prefetch_related(None).iterator(chunk_size=self.csv_chunk_size)

    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) != "csv":
            return super().list(request, *args, **kwargs)
        records = self.csv_records(self.filter_queryset(self.get_queryset()))
        response = StreamingHttpResponse(csv_rows(self.csv_columns, records), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (f'attachment; filename="{self.csv_filename}-'
                                           f'{timezone.localdate():%Y%m%d}.csv"')
        return response

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response
