"""docker-compose.yml keeps every service up and its data on volumes (docker itself cannot run here)."""

from pathlib import Path

import pytest
import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())
LONG_RUNNING = [name for name, service in COMPOSE["services"].items() if "backup" not in service.get("profiles", [])]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_restarts_by_itself_and_has_a_health_check(name):
    service = COMPOSE["services"][name]
    assert service["restart"] == "unless-stopped"
    assert service["healthcheck"]["test"]


def test_the_database_redis_releases_and_beat_schedule_live_on_named_volumes():
    mounts = {name: " ".join(service.get("volumes", [])) for name, service in COMPOSE["services"].items()}
    assert "postgres-data:/var/lib/postgresql/data" in mounts["db"]
    assert "redis-data:/data" in mounts["redis"] and "--appendonly yes" in COMPOSE["services"]["redis"]["command"]
    assert "releases:/app/releases" in mounts["web"] and "releases:/app/releases" in mounts["worker"]
    assert "beat-schedule:/app/var" in mounts["beat"]
    assert set(COMPOSE["volumes"]) >= {"postgres-data", "redis-data", "releases", "beat-schedule"}


def test_the_backup_service_runs_the_tested_script_only_when_asked():
    backup = COMPOSE["services"]["backup"]
    assert backup["profiles"] == ["backup"]
    assert backup["entrypoint"] == ["bash", "/scripts/backup.sh"]
