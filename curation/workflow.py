"""The review workflow: what readers see has been reviewed by someone else.

States: draft -> in review -> published -> retired; rejecting sends a
mechanism in review back to draft with the reviewer's reason.

A published mechanism is never edited in place. `start_revision` clones it
(fields, genes, therapies, cancer types and evidence) into a draft row that
points at it (`revision_of`); readers keep seeing the published row, because
`Mechanism.objects.published()` never returns a revision. The revision is
submitted and reviewed like any draft; publishing it merges it into the
original row (so the URL, the evidence rows' identity and the history stay
with the original) and deletes the revision.

Every service checks the acting user's permission itself (views check too),
locks the row, refuses to act on a version other than the one the caller
holds (`concurrency.StaleEdit`) and records the change in history under the
acting user. Views, admin actions and tests all call these functions.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import get_m2m_reverse_field_name

from curation.concurrency import check_version, claim, stale_edit
from curation.models import PUBMED_FACT_FIELDS, PUBMED_STATE_FIELDS, Evidence, Mechanism, Reference, Status

SUBMIT, PUBLISH, REJECT, RETIRE, REVISE = "submit", "publish", "reject", "retire", "revise"
EVIDENCE_RELATED = [(Evidence, "mechanism")]

PERMISSION = {
    SUBMIT: "curation.submit_mechanism",
    PUBLISH: "curation.publish_mechanism",
    REJECT: "curation.publish_mechanism",
    RETIRE: "curation.publish_mechanism",
    REVISE: "curation.change_mechanism",
}
# The state an action starts from.
FROM_STATE = {
    SUBMIT: Status.DRAFT,
    PUBLISH: Status.IN_REVIEW,
    REJECT: Status.IN_REVIEW,
    RETIRE: Status.PUBLISHED,
    REVISE: Status.PUBLISHED,
}
VERB = {
    SUBMIT: "submit mechanisms for review",
    PUBLISH: "publish mechanisms",
    REJECT: "reject mechanisms",
    RETIRE: "retire mechanisms",
    REVISE: "edit mechanisms",
}
# Never copied between a revision and its original, nor restored by a revert:
# the workflow owns the status and a published slug is a stable identifier.
NOT_CONTENT = {"status", "slug", "mechanism"}
# A revert restores what people wrote, never what PubMed reported about a paper's standing
# (a version from before a retraction must not hide it) nor where the pipeline stands.
KEPT_ON_REVERT = {Reference: {*PUBMED_FACT_FIELDS, *PUBMED_STATE_FIELDS}}


class WorkflowError(Exception):
    """A transition the mechanism's state or the review rules do not allow; the message says why."""


class NotPermitted(WorkflowError, PermissionDenied):
    """The user's role does not allow the action (uncaught, Django answers 403)."""


def _state(mechanism) -> str:
    return mechanism.get_status_display().lower()


def _name(user) -> str:
    return user.get_username() if user is not None and user.is_authenticated else "An anonymous user"


def _require(user, action):
    if user is None or not user.is_active or not user.has_perm(PERMISSION[action]):
        raise NotPermitted(f"{_name(user)} may not {VERB[action]}.")


def _edited_since_submission(mechanism, user) -> bool:
    """Whether `user` changed the mechanism or its evidence after it was submitted."""
    if mechanism.submitted_at is None:
        return False
    since = {"history_user": user, "history_date__gt": mechanism.submitted_at}
    return (
        Mechanism.history.filter(id=mechanism.pk, **since).exists()
        or Evidence.history.filter(mechanism_id=mechanism.pk, **since).exists()
    )


