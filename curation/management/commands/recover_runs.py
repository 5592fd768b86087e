"""Recover refresh runs that lost a batch: `recover_runs [--run N] [--now] [--close]`."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from curation import recovery, refresh
from curation.management.argtypes import bounded_int
from curation.models import RefreshItem, RefreshRun


class Command(BaseCommand):
    help = (
        "Queue again the references of unfinished refresh runs that no worker holds, as beat's recovery pass does "
        f"every RECOVERY_INTERVAL seconds: references no task has touched for REFRESH_STUCK_AFTER seconds "
        f"(now {settings.REFRESH_STUCK_AFTER}). --run limits it to one run; --now takes every queued reference of "
        "that run at once (when you know its worker died); --close ends the run instead, failing what is still "
        "queued with a reason. Safe to repeat: nothing is fetched or recorded twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--run", type=bounded_int(1, 2**63 - 1), metavar="N", help="only refresh run N")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--now", action="store_true", help="with --run: do not wait for the stuck threshold")
        action.add_argument("--close", action="store_true", help="with --run: fail what is queued and end the run")

    def handle(self, *args, run, now, close, **options):
        if (now or close) and run is None:
            raise CommandError("--now and --close need --run N: they act on one run you name.")
        if run is not None:
            found = RefreshRun.objects.filter(pk=run).first()
            if found is None:
                raise CommandError(f"There is no refresh run #{run}.")
            if not found.is_active:
                self.stdout.write(f"{found} is {found.get_state_display().lower()} already: nothing to recover.")
                return
        if close:
            self._close(found)
            return
        recoveries = recovery.recover_runs(run_id=run, older_than=timedelta(0) if now else None)
        if not recoveries:
            self.stdout.write("No unfinished run has lost a batch.")
        for done in recoveries:
            self.stdout.write(str(done))
        if run is not None and not now and not any(r.requeued or r.failed or r.closed for r in recoveries):
            report = recovery.stuck_report(found)
            self.stdout.write(
                f"{report.queued} references of {found} are still queued and were touched by a task within "
                f"{settings.REFRESH_STUCK_AFTER} s; add --now to queue them again anyway."
            )

    def _close(self, run: RefreshRun) -> None:
        queued = list(run.items.filter(outcome=RefreshItem.Outcome.QUEUED).values_list("reference_id", flat=True))
        refresh.fail_batch(run.pk, queued, "Closed by hand (manage.py recover_runs --close) before it was fetched.")
        refresh.finish_run_if_done(run.pk)
        run.refresh_from_db()
        self.stdout.write(
            f"{run}: {len(queued)} queued references failed; the run is {run.get_state_display().lower()}."
        )
