"""Celery tasks: thin, idempotent, taking ids. Money tasks ack late and are redelivered if a worker
dies (settings: CELERY_TASK_ACKS_LATE, CELERY_TASK_REJECT_ON_WORKER_LOST)."""
from celery import group, shared_task
from django.utils import timezone


@shared_task(acks_late=True, ignore_result=True)
def start_bill_run(run_id: int) -> int:
    from .services.billrun import bill_run_plan

    chunk_ids = bill_run_plan(run_id=run_id)
    if chunk_ids:
        group(bill_run_chunk.s(chunk_id) for chunk_id in chunk_ids).apply_async()
    return len(chunk_ids)


@shared_task(acks_late=True, ignore_result=True, max_retries=3)
def bill_run_chunk(chunk_id: int) -> None:
    from .services.billrun import bill_run_chunk as run_chunk

    run_chunk(chunk_id=chunk_id)


@shared_task(acks_late=True, ignore_result=True)
def daily_bill_run() -> int:
    from .services.billrun import bill_run_create

    return bill_run_create(as_of=timezone.localdate()).pk


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=5, default_retry_delay=60)
def render_invoice_pdf(self, invoice_id: int, email: bool = False) -> None:
    """Render and store the issued invoice's PDF; a failure is recorded on the invoice and retried."""
    from .services.documents import invoice_pdf_render

    try:
        invoice_pdf_render(invoice_id=invoice_id, email=email)
    except Exception as exc:
        from .models import Invoice

        Invoice.objects.filter(pk=invoice_id).update(pdf_status=Invoice.PdfStatus.FAILED,
                                                      pdf_error=f"{type(exc).__name__}: {exc}"[:2000])
        raise self.retry(exc=exc) from exc


@shared_task(acks_late=True, ignore_result=True)
def send_dunning() -> int:
    from .services.dunning import dunning_run

    return dunning_run(today=timezone.localdate())


@shared_task(ignore_result=True)
def maintain_usage_partitions() -> list[str]:
    from .services.partitions import ensure_partitions

    return ensure_partitions()