def refusal(action, mechanism, user) -> str | None:
    """Why `user` may not take `action` on `mechanism` now, or None if they may.

    Checks permission first, then the state, then the review rules; the
    services raise exactly this message.
    """
    if user is None or not user.is_active or not user.has_perm(PERMISSION[action]):
        return f"{_name(user)} may not {VERB[action]}."
    if action == REVISE and mechanism.revision_of_id is not None:
        return "This is already a draft revision: edit it directly."
    if mechanism.status != FROM_STATE[action]:
        return {
            SUBMIT: f"Only a draft can be submitted for review; this mechanism is {_state(mechanism)}.",
            PUBLISH: f"Only a mechanism in review can be published; this one is {_state(mechanism)}.",
            REJECT: f"Only a mechanism in review can be rejected; this one is {_state(mechanism)}.",
            RETIRE: f"Only a published mechanism can be retired; this one is {_state(mechanism)}.",
            REVISE: f"Only a published mechanism is edited through a revision; this one is {_state(mechanism)}: "
            "edit it directly.",
        }[action]
    if action == SUBMIT and not mechanism.evidence.exists():
        return "Add at least one piece of evidence before submitting the mechanism for review."
    if action in (PUBLISH, REJECT):
        if mechanism.submitted_by_id is not None and mechanism.submitted_by_id == user.pk:
            return "You submitted this mechanism; another reviewer must review it."
        if _edited_since_submission(mechanism, user):
            return "You edited this mechanism after it was submitted; another reviewer must review it."
    if action == PUBLISH and not mechanism.has_primary_evidence():
        return (
            "A mechanism is published only with primary evidence: add at least one item that is not a "
            "review article (a cohort, trial, case report, mouse, organoid, cell-line, screen or "
            "computational study), or publish a sub-mechanism that has one first."
        )
    if action == PUBLISH and mechanism.revision_of_id is not None:
        original = mechanism.revision_of
        if original.status != Status.PUBLISHED:
            return f"The mechanism this revision edits is {_state(original)} now, so the revision cannot be published."
    return None


def available_actions(mechanism, user) -> dict[str, str | None]:
    """The actions the user's role allows from the mechanism's state: None if allowed now, else why not."""
    return {
        action: refusal(action, mechanism, user)
        for action in (SUBMIT, PUBLISH, REJECT, RETIRE, REVISE)
        if user.has_perm(PERMISSION[action])
        and mechanism.status == FROM_STATE[action]
        and not (action == REVISE and mechanism.revision_of_id)
    }


def _lock(mechanism) -> Mechanism:
    """The mechanism's row, locked, provided it is still the version the caller holds."""
    try:
        current = Mechanism.objects.select_for_update(of=("self",)).select_related("revision_of").get(pk=mechanism.pk)
    except Mechanism.DoesNotExist:
        raise WorkflowError("This mechanism no longer exists.") from None
    if current.version != mechanism.version:
        raise stale_edit(mechanism, mechanism.version, related=EVIDENCE_RELATED)
    return current


def _check(action, current, by):
    _require(by, action)
    reason = refusal(action, current, by)
    if reason:
        raise WorkflowError(reason)


def _save(row, *, by, reason, **changes):
    """Apply `changes` to a locked row, bump its version and record who and why."""
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_by = by
    row._history_user = by
    row._change_reason = reason  # cut to fit its column when the history entry is written
    claim(row, row.version)
    row.save()


def submit(mechanism, *, by) -> Mechanism:
    """Send a draft (or a draft revision) to review. Refreshes and returns `mechanism`."""
    _require(by, SUBMIT)
    with transaction.atomic():
        current = _lock(mechanism)
        _check(SUBMIT, current, by)
        _save(
            current,
            by=by,
            reason="Submitted for review",
            status=Status.IN_REVIEW,
            submitted_by=by,
            submitted_at=timezone.now(),
        )
    mechanism.refresh_from_db()
    return mechanism


def publish(mechanism, *, by) -> Mechanism:
    """Publish a mechanism in review, which someone else submitted.

    A revision is merged into the mechanism it edits and then deleted; the
    return value is then the original, now showing the revision's content.
    """
    _require(by, PUBLISH)
    now = timezone.now()
    with transaction.atomic():
        current = _lock(mechanism)
        _check(PUBLISH, current, by)
        review = {"reviewed_by": by, "reviewed_at": now, "published_at": now, "rejection_reason": ""}
        if current.revision_of_id is None:
            _save(current, by=by, reason="Published", status=Status.PUBLISHED, **review)
            mechanism.refresh_from_db()
            return mechanism
        return _merge_revision(current, by=by, review=review)


def _content_fields(model) -> list:
    return [
        field
        for field in model._meta.concrete_fields
        if field.editable and not field.primary_key and field.name not in NOT_CONTENT
    ]


