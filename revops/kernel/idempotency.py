"""`Idempotency-Key` on API POSTs (API.md): the same key with the same body replays the first response
(the work is done once); the same key with a different body is a 409. Keys live 24 hours, per user.

Runs as middleware so it wraps the whole view, including its transaction. The key row is claimed
*before* the view runs (a unique constraint decides between concurrent retries); a retry that arrives
while the first is still running gets a 409 `idempotency_in_progress`. 5xx responses are not kept, so
a retry after a server error runs again.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from .api.errors import error_body
from .models import IdempotencyRecord

KEY_TTL = timedelta(hours=24)
STALE_CLAIM = timedelta(minutes=5)  # a claim this old without a response is from a crashed request
MAX_KEY_LENGTH = 255


def _user_for(request):
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    header = request.headers.get("Authorization", "")
    if header.startswith("Token "):
        from rest_framework.authtoken.models import Token

        token = Token.objects.select_related("user").filter(key=header[6:].strip()).first()
        if token and token.user.is_active:
            return token.user
    return None


def _conflict(code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message, {"Idempotency-Key": [message]}), status=409)


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/api/"):
            return self.get_response(request)
        if len(key) > MAX_KEY_LENGTH:
            return JsonResponse(
                error_body("validation_error", "Idempotency-Key is too long (255 characters at most).",
                           {"Idempotency-Key": ["at most 255 characters"]}),
                status=400,
            )
        user = _user_for(request)
        if user is None:
            return self.get_response(request)  # the view answers 401; nothing to remember

        digest = hashlib.sha256(b"%s %s\n" % (request.method.encode(), request.get_full_path().encode()))
        digest.update(request.body)
        request_hash = digest.hexdigest()

        record, claimed = self._claim(user, key, request, request_hash)
        if not claimed:
            if record.request_hash != request_hash:
                return _conflict("idempotency_key_reused",
                                 "This Idempotency-Key was already used with a different request.")
            if record.status_code is None:
                return _conflict("idempotency_in_progress",
                                 "A request with this Idempotency-Key is still being processed; retry shortly.")
            replay = HttpResponse(bytes(record.response_body or b""), status=record.status_code,
                                  content_type=record.content_type or "application/json")
            replay["Idempotent-Replayed"] = "true"
            return replay

        try:
            response = self.get_response(request)
        except Exception:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if response.status_code >= 500 or getattr(response, "streaming", False):
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status_code=response.status_code,
            response_body=bytes(response.content),
            content_type=response.get("Content-Type", "application/json"),
        )
        return response

    def _claim(self, user, key, request, request_hash):
        now = timezone.now()
        for _ in range(2):
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        user=user, key=key, method=request.method, path=request.path[:500],
                        request_hash=request_hash,
                    )
                return record, True
            except IntegrityError:
                record = IdempotencyRecord.objects.filter(user=user, key=key).first()
                if record is None:
                    continue
                expired = record.created_at < now - KEY_TTL
                crashed = record.status_code is None and record.created_at < now - STALE_CLAIM
                if expired or crashed:
                    IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).delete()
                    continue
                return record, False
        return record, False
