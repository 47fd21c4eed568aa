from celery import shared_task

from .services.renewals import contracts_daily


@shared_task(acks_late=True, ignore_result=True)
def contracts_daily_task() -> dict:
    """Daily: renew/expire ended contracts, renewal quotes, renewal alerts. Idempotent and catching up."""
    return contracts_daily()
