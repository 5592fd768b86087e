"""The worker heartbeat: beat queues a task every HEARTBEAT_INTERVAL seconds and a worker records the time.

A recent heartbeat proves the whole chain that background work needs: beat is
scheduling, the broker delivers, a worker consumes and can write to the
database. /healthz reports its age (`resistance_atlas.health`).
"""

from datetime import timedelta

from django.utils import timezone

from curation.models import WorkerHeartbeat, fit_to_column

KEY = "worker"


def record(*, hostname: str = "") -> None:
    """Write the time of this heartbeat (one row, upserted)."""
    hostname = fit_to_column(WorkerHeartbeat._meta.get_field("hostname"), hostname or "")
    WorkerHeartbeat.objects.update_or_create(key=KEY, defaults={"beat_at": timezone.now(), "hostname": hostname})


def age() -> timedelta | None:
    """How long ago a worker last recorded a heartbeat; None if none ever did."""
    beat_at = WorkerHeartbeat.objects.filter(key=KEY).values_list("beat_at", flat=True).first()
    return None if beat_at is None else timezone.now() - beat_at
