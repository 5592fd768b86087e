"""The atlas's content version: a stamp that changes whenever anything a public page shows changes.

The database keeps it: triggers on every table a public page reads (WATCHED_TABLES)
bump one row, `ContentVersion`, in the same commit as the change (migration 0016
explains how without a lock held across transactions). Whatever writes, a save, a
publish or retire, a reference refresh's raw SQL or psql, the stamp moves with it.

The public page cache keys pages by `current()`, and their ETag and Last-Modified
come from it, so a page is fresh as soon as the change that alters it has committed.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection

# Must name the same tables as migration 0016 (tests/test_page_cache.py checks the triggers).
WATCHED_TABLES = (
    "curation_mechanism",
    "curation_mechanism_genes",
    "curation_mechanism_therapies",
    "curation_mechanism_cancer_types",
    "curation_evidence",
    "curation_reference",
    "curation_gene",
    "curation_therapy",
    "curation_cancertype",
    "curation_datarelease",
    "curation_historicalmechanism",
    "curation_historicalmechanism_genes",
    "curation_historicalmechanism_therapies",
    "curation_historicalmechanism_cancer_types",
    "curation_historicalevidence",
    "curation_historicalreference",
    "curation_historicalgene",
    "curation_historicaltherapy",
    "curation_historicalcancertype",
)
# Curation's own bookkeeping, which no public page shows: a change there leaves pages as they are.
PRIVATE_TABLES = (
    "curation_candidate",
    "curation_candidatemechanism",
    "curation_candidatesource",
    "curation_citationupdate",
    "curation_contentversion",
    "curation_historicalcandidate",
    "curation_historicalsavedsearch",
    "curation_historicalsavedsearch_mechanisms",
    "curation_referenceimport",
    "curation_refreshitem",
    "curation_refreshrun",
    "curation_savedsearch",
    "curation_savedsearch_mechanisms",
    "curation_searchpreview",
    "curation_searchrun",
    "curation_searchrunitem",
    "curation_suggestion",
    "curation_workerheartbeat",
)


@dataclass(frozen=True)
class Stamp:
    counter: int
    changed_at: datetime | None

    @property
    def token(self) -> str:
        """Unique over time: the counter alone could repeat after a database is emptied and refilled."""
        moment = self.changed_at.timestamp() if self.changed_at else 0
        return f"{self.counter}.{moment:.6f}"


_CURRENT = "SELECT counter, changed_at FROM curation_contentversion WHERE id = 1"


def current() -> Stamp:
    """The content version now: one single-row read by primary key.

    Raw SQL because it runs on every cached page: the ORM spent ~0.35 ms compiling
    this query, most of a cached page's own time (docs/load.md).
    """
    with connection.cursor() as cursor:
        cursor.execute(_CURRENT)
        row = cursor.fetchone()
    if row is None:
        return Stamp(0, None)
    counter, changed_at = row
    if isinstance(changed_at, str):  # SQLite hands back the text its trigger wrote, in UTC
        changed_at = datetime.fromisoformat(changed_at)
    if changed_at.tzinfo is None:
        changed_at = changed_at.replace(tzinfo=UTC)
    return Stamp(counter, changed_at)


def trigger_name(table: str) -> str:
    return f"content_version_{table.removeprefix('curation_')}"


def bump_at_each_statement() -> None:
    """Bump at the end of each statement instead of at COMMIT, for the rest of this transaction (PostgreSQL).

    For tests that run inside a transaction that never commits (pytest-django's
    `db`): there a change would otherwise never reach the stamp. Production never
    calls it.
    """
    if connection.vendor != "postgresql":
        return  # SQLite's triggers run at each statement already
    names = ", ".join(trigger_name(table) for table in WATCHED_TABLES)
    with connection.cursor() as cursor:
        cursor.execute(f"SET CONSTRAINTS {names} IMMEDIATE")
