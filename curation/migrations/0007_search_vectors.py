"""Stored full-text vectors with GIN indexes, on PostgreSQL only (SQLite searches the columns themselves).

Each searchable table gets a column `search_vector tsvector` that a BEFORE INSERT OR UPDATE
trigger computes from the row's own columns, so every code path that writes a row (saves,
QuerySet.update, the refresh pipeline's raw `UPDATE ... FROM (VALUES ...)`, psql) keeps it
current, and an update that touches none of the indexed columns (a refresh moving only
`fetched_at`) does not recompute it. A trigger rather than a generated column because
PostgreSQL refuses to change the type of a column a generated column uses: an ordinary
`max_length` change in a later migration would fail.

The weights follow what readers mean by a match: names, symbols and aliases (A) above
summaries and claims (B), above paper titles, MeSH terms and keywords (C), above abstracts
and the rest (D). The spec is frozen here on purpose: changing what is indexed is a new
migration (replace the function, then `UPDATE table SET search_vector = ...`).
"""

from django.db import migrations

CONFIG = "english"
# table: (column, weight, JSON path of the strings to index when the column is JSON)
DOCUMENTS = {
    "curation_mechanism": (("name", "A", None), ("aliases", "A", None), ("summary", "B", None), ("strategies", "B", None)),
    "curation_gene": (("symbol", "A", None), ("aliases", "A", None), ("name", "B", None)),
    "curation_therapy": (("name", "A", None), ("therapy_class", "B", None)),
    "curation_cancertype": (("name", "A", None),),
    # The level and direction words let `-review` or `refutes` act on what a claim is.
    "curation_evidence": (("statement", "B", None), ("level", "D", None), ("direction", "D", None)),
    "curation_reference": (
        ("title", "C", None),
        ("mesh_terms", "C", "$[*]"),
        ("keywords", "C", "$[*]"),
        ("abstract", "D", "$[*].text"),
        ("publication_types", "D", "$[*]"),
        ("authors", "D", "$[*].last_name"),
    ),
}


def _vector_sql(parts, row: str) -> str:
    pieces = []
    for column, weight, json_path in parts:
        # PostgreSQL's parser reads "JAK1/JAK2" as one file-path token: a slash separates words here.
        value = f"""translate({row}"{column}"::text, '/', ' ')"""
        if json_path:
            # Only the strings at the path: an abstract's section labels are not its words.
            strings = f"coalesce(jsonb_path_query_array({value}::jsonb, '{json_path}'), '[]')"
            text = f"jsonb_to_tsvector('{CONFIG}', {strings}, '[\"string\"]')"
        else:
            text = f"to_tsvector('{CONFIG}', coalesce({value}, ''))"
        pieces.append(f"setweight({text}, '{weight}')")
    return " || ".join(pieces)


def add_vectors(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, parts in DOCUMENTS.items():
        columns = ", ".join(f'"{column}"' for column, _, _ in parts)
        schema_editor.execute(f'ALTER TABLE "{table}" ADD COLUMN "search_vector" tsvector')
        schema_editor.execute(
            f"CREATE FUNCTION {table}_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN NEW.search_vector := {_vector_sql(parts, 'NEW.')}; RETURN NEW; END $$"
        )
        schema_editor.execute(
            f'CREATE TRIGGER {table}_search_vector BEFORE INSERT OR UPDATE OF {columns} ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION {table}_search_vector()"
        )
        schema_editor.execute(f'UPDATE "{table}" SET "search_vector" = {_vector_sql(parts, "")}')
        schema_editor.execute(f'CREATE INDEX "{table}_search_vector" ON "{table}" USING gin ("search_vector")')


def drop_vectors(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in DOCUMENTS:
        schema_editor.execute(f'DROP TRIGGER {table}_search_vector ON "{table}"')
        schema_editor.execute(f"DROP FUNCTION {table}_search_vector()")
        schema_editor.execute(f'ALTER TABLE "{table}" DROP COLUMN "search_vector"')


class Migration(migrations.Migration):
    dependencies = [("curation", "0006_aliases_and_search_documents")]

    operations = [migrations.RunPython(add_vectors, drop_vectors, elidable=False)]
