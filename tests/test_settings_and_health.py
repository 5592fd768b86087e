"""Configuration fails loudly, production settings pass Django's deploy checklist, and the probe answers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from resistance_atlas import env

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "x7#production-like-secret-for-the-deploy-check-0123456789abcdefghij",
    "DJANGO_ALLOWED_HOSTS": "atlas.example.org",
    "DATABASE_URL": "postgres://atlas@127.0.0.1:5432/atlas",
    "NCBI_EMAIL": "curators@atlas.example.org",
}


def _manage(*args, extra_env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "NCBI_"))}
    environment.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_the_deploy_checklist():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", extra_env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    settings_env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = _manage("check", extra_env=settings_env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    ("reader", "raw"),
    [
        (env.env_bool, "maybe"),
        (lambda name: env.env_int(name, 1), "ten"),
        (lambda name: env.env_float(name, 1.0), "-3"),
    ],
)
def test_a_malformed_setting_stops_the_process_with_its_name(monkeypatch, reader, raw):
    monkeypatch.setenv("ATLAS_TEST_SETTING", raw)
    with pytest.raises(ImproperlyConfigured, match="ATLAS_TEST_SETTING"):
        reader("ATLAS_TEST_SETTING")


@pytest.mark.django_db
def test_health_probe_answers_on_plain_http_from_any_host(client):
    from curation import heartbeat

    heartbeat.record(hostname="worker@test")
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"


def test_production_refuses_sqlite():
    result = _manage("check", extra_env={**PRODUCTION_ENV, "DATABASE_URL": "sqlite:////tmp/atlas.sqlite3"})
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_production_refuses_to_run_without_a_contact_address_for_ncbi():
    result = _manage("check", extra_env={**PRODUCTION_ENV, "NCBI_EMAIL": ""})
    assert result.returncode != 0
    assert "NCBI_EMAIL must be set" in result.stderr


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("short-but-random-Q7#x", "at least 50 characters"),
        ("ab" * 40, "at least 5 different characters"),
        ("django-insecure-" + "k3#9vX!q2Lm^7zR0pT&w4Yb8nC1dF6hJ$s5Ge*A", "django-insecure-"),
        ("dev-only-insecure-key-resistance-atlas-never-use-in-production", "development key"),
    ],
)
def test_production_refuses_to_start_with_a_weak_secret_key(secret, why):
    result = _manage("check", extra_env={**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr and why in result.stderr
    assert secret not in result.stderr  # the message must not print the secret itself


def test_a_weak_secret_key_is_accepted_in_development():
    result = _manage("check", extra_env={"DJANGO_DEBUG": "true", "DJANGO_SECRET_KEY": "short"})
    assert result.returncode == 0, result.stderr
