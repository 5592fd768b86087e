"""The data model's invariants, checked where they are enforced: in the database when SQL can say it."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from curation.models import Category, Evidence, Mechanism, MetadataState, Reference, Status
from tests.factories import make_evidence, make_mechanism, make_reference, make_therapy

pytestmark = pytest.mark.django_db


@contextmanager
def refused_by_database():
    """Expect an IntegrityError; the savepoint keeps the test's transaction usable on PostgreSQL."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


# --- unique keys -------------------------------------------------------------


def test_two_mechanisms_cannot_share_a_slug():
    make_mechanism(slug="b2m-loss")
    with refused_by_database():
        Mechanism.objects.create(slug="b2m-loss", name="Another", category=Category.TUMOR_INTRINSIC, summary="x")


def test_a_pending_revision_shares_its_mechanisms_slug():
    published = make_mechanism(slug="b2m-loss", status=Status.PUBLISHED)
    revision = make_mechanism(slug="b2m-loss", status=Status.IN_REVIEW, revision_of=published)
    assert revision.slug == published.slug


def test_two_therapies_cannot_share_a_slug():
    make_therapy("Nivolumab", slug="nivolumab")
    with refused_by_database():
        make_therapy("Nivolumab (Opdivo)", slug="nivolumab")


@pytest.mark.parametrize("pmid", [0, -5])
def test_a_pmid_must_be_positive(pmid):
    with refused_by_database():
        Reference.objects.create(pmid=pmid)


def test_a_pmid_is_in_the_atlas_once():
    make_reference(pmid=29968044)
    with refused_by_database():
        Reference.objects.create(pmid=29968044)


def test_a_mechanism_cites_a_reference_once_for_the_same_claim():
    evidence = make_evidence(statement="B2M loss abolishes MHC class I display.")
    with refused_by_database():
        make_evidence(evidence.mechanism, evidence.reference, statement="B2M loss abolishes MHC class I display.")


def test_the_same_claim_in_other_letter_case_is_still_a_duplicate():
    evidence = make_evidence(statement="B2M loss abolishes MHC class I display.")
    with refused_by_database():
        make_evidence(evidence.mechanism, evidence.reference, statement="b2m LOSS abolishes mhc class i display.")


def test_one_reference_may_back_several_claims_of_a_mechanism():
    evidence = make_evidence(statement="B2M loss abolishes MHC class I display.")
    make_evidence(evidence.mechanism, evidence.reference, statement="B2M loss was found at relapse.")
    assert evidence.mechanism.evidence.count() == 2


def test_duplicate_claims_are_reported_by_full_clean_before_saving():
    evidence = make_evidence(statement="B2M loss abolishes MHC class I display.")
    duplicate = Evidence(
        mechanism=evidence.mechanism,
        reference=evidence.reference,
        statement="B2M LOSS abolishes MHC class I display.",
        level=evidence.level,
        model_system=evidence.model_system,
    )
    with pytest.raises(ValidationError, match="already cites this reference"):
        duplicate.full_clean()


# --- check constraints on choices --------------------------------------------


def test_an_unknown_status_is_refused_by_the_database():
    with refused_by_database():
        make_mechanism(status="approved")


def test_an_unknown_category_is_refused_by_the_database():
    with refused_by_database():
        make_mechanism(category="tumor-adjacent")


def test_an_unknown_metadata_state_is_refused_by_the_database():
    with refused_by_database():
        make_reference(metadata_state="maybe")


@pytest.mark.parametrize("field, value", [("direction", "neutral"), ("level", "anecdote")])
def test_unknown_evidence_choices_are_refused_by_the_database(field, value):
    with refused_by_database():
        make_evidence(**{field: value})


def test_a_revision_can_never_be_published():
    published = make_mechanism(slug="b2m-loss", status=Status.PUBLISHED)
    with refused_by_database():
        make_mechanism(slug="b2m-loss", status=Status.PUBLISHED, revision_of=published)


def test_a_mechanism_cannot_be_its_own_parent_in_the_database():
    mechanism = make_mechanism()
    with refused_by_database():
        Mechanism.objects.filter(pk=mechanism.pk).update(parent=mechanism.pk)


# --- the tree ----------------------------------------------------------------


def test_the_tree_holds_three_levels():
    root = make_mechanism("Antigen presentation defects")
    middle = make_mechanism("Loss of MHC class I", parent=root)
    leaf = make_mechanism("B2M loss", parent=middle)
    leaf.full_clean()


def test_a_fourth_level_is_refused():
    root = make_mechanism()
    middle = make_mechanism(parent=root)
    leaf = make_mechanism(parent=middle)
    too_deep = make_mechanism()
    too_deep.parent = leaf
    with pytest.raises(ValidationError, match="at most 3 levels"):
        too_deep.full_clean()


def test_moving_a_subtree_below_a_node_counts_its_own_depth():
    root = make_mechanism()
    branch = make_mechanism()
    make_mechanism(parent=make_mechanism(parent=branch))  # branch is already 3 levels tall
    branch.parent = root
    with pytest.raises(ValidationError, match="at most 3 levels"):
        branch.full_clean()


def test_a_child_shares_its_parents_category():
    parent = make_mechanism(category=Category.TUMOR_INTRINSIC)
    child = make_mechanism(category=Category.TUMOR_EXTRINSIC)
    child.parent = parent
    with pytest.raises(ValidationError, match="shares its parent's category"):
        child.full_clean()


def test_a_mechanism_cannot_sit_below_its_own_descendant():
    root = make_mechanism()
    child = make_mechanism(parent=root)
    root.parent = child
    with pytest.raises(ValidationError, match="cannot sit below itself"):
        root.full_clean()


def test_a_mechanism_cannot_be_its_own_parent():
    mechanism = make_mechanism()
    mechanism.parent = mechanism
    with pytest.raises(ValidationError, match="cannot sit below itself"):
        mechanism.full_clean()


# --- querysets ---------------------------------------------------------------


def test_published_shows_only_published_mechanisms_never_drafts_reviews_retired_or_revisions():
    published = make_mechanism("Published", status=Status.PUBLISHED)
    also_published = make_mechanism("Also published", status=Status.PUBLISHED)
    make_mechanism("Draft", status=Status.DRAFT)
    make_mechanism("In review", status=Status.IN_REVIEW)
    make_mechanism("Retired", status=Status.RETIRED)
    make_mechanism("Revision in review", status=Status.IN_REVIEW, revision_of=published)
    make_mechanism("Revision in draft", status=Status.DRAFT, revision_of=also_published)

    assert set(Mechanism.objects.published()) == {published, also_published}


def test_stale_references_are_the_never_fetched_and_the_old_ones():
    now = timezone.now()
    never = make_reference(metadata_state=MetadataState.PENDING, fetched_at=None)
    old = make_reference(fetched_at=now - timedelta(days=31))
    make_reference(fetched_at=now - timedelta(days=29))
    make_reference(metadata_state=MetadataState.NOT_FOUND, fetched_at=now - timedelta(days=400))
    make_reference(metadata_state=MetadataState.NOT_FOUND, fetched_at=None)

    assert set(Reference.objects.stale(days=30)) == {never, old}


def test_stale_uses_the_configured_age_by_default(settings):
    settings.REFERENCE_STALE_DAYS = 7
    old = make_reference(fetched_at=timezone.now() - timedelta(days=8))
    make_reference(fetched_at=timezone.now() - timedelta(days=6))

    assert list(Reference.objects.stale()) == [old]
