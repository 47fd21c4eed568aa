"""API viewsets for contracts (being written)."""


def register(router) -> None:
    pass
