"""A mechanism's published versions, read back from its history.

A version is one publication: the reviewer's publish sets ``published_at``, and a
published revision is merged into the original row in the same transaction
(``workflow._merge_revision``), followed by its genes, therapies, cancer types and
evidence. So version n is the run of the original row's history records that are
published with the n-th distinct ``published_at``; its text is the last record of
that run (which also holds the many-to-many snapshot), and its evidence is the
evidence history as of the moment before the row next changed. Drafts, records
in review and revision rows (other primary keys) are never part of it.

Evidence of a published mechanism changes only by publishing a revision, so the
evidence as of that moment is exactly what readers saw under version n.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from curation.models import Evidence, Status

__all__ = ["PublishedVersion", "published_versions", "version_evidence", "version_record"]

_BEFORE = timedelta(microseconds=1)


@dataclass
class PublishedVersion:
    number: int
    published_at: datetime
    history_id: int  # the last history record of this publication
    ends_at: datetime | None = None  # when the row next changed; None while it is the current version

    @property
    def is_current(self) -> bool:
        return self.ends_at is None


def published_versions(mechanism) -> list[PublishedVersion]:
    """Every published version of `mechanism` (an original row, not a revision), oldest first."""
    records = (
        mechanism.history.filter(revision_of__isnull=True)
        .order_by("history_date", "history_id")
        .values_list("history_id", "history_date", "status", "published_at")
    )
    versions: list[PublishedVersion] = []
    for history_id, history_date, status, published_at in records:
        current = versions[-1] if versions and versions[-1].ends_at is None else None
        if status == Status.PUBLISHED and published_at is not None:
            if current is not None and current.published_at == published_at:
                current.history_id = history_id
                continue
            if current is not None:
                current.ends_at = history_date
            versions.append(PublishedVersion(len(versions) + 1, published_at, history_id))
        elif current is not None:
            current.ends_at = history_date
    return versions


def version_record(mechanism, version: PublishedVersion):
    """The history record holding version `version`'s text, genes, therapies and cancer types."""
    return mechanism.history.get(history_id=version.history_id)


def version_evidence(mechanism, version: PublishedVersion) -> list:
    """The evidence readers saw under `version`, in the page's order, with references loaded."""
    if version.is_current:
        rows = Evidence.objects.filter(mechanism=mechanism)
    else:
        rows = Evidence.history.as_of(version.ends_at - _BEFORE).filter(mechanism_id=mechanism.pk)
    return sorted(
        rows.select_related("reference", "therapy", "cancer_type"),
        key=lambda e: (-(e.reference.pub_year or 0), e.reference.pmid, e.pk),
    )
