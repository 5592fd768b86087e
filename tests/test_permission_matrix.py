"""Every page, admin page and admin action against every role, with the exact expected outcome.

Roles: an anonymous reader, a staff account with no role, alice (Curator),
bob (Reviewer) and dana (Admin). Carol, another curator, wrote the drafts and
submissions the others act on, so that nobody acts on their own work unless a
row says so.

Each row of MATRIX is one request. Its outcome per role is the HTTP status,
or SIGN_IN when the user is sent to the admin's sign-in page. A POST row also
says which roles' requests took effect (by default, the roles that got a 302
other than to sign-in). Every role's request runs in a transaction that is
rolled back afterwards, so each role meets the same starting state.

To add a page: add a Row. The PubMed pipeline's pages and actions sit in their
own section at the end.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.urls import get_resolver, reverse

from curation import roles, workflow
from curation.models import (
    Candidate,
    CitationUpdate,
    DataRelease,
    Mechanism,
    MetadataState,
    Reference,
    ReferenceImport,
    RefreshRun,
    SavedSearch,
    SearchPreview,
    SearchRun,
    Status,
)
from tests.factories import make_cancer_type, make_evidence, make_gene, make_mechanism, make_reference, make_therapy

pytestmark = pytest.mark.django_db

ANONYMOUS, NO_ROLE = "anonymous", "staff, no role"
ALICE, BOB, DANA = "alice (Curator)", "bob (Reviewer)", "dana (Admin)"
ROLES = (ANONYMOUS, NO_ROLE, ALICE, BOB, DANA)
SIGN_IN = "sign-in"


def expect(anonymous, no_role, curator, reviewer, admin) -> dict:
    """One table row's outcomes, in the order of ROLES."""
    return dict(zip(ROLES, (anonymous, no_role, curator, reviewer, admin), strict=True))


EVERYONE_200 = expect(200, 200, 200, 200, 200)
STAFF_WITH_A_ROLE = expect(SIGN_IN, 403, 200, 200, 200)
ADMIN_ONLY = expect(SIGN_IN, 403, 403, 403, 200)
REVIEWERS = expect(SIGN_IN, 403, 403, 200, 200)


@dataclass
class World:
    """The rows every request acts on."""

    gene: Any
    therapy: Any
    cancer_type: Any
    cited: Reference  # verified, cited by the published mechanism
    fetched: Reference  # PubMed metadata fetched, needs a curator's check
    draft: Mechanism  # carol's draft, with evidence
    submitted: Mechanism  # carol's submission
    bobs_submission: Mechanism
    published: Mechanism
    retired: Mechanism
    update: CitationUpdate
    run: RefreshRun
    reference_import: ReferenceImport
    search: SavedSearch
    search_run: SearchRun
    preview: SearchPreview
    candidate: Candidate
    objs: dict = field(default_factory=dict)
    release: DataRelease | None = None


