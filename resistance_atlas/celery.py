"""The Celery application. Workers run `celery -A resistance_atlas worker`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resistance_atlas.settings")

app = Celery("resistance_atlas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
