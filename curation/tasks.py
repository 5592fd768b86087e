"""Celery tasks: primary keys in, the work done by services in `curation.refresh`, `curation.importing`,
`curation.triage` (saved searches) and `curation.candidates` (readers' suggestions).

Every task is idempotent (its service skips work already recorded) and
returns early when its row is gone; `acks_late` (set for every task in
settings) leaves the message of a worker that dies mid-task to another.
Services queue these tasks by name through `curation.task_queue`, never by
importing this module.

Only NCBI's transient failures are retried, as declared on the decorators;
the HTTP client has already retried within the request by then, so these
retries wait longer, for an outage to pass. When the last retry fails too,
the task records the failure through its service, so nothing stays queued.
"""

import logging
from contextlib import contextmanager

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model

from curation import candidates, heartbeat, importing, recovery, refresh, releases, task_queue, triage
from curation.pubmed import TRANSIENT_ERRORS

logger = logging.getLogger(__name__)

TASK_RETRIES = 3
# Task-level waits start where the client's own back-off stopped and double from there.
_RETRY = {
    "autoretry_for": TRANSIENT_ERRORS,
    "max_retries": TASK_RETRIES,
    "retry_backoff": int(max(1, settings.NCBI_BACKOFF_MAX)),
    "retry_backoff_max": int(max(1, 8 * settings.NCBI_BACKOFF_MAX)),
    "retry_jitter": True,
}


@contextmanager
def _last_attempt_recorded(task, record_failure):
    """Let a transient NCBI error through for a retry, except on the last attempt: then record it instead."""
    try:
        yield
    except TRANSIENT_ERRORS as exc:
        if task.request.retries < task.max_retries:
            raise
        record_failure(str(exc))


@shared_task(bind=True, name=task_queue.REFRESH_BATCH, **_RETRY)
def refresh_batch(self, run_id: int, reference_ids: list[int]) -> str:
    """Fetch one batch of a refresh run from PubMed and apply it (see `refresh.run_batch`).

    After the last retry, a transient failure ends the batch's references
    "failed" with NCBI's reason.
    """
    outcome = "failed"
    try:
        with _last_attempt_recorded(self, lambda reason: refresh.fail_batch(run_id, reference_ids, reason)):
            outcome = refresh.run_batch(run_id, reference_ids)
    except TRANSIENT_ERRORS:
        raise
    except SoftTimeLimitExceeded:
        limit = settings.TASK_SOFT_TIME_LIMIT
        refresh.fail_batch(run_id, reference_ids, f"The PubMed fetch took longer than {limit} s and was stopped.")
        return "failed: time limit"
    except Exception as exc:
        # A bug or a database error must not leave the run "running" forever.
        logger.exception("refresh run %s: batch failed unexpectedly", run_id)
        refresh.fail_batch(run_id, reference_ids, f"Internal error while applying PubMed data: {exc}")
        raise
    return outcome


@shared_task(name=task_queue.REFRESH_STALE_REFERENCES)
def refresh_stale_references() -> int | None:
    """Celery beat, daily: refresh references not fetched for `REFERENCE_STALE_DAYS`; returns the run id.

    Runs that lost a batch are closed first, so that their references count as stale again.
    """
    closed = refresh.fail_abandoned_runs()
    if closed:
        logger.warning("stale refresh: closed %s abandoned refresh runs", closed)
    try:
        run = refresh.start_refresh(scope=refresh.Scope.STALE)
    except refresh.NothingToRefresh:
        logger.info("stale refresh: nothing is stale")
        return None
    return run.pk


@shared_task(name=task_queue.RECOVER_ABANDONED_REFRESHES)
def recover_abandoned_refreshes() -> int:
    """Celery beat, every `RECOVERY_INTERVAL` s: queue again refresh items no live task holds (`recovery.recover_runs`).

    Returns how many references were queued again.
    """
    return sum(r.requeued for r in recovery.recover_runs())


