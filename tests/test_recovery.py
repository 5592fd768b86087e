"""A refresh run that lost a batch gets it back, once, and the commands say what is stuck.

The batch tasks run in this process (`task_queue`): what is tested here is the
bookkeeping (which items count as lost, that they are queued again once and
fetched once). tests/test_fault_tolerance.py kills real workers and restarts
real servers.
"""

from datetime import timedelta

import pytest
from django.core.management.base import CommandError
from django.db.models import Count
from django.utils import timezone

from curation import recovery, refresh
from curation import task_queue as queue_names
from curation.models import MetadataState, Reference, RefreshItem, RefreshRun
from tests.commands import run_command
from tests.fixtures_ncbi import add_pending, new_pmids

pytestmark = pytest.mark.django_db

Outcome = RefreshItem.Outcome


@pytest.fixture
def lost_run(ncbi_settings, task_queue, fake_eutils, django_capture_on_commit_callbacks):
    """A run of 5 references whose batch message was lost an hour ago: queued, untouched since, nothing running."""
    references = add_pending(*new_pmids(fake_eutils, 5))
    with django_capture_on_commit_callbacks(execute=True):
        run = refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=references)
    task_queue.clear()  # the message is gone, as when Redis restarted without it
    run.items.update(touched_at=timezone.now() - timedelta(hours=1))
    return run


def recover(capture, **kwargs):
    with capture(execute=True):
        return recovery.recover_runs(**kwargs)


def test_a_lost_batch_is_queued_again_once_and_its_references_fetched_once(
    lost_run, task_queue, django_capture_on_commit_callbacks
):
    recovered = recover(django_capture_on_commit_callbacks)

    assert [(r.run_id, r.requeued, r.batches) for r in recovered] == [(lost_run.pk, 5, 1)]
    assert len(task_queue.args_of(queue_names.REFRESH_BATCH)) == 1
    assert recover(django_capture_on_commit_callbacks) == []  # a second pass at once finds nothing
    assert len(task_queue.args_of(queue_names.REFRESH_BATCH)) == 1

    task_queue.run(queue_names.REFRESH_BATCH, throw=False)
    lost_run.refresh_from_db()
    assert lost_run.state == RefreshRun.State.FINISHED
    assert lost_run.counts()["updated"] == 5
    assert set(lost_run.items.values_list("recoveries", flat=True)) == {1}
    history = Reference.history.filter(history_change_reason=f"PubMed refresh #{lost_run.pk}")
    assert history.count() == 5
    assert not history.values("id").annotate(n=Count("pk")).filter(n__gt=1).exists()


def test_a_batch_a_worker_touched_recently_is_left_to_that_worker(
    lost_run, task_queue, django_capture_on_commit_callbacks
):
    lost_run.items.update(touched_at=timezone.now())

    assert recover(django_capture_on_commit_callbacks) == []
    assert task_queue.args_of(queue_names.REFRESH_BATCH) == []


def test_a_batch_lost_again_and_again_fails_with_the_reason_instead_of_looping(
    lost_run, task_queue, ncbi_settings, django_capture_on_commit_callbacks
):
    ncbi_settings.REFRESH_MAX_RECOVERIES = 2
    for _ in range(2):
        recover(django_capture_on_commit_callbacks)
        task_queue.clear()  # lost once more
        lost_run.items.update(touched_at=timezone.now() - timedelta(hours=1))

    [last] = recover(django_capture_on_commit_callbacks)

    assert last.failed == 5 and last.requeued == 0
    lost_run.refresh_from_db()
    assert lost_run.state == RefreshRun.State.FAILED
    assert all("lost 2 times" in error for error in lost_run.items.values_list("error", flat=True))
    assert Reference.objects.filter(metadata_state=MetadataState.FAILED).count() == 5


def test_a_run_left_running_with_nothing_queued_is_closed(lost_run, task_queue, django_capture_on_commit_callbacks):
    lost_run.items.update(outcome=Outcome.UNCHANGED)
    RefreshRun.objects.filter(pk=lost_run.pk).update(state=RefreshRun.State.RUNNING)

    [closed] = recover(django_capture_on_commit_callbacks)

    assert closed.closed
    lost_run.refresh_from_db()
    assert lost_run.state == RefreshRun.State.FINISHED


