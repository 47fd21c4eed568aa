"""Customer-facing acceptance page (being written)."""
from django.http import Http404


def acceptance(request, token: str):
    raise Http404("not yet")