def _copy_content(source, target, *, keep=()):
    """Copy the content fields `source` has (a row or a history record) onto `target`, except `keep`."""
    for field in _content_fields(type(target)):
        if field.name not in keep and hasattr(source, field.attname):
            setattr(target, field.attname, getattr(source, field.attname))


def _copy_m2m(source, target):
    for field in type(source)._meta.many_to_many:
        getattr(target, field.name).set(getattr(source, field.name).all())


def _merge_revision(revision, *, by, review) -> Mechanism:
    original = Mechanism.objects.select_for_update().get(pk=revision.revision_of_id)
    if revision.parent_id == original.pk:
        raise WorkflowError("A mechanism cannot sit below itself: choose another broader mechanism.")
    submitter = revision.submitted_by.get_username() if revision.submitted_by else "someone"
    _copy_content(revision, original)
    # The revision was validated as a row of its own; the tree rules (no cycle,
    # depth, a child's category) must hold for the original once merged, and
    # the tree may have changed since the revision was saved.
    try:
        original.clean()
    except ValidationError as error:
        raise WorkflowError("The revision cannot be published: " + " ".join(error.messages)) from None
    _save(
        original,
        by=by,
        reason=f"Published the revision submitted by {submitter}",
        submitted_by=revision.submitted_by,
        submitted_at=revision.submitted_at,
        **review,
    )
    _copy_m2m(revision, original)

    # The public evidence becomes exactly the revision's evidence. Rows keep
    # their identity where the revision's row was copied from them; deletions
    # go first so that a re-added claim does not collide with the old one.
    live = {row.pk: row for row in original.evidence.all()}
    proposed = list(revision.evidence.all())
    kept = {row.copied_from_id for row in proposed if row.copied_from_id in live}
    for pk, row in live.items():
        if pk not in kept:
            row._history_user = by
            row.delete()
    # Two rows citing one paper may swap statements: park the old wording of every row whose
    # statement changes, so that no intermediate state breaks the one-claim-per-reference rule.
    for row in proposed:
        target = live.get(row.copied_from_id)
        if target is not None and target.statement.lower() != row.statement.lower():
            Evidence.objects.filter(pk=target.pk).update(statement=f"(being replaced: evidence {target.pk})")
    for row in proposed:
        if row.copied_from_id in live:
            target = live[row.copied_from_id]
            if all(getattr(target, f.attname) == getattr(row, f.attname) for f in _content_fields(Evidence)):
                continue
            _copy_content(row, target)
            target._history_user = by
            claim(target, target.version)
            target.save()
        else:
            target = Evidence(mechanism=original, created_by=row.created_by)
            _copy_content(row, target)
            target._history_user = by
            target.save()

    # Nothing should hang below a revision, but never lose a child if something does.
    Mechanism.objects.filter(parent=revision).update(parent=original)
    revision._history_user = by
    revision.delete()
    return original


def reject(mechanism, *, by, reason) -> Mechanism:
    """Send a mechanism in review back to draft with the reviewer's reason (required)."""
    _require(by, REJECT)
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("Say why the mechanism is rejected: a reason is required.")
    with transaction.atomic():
        current = _lock(mechanism)
        _check(REJECT, current, by)
        _save(
            current,
            by=by,
            reason=f"Rejected: {reason}",
            status=Status.DRAFT,
            rejection_reason=reason,
            reviewed_by=by,
            reviewed_at=timezone.now(),
        )
    mechanism.refresh_from_db()
    return mechanism


def retire(mechanism, *, by) -> Mechanism:
    """Take a published mechanism off the public pages for good.

    An open revision of it is discarded: it could never be published now. Its
    text stays in the history tables.
    """
    _require(by, RETIRE)
    with transaction.atomic():
        current = _lock(mechanism)
        _check(RETIRE, current, by)
        for revision in current.revisions.all():
            revision._history_user = by
            revision._change_reason = "Discarded: the published mechanism was retired"
            revision.delete()
        _save(current, by=by, reason="Retired", status=Status.RETIRED)
    mechanism.refresh_from_db()
    return mechanism


