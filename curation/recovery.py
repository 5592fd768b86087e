"""Refresh runs that lost a batch get it back: found within minutes, queued again, never done twice.

How a batch gets lost, and what brings it back:

- The worker running it dies (kill -9 of its process group, the host lost, the
  pool's hard time limit). Its message was never acknowledged (`acks_late`), so
  Redis hands it to another worker once the visibility timeout passes
  (`CELERY_VISIBILITY_TIMEOUT`, a little more than the tasks' hard time limit).
  One pool process killed is faster still: the worker requeues its message at
  once (`task_reject_on_worker_lost`).
- The message itself is gone (Redis restarted without its data, or the broker
  refused it and the failure could not be recorded because the database was
  down too). Then only the database knows: its items stay "queued". Every live
  task touches its items when it begins (`RefreshItem.touched_at`), so an item
  untouched for `REFRESH_STUCK_AFTER` (longer than any task may hold a message)
  belongs to no live task. `recover_runs`, run by beat every
  `RECOVERY_INTERVAL` seconds, queues such items again in new batches.

Queuing twice is harmless: a batch skips items that already have an outcome and
locks the ones it writes, so a redelivered message and a recovered one never
both apply. An item lost `REFRESH_MAX_RECOVERIES` times fails with that reason
instead of looping (a batch that kills its worker every time, for instance).
A run whose items are all done but whose last batch could not close it is
closed here too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from curation import refresh
from curation.models import RefreshItem, RefreshRun

logger = logging.getLogger(__name__)

Outcome = RefreshItem.Outcome


@dataclass
class Recovery:
    """What one recovery pass did to one run."""

    run_id: int
    requeued: int = 0  # items queued again
    batches: int = 0
    failed: int = 0  # items lost too often, failed with the reason
    closed: bool = False  # the run had nothing left queued and was ended

    def __str__(self):
        parts = []
        if self.requeued:
            parts.append(f"{self.requeued} references queued again in {self.batches} batch(es)")
        if self.failed:
            parts.append(f"{self.failed} failed after {settings.REFRESH_MAX_RECOVERIES} lost batches")
        if self.closed:
            parts.append("closed (nothing was left to fetch)")
        return f"Refresh #{self.run_id}: " + ("; ".join(parts) or "nothing to recover")


@dataclass
class StuckReport:
    """Where an unfinished run stands: for `import_pmids --wait` and `refresh_references --wait` to say."""

    queued: int = 0
    stuck: int = 0  # of the queued: untouched by any task for REFRESH_STUCK_AFTER
    oldest_touch: timedelta | None = None
    recovered: int = 0  # items whose batch was lost at least once


def recover_runs(*, run_id: int | None = None, older_than: timedelta | None = None) -> list[Recovery]:
    """Queue again the items of unfinished runs that no live task holds; close runs with nothing left.

    `run_id` limits the pass to one run. `older_than` (default
    `REFRESH_STUCK_AFTER`) is how long an item must have gone untouched;
    `timedelta(0)` takes every queued item of the run at once, as an operator
    who knows its worker died may ask (`manage.py recover_runs --run N --now`).
    Idempotent: the items taken are touched, so a second pass at once finds
    nothing, and two passes at the same time take disjoint items.
    """
    runs = RefreshRun.objects.filter(state__in=refresh.ACTIVE_STATES)
    if run_id is not None:
        runs = runs.filter(pk=run_id)
    recoveries = []
    for active_run_id in runs.order_by("pk").values_list("pk", flat=True):
        recovery = _recover_run(active_run_id, older_than)
        if recovery.requeued or recovery.failed or recovery.closed or run_id is not None:
            recoveries.append(recovery)
            if recovery.requeued or recovery.failed or recovery.closed:
                logger.warning("recovery: %s", recovery)
    return recoveries


def _recover_run(run_id: int, older_than: timedelta | None) -> Recovery:
    recovery = Recovery(run_id)
    with transaction.atomic():
        # skip_locked: a batch applying these items right now holds their locks, so it is alive.
        stuck = list(
            refresh.stuck_items(older_than=older_than)
            .filter(run_id=run_id)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("reference_id")
            .values_list("pk", "reference_id", "recoveries")
        )
        limit = settings.REFRESH_MAX_RECOVERIES
        again = [(pk, reference_id) for pk, reference_id, times in stuck if times < limit]
        exhausted = [reference_id for _, reference_id, times in stuck if times >= limit]
        if again:
            RefreshItem.objects.filter(pk__in=[pk for pk, _ in again]).update(
                touched_at=timezone.now(), recoveries=F("recoveries") + 1
            )
            recovery.requeued = len(again)
            recovery.batches = refresh.enqueue_batches(run_id, [reference_id for _, reference_id in again])
    if exhausted:
        refresh.fail_batch(
            run_id,
            exhausted,
            f"Its batch was lost {limit} times (the worker died or the broker lost the message each time); "
            "not queued again. Refresh it by hand once the cause is found.",
        )
        recovery.failed = len(exhausted)
    if not stuck and not RefreshItem.objects.filter(run_id=run_id, outcome=Outcome.QUEUED).exists():
        refresh.finish_run_if_done(run_id)
        recovery.closed = not RefreshRun.objects.get(pk=run_id).is_active
    return recovery


def stuck_report(run: RefreshRun) -> StuckReport:
    """How many of `run`'s items are still queued, how many of those no task holds, since when."""
    queued = run.items.filter(outcome=Outcome.QUEUED)
    report = StuckReport(queued=queued.count())
    report.stuck = refresh.stuck_items().filter(run=run).count()
    report.recovered = run.items.filter(recoveries__gt=0).count()
    oldest = queued.exclude(touched_at=None).order_by("touched_at").values_list("touched_at", flat=True).first()
    if oldest is not None:
        report.oldest_touch = timezone.now() - oldest
    return report
