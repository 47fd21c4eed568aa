"""Every API error has one body (API.md):

    {"error": {"code": "validation_error", "message": "human sentence", "fields": {"lines[2].quantity": [...]}}}
"""
from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from ..errors import DomainError

logger = logging.getLogger(__name__)

_CODES = {
    400: "validation_error",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "throttled",
}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail -> {"lines[2].quantity": ["..."]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # DRF >= 3.15 reports list items as {index: errors}
                out.update(_merge(out, flatten_errors(value, f"{prefix}[{key}]")))
                continue
            name = "" if key in ("non_field_errors", "__all__") and not prefix else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out.update(_merge(out, flatten_errors(value, path)))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item in ({}, [], None):
                    continue
                out.update(_merge(out, flatten_errors(item, f"{prefix}[{index}]")))
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


def _merge(existing: dict, new: dict) -> dict:
    merged = {}
    for key, msgs in new.items():
        merged[key] = existing.get(key, []) + msgs
    return merged


def _summary(fields: dict[str, list[str]]) -> str:
    if not fields:
        return "The request is not valid."
    key, msgs = next(iter(fields.items()))
    first = f"{key}: {msgs[0]}" if key != "non_field_errors" else msgs[0]
    more = len(fields) - 1
    return first + (f" (and {more} more field{'s' if more > 1 else ''})" if more else "")


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        fields = flatten_errors(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        set_rollback()
        return Response(error_body("validation_error", _summary(fields), fields), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        code = _CODES.get(exc.status_code, "error")
        if isinstance(exc, exceptions.ValidationError):
            fields = flatten_errors(exc.detail)
            return Response(error_body(code, _summary(fields), fields), status=exc.status_code, headers=headers)
        if isinstance(exc, exceptions.ParseError):
            code = "parse_error"
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else "The request failed."
        return Response(error_body(code, message), status=exc.status_code, headers=headers)

    logger.exception("unhandled API error", exc_info=exc)
    set_rollback()
    return Response(
        error_body("server_error", "Something went wrong on our side; nothing was changed."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
