"""How services hand work to Celery workers: by task name, once the transaction commits.

Services must not import `curation.tasks`: the tasks import the services they
run. So work is sent by name (the tasks declare the same names), which keeps
the layers one-way: tasks -> services -> this module -> Celery.

Sending waits for the surrounding transaction to commit
(`transaction.on_commit`), so a worker never looks for rows that are not
visible yet, and a rolled-back request queues nothing.
"""

import logging
from collections.abc import Callable

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)

# Names kept from the first release: messages already queued in a running deployment use them.
REFRESH_BATCH = "curation.tasks.refresh_batch"
MATCH_IMPORT_CITATIONS = "curation.tasks.match_import_citations"
REFRESH_STALE_REFERENCES = "curation.tasks.refresh_stale_references"
EXPORT_RELEASE = "curation.tasks.export_release"
RECOVER_ABANDONED_REFRESHES = "curation.tasks.recover_abandoned_refreshes"
RECORD_HEARTBEAT = "curation.tasks.record_heartbeat"
# Literature triage.
RUN_DUE_SEARCHES = "curation.tasks.run_due_searches"
RUN_SEARCH = "curation.tasks.run_search"
FETCH_SEARCH_BATCH = "curation.tasks.fetch_search_batch"
PREVIEW_SEARCH = "curation.tasks.preview_search"
PROCESS_SUGGESTION = "curation.tasks.process_suggestion"


def send(name: str, *args, on_error: Callable[[Exception], None] | None = None) -> None:
    """Queue task `name` with `args` (primary keys and plain values) once the current transaction commits.

    `on_error` is called with the exception if the broker refuses the message
    (it is down, or the connection breaks): by then the transaction has
    committed, so the caller must record the failure itself, or the work it
    described would wait for good. Without `on_error` the exception propagates.
    """

    def send_now():
        try:
            _send_now(name, args)
        except Exception as exc:  # any broker or connection failure
            if on_error is None:
                raise
            logger.exception("could not queue %s%r", name, args)
            on_error(exc)

    transaction.on_commit(send_now)


def _send_now(name: str, args: tuple) -> None:
    # The one call to the broker; tests replace it (tests/conftest.py: `task_queue`).
    current_app.send_task(name, args=list(args))