@pytest.fixture
def world(carol, bob):
    gene, therapy, cancer_type = make_gene("B2M"), make_therapy("Pembrolizumab"), make_cancer_type("Melanoma")
    cited = make_reference(pmid=29968044)
    fetched = make_reference(pmid=31000001, metadata_state=MetadataState.NEEDS_REVIEW)
    draft = make_mechanism("Carol's draft", created_by=carol, updated_by=carol)
    make_evidence(draft, statement="A draft claim.")
    submitted = make_mechanism("Carol's submission")
    make_evidence(submitted)
    workflow.submit(submitted, by=carol)
    bobs_submission = make_mechanism("Bob's submission")
    make_evidence(bobs_submission)
    workflow.submit(bobs_submission, by=bob)
    published = make_mechanism("Loss of B2M", status=Status.PUBLISHED, genes=[gene])
    make_evidence(published, reference=cited, statement="A public claim.")
    retired = make_mechanism("A retired idea", status=Status.RETIRED)
    update = CitationUpdate.objects.create(reference=cited, diff={"pages": {"old": "1-9", "new": "1-10"}})
    run = RefreshRun.objects.create(scope=RefreshRun.Scope.STALE)
    reference_import = ReferenceImport.objects.create(state=ReferenceImport.State.READY, entries=[])
    search = SavedSearch.objects.create(name="B2M loss", query="B2M AND resistance")
    search_run = SearchRun.objects.create(
        search=search,
        query=search.query,
        window_start="2025-01-01",
        window_end="2025-01-31",
        state=SearchRun.State.FINISHED,
    )
    preview = SearchPreview.objects.create(
        query="JAK1 AND resistance",
        draft={"name": "JAK1 loss", "schedule": "weekly", "active": True},
        window_start="2024-01-01",
        window_end="2025-01-31",
        state=SearchPreview.State.READY,
        count=3,
    )
    candidate = Candidate.objects.create(pmid=32_000_001, title="A paper about B2M.", pub_year=2025)
    candidate.refresh_from_db()
    world = World(
        gene,
        therapy,
        cancer_type,
        cited,
        fetched,
        draft,
        submitted,
        bobs_submission,
        published,
        retired,
        update,
        run,
        reference_import,
        search,
        search_run,
        preview,
        candidate,
    )
    world.release = DataRelease.objects.create(number=1, state=DataRelease.State.READY, directory="none")
    return world


@dataclass
class Row:
    label: str
    method: str
    url: Callable[[World], str]
    expected: dict
    data: Callable[[World], dict] | None = None
    # For POSTs: whether the request took effect, and for whom (default: the roles answered with a 302).
    done: Callable[[World], bool] | None = None
    took_effect_for: tuple | None = None


def admin(name, obj=None, *args):
    def url(w):
        target = getattr(w, obj) if isinstance(obj, str) else obj
        return reverse(f"admin:{name}", args=[target.pk, *args] if target is not None else list(args))

    return url


def history_id(attr, which=0):
    return lambda w: getattr(w, attr).history.order_by("history_date", "history_id")[which].history_id


def revert_url(model, attr):
    return lambda w: reverse(f"admin:curation_{model}_history_revert", args=[getattr(w, attr).pk, history_id(attr)(w)])


def evidence_of(attr):
    return lambda w: getattr(w, attr).evidence.get()


def mechanism_form(attr, **changes):
    """The mechanism change form as a browser would post it, evidence row included."""

    def data(w):
        m = getattr(w, attr)
        row = m.evidence.get()
        return {
            "name": m.name,
            "slug": m.slug,
            "category": m.category,
            "summary": m.summary,
            "strategies": m.strategies,
            "expected_version": m.version,
            "evidence-TOTAL_FORMS": "1",
            "evidence-INITIAL_FORMS": "1",
            "evidence-MIN_NUM_FORMS": "0",
            "evidence-MAX_NUM_FORMS": "1000",
            "evidence-0-id": row.pk,
            "evidence-0-mechanism": m.pk,
            "evidence-0-reference": row.reference_id,
            "evidence-0-statement": row.statement,
            "evidence-0-direction": row.direction,
            "evidence-0-level": row.level,
            "evidence-0-model_system": row.model_system,
            "evidence-0-expected_version": row.version,
            **changes,
        }

    return data


def status_of(attr, status):
    return lambda w: Mechanism.objects.get(pk=getattr(w, attr).pk).status == status


def changelist(model):
    return lambda w: reverse(f"admin:curation_{model}_changelist")


def selected(action, attr):
    """The POST of a list action applied to one row, confirmed (delete asks "Are you sure?")."""
    return lambda w: {"action": action, "_selected_action": [getattr(w, attr).pk], "index": "0", "post": "yes"}


