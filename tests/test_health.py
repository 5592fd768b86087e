"""/healthz tells a load balancer which part is failing: the database, the broker or the workers.

The database being down for real (a PostgreSQL of the test's own, stopped) is in
tests/test_fault_tolerance.py; here the broker is pointed at a port nothing
listens on, and the heartbeat is aged by hand.
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from curation import heartbeat
from curation import task_queue as queue_names
from curation.models import WorkerHeartbeat
from resistance_atlas.celery import app as celery_app
from tests.throwaway_services import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def healthy(settings, redis_url):
    """A reachable broker and a fresh heartbeat: everything /healthz checks passes."""
    settings.CELERY_BROKER_URL = redis_url
    heartbeat.record(hostname="celery@worker-1")
    return settings


def test_healthz_answers_200_naming_each_part_when_all_is_well(client, healthy):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] == "ok"
    assert body["checks"]["worker"].startswith("ok (last heartbeat ")
    assert response["Cache-Control"] == "no-store"


def test_healthz_answers_503_naming_the_broker_when_nothing_listens_there(client, healthy):
    healthy.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    began = time.monotonic()
    response = client.get("/healthz")

    assert time.monotonic() - began < 3  # bounded: a load balancer's probe has a timeout of its own
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["failing"] == ["broker"]
    assert "ConnectionError" in body["checks"]["broker"]
    assert body["checks"]["database"] == "ok"


def test_healthz_answers_503_naming_the_worker_when_its_heartbeat_is_old(client, healthy):
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(seconds=healthy.HEARTBEAT_MAX_AGE + 5))

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["worker"]
    assert f"more than {healthy.HEARTBEAT_MAX_AGE} s" in body["checks"]["worker"]


def test_healthz_answers_503_naming_the_worker_before_any_heartbeat(client, healthy):
    WorkerHeartbeat.objects.all().delete()

    body = client.get("/healthz").json()

    assert body["failing"] == ["worker"]
    assert "no worker has ever recorded a heartbeat" in body["checks"]["worker"]


def test_the_heartbeat_task_a_worker_runs_records_the_time_and_its_host(client, healthy):
    WorkerHeartbeat.objects.all().delete()

    celery_app.tasks[queue_names.RECORD_HEARTBEAT].apply(throw=True)

    assert heartbeat.age() < timedelta(seconds=5)
    assert client.get("/healthz").status_code == 200


def test_beat_schedules_the_heartbeat_often_enough_for_the_age_healthz_allows(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["worker-heartbeat"]
    assert entry["task"] == queue_names.RECORD_HEARTBEAT
    assert entry["schedule"] * 2 < settings.HEARTBEAT_MAX_AGE  # one late or lost heartbeat is no alarm


def test_the_liveness_probe_touches_no_database_and_no_broker(client, django_assert_num_queries, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    with django_assert_num_queries(0):
        response = client.get("/healthz/live", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_check_heartbeat_exits_0_with_a_recent_heartbeat_and_1_with_an_old_one(healthy):
    from django.core.management.base import CommandError

    from tests.commands import run_command

    assert run_command("check_heartbeat").startswith("Heartbeat ")
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(seconds=100))
    with pytest.raises(CommandError, match="100 s old"):
        run_command("check_heartbeat", "--max-age", "60")
    assert run_command("check_heartbeat", "--max-age", "200").startswith("Heartbeat ")


def test_healthz_only_checks_the_parts_named(client, healthy):
    WorkerHeartbeat.objects.all().delete()

    response = client.get("/healthz?only=database,broker")

    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database", "broker"}
