"""In-app notifications (and their emails), sent once per user and subject."""
from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from .models import Notification


def notify(*, users, kind: str, message: str, link: str = "", dedupe_key: str, email_subject: str | None = None,
           email_body: str | None = None) -> list[Notification]:
    """Notify each user once for `dedupe_key`; email those with an address after the transaction commits.

    Returns the notifications created now (users already notified for the key are skipped), so a task
    that runs twice sends nothing twice.
    """
    created = []
    for user in {u.pk: u for u in users if u is not None}.values():
        try:
            with transaction.atomic():
                created.append(Notification.objects.create(user=user, kind=kind, message=message[:500],
                                                           link=link, dedupe_key=dedupe_key))
        except IntegrityError:
            continue
    recipients = sorted({n.user.email for n in created if n.user.email})
    if recipients and email_subject:
        body = email_body or f"{message}\n\n{link}"
        transaction.on_commit(lambda: send_mail(email_subject, body, settings.DEFAULT_FROM_EMAIL, recipients,
                                                fail_silently=False))
    return created
