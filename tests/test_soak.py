"""Soak: 5,000 references refreshed through a faulty NCBI while a worker is killed. `make soak`; not in `make test`.

The fake answers 10% of efetch requests with a 5xx (500, 502 or 503), 5% with truncated XML and
stalls 2% (no answer: the client times out). Three prefork workers (two
processes each) share the run; beat runs inside one of them, so the recovery
pass is live. A third of the way through, another worker's whole process group
is killed with SIGKILL and a fresh worker takes its place.

Half the references are verified by a curator (their metadata must not change:
differences become citation updates), half were never fetched (they take
PubMed's record). Every reference must end with an outcome (updated,
unchanged, differences pending review, or failed with its reason), nothing may
be written twice, and the run must end within SOAK_BOUND_SECONDS. The figures
are printed (run with -s) and written to SOAK_REPORT when it names a file;
docs/resilience.md quotes them.
"""

import json
import os
import time
from collections import Counter

import pytest
from django.db.models import Count
from django.utils import timezone

from curation import refresh
from curation.models import CitationUpdate, MetadataState, Reference, RefreshItem, RefreshRun
from tests.test_fault_tolerance import broker, finished, wait_until, workers  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.soak, pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

REFERENCES = int(os.environ.get("SOAK_REFERENCES", "5000"))
# 10% 5xx (spread over the three NCBI's front ends send), 5% truncated XML, 2% stalls.
FAULT_RATES = {"http500": 0.03, "http502": 0.03, "http503": 0.04, "truncated": 0.05, "stall": 0.02}
BATCH_SIZE = 100
SOAK_BOUND_SECONDS = 300
# Production's retry policy (5 attempts per request, 3 task retries) with shorter waits and limits, so
# that the killed worker's batches come back after 30 s instead of 6 minutes.
WORKER_ENV = {
    "NCBI_TIMEOUT": "2",
    "NCBI_MAX_ATTEMPTS": "5",
    "NCBI_BACKOFF_BASE": "0.2",
    "NCBI_BACKOFF_MAX": "2",
    "TASK_SOFT_TIME_LIMIT": "20",
    "TASK_TIME_LIMIT": "25",
    "CELERY_VISIBILITY_TIMEOUT": "30",
    "REFRESH_STUCK_AFTER": "40",
    "RECOVERY_INTERVAL": "5",
}
REVIEWED = refresh.REVIEWED_FIELDS


def _curated(references):
    return {r.pmid: {name: getattr(r, name) for name in REVIEWED} for r in references}


def test_soak_five_thousand_references_through_faults_and_a_killed_worker(workers, fake_eutils, ncbi_settings):  # noqa: F811
    ncbi_settings.NCBI_BATCH_SIZE = BATCH_SIZE
    pmids = list(range(34_000_000, 34_000_000 + REFERENCES))
    half = REFERENCES // 2
    fake_eutils.add_synthetic(pmids)
    now = timezone.now()
    Reference.objects.bulk_create(
        [
            Reference(
                pmid=pmid, title=f"Curated title of {pmid}", journal_title="Curated Journal", volume="1",
                pages="1-2", pub_year=2001, metadata_state=MetadataState.VERIFIED, verified_at=now, fetched_at=now,
            )
            for pmid in pmids[:half]
        ]
        + [Reference(pmid=pmid) for pmid in pmids[half:]],
        batch_size=1000,
    )  # fmt: skip
    curated_before = _curated(Reference.objects.filter(pmid__in=pmids[:half]))

    fake_eutils.stall_seconds = 3  # longer than NCBI_TIMEOUT: the client gives up first
    fake_eutils.fail_at_rates(FAULT_RATES, seed=8)
    victim = workers.start(concurrency=2, **WORKER_ENV)
    workers.start(concurrency=2, beat=True, **WORKER_ENV)
    workers.start(concurrency=2, **WORKER_ENV)
    began = time.monotonic()
    run = refresh.start_refresh(scope=RefreshRun.Scope.ALL)

    def a_third_done():
        return run.items.exclude(outcome=RefreshItem.Outcome.QUEUED).count() >= REFERENCES // 3

    wait_until(a_third_done, timeout=SOAK_BOUND_SECONDS, what="a third of the run")
    killed_at = time.monotonic() - began
    workers.kill_group(victim)
    workers.start(concurrency=2, **WORKER_ENV)
    finished(run, timeout=SOAK_BOUND_SECONDS)
    elapsed = time.monotonic() - began

    items = list(run.items.select_related("reference"))
    outcomes = Counter(item.outcome for item in items)
    failed = [item for item in items if item.outcome == RefreshItem.Outcome.FAILED]
    curated_after = _curated(Reference.objects.filter(pmid__in=pmids[:half]))
    changed = sum(curated_before[pmid] != curated_after[pmid] for pmid in curated_before)
    history = Reference.history.filter(history_change_reason=f"PubMed refresh #{run.pk}")
    efetches = fake_eutils.requests_to("efetch.fcgi")
    report = {
        "references": REFERENCES,
        "batches": -(-REFERENCES // BATCH_SIZE),
        "fault_rates": FAULT_RATES,
        "efetch_requests": len(efetches),
        "faults_injected": dict(fake_eutils.injected_faults),
        "http_429": fake_eutils.rate_limited_count,
        # Whole answers beyond one per batch: batches a worker fetched and then could not acknowledge (killed).
        "batches_fetched_twice": sum(r.status == 200 for r in efetches)
        - fake_eutils.injected_faults["truncated"]
        - -(-REFERENCES // BATCH_SIZE),
        "worker_killed_after_s": round(killed_at, 1),
        "run_seconds": round(elapsed, 1),
        "outcomes": dict(outcomes),
        "failed_reasons": dict(Counter(item.error.split(":")[0][:80] for item in failed)),
        "recovered_items": sum(item.recoveries > 0 for item in items),
        "curated_fields_changed": changed,
        "duplicate_items": len(items) - len({item.reference_id for item in items}),
        "duplicate_history_rows": history.values("id").annotate(n=Count("pk")).filter(n__gt=1).count(),
        "pending_updates_per_reference_max": max(
            CitationUpdate.objects.filter(decision="pending").values("reference").annotate(n=Count("pk"))
            .values_list("n", flat=True), default=0,
        ),
    }  # fmt: skip
    print("\nSOAK " + json.dumps(report, indent=2))
    if os.environ.get("SOAK_REPORT"):
        with open(os.environ["SOAK_REPORT"], "w") as out:
            json.dump(report, out, indent=2)

    assert run.state == RefreshRun.State.FINISHED, run.error
    assert len(items) == REFERENCES and outcomes[RefreshItem.Outcome.QUEUED] == 0
    assert set(outcomes) <= {"updated", "unchanged", "update-pending", "failed"}
    assert all(item.error for item in failed)  # every failure says why
    assert all(item.reference.last_error == item.error for item in failed)
    assert changed == 0
    assert report["duplicate_items"] == 0 and report["duplicate_history_rows"] == 0
    assert report["pending_updates_per_reference_max"] <= 1
    assert outcomes["updated"] + outcomes["failed"] >= REFERENCES - half  # the never-fetched half
    assert elapsed < SOAK_BOUND_SECONDS
    assert fake_eutils.max_requests_per_second() <= 10
