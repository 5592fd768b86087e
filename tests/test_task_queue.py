"""Services queue work by task name (curation.task_queue); the names must be tasks a worker runs."""

import pytest
from kombu.exceptions import OperationalError

from curation import task_queue as queueing
from resistance_atlas.celery import app as celery_app

QUEUED_BY_NAME = [queueing.REFRESH_BATCH, queueing.MATCH_IMPORT_CITATIONS, queueing.REFRESH_STALE_REFERENCES]


@pytest.mark.parametrize("name", QUEUED_BY_NAME)
def test_every_name_services_queue_is_a_task_the_worker_runs(name):
    assert name in celery_app.tasks


def test_the_beat_schedule_names_tasks_that_exist(settings):
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in celery_app.tasks


@pytest.mark.django_db
def test_nothing_is_sent_before_the_transaction_commits(task_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        queueing.send(queueing.REFRESH_BATCH, 1, [2, 3])
    assert task_queue == []

    for callback in callbacks:
        callback()

    assert task_queue == [(queueing.REFRESH_BATCH, (1, [2, 3]))]


@pytest.mark.django_db
def test_a_broker_that_refuses_the_message_is_reported_to_the_caller(monkeypatch, django_capture_on_commit_callbacks):
    def refuse(name, args):
        raise OperationalError("Connection refused")

    monkeypatch.setattr(queueing, "_send_now", refuse)
    failures = []

    with django_capture_on_commit_callbacks(execute=True):
        queueing.send(queueing.REFRESH_BATCH, 1, [2], on_error=failures.append)

    assert [str(exc) for exc in failures] == ["Connection refused"]
