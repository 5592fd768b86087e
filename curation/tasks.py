"""Celery tasks: primary keys in, the work done by services in `curation.refresh` and `curation.importing`.

Every task is idempotent (its service skips work already recorded), runs with
`acks_late` so a worker that dies mid-task leaves it to another, and returns
early when its row is gone. Only NCBI's transient failures are retried, as
declared on the decorators; the HTTP client has already retried within the
request by then, so these retries wait longer, for an outage to pass.
"""

import logging

from celery import shared_task
from django.conf import settings

from curation import importing, refresh
from curation.pubmed import PubMedRateLimited, PubMedUnavailable

logger = logging.getLogger(__name__)

TRANSIENT = (PubMedUnavailable, PubMedRateLimited)
TASK_RETRIES = 3
# Task-level waits start where the client's own back-off stopped and double from there.
_RETRY = {
    "autoretry_for": TRANSIENT,
    "max_retries": TASK_RETRIES,
    "retry_backoff": int(max(1, settings.NCBI_BACKOFF_MAX)),
    "retry_backoff_max": int(max(1, 8 * settings.NCBI_BACKOFF_MAX)),
    "retry_jitter": True,
}


@shared_task(bind=True, acks_late=True, **_RETRY)
def refresh_batch(self, run_id: int, reference_ids: list[int]) -> str:
    """Fetch one batch of a refresh run from PubMed and apply it (see `refresh.run_batch`).

    On the last attempt a transient failure is no longer raised but recorded:
    the batch's references end "failed" with NCBI's reason.
    """
    final_attempt = self.request.retries >= self.max_retries
    try:
        return refresh.run_batch(run_id, reference_ids, final_attempt=final_attempt)
    except TRANSIENT:
        raise
    except Exception as exc:
        # A bug or a database error must not leave the run "running" forever.
        logger.exception("refresh run %s: batch failed unexpectedly", run_id)
        refresh.fail_batch(run_id, reference_ids, f"Internal error while applying PubMed data: {exc}")
        raise


@shared_task(acks_late=True)
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


@shared_task(bind=True, acks_late=True, **_RETRY)
def match_import_citations(self, import_id: int) -> str:
    """Resolve the citation strings of a `ReferenceImport` with ECitMatch (see `importing.match_import`)."""
    final_attempt = self.request.retries >= self.max_retries
    return importing.match_import(import_id, final_attempt=final_attempt)
