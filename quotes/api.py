"""API viewsets for quotes (being written)."""


def register(router) -> None:
    pass