@shared_task(bind=True, name=task_queue.RECORD_HEARTBEAT)
def record_heartbeat(self) -> None:
    """Celery beat, every `HEARTBEAT_INTERVAL` s: note that a worker ran a task just now (read by /healthz)."""
    heartbeat.record(hostname=self.request.hostname or "")


@shared_task(bind=True, name=task_queue.MATCH_IMPORT_CITATIONS, **_RETRY)
def match_import_citations(self, import_id: int) -> str:
    """Resolve the citation strings of a `ReferenceImport` with ECitMatch (see `importing.match_import`).

    After the last retry, a transient failure marks the import failed with NCBI's reason.
    """
    outcome = "failed"
    with _last_attempt_recorded(self, lambda reason: importing.fail_matching(import_id, reason)):
        outcome = importing.match_import(import_id)
    return outcome


# A release serialises the whole atlas, so it may run longer than the tasks' common limits (which bound
# a PubMed batch). Past the broker's visibility timeout its message may be delivered again meanwhile:
# that copy finds the build in progress and returns at once.
RELEASE_SOFT_TIME_LIMIT = 1800


@shared_task(
    name=task_queue.EXPORT_RELEASE, soft_time_limit=RELEASE_SOFT_TIME_LIMIT, time_limit=RELEASE_SOFT_TIME_LIMIT + 60
)
def export_release(requested_by_id: int | None = None) -> int | None:
    """Celery beat, monthly, and the admin's "Make a release now": write a data release; returns its number.

    Returns None when another release is being built (that build's release is the one asked for).
    """
    by = get_user_model().objects.filter(pk=requested_by_id).first() if requested_by_id else None
    try:
        return releases.export_release(by=by).number
    except releases.ReleaseInProgress:
        logger.info("data release: another build is running")
        return None


def _guarded(run_id: int, work):
    """Run `work()`; a bug or a database error fails the saved-search run instead of leaving it going forever."""
    try:
        return work()
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        logger.exception("saved search run %s failed unexpectedly", run_id)
        triage.fail_run(run_id, f"Internal error: {exc}")
        raise


@shared_task(name=task_queue.RUN_DUE_SEARCHES)
def run_due_searches() -> list[int]:
    """Celery beat, hourly: start a run of every saved search that is due (see `triage.start_due_searches`)."""
    return [run.pk for run in triage.start_due_searches()]


@shared_task(bind=True, name=task_queue.RUN_SEARCH, **_RETRY)
def run_search(self, run_id: int) -> str:
    """ESearch a saved search's window and queue the efetch of its new PMIDs (see `triage.run_search`).

    After the last retry, a transient failure ends the run "failed" with NCBI's reason.
    """
    with _last_attempt_recorded(self, lambda reason: triage.fail_run(run_id, reason)):
        return _guarded(run_id, lambda: triage.run_search(run_id))
    return "failed"


@shared_task(bind=True, name=task_queue.FETCH_SEARCH_BATCH, **_RETRY)
def fetch_search_batch(self, run_id: int, pmids: list[int]) -> str:
    """Fetch one batch of a run's new PMIDs from PubMed (see `triage.fetch_batch`); the last batch ends the run."""
    with _last_attempt_recorded(self, lambda reason: triage.fail_run(run_id, reason)):
        return _guarded(run_id, lambda: triage.fetch_batch(run_id, pmids))
    return "failed"


@shared_task(bind=True, name=task_queue.PREVIEW_SEARCH, **_RETRY)
def preview_search(self, preview_id: int) -> str:
    """Count a query's hits and fetch its first titles for a preview (see `triage.run_preview`)."""
    with _last_attempt_recorded(self, lambda reason: triage.fail_preview(preview_id, reason)):
        return triage.run_preview(preview_id)
    return "failed"


@shared_task(bind=True, name=task_queue.PROCESS_SUGGESTION, **_RETRY)
def process_suggestion(self, suggestion_id: int) -> str:
    """Look up a reader's suggestion and put its paper in the queue (see `candidates.process_suggestion`)."""
    with _last_attempt_recorded(self, lambda reason: candidates.fail_suggestion(suggestion_id, reason)):
        return candidates.process_suggestion(suggestion_id)
    return "failed"
