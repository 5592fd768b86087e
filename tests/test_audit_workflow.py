"""Audit: publishing a revision must keep the mechanism tree's rules (no cycle, depth, category).

A revision is a separate row, so its own validation cannot see the original's
children; the rules must hold for the original once the revision is merged.
"""

import pytest
from django.core.exceptions import ValidationError

from curation import workflow
from curation.concurrency import save_versioned
from curation.models import Category, Mechanism, Status
from curation.workflow import WorkflowError
from tests.factories import make_evidence, make_mechanism

pytestmark = pytest.mark.django_db


def published(**fields):
    mechanism = make_mechanism(status=Status.PUBLISHED, **fields)
    make_evidence(mechanism)
    return mechanism


def revise(original, *, by, **changes):
    """A curator opens the revision, edits it as the admin form would (validated), and submits it."""
    revision = workflow.start_revision(original, by=by)
    for name, value in changes.items():
        setattr(revision, name, value)
    revision.full_clean()
    save_versioned(revision)
    return workflow.submit(revision, by=by)


def test_a_revision_cannot_move_a_mechanism_below_its_own_child(alice):
    root = published(name="Antigen presentation loss")
    child = published(name="Loss of B2M", parent=root)
    revision = workflow.start_revision(root, by=alice)
    revision.parent = child

    with pytest.raises(ValidationError, match="below itself"):
        revision.full_clean()


def test_a_revision_counts_the_levels_below_the_mechanism_it_edits(alice):
    root = published(name="Antigen presentation loss")
    published(name="Loss of B2M", parent=root)
    other_child = published(name="JAK1 loss", parent=published(name="IFN-gamma pathway defects"))
    revision = workflow.start_revision(root, by=alice)
    revision.parent = other_child

    with pytest.raises(ValidationError, match="levels deep"):
        revision.full_clean()


def test_a_revision_cannot_change_category_away_from_the_children(alice):
    root = published(name="Antigen presentation loss", category=Category.TUMOR_INTRINSIC)
    published(name="Loss of B2M", parent=root)
    revision = workflow.start_revision(root, by=alice)
    revision.category = Category.TUMOR_EXTRINSIC

    with pytest.raises(ValidationError, match="category"):
        revision.full_clean()


def test_publishing_a_revision_that_would_close_a_cycle_made_meanwhile_is_refused(alice, carol, bob):
    root = published(name="Antigen presentation loss")
    other = make_mechanism(name="HLA loss", status=Status.DRAFT)
    revision = revise(root, by=alice, parent=other)  # valid when saved
    other.parent = root  # then someone files the draft below the root
    other.full_clean()
    save_versioned(other)

    with pytest.raises(WorkflowError, match="below itself"):
        workflow.publish(revision, by=bob)

    root.refresh_from_db()
    assert root.parent is None
    assert Mechanism.objects.filter(pk=revision.pk, status=Status.IN_REVIEW).exists()


def test_publishing_a_revision_that_would_make_the_tree_too_deep_meanwhile_is_refused(alice, bob):
    root = published(name="Antigen presentation loss")
    other_child = published(name="JAK1 loss", parent=published(name="IFN-gamma pathway defects"))
    revision = revise(root, by=alice, parent=other_child)  # root is a leaf: three levels, valid
    published(name="Loss of B2M", parent=root)  # then the root gets a child

    with pytest.raises(WorkflowError, match="levels deep"):
        workflow.publish(revision, by=bob)

    root.refresh_from_db()
    assert root.parent is None
