"""Optimistic concurrency: no save may silently overwrite someone else's work.

Every editable model carries a `version` counter (`models.Versioned`). A save
names the version it was based on and claims the row with one conditional
statement, `UPDATE ... SET version = version + 1 WHERE id = %s AND version = %s`.
If another save got there first the statement matches no row and the save is
refused with `StaleEdit`, whose message says who changed what meanwhile, read
from the simple-history records newer than the version the user started from.

The claim runs in the same transaction as the real save, so on PostgreSQL the
row stays locked until commit and a concurrent claim waits, then matches
nothing: exactly one writer wins per version.

The admin's forms use these through `curation.admin.versioning`.
"""

from dataclasses import dataclass

from django.db.models import F
from django.utils.text import get_text_list

UNNAMED = "an unnamed process"


@dataclass(frozen=True)
class Change:
    """What one person did to a row (or to its children) after a given version."""

    user: str
    what: list[str]

    def __str__(self):
        return f"{self.user} {get_text_list(self.what, 'and')}"


class StaleEdit(Exception):
    """A save was based on a version of the row that is no longer current."""

    def __init__(self, instance, based_on, changes):
        self.instance = instance
        self.based_on = based_on
        self.changes = changes
        super().__init__(self.message)

    @property
    def users(self) -> list[str]:
        return [change.user for change in self.changes]

    @property
    def message(self) -> str:
        label = f"{self.instance._meta.verbose_name} “{self.instance}”"
        if not self.changes:
            return f"Not saved: the {label} was changed by someone else after you opened it."
        done = "; ".join(str(change) for change in self.changes)
        return f"Not saved: after you opened the {label}, {done}."

    @property
    def form_message(self) -> str:
        return (
            f"{self.message} Nothing was overwritten. Your input is kept below: copy what you need, "
            "reload the page to see their changes, then make your edit again."
        )


# --- Reading the history --------------------------------------------------------


def _user_label(record) -> str:
    user = record.history_user
    return user.get_username() if user is not None else UNNAMED


def _field_label(model, name: str) -> str:
    return str(model._meta.get_field(name).verbose_name)


def _object_label(record) -> str:
    try:
        return f"{record.instance_type._meta.verbose_name} “{record.instance}”"
    except Exception:  # a label must never hide the conflict itself
        return f"{record.instance_type._meta.verbose_name} #{record.pk}"


def _describe(record, previous) -> str | None:
    """One history record as words: 'changed summary and genes', 'deleted it'."""
    if record.history_type == "-":
        return "deleted it"
    if previous is None:
        return "created it" if record.history_type == "+" else "changed it"
    fields = record.diff_against(previous).changed_fields
    if not fields:
        return None
    return "changed " + get_text_list([_field_label(record.instance_type, name) for name in fields], "and")


def _describe_child(record) -> str:
    label = _object_label(record)
    if record.history_type == "+":
        return f"added {label}"
    if record.history_type == "-":
        return f"deleted {label}"
    previous = record.prev_record
    fields = record.diff_against(previous).changed_fields if previous is not None else []
    named = get_text_list([_field_label(record.instance_type, name) for name in fields], "and")
    return f"changed {label}" + (f" ({named})" if named else "")


def changes_since(model, pk, based_on: int, *, related=()) -> list[Change]:
    """Who changed what on row `pk` after version `based_on`, oldest first, one entry per person.

    `related` names child rows whose changes count as changes to this row, as
    (model, foreign key name) pairs, e.g. `[(Evidence, "mechanism")]`.
    """
    records = list(
        model.history.filter(**{model._meta.pk.attname: pk})
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    # The state the user saw is the last record of their version (m2m saves
    # add records with the same version after the row's own record).
    seen = [record for record in records if record.version <= based_on]
    base = seen[-1] if seen else None
    # A deletion keeps the last version number; it is news all the same.
    newer = [record for record in records if record.version > based_on or record.history_type == "-"]

    per_user: dict[str, list[str]] = {}
    previous = base
    for record in newer:
        what = _describe(record, previous)
        bucket = per_user.setdefault(_user_label(record), [])
        if what and what not in bucket:
            bucket.append(what)
        previous = record
    if newer:
        # Children saved with the row (an inline formset) are recorded just
        # after the row's own record; earlier child changes were on the page.
        for child_model, fk_name in related:
            child_records = (
                child_model.history.filter(**{f"{fk_name}_id": pk}, history_date__gte=newer[0].history_date)
                .select_related("history_user")
                .order_by("history_date", "history_id")
            )
            for record in child_records:
                bucket = per_user.setdefault(_user_label(record), [])
                what = _describe_child(record)
                if what not in bucket:
                    bucket.append(what)
    return [Change(user, what or ["saved it"]) for user, what in per_user.items()]


def stale_edit(instance, based_on, *, related=()) -> StaleEdit:
    if based_on is None:
        return StaleEdit(instance, None, [])
    return StaleEdit(instance, based_on, changes_since(type(instance), instance.pk, based_on, related=related))


# --- Saving -----------------------------------------------------------------------


def current_version(instance) -> int | None:
    """The row's version in the database now, or None if it was deleted."""
    return type(instance)._base_manager.filter(pk=instance.pk).values_list("version", flat=True).first()


def check_version(instance, based_on, *, related=()) -> None:
    """Raise StaleEdit if the row is no longer at version `based_on` (a read, no lock)."""
    if current_version(instance) != based_on:
        raise stale_edit(instance, based_on, related=related)


def claim(instance, based_on, *, related=()) -> None:
    """Bump the row's version if it is still `based_on`, else raise StaleEdit.

    Call inside a transaction, followed by the real save: on PostgreSQL the
    claimed row stays locked until commit. Sets `instance.version` to the new
    version so that the following `save()` writes it.
    """
    if based_on is None:
        raise StaleEdit(instance, None, [])
    claimed = type(instance)._base_manager.filter(pk=instance.pk, version=based_on).update(version=F("version") + 1)
    if not claimed:
        raise stale_edit(instance, based_on, related=related)
    instance.version = based_on + 1
