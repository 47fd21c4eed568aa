"""Audit trail for financial records: every create, update and delete with who, when, before/after.

Models opt in from their AppConfig.ready():  `audit.track(Price, PriceTier, ...)`.
The trail is written in the same transaction as the change (Django model signals), so it covers
services, admin, API and shell alike. Bulk `update()` and `bulk_create()` bypass it, so services that
touch tracked models do not use them.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

from .actor import current_actor
from .models import AuditEntry

_tracked: set[type[models.Model]] = set()


def _jsonable(value):
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _snapshot(instance: models.Model) -> dict:
    return {f.attname: _jsonable(getattr(instance, f.attname)) for f in instance._meta.concrete_fields}


def _before(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None:
        instance._audit_before = None
        return
    old = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = _snapshot(old) if old is not None else None


def _write(instance, action: str, changes: dict) -> None:
    actor = current_actor()
    AuditEntry.objects.create(
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=True),
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        action=action,
        changes=changes,
        actor_id=getattr(actor, "pk", None),
    )


def _after(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    after = _snapshot(instance)
    before = getattr(instance, "_audit_before", None)
    if created or before is None:
        _write(instance, AuditEntry.Action.CREATE, {k: [None, v] for k, v in after.items() if v not in (None, "")})
        return
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    if changes:
        _write(instance, AuditEntry.Action.UPDATE, changes)


def _deleted(sender, instance, **kwargs):
    _write(instance, AuditEntry.Action.DELETE, {k: [v, None] for k, v in _snapshot(instance).items()})


def track(*model_classes: type[models.Model]) -> None:
    for model in model_classes:
        if model in _tracked:
            continue
        _tracked.add(model)
        uid = f"revops.audit.{model._meta.label_lower}"
        pre_save.connect(_before, sender=model, dispatch_uid=f"{uid}.pre")
        post_save.connect(_after, sender=model, dispatch_uid=f"{uid}.post")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"{uid}.del")


def is_tracked(model: type[models.Model]) -> bool:
    return model in _tracked


def history(instance: models.Model):
    """Audit entries for one record, newest first."""
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=True), object_id=str(instance.pk)
    ).select_related("actor")
