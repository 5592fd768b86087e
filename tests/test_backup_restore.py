"""A backup restores into a fresh database as the same atlas, row for row, history included.

The round trip runs the scripts an operator runs (scripts/backup.sh, then
scripts/restore.sh into a database made with createdb) against the shared
PostgreSQL server: the source is pytest-django's test database, the target a
uniquely named database dropped afterwards. Every table of the source is
compared with the restored one, row by row, and every sequence, so that rows
added after a restore do not collide with restored ones.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings

from curation.models import CitationUpdate, Mechanism
from tests.test_pipeline_integration import _database_url

pytestmark = [pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parent.parent


def _admin_url(database: str) -> str:
    return _database_url().rsplit("/", 1)[0] + "/" + database


@pytest.fixture
def empty_database(postgres):
    """A new, empty database on the test server; dropped at the end."""
    name = f"ra_restore_test_{uuid.uuid4().hex[:12]}"
    db = settings.DATABASES["default"]
    server = [
        "-h",
        db.get("HOST") or "127.0.0.1",
        "-p",
        str(db.get("PORT") or 5432),
        "-U",
        db.get("USER") or "postgres",
    ]
    env = {"PGPASSWORD": db.get("PASSWORD") or ""}
    subprocess.run(["createdb", *server, name], check=True, capture_output=True, env={**os.environ, **env})
    yield _admin_url(name)
    subprocess.run(
        ["dropdb", "--if-exists", *server, name], check=False, capture_output=True, env={**os.environ, **env}
    )


def _script(name: str, *args: str, database_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(REPO / "scripts" / name), *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _everything(url: str) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Every row of every table (as PostgreSQL's text form of the row, sorted) and every sequence's value."""
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        tables = [name for (name,) in cursor.fetchall()]
        rows = {}
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" AS t')  # noqa: S608 - names from the catalogue
            rows[table] = sorted(text for (text,) in cursor.fetchall())
        cursor.execute("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")
        sequences = dict(cursor.fetchall())
    connection.close()
    return rows, sequences


@pytest.fixture
def curated_atlas(published_atlas, alice):
    """The published atlas plus curators' work in progress: a pending citation update, a verified reference."""
    reference = published_atlas.references[0]
    CitationUpdate.objects.create(reference=reference, diff={"title": {"old": reference.title, "new": "Ti<i>t</i>le"}})
    mechanism = published_atlas.b2m_loss
    mechanism.summary = "Edited by a curator, with history: β2M, “quotes”, <b>markup</b> and a\ttab."
    mechanism.version += 1
    mechanism._history_user = alice
    mechanism.save()
    return published_atlas


def test_a_backup_restored_into_a_fresh_database_reproduces_every_row_and_its_history(
    curated_atlas, empty_database, tmp_path
):
    source = _database_url()
    dump = tmp_path / "atlas.dump"

    backed_up = _script("backup.sh", str(dump), database_url=source)
    assert backed_up.returncode == 0, backed_up.stderr
    assert dump.stat().st_size > 0 and not Path(f"{dump}.partial").exists()
    restored = _script("restore.sh", str(dump), database_url=empty_database)
    assert restored.returncode == 0, restored.stderr

    rows, sequences = _everything(source)
    restored_rows, restored_sequences = _everything(empty_database)
    assert set(restored_rows) == set(rows)
    for table, expected in rows.items():
        assert restored_rows[table] == expected, f"{table} differs after the restore"
    assert restored_sequences == sequences
    # What was compared holds the curated work and its history, not just empty tables.
    assert len(rows["curation_historicalmechanism"]) >= Mechanism.objects.count() + 1
    assert len(rows["curation_citationupdate"]) == 1
    assert any("Edited by a curator" in row for row in rows["curation_historicalmechanism"])

    # The restored database is a complete atlas at this code's schema: nothing left to migrate.
    check = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check", "--noinput"],
        cwd=REPO, env={**os.environ, "DATABASE_URL": empty_database}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_restore_refuses_a_database_that_already_has_tables(curated_atlas, tmp_path):
    dump = tmp_path / "atlas.dump"
    assert _script("backup.sh", str(dump), database_url=_database_url()).returncode == 0

    refused = _script("restore.sh", str(dump), database_url=_database_url())

    assert refused.returncode == 1
    assert "already has" in refused.stderr and "restore only into an empty one" in refused.stderr
    assert Mechanism.objects.filter(slug="b2m-loss").exists()