def test_refresh_stale_zero_takes_over_stuck_references_and_skips_those_a_worker_holds(
    lost_run, task_queue, fake_eutils, django_capture_on_commit_callbacks
):
    held = add_pending(*new_pmids(fake_eutils, 2))
    with django_capture_on_commit_callbacks(execute=True):
        live = refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=held)

    with django_capture_on_commit_callbacks(execute=True):
        output = run_command("refresh_references", "--stale", "0")

    assert "5 references" in output
    stale_run = RefreshRun.objects.filter(scope=RefreshRun.Scope.STALE).get()
    assert set(stale_run.items.values_list("reference_id", flat=True)) == set(
        lost_run.items.values_list("reference_id", flat=True)
    )
    lost_run.refresh_from_db()
    assert lost_run.state == RefreshRun.State.FAILED  # its lost items were handed over, not left queued twice
    assert all(f"{stale_run} fetches it" in e for e in lost_run.items.values_list("error", flat=True))
    assert live.items.filter(outcome=Outcome.QUEUED).count() == 2

    task_queue.run(queue_names.REFRESH_BATCH, throw=False)
    assert Reference.objects.filter(metadata_state=MetadataState.NEEDS_REVIEW).count() == 7


def test_waiting_for_a_stuck_run_stops_at_once_and_names_what_is_stuck_and_the_command(lost_run):
    with pytest.raises(CommandError) as refused:
        from curation.management.commands._pubmed_cli import wait_for_run

        class Quiet:
            stdout = type("Out", (), {"isatty": lambda self: False, "write": lambda self, *a, **k: None})()

        wait_for_run(Quiet(), lost_run, timeout=600)

    message = str(refused.value)
    assert "5 of 5 queued references are stuck" in message
    assert f"recover_runs --run {lost_run.pk} --now" in message


def test_waiting_is_bounded_and_says_nothing_is_stuck_yet_when_a_worker_is_just_slow(lost_run):
    lost_run.items.update(touched_at=timezone.now())
    with pytest.raises(CommandError, match=r"Gave up waiting after 0.5 s.*1 reference is still queued.*none stuck yet"):
        run_command("refresh_references", str(lost_run.items.first().reference.pmid), "--wait", "--timeout", "0.5")


def test_recover_runs_by_hand_queues_a_named_run_now_or_closes_it(
    lost_run, task_queue, django_capture_on_commit_callbacks
):
    lost_run.items.update(touched_at=timezone.now())  # recent: only --now takes them
    assert "add --now" in run_command("recover_runs", "--run", str(lost_run.pk))

    with django_capture_on_commit_callbacks(execute=True):
        output = run_command("recover_runs", "--run", str(lost_run.pk), "--now")
    assert "5 references queued again in 1 batch(es)" in output
    assert len(task_queue.args_of(queue_names.REFRESH_BATCH)) == 1

    output = run_command("recover_runs", "--run", str(lost_run.pk), "--close")
    assert "5 queued references failed; the run is failed" in output
    assert "failed already" in run_command("recover_runs", "--run", str(lost_run.pk))
    with pytest.raises(CommandError, match="no refresh run #999999"):
        run_command("recover_runs", "--run", "999999")
    with pytest.raises(CommandError, match="need --run"):
        run_command("recover_runs", "--now")


def test_settings_refuse_a_redelivery_window_a_live_task_could_outlast():
    import os
    import subprocess
    import sys
    from pathlib import Path

    environment = {
        **os.environ,
        "TASK_SOFT_TIME_LIMIT": "100",
        "TASK_TIME_LIMIT": "120",
        "CELERY_VISIBILITY_TIMEOUT": "60",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=Path(__file__).resolve().parent.parent, env=environment,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT must be at least 241" in result.stderr  # the 240 s retry wait is longer


def test_a_broker_without_redis_gets_no_redis_transport_options():
    import os
    import subprocess
    import sys
    from pathlib import Path

    environment = {**os.environ, "CELERY_BROKER_URL": "sqla+sqlite:////tmp/ra-test-broker.sqlite3"}
    code = "from django.conf import settings; print(getattr(settings, 'CELERY_BROKER_TRANSPORT_OPTIONS', {}))"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=Path(__file__).resolve().parent.parent,
        env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("{}")