# fmt: off
MATRIX = [
    # --- public pages: the same for everyone ---------------------------------------------------------
    Row("home page", "GET", lambda w: "/", EVERYONE_200),
    Row("mechanism list", "GET", lambda w: "/mechanisms/", EVERYONE_200),
    Row("published mechanism page", "GET", lambda w: f"/mechanisms/{w.published.slug}/", EVERYONE_200),
    Row("draft mechanism page is not public, even for staff", "GET", lambda w: f"/mechanisms/{w.draft.slug}/",
        expect(404, 404, 404, 404, 404)),
    Row("mechanism in review is not public", "GET", lambda w: f"/mechanisms/{w.submitted.slug}/",
        expect(404, 404, 404, 404, 404)),
    Row("retired mechanism page says it is gone", "GET", lambda w: f"/mechanisms/{w.retired.slug}/",
        expect(410, 410, 410, 410, 410)),
    Row("reference page", "GET", lambda w: f"/references/{w.cited.pmid}/", EVERYONE_200),
    Row("reference citation export", "GET", lambda w: f"/references/{w.cited.pmid}/cite.ris", EVERYONE_200),
    Row("gene page", "GET", lambda w: f"/genes/{w.gene.symbol}/", EVERYONE_200),

    # --- the curator dashboard ----------------------------------------------------------------------------
    Row("curator dashboard", "GET", lambda w: reverse("curation-dashboard"), STAFF_WITH_A_ROLE),

    # --- admin pages --------------------------------------------------------------------------------------
    Row("admin home", "GET", admin("index"), expect(SIGN_IN, 200, 200, 200, 200)),
    *[Row(f"{model} list", "GET", admin(f"curation_{model}_changelist"), STAFF_WITH_A_ROLE)
      for model in ("mechanism", "evidence", "reference", "gene", "therapy", "cancertype")],
    *[Row(f"add {model} form", "GET", admin(f"curation_{model}_add"), STAFF_WITH_A_ROLE)
      for model in ("mechanism", "evidence", "gene", "therapy", "cancertype")],
    Row("add reference sends to the Add references page", "GET", admin("curation_reference_add"),
        expect(SIGN_IN, 302, 302, 302, 302)),
    Row("Add references: paste a PMID", "POST", admin("curation_reference_import"),
        expect(SIGN_IN, 403, 302, 302, 302), data=lambda w: {"lines": "12345678"},
        done=lambda w: Reference.objects.filter(pmid=12345678).exists()),
    Row("user list", "GET", admin("auth_user_changelist"), ADMIN_ONLY),
    Row("group list", "GET", admin("auth_group_changelist"), ADMIN_ONLY),

    Row("draft mechanism: change form", "GET", admin("curation_mechanism_change", "draft"), STAFF_WITH_A_ROLE),
    Row("draft mechanism: save the form", "POST", admin("curation_mechanism_change", "draft"),
        expect(SIGN_IN, 403, 302, 302, 302), data=mechanism_form("draft", summary="Edited."),
        done=lambda w: Mechanism.objects.get(pk=w.draft.pk).summary == "Edited."),
    Row("published mechanism: read-only page", "GET", admin("curation_mechanism_change", "published"),
        STAFF_WITH_A_ROLE),
    Row("published mechanism: saving the form is refused to everyone", "POST",
        admin("curation_mechanism_change", "published"), expect(SIGN_IN, 403, 403, 403, 403),
        data=mechanism_form("published", summary="Unreviewed."),
        done=lambda w: Mechanism.objects.get(pk=w.published.pk).summary == "Unreviewed."),
    Row("mechanism: delete page", "GET", admin("curation_mechanism_delete", "draft"), ADMIN_ONLY),
    Row("draft's evidence: change form", "GET", lambda w: reverse(
        "admin:curation_evidence_change", args=[w.draft.evidence.get().pk]), STAFF_WITH_A_ROLE),
    Row("draft's evidence: delete page", "GET", lambda w: reverse(
        "admin:curation_evidence_delete", args=[w.draft.evidence.get().pk]), STAFF_WITH_A_ROLE),
    Row("published evidence: read-only page", "GET", lambda w: reverse(
        "admin:curation_evidence_change", args=[w.published.evidence.get().pk]), STAFF_WITH_A_ROLE),
    Row("published evidence: saving is refused to everyone", "POST", lambda w: reverse(
        "admin:curation_evidence_change", args=[w.published.evidence.get().pk]), expect(SIGN_IN, 403, 403, 403, 403),
        data=lambda w: {"mechanism": w.published.pk, "reference": w.cited.pk, "statement": "Unreviewed.",
                        "direction": "supports", "level": "in-vitro", "model_system": "cell-line",
                        "expected_version": 1},
        done=lambda w: w.published.evidence.get().statement == "Unreviewed."),
    Row("published evidence: delete page is refused to everyone", "GET", lambda w: reverse(
        "admin:curation_evidence_delete", args=[w.published.evidence.get().pk]), expect(SIGN_IN, 403, 403, 403, 403)),
    Row("reference: change page", "GET", admin("curation_reference_change", "cited"), STAFF_WITH_A_ROLE),
    Row("reference: delete page", "GET", admin("curation_reference_delete", "cited"), ADMIN_ONLY),
    Row("gene: change form", "GET", admin("curation_gene_change", "gene"), STAFF_WITH_A_ROLE),
    Row("gene: delete page", "GET", admin("curation_gene_delete", "gene"), ADMIN_ONLY),
    Row("therapy: delete page", "GET", admin("curation_therapy_delete", "therapy"), ADMIN_ONLY),
    Row("cancer type: delete page", "GET", admin("curation_cancertype_delete", "cancer_type"), ADMIN_ONLY),
    Row("therapy: change form", "GET", admin("curation_therapy_change", "therapy"), STAFF_WITH_A_ROLE),
    Row("cancer type: change form", "GET", admin("curation_cancertype_change", "cancer_type"), STAFF_WITH_A_ROLE),

    # --- history, diff and revert -------------------------------------------------------------------------
    Row("mechanism history", "GET", admin("curation_mechanism_history", "draft"), STAFF_WITH_A_ROLE),
    Row("mechanism: compare two versions", "GET", admin("curation_mechanism_history_compare", "published"),
        STAFF_WITH_A_ROLE),
    Row("evidence history", "GET", lambda w: reverse(
        "admin:curation_evidence_history", args=[w.draft.evidence.get().pk]), STAFF_WITH_A_ROLE),
    Row("reference history", "GET", admin("curation_reference_history", "cited"), STAFF_WITH_A_ROLE),
    Row("reference: compare two versions", "GET", admin("curation_reference_history_compare", "cited"),
        STAFF_WITH_A_ROLE),
    Row("gene history", "GET", admin("curation_gene_history", "gene"), STAFF_WITH_A_ROLE),
    Row("mechanism: revert page", "GET", revert_url("mechanism", "draft"), STAFF_WITH_A_ROLE),
    Row("mechanism: revert to the first version", "POST", revert_url("mechanism", "draft"),
        expect(SIGN_IN, 403, 302, 302, 302),
        data=lambda w: {"expected_version": Mechanism.objects.get(pk=w.draft.pk).version},
        done=lambda w: Mechanism.objects.get(pk=w.draft.pk).history.latest().history_change_reason
        == "Reverted to version 1"),
    Row("published evidence: revert is refused with a message", "POST", lambda w: reverse(
        "admin:curation_evidence_history_revert",
        args=[w.published.evidence.get().pk, w.published.evidence.get().history.earliest().history_id]),
        expect(SIGN_IN, 403, 302, 302, 302), data=lambda w: {"expected_version": 1},
        done=lambda w: w.published.evidence.get().history.count() > 1, took_effect_for=()),
    Row("reference: revert page", "GET", revert_url("reference", "cited"), STAFF_WITH_A_ROLE),
    Row("evidence: compare two versions", "GET", lambda w: reverse(
        "admin:curation_evidence_history_compare", args=[w.draft.evidence.get().pk]), STAFF_WITH_A_ROLE),
    Row("evidence: revert page", "GET", lambda w: reverse(
        "admin:curation_evidence_history_revert",
        args=[w.draft.evidence.get().pk, w.draft.evidence.get().history.earliest().history_id]), STAFF_WITH_A_ROLE),
    Row("gene: compare two versions", "GET", admin("curation_gene_history_compare", "gene"), STAFF_WITH_A_ROLE),
    Row("gene: revert page", "GET", revert_url("gene", "gene"), STAFF_WITH_A_ROLE),
    *[Row(f"{name}: {page}", "GET", url, STAFF_WITH_A_ROLE)
      for name, attr, model in (("therapy", "therapy", "therapy"), ("cancer type", "cancer_type", "cancertype"))
      for page, url in (("history", admin(f"curation_{model}_history", attr)),
                        ("compare two versions", admin(f"curation_{model}_history_compare", attr)),
                        ("revert page", revert_url(model, attr)))],

    # --- the review workflow --------------------------------------------------------------------------------
    Row("submit: confirmation page", "GET", admin("curation_mechanism_submit", "draft"), STAFF_WITH_A_ROLE),
    Row("submit carol's draft", "POST", admin("curation_mechanism_submit", "draft"),
        expect(SIGN_IN, 403, 302, 302, 302), data=lambda w: {"version": w.draft.version},
        done=status_of("draft", Status.IN_REVIEW)),
    Row("publish carol's submission", "POST", admin("curation_mechanism_publish", "submitted"),
        expect(SIGN_IN, 403, 403, 302, 302), data=lambda w: {"version": w.submitted.version},
        done=status_of("submitted", Status.PUBLISHED)),
    Row("publish bob's own submission: only dana's takes effect", "POST",
        admin("curation_mechanism_publish", "bobs_submission"), expect(SIGN_IN, 403, 403, 302, 302),
        data=lambda w: {"version": w.bobs_submission.version},
        done=status_of("bobs_submission", Status.PUBLISHED), took_effect_for=(DANA,)),
    Row("reject: reason form", "GET", admin("curation_mechanism_reject", "submitted"), REVIEWERS),
    Row("reject with a reason", "POST", admin("curation_mechanism_reject", "submitted"),
        expect(SIGN_IN, 403, 403, 302, 302), data=lambda w: {"version": w.submitted.version, "reason": "Thin."},
        done=status_of("submitted", Status.DRAFT)),
    Row("reject without a reason: the form asks for one", "POST", admin("curation_mechanism_reject", "submitted"),
        expect(SIGN_IN, 403, 403, 200, 200), data=lambda w: {"version": w.submitted.version, "reason": ""},
        done=status_of("submitted", Status.DRAFT)),
    Row("retire: confirmation page", "GET", admin("curation_mechanism_retire", "published"), REVIEWERS),
    Row("retire the published mechanism", "POST", admin("curation_mechanism_retire", "published"),
        expect(SIGN_IN, 403, 403, 302, 302), data=lambda w: {"version": w.published.version},
        done=status_of("published", Status.RETIRED)),
    Row("edit the published mechanism: opens a draft revision", "POST",
        admin("curation_mechanism_revise", "published"), expect(SIGN_IN, 403, 302, 302, 302),
        data=lambda w: {"version": w.published.version}, done=lambda w: w.published.revisions.exists()),

    # --- admin actions on the lists -------------------------------------------------------------------------
    # Without the delete permission a curator's list offers no action at all: the list is shown again.
    Row("mechanism list: delete selected", "POST", changelist("mechanism"), expect(SIGN_IN, 403, 200, 200, 302),
        data=selected("delete_selected", "draft"), done=lambda w: not Mechanism.objects.filter(pk=w.draft.pk).exists(),
        took_effect_for=(DANA,)),
    Row("evidence list: bulk delete is not offered", "POST", changelist("evidence"),
        expect(SIGN_IN, 403, 200, 200, 200), data=selected("delete_selected", "draft"),
        done=lambda w: not w.draft.evidence.exists(), took_effect_for=()),

    # --- PubMed pipeline (another engineer's pages; extend here) ---------------------------------------------
    Row("reference list: verify selected", "POST", changelist("reference"), expect(SIGN_IN, 403, 302, 302, 302),
        data=selected("verify_selected", "fetched"),
        done=lambda w: Reference.objects.get(pk=w.fetched.pk).metadata_state == MetadataState.VERIFIED),
    Row("reference list: refresh selected from PubMed", "POST", changelist("reference"),
        expect(SIGN_IN, 403, 302, 302, 302), data=selected("refresh_selected_from_pubmed", "cited"),
        done=lambda w: RefreshRun.objects.count() > 1, took_effect_for=(DANA,)),
    Row("verify one reference", "POST", admin("curation_reference_verify", "fetched"),
        expect(SIGN_IN, 403, 302, 302, 302), data=lambda w: {"version": w.fetched.version},
        done=lambda w: Reference.objects.get(pk=w.fetched.pk).metadata_state == MetadataState.VERIFIED),
    Row("refresh one reference from PubMed", "POST", admin("curation_reference_refresh", "cited"),
        expect(SIGN_IN, 403, 403, 403, 302), data=lambda w: {}, done=lambda w: RefreshRun.objects.count() > 1),
    Row("refresh every stale reference", "POST", admin("curation_reference_refresh_stale"),
        expect(SIGN_IN, 403, 403, 403, 302), data=lambda w: {}, done=lambda w: RefreshRun.objects.count() > 1),
    Row("Add references page", "GET", admin("curation_reference_import"), STAFF_WITH_A_ROLE),
    Row("Add references: paste a citation", "POST", admin("curation_reference_import"),
        expect(SIGN_IN, 403, 302, 302, 302), data=lambda w: {"lines": "Cell. 2017;168(4):707-723"},
        done=lambda w: ReferenceImport.objects.count() > 1),
    Row("import preview page", "GET", admin("curation_reference_import_preview", "reference_import"),
        STAFF_WITH_A_ROLE),
    Row("refresh run list", "GET", admin("curation_refreshrun_changelist"), STAFF_WITH_A_ROLE),
    Row("refresh run page", "GET", admin("curation_refreshrun_change", "run"), STAFF_WITH_A_ROLE),
    Row("refresh run: no add form", "GET", admin("curation_refreshrun_add"), expect(SIGN_IN, 403, 403, 403, 403)),
    Row("refresh run history", "GET", admin("curation_refreshrun_history", "run"), STAFF_WITH_A_ROLE),
    Row("refresh run: delete page", "GET", admin("curation_refreshrun_delete", "run"),
        expect(SIGN_IN, 403, 403, 403, 403)),
    Row("citation update list", "GET", admin("curation_citationupdate_changelist"), STAFF_WITH_A_ROLE),
    Row("citation update: no add form", "GET", admin("curation_citationupdate_add"),
        expect(SIGN_IN, 403, 403, 403, 403)),
    Row("citation update history", "GET", admin("curation_citationupdate_history", "update"), STAFF_WITH_A_ROLE),
    Row("citation update: delete page", "GET", admin("curation_citationupdate_delete", "update"),
        expect(SIGN_IN, 403, 403, 403, 403)),
    Row("citation update review page", "GET", admin("curation_citationupdate_change", "update"),
        STAFF_WITH_A_ROLE),
    Row("citation update: reject PubMed's changes", "POST", admin("curation_citationupdate_change", "update"),
        expect(SIGN_IN, 403, 302, 302, 302), data=lambda w: {"decision": "reject"},
        done=lambda w: CitationUpdate.objects.get(pk=w.update.pk).decision == CitationUpdate.Decision.REJECTED),

    # --- the read API and data releases ------------------------------------------------------------------
    Row("API: published mechanisms", "GET", lambda w: "/api/mechanisms/", EVERYONE_200),
    Row("API: a draft is not there, even for staff", "GET", lambda w: f"/api/mechanisms/{w.draft.slug}/",
        expect(404, 404, 404, 404, 404)),
    Row("API docs page", "GET", lambda w: "/api/docs/", EVERYONE_200),
    Row("downloads page", "GET", lambda w: "/downloads/", EVERYONE_200),
    Row("data release list", "GET", changelist("datarelease"), ADMIN_ONLY),
    Row("data release page", "GET", admin("curation_datarelease_change", "release"), ADMIN_ONLY),
    Row("data release history", "GET", admin("curation_datarelease_history", "release"), ADMIN_ONLY),
    Row("data release: no add form", "GET", admin("curation_datarelease_add"), expect(SIGN_IN, 403, 403, 403, 403)),
    Row("data release: delete page", "GET", admin("curation_datarelease_delete", "release"),
        expect(SIGN_IN, 403, 403, 403, 403)),
    Row("make a data release now", "POST", admin("curation_datarelease_make"), expect(SIGN_IN, 403, 403, 403, 302)),
    # --- literature triage: saved searches, their runs, the queue ----------------------------------------------
    Row("saved search list", "GET", admin("curation_savedsearch_changelist"), STAFF_WITH_A_ROLE),
    Row("saved search: add form", "GET", admin("curation_savedsearch_add"), STAFF_WITH_A_ROLE),
    Row("saved search: a new one is previewed, not saved", "POST", admin("curation_savedsearch_add"),
        expect(SIGN_IN, 403, 302, 302, 302),
        data=lambda w: {"name": "New", "query": "TIGIT", "schedule": "weekly", "active": "on"},
        done=lambda w: SearchPreview.objects.filter(query="TIGIT").exists()
        and not SavedSearch.objects.filter(name="New").exists()),
    Row("saved search: change form", "GET", admin("curation_savedsearch_change", "search"), STAFF_WITH_A_ROLE),
    Row("saved search: delete page", "GET", admin("curation_savedsearch_delete", "search"), ADMIN_ONLY),
    Row("saved search history", "GET", admin("curation_savedsearch_history", "search"), STAFF_WITH_A_ROLE),
    Row("saved search: compare two versions", "GET", admin("curation_savedsearch_history_compare", "search"),
        STAFF_WITH_A_ROLE),
    Row("saved search: revert page", "GET", revert_url("savedsearch", "search"), STAFF_WITH_A_ROLE),
    Row("saved search: run now", "POST", admin("curation_savedsearch_run", "search"),
        expect(SIGN_IN, 403, 302, 302, 302), data=lambda w: {},
        done=lambda w: SearchRun.objects.filter(search=w.search).count() > 1),
    Row("saved search list: run selected now", "POST", changelist("savedsearch"),
        expect(SIGN_IN, 403, 302, 302, 302), data=selected("run_selected_now", "search"),
        done=lambda w: SearchRun.objects.filter(search=w.search).count() > 1),
    Row("saved search preview page", "GET", admin("curation_savedsearch_preview", "preview"), STAFF_WITH_A_ROLE),
    Row("saved search preview: save the search", "POST", admin("curation_savedsearch_preview", "preview"),
        expect(SIGN_IN, 403, 302, 302, 302), data=lambda w: {},
        done=lambda w: SavedSearch.objects.filter(name="JAK1 loss").exists()),
    Row("search run list", "GET", admin("curation_searchrun_changelist"), STAFF_WITH_A_ROLE),
    Row("search run page", "GET", admin("curation_searchrun_change", "search_run"), STAFF_WITH_A_ROLE),
    Row("search run: no add form", "GET", admin("curation_searchrun_add"), expect(SIGN_IN, 403, 403, 403, 403)),
    Row("search run: delete page", "GET", admin("curation_searchrun_delete", "search_run"),
        expect(SIGN_IN, 403, 403, 403, 403)),
    Row("search run history", "GET", admin("curation_searchrun_history", "search_run"), STAFF_WITH_A_ROLE),
    Row("literature queue", "GET", admin("curation_candidate_changelist"), STAFF_WITH_A_ROLE),
    Row("literature queue: a paper's page", "GET", admin("curation_candidate_change", "candidate"), STAFF_WITH_A_ROLE),
    Row("literature queue: no add form", "GET", admin("curation_candidate_add"), expect(SIGN_IN, 403, 403, 403, 403)),
    Row("literature queue: no delete page", "GET", admin("curation_candidate_delete", "candidate"),
        expect(SIGN_IN, 403, 403, 403, 403)),
    Row("literature queue: a paper's history", "GET", admin("curation_candidate_history", "candidate"),
        STAFF_WITH_A_ROLE),
    Row("literature queue: compare two versions", "GET", admin("curation_candidate_history_compare", "candidate"),
        STAFF_WITH_A_ROLE),
    Row("literature queue: revert is refused", "POST", lambda w: reverse(
        "admin:curation_candidate_history_revert", args=[w.candidate.pk, w.candidate.history.earliest().history_id]),
        expect(SIGN_IN, 403, 403, 403, 403), data=lambda w: {"expected_version": 1},
        done=lambda w: w.candidate.history.count() > 1),
    Row("literature queue: reject a paper", "POST", admin("curation_candidate_decide", "candidate"),
        expect(SIGN_IN, 403, 302, 302, 302), data=lambda w: {"action": "reject", "version": 1, "reason": "off-topic"},
        done=lambda w: Candidate.objects.get(pk=w.candidate.pk).state == Candidate.State.REJECTED),
    Row("literature queue: accept selected", "POST", changelist("candidate"), expect(SIGN_IN, 403, 302, 302, 302),
        data=lambda w: {**selected("accept_selected", "candidate")(w), f"version-{w.candidate.pk}": 1},
        done=lambda w: Candidate.objects.get(pk=w.candidate.pk).state == Candidate.State.ACCEPTED),
]
# fmt: on