def start_revision(published, *, by) -> Mechanism:
    """The draft revision through which a published mechanism is edited.

    Reuses the open revision if there is one (at most one per mechanism, a
    database constraint); otherwise clones the fields, genes, therapies,
    cancer types and evidence into a new draft row. The published row is
    not changed.
    """
    _require(by, REVISE)
    with transaction.atomic():
        try:
            original = Mechanism.objects.select_for_update().get(pk=published.pk)
        except Mechanism.DoesNotExist:
            raise WorkflowError("This mechanism no longer exists.") from None
        _check(REVISE, original, by)
        existing = original.revisions.first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                return _clone(original, by=by)
        except IntegrityError:
            # Someone opened the revision at the same moment: use theirs.
            existing = original.revisions.first()
            if existing is None:
                raise
            return existing


def _clone(original, *, by) -> Mechanism:
    revision = Mechanism(
        slug=original.slug,
        revision_of=original,
        status=Status.DRAFT,
        created_by=by,
        updated_by=by,
    )
    _copy_content(original, revision)
    revision._history_user = by
    revision._change_reason = "Revision started"
    revision.save()
    _copy_m2m(original, revision)
    for row in original.evidence.all():
        copy = Evidence(mechanism=revision, copied_from=row, created_by=row.created_by)
        _copy_content(row, copy)
        copy._history_user = by
        copy.save()
    return revision


def revert_refusal(obj) -> str | None:
    """Why no version of `obj` can be restored now, or None."""
    if isinstance(obj, Mechanism) and obj.status == Status.RETIRED:
        return "A retired mechanism cannot be changed."
    if isinstance(obj, Evidence) and obj.mechanism.status in (Status.PUBLISHED, Status.RETIRED):
        return (
            f"This evidence belongs to a {_state(obj.mechanism)} mechanism: "
            "open the mechanism and press “Edit” to change its evidence in a draft revision."
        )
    return None


def revert(obj, record, *, by, based_on=None):
    """Restore the content of history `record` onto `obj`, as a new recorded change.

    `based_on` is the version the user looked at (default: `obj.version`);
    a newer row is refused with StaleEdit. Content means the editable fields
    and many-to-many fields, not the workflow state nor a mechanism's slug.
    A published mechanism is never changed in place: the old version goes
    into its draft revision, which is returned; otherwise `obj` is returned.
    Evidence of a published or retired mechanism is changed through a
    revision of the mechanism, so reverting it directly is refused.
    """
    model = type(obj)
    permission = f"{model._meta.app_label}.change_{model._meta.model_name}"
    if by is None or not by.is_active or not by.has_perm(permission):
        raise NotPermitted(f"{_name(by)} may not change {model._meta.verbose_name_plural}.")
    if record.instance_type is not model or getattr(record, model._meta.pk.attname) != obj.pk:
        raise WorkflowError("That version belongs to another record.")
    based_on = obj.version if based_on is None else based_on

    refused = revert_refusal(obj)
    if refused:
        raise WorkflowError(refused)

    with transaction.atomic():
        target = obj
        if isinstance(obj, Mechanism) and obj.status == Status.PUBLISHED:
            check_version(obj, based_on, related=EVIDENCE_RELATED)
            target = start_revision(obj, by=by)
            based_on = target.version

        _copy_content(record, target, keep=KEPT_ON_REVERT.get(model, ()))
        m2m = _historical_m2m(record)
        try:
            target.full_clean()
        except ValidationError as error:
            raise WorkflowError("This version cannot be restored: " + " ".join(error.messages)) from None
        target._history_user = by
        target._change_reason = f"Reverted to version {record.version}"
        if hasattr(target, "updated_by_id"):
            target.updated_by = by
        claim(target, based_on, related=EVIDENCE_RELATED if isinstance(target, Mechanism) else ())
        target.save()
        for name, related in m2m.items():
            getattr(target, name).set(related)
    return target


def _historical_m2m(record) -> dict[str, list]:
    """The many-to-many values a history record saw, refusing ones that no longer exist."""
    values = {}
    for field in getattr(record, "_history_m2m_fields", []):
        target_name = get_m2m_reverse_field_name(field)
        ids = [getattr(row, f"{target_name}_id") for row in getattr(record, field.name).all()]
        found = list(field.related_model.objects.filter(pk__in=ids))
        if len(found) != len(set(ids)):
            raise WorkflowError(f"This version cannot be restored: some of its {field.verbose_name} no longer exist.")
        values[field.name] = found
    return values
