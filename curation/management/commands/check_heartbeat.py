"""Exit 0 if a worker recorded a heartbeat recently, 1 otherwise: the health check of beat and the worker.

`check_heartbeat [--max-age SECONDS]` (HEARTBEAT_MAX_AGE by default). The
heartbeat is a task beat queues and a worker runs (curation.heartbeat), so a
recent one proves beat, the broker and a worker all work; /healthz reports the
same age to a load balancer.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from curation import heartbeat
from curation.management.argtypes import bounded_int


class Command(BaseCommand):
    help = (
        "Exit with status 0 if a Celery worker ran beat's heartbeat task within --max-age seconds "
        "(HEARTBEAT_MAX_AGE by default), 1 otherwise. For container health checks of beat and the worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-age", type=bounded_int(1, 7 * 24 * 3600), metavar="SECONDS")

    def handle(self, *args, max_age, **options):
        limit = max_age or settings.HEARTBEAT_MAX_AGE
        age = heartbeat.age()
        if age is None:
            raise CommandError("No worker has recorded a heartbeat yet: are a Celery worker and beat running?")
        seconds = int(age.total_seconds())
        if seconds > limit:
            raise CommandError(
                f"The last heartbeat is {seconds} s old (more than {limit} s): is beat running? a worker?"
            )
        self.stdout.write(f"Heartbeat {seconds} s ago.")
