from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render

from . import roles


@login_required
def home(request):
    """One home page per role: portal users go to the portal; staff see their role's panels."""
    user_roles = roles.roles_of(request.user)
    if not user_roles & set(roles.STAFF_ROLES) and hasattr(request.user, "portal_contact"):
        return redirect("portal:home") if _has_portal() else render(request, "kernel/no_role.html", status=403)
    if not user_roles:
        return render(request, "kernel/no_role.html", status=403)
    return render(request, "kernel/home.html", {"roles": sorted(user_roles)})


def _has_portal() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("portal:home")
        return True
    except NoReverseMatch:
        return False


def healthz(request):
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
