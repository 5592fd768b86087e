"""Writing thousands of rows in one statement each: the pipeline's inserts, updates and their history.

Django's bulk_create and bulk_update prepare every value of every row in
Python, column by column. For the PubMed pipeline that was most of a batch's
CPU after parsing (docs/benchmark.md has the profile): adding 20,000 PMIDs
prepared 20,000 references, 20,000 history rows and 20,000 refresh items; a
first fetch rewrites ~27 columns of 200 rows and copies each into history.

On PostgreSQL the rows travel instead as one array or one JSON document
parameter and the server builds them (``unnest``, ``jsonb_to_recordset``);
history rows are built by the server too, from the same values or from the
rows just written. Other databases (SQLite for local development) take
Django's and django-simple-history's own bulk methods, which do the same more
slowly.

Only identifiers from the models' own metadata are written into the SQL;
every value is a parameter.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, models
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from curation.models import fit_to_column

# What django-simple-history writes beside the row's own columns, in this order.
_HISTORY_ENTRY = ("history_date", "history_change_reason", "history_type", "history_user")


@dataclass(frozen=True)
class History:
    """The history entry a bulk write adds for each row it writes: why, by whom (default: the request's user), when."""

    reason: str
    by: object = None
    date: datetime.datetime | None = None

    def entry(self, model: type[models.Model]) -> tuple:
        """``(date, reason, user)`` for `model`'s history, the reason cut to fit its column."""
        history = model.history.model
        user = self.by if self.by is not None else history.get_default_history_user(None)
        reason = fit_to_column(history._meta.get_field("history_change_reason"), self.reason)
        return self.date or timezone.now(), reason, user

    def values(self, model: type[models.Model], *, created: bool) -> list:
        """The entry's own columns (`_HISTORY_ENTRY`) as parameters."""
        date, reason, user = self.entry(model)
        return [date, reason, "+" if created else "~", getattr(user, "pk", None)]


def insert_new(
    model: type[models.Model],
    field: str,
    values: Sequence,
    *,
    fixed: dict | None = None,
    history: History | None = None,
    skip_present: bool = False,
) -> list[tuple]:
    """Insert a row for each of `values` in column `field`; return ``(pk, value)`` of the rows inserted.

    Every other column takes `fixed[attname]` or the field's default
    (``auto_now`` fields: now). With `history`, each new row gets its "+"
    entry. With `skip_present` (for a unique `field`), a value already in the
    table is skipped instead of failing the insert: on PostgreSQL in the same
    statement, so a concurrent insert of the same value is no error either;
    elsewhere the present values are read first, and a concurrent insert
    raises IntegrityError, as ``bulk_create`` does.
    """
    fixed = fixed or {}
    varying = model._meta.get_field(field)
    if connection.vendor != "postgresql":
        return _insert_new_with_orm(model, varying, values, fixed, history, skip_present)
    now = timezone.now()
    constants: dict[models.Field, tuple[str, object]] = {}
    for column_field in model._meta.concrete_fields:
        if column_field.primary_key or column_field is varying:
            continue
        if column_field.attname in fixed:
            value = fixed[column_field.attname]
        elif getattr(column_field, "auto_now", False) or getattr(column_field, "auto_now_add", False):
            value = now
        else:
            value = column_field.get_default()
        cast = f"%s::{column_field.db_type(connection)}"
        constants[column_field] = (cast, column_field.get_db_prep_save(value, connection))
    pk = model._meta.pk
    columns = ", ".join(_quote(f.column) for f in [varying, *constants])
    selected = ", ".join(cast for cast, _ in constants.values())
    sql = (
        f"INSERT INTO {_quote(model._meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT v, {selected} FROM unnest(%s::{varying.db_type(connection)}[]) AS v "
        f"{'ON CONFLICT DO NOTHING ' if skip_present else ''}RETURNING {_quote(pk.column)}, {_quote(varying.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*(param for _, param in constants.values()), list(values)])
        inserted = cursor.fetchall()
    if history is not None and inserted:
        _history_of_new_rows(model, varying, inserted, constants, history)
    return inserted


def _history_of_new_rows(model, varying, inserted, constants, history: History) -> None:
    # The new rows hold the same constants and their own key and value: build their entries from those.
    history_model = model.history.model
    pk = model._meta.pk
    selected, params = [], []
    for tracked in history_model.tracked_fields:
        if tracked.attname == pk.attname:
            selected.append("v.pk")
        elif tracked.attname == varying.attname:
            selected.append("v.value")
        else:
            cast, param = constants[model._meta.get_field(tracked.name)]
            selected.append(cast)
            params.append(param)
    columns = [f.column for f in history_model.tracked_fields]
    columns += [history_model._meta.get_field(name).column for name in _HISTORY_ENTRY]
    sql = (
        f"INSERT INTO {_quote(history_model._meta.db_table)} ({', '.join(map(_quote, columns))}) "  # noqa: S608
        f"SELECT {', '.join(selected)}, %s, %s, %s, %s "
        f"FROM unnest(%s::{pk.db_type(connection)}[], %s::{varying.db_type(connection)}[]) AS v(pk, value)"
    )
    keys, values = zip(*inserted, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *history.values(model, created=True), list(keys), list(values)])


def _insert_new_with_orm(model, varying, values, fixed, history: History | None, skip_present: bool) -> list[tuple]:
    present = set()
    if skip_present:
        in_table = model.objects.filter(**{f"{varying.attname}__in": values})
        present = set(in_table.values_list(varying.attname, flat=True))
    rows = [model(**{varying.attname: value}, **fixed) for value in values if value not in present]
    if history is None:
        rows = model.objects.bulk_create(rows, batch_size=500)
    else:
        date, reason, user = history.entry(model)
        rows = bulk_create_with_history(
            rows, model, batch_size=500, default_user=user, default_change_reason=reason, default_date=date
        )
    return [(row.pk, getattr(row, varying.attname)) for row in rows]


def update_rows(
    model: type[models.Model], rows: Iterable[tuple[models.Model, Sequence[str]]], *, history: History | None = None
) -> None:
    """Write each instance's named fields; instances changing the same fields share one statement.

    With `history`, each row gets a "~" entry holding the row as written.
    """
    groups: dict[tuple[str, ...], list[models.Model]] = {}
    for instance, names in rows:
        groups.setdefault(tuple(names), []).append(instance)
    for names, instances in groups.items():
        if connection.vendor == "postgresql":
            _update_from_json(model, instances, names)
        else:
            for instance in instances:
                model.objects.filter(pk=instance.pk).update(**{name: getattr(instance, name) for name in names})
    if history is None or not groups:
        return
    written = [instance for instances in groups.values() for instance in instances]
    if connection.vendor == "postgresql":
        _history_of_rows(model, [instance.pk for instance in written], history)
    else:
        date, reason, user = history.entry(model)
        model.history.bulk_history_create(
            written, update=True, default_user=user, default_change_reason=reason, default_date=date
        )


def _update_from_json(model: type[models.Model], instances: list[models.Model], names: tuple[str, ...]) -> None:
    # One JSON array of the rows, unpacked by the server: nothing is prepared per value in Python.
    fields = [model._meta.get_field(name) for name in names]
    pk = model._meta.pk
    declared = ", ".join(f"{_quote(f.column)} {f.db_type(connection)}" for f in [pk, *fields])
    assignments = ", ".join(f"{_quote(f.column)} = v.{_quote(f.column)}" for f in fields)
    sql = (
        f"UPDATE {_quote(model._meta.db_table)} AS r SET {assignments} "  # noqa: S608
        f"FROM jsonb_to_recordset(%s::jsonb) AS v({declared}) WHERE r.{_quote(pk.column)} = v.{_quote(pk.column)}"
    )
    rows = [{f.column: getattr(instance, f.attname) for f in [pk, *fields]} for instance in instances]
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, default=_json_value)])


def _history_of_rows(model: type[models.Model], pks: list, history: History) -> None:
    # The rows as they now are in the table, copied by the server.
    history_model = model.history.model
    tracked = [_quote(f.column) for f in history_model.tracked_fields]
    entry = [_quote(history_model._meta.get_field(name).column) for name in _HISTORY_ENTRY]
    pk = _quote(model._meta.pk.column)
    sql = (
        f"INSERT INTO {_quote(history_model._meta.db_table)} ({', '.join(tracked + entry)}) "  # noqa: S608
        f"SELECT {', '.join(tracked)}, %s, %s, %s, %s FROM {_quote(model._meta.db_table)} "
        f"WHERE {pk} = ANY(%s) ORDER BY {pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*history.values(model, created=False), pks])


def _json_value(value):
    # Dates at full precision (DjangoJSONEncoder would cut microseconds): the server parses them.
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)
