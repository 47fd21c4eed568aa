"""Celery application. Without CELERY_BROKER_URL tasks run eagerly in-process (see settings)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", f"revops.settings.{os.environ.get('DJANGO_ENV', 'dev')}")

app = Celery("revops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