@pytest.fixture
def clients(django_user_model, alice, bob, dana):
    nobody = django_user_model.objects.create_user("nobody", is_staff=True)
    assert not Group.objects.filter(user=nobody).exists()
    users = {ANONYMOUS: None, NO_ROLE: nobody, ALICE: alice, BOB: bob, DANA: dana}
    assert {g.name for g in Group.objects.filter(user__in=[alice, bob, dana])} == {
        roles.CURATOR,
        roles.REVIEWER,
        roles.ADMIN,
    }
    return users


def _outcome(response):
    if response.status_code == 302 and response["Location"].startswith(reverse("admin:login")):
        return SIGN_IN
    return response.status_code


@pytest.mark.parametrize("row", MATRIX, ids=[row.label for row in MATRIX])
def test_permission_matrix(row, world, clients):
    outcomes, effects = {}, {}
    for role, user in clients.items():
        with transaction.atomic():
            client = Client()
            if user is not None:
                client.force_login(user)
            url = row.url(world)
            if row.method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, row.data(world) if row.data else {})
            outcomes[role] = _outcome(response)
            if row.done is not None:
                effects[role] = row.done(world)
            transaction.set_rollback(True)

    assert outcomes == row.expected
    if row.done is not None:
        took_effect = row.took_effect_for
        if took_effect is None:
            took_effect = tuple(role for role, outcome in row.expected.items() if outcome == 302)
        assert effects == {role: role in took_effect for role in ROLES}


def test_every_admin_page_of_the_atlas_has_a_row(world):
    """A new admin page or action URL must get a row in MATRIX; this names the ones that have none."""
    resolver = get_resolver()
    visited = {resolver.resolve(row.url(world)).url_name for row in MATRIX}
    names = {
        url.name
        for model_admin in django_admin.site._registry.values()
        if model_admin.opts.app_label == "curation"
        for url in model_admin.get_urls()
        if url.name
    }
    assert sorted(names - visited) == []
