"""The content version: one row the database bumps whenever a table public pages read from changes.

The public page cache (curation/page_cache.py) keys every page by this row, so a page is
never served from before a change. Triggers rather than Python signals because several
code paths write without signals (QuerySet.update, the refresh pipeline's raw SQL, psql).

On PostgreSQL the trigger is a DEFERRABLE INITIALLY DEFERRED constraint trigger: it runs at
COMMIT, once per committing statement (a transaction-local setting remembers that this
COMMIT already bumped). So the row's lock is held only while the transaction commits, never
across a transaction's work: writers do not queue behind each other's batches, and no
deadlock can form through the row, since a committing transaction waits for nothing else.
The new version and the new data become visible together, in the same commit. On SQLite,
which has one writer at a time, ordinary row triggers do the same.

The list of tables is frozen here on purpose: watching a new table is a new migration.
`curation.content_version.WATCHED_TABLES` must name the same tables (a test checks the
database's triggers against it).
"""

from django.db import migrations, models

WATCHED_TABLES = [
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
    # Published versions and their permalinks are read back from history.
    "curation_historicalmechanism",
    "curation_historicalmechanism_genes",
    "curation_historicalmechanism_therapies",
    "curation_historicalmechanism_cancer_types",
    "curation_historicalevidence",
    "curation_historicalreference",
    "curation_historicalgene",
    "curation_historicaltherapy",
    "curation_historicalcancertype",
]

BUMP_POSTGRESQL = """
CREATE FUNCTION curation_content_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Deferred row events all fire in the COMMIT statement: bump once for it.
    IF current_setting('curation.content_bumped_at', true) = statement_timestamp()::text THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('curation.content_bumped_at', statement_timestamp()::text, true);
    INSERT INTO curation_contentversion (id, counter, changed_at) VALUES (1, 1, clock_timestamp())
    ON CONFLICT (id) DO UPDATE SET counter = curation_contentversion.counter + 1, changed_at = clock_timestamp();
    RETURN NULL;
END $$
"""


def trigger_name(table: str) -> str:
    return f"content_version_{table.removeprefix('curation_')}"


def watch(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(BUMP_POSTGRESQL)
        for table in WATCHED_TABLES:
            schema_editor.execute(
                f'CREATE CONSTRAINT TRIGGER {trigger_name(table)} AFTER INSERT OR UPDATE OR DELETE ON "{table}" '
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION curation_content_changed()"
            )
        schema_editor.execute(
            "INSERT INTO curation_contentversion (id, counter, changed_at) VALUES (1, 1, clock_timestamp())"
        )
    elif vendor == "sqlite":
        bump = (
            "INSERT INTO curation_contentversion (id, counter, changed_at) "
            "VALUES (1, 1, strftime('%Y-%m-%d %H:%M:%f', 'now')) "
            "ON CONFLICT (id) DO UPDATE SET counter = counter + 1, changed_at = excluded.changed_at"
        )
        for table in WATCHED_TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                schema_editor.execute(
                    f'CREATE TRIGGER {trigger_name(table)}_{event.lower()} AFTER {event} ON "{table}" '
                    f"FOR EACH ROW BEGIN {bump}; END"
                )
        schema_editor.execute(bump)


def unwatch(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in WATCHED_TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f'DROP TRIGGER {trigger_name(table)} ON "{table}"')
        elif vendor == "sqlite":
            for event in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER {trigger_name(table)}_{event}")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION curation_content_changed()")


class Migration(migrations.Migration):
    dependencies = [("curation", "0015_evidence_level_direction_index")]

    operations = [
        migrations.CreateModel(
            name="ContentVersion",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ("counter", models.BigIntegerField(default=0)),
                ("changed_at", models.DateTimeField()),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("id", 1)), name="content_version_single_row")
                ],
            },
        ),
        migrations.RunPython(watch, unwatch, elidable=False),
    ]
