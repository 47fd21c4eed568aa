"""API permissions: role groups through Django model permissions, and the portal's own rule."""
from rest_framework.permissions import BasePermission, DjangoModelPermissions

from .actor import set_actor
from .roles import is_staff_member


class RolePermission(DjangoModelPermissions):
    """Staff endpoints: an internal role, then the model permission for the method.

    Reads need `view_<model>` (DRF's default lets anyone authenticated read). A view may name the
    permissions of its custom actions in `action_permissions = {"approve": ["quotes.approve_quote"]}`.
    Portal users hold no role and are refused here; they use the /portal/ endpoints.
    """

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        # DRF authenticates inside the view, after the middleware: this is the first place the token
        # user is known, so it becomes the actor for audit entries and events here.
        set_actor(request.user)
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not is_staff_member(user):
            return False
        action_perms = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if action_perms is not None:
            return user.has_perms(action_perms)
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return True
        return super().has_permission(request, view)


class IsPortalUser(BasePermission):
    """Portal endpoints: a signed-in contact with portal access; records are scoped in get_queryset."""

    def has_permission(self, request, view) -> bool:
        set_actor(request.user)
        user = request.user
        return bool(user and user.is_authenticated and hasattr(user, "portal_contact"))


class IsAuthenticatedStaff(BasePermission):
    """Any internal role, no model permission (e.g. the pricing calculator)."""

    def has_permission(self, request, view) -> bool:
        set_actor(request.user)
        return bool(request.user and request.user.is_authenticated and is_staff_member(request.user))
