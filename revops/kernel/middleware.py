from .actor import acting_as


class ActorMiddleware:
    """Makes the session user the actor for audit entries and events during the request.

    API requests authenticated by token are set by `RolePermission`, which runs after DRF's auth.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting_as(getattr(request, "user", None)):
            return self.get_response(request)
