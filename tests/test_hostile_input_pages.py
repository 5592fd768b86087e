"""No input anyone can send makes a page answer 500, and no request's work grows with its input.

Every URL pattern of the project (public pages, the dashboard, every admin page
of every registered ModelAdmin, Django's and third-party ones included) gets
generated requests: path parameters real or hostile, every query parameter the
page's own forms and admin filters use with real or hostile values, and every
POST form the page shows, as shown and then mutated. See tests/hostile_input.py.

Work is bounded by counting SQL, not by timing: whatever the input, a request
runs at most MAX_QUERIES queries of MAX_SQL_CHARACTERS in all, and the inputs
themselves are capped by Django's upload limits (test_request_size_is_capped).
"""

import os
import time

import pytest
from axes.models import AccessAttempt, AccessLog
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation import roles, workflow
from curation.models import (
    Candidate,
    CitationUpdate,
    DataRelease,
    Mechanism,
    MetadataState,
    ReferenceImport,
    RefreshItem,
    RefreshRun,
    SavedSearch,
    SearchPreview,
    SearchRun,
    Status,
    Suggestion,
)
from tests import hostile_input
from tests.conftest import ensure_role_groups
from tests.factories import make_cancer_type, make_evidence, make_gene, make_mechanism, make_reference, make_therapy
from tests.services import IN_CI

pytestmark = pytest.mark.django_db

ENDPOINTS = hostile_input.endpoints()
EXAMPLES_PER_PAGE = int(os.environ.get("HOSTILE_EXAMPLES", "8"))
MAX_QUERIES = 100  # the most any page needs with the atlas's data (reverting a mechanism: 70), whatever the input
# SQL sent per request, all statements together: a query that grows with its input (a condition per
# word of a search) shows here long before it shows on a clock.
MAX_SQL_CHARACTERS = 100_000
# And a request's own CPU time: quadratic work in Python (issue 8's citation parser took 12.9 s on one
# 80 kB line) shows up here, not in the SQL. CPU rather than wall-clock time, so that a machine shared
# with other jobs does not fail the test; the slowest page here needs well under a second.
MAX_CPU_SECONDS = 5.0
# Pages whose address with the world's first real values still answers 404, and why that is right.
NOT_REACHED = {
    "unnamed: api/^.*$": "the API's catch-all: a 404 in JSON for any address no other route takes",
    "release-file": "the world's release has no files on disk; the file names are fuzzed all the same",
}
ANONYMOUS_PAGES = {"login"}  # signed in, the sign-in page only redirects
SETTINGS = settings(
    max_examples=EXAMPLES_PER_PAGE,
    deadline=None,  # time is bounded by the query count, not by a clock on a shared machine
    derandomize=IN_CI,  # CI replays the same examples; locally each run explores new ones
    database=None if IN_CI else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """A small atlas with a row of every kind a page can show, made once for the ~120 pages.

    Made in a transaction that is rolled back after the module, as Django's
    setUpTestData does; each test and each example runs in a savepoint inside it.
    Returns the admin the admin pages are fuzzed as.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        ensure_role_groups()  # a transactional test before this module may have flushed them
        curator = User.objects.create_user("erin", is_staff=True)
        curator.groups.add(Group.objects.get(name=roles.CURATOR))
        admin_user = User.objects.create_user("frank", is_staff=True)
        admin_user.groups.add(Group.objects.get(name=roles.ADMIN))
        # A few rows of each kind, not the whole seed: a list page costs ~5 ms per row shown.
        genes = [make_gene("B2M"), make_gene("JAK1")]
        therapy, cancer_type = make_therapy("Pembrolizumab"), make_cancer_type("Melanoma")
        reference = make_reference(pmid=29968044, abstract=[{"label": "Background", "text": "<i>B2M</i> loss."}])
        flagged = make_reference(pmid=27433843, is_retracted=True, metadata_state=MetadataState.NEEDS_REVIEW)
        published = make_mechanism(
            "Loss of B2M", slug="b2m-loss", status=Status.PUBLISHED, genes=genes, therapies=[therapy]
        )
        make_mechanism("Child of B2M", status=Status.PUBLISHED, parent=published, cancer_types=[cancer_type])
        make_evidence(published, reference, therapy=therapy, cancer_type=cancer_type)
        make_evidence(published, flagged)
        draft = make_mechanism("A draft of erin's", created_by=curator, updated_by=curator)
        make_evidence(draft, reference)
        draft.summary = "A second version, for the history pages."
        draft.save()
        submitted = make_mechanism("Submitted by erin")
        make_evidence(submitted)
        workflow.submit(submitted, by=curator)
        make_mechanism("An old idea", status=Status.RETIRED)
        CitationUpdate.objects.create(reference=reference, diff={"pages": {"old": "1-9", "new": "1-10"}})
        run = RefreshRun.objects.create(scope=RefreshRun.Scope.ALL, requested_by=admin_user)
        RefreshItem.objects.create(run=run, reference=reference, outcome=RefreshItem.Outcome.FAILED, error="HTTP 502")
        ReferenceImport.objects.create(
            state=ReferenceImport.State.READY,
            entries=[{"line": 1, "text": "12345678", "status": "pmid", "pmid": 12345678}],
        )
        # Literature triage and releases: without a row of each, their pages would only ever answer 404.
        search = SavedSearch.objects.create(name="B2M loss", query="B2M AND resistance", created_by=curator)
        search.mechanisms.add(published)
        SearchRun.objects.create(
            search=search,
            query=search.query,
            window_start="2025-01-01",
            window_end="2025-01-31",
            state=SearchRun.State.FINISHED,
        )
        SearchPreview.objects.create(
            query="JAK1 AND resistance",
            draft={"name": "JAK1 loss", "schedule": "weekly", "active": True},
            window_start="2024-01-01",
            window_end="2025-01-31",
            state=SearchPreview.State.READY,
            count=3,
        )
        Candidate.objects.create(pmid=32_000_001, title="A paper about <i>B2M</i>.", pub_year=2025)
        Suggestion.objects.create(text="29968044", mechanism=published, suggested_by=curator)
        DataRelease.objects.create(number=1, state=DataRelease.State.READY, directory="none")
        AccessAttempt.objects.create(username="carol", ip_address="203.0.113.9", failures_since_start=5)
        AccessLog.objects.create(username="erin", ip_address="198.51.100.7")
        assert Mechanism.objects.published().exists()
        yield admin_user
        transaction.set_rollback(True)


def _client_factory(endpoint, admin_user, real_path):
    """A fresh client per request (a fuzzed logout must not sign the next one out), sharing one session.

    Admin and curation pages are fuzzed signed in as an Admin; so is any other page
    that sends an anonymous reader to sign in first (the suggest form), so that its
    form is fuzzed and not just the redirect.
    """
    staff_page = endpoint.is_admin or endpoint.route.startswith("curation/")
    if endpoint.name in ANONYMOUS_PAGES or not (staff_page or _sends_anonymous_readers_to_sign_in(real_path)):
        return Client
    signed_in = Client()
    signed_in.force_login(admin_user)
    session = signed_in.cookies[django_settings.SESSION_COOKIE_NAME].value

    def client():
        fresh = Client()
        fresh.cookies[django_settings.SESSION_COOKIE_NAME] = session
        return fresh

    return client


def _sends_anonymous_readers_to_sign_in(path) -> bool:
    response = Client().get(path)
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


def _real_path(endpoint):
    known = hostile_input.path_values(endpoint)
    return known, endpoint.path({name: values[0] for name, values in known.items()})


def test_every_url_pattern_has_a_strategy():
    """A new path parameter needs realistic values in hostile_input.PATH_VALUES; this names any that has none."""
    missing = sorted(
        f"{endpoint.route} ({name})"
        for endpoint in ENDPOINTS
        for name, _ in endpoint.parameters
        if name not in hostile_input.PATH_VALUES
    )
    assert missing == []


def test_the_walk_finds_public_pages_and_every_admin():
    names = {endpoint.name for endpoint in ENDPOINTS}
    assert {"home", "mechanism-detail", "gene-detail", "reference-export", "curation-dashboard"} <= names
    assert {"curation_mechanism_reject", "curation_reference_import", "axes_accessattempt_changelist"} <= names


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.id)
def test_the_fuzz_starts_from_a_page_that_exists(endpoint, world):
    """With real path values a page answers with its own content: a fuzz that only ever meets a 404 tests nothing.

    A page added later whose rows the world lacks fails here until the world has one.
    """
    _, real_path = _real_path(endpoint)
    response = _client_factory(endpoint, world, real_path)().get(real_path)
    if endpoint.name in NOT_REACHED:
        assert response.status_code == 404, "no longer unreached: remove it from NOT_REACHED"
    else:
        assert response.status_code != 404, real_path


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.id)
def test_no_generated_request_makes_the_page_fail(endpoint, world):
    known, real_path = _real_path(endpoint)
    new_client = _client_factory(endpoint, world, real_path)
    submissions = hostile_input.discover(endpoint, new_client(), real_path)

    @SETTINGS
    @given(st.data())
    def requests_never_fail(data):
        submission = data.draw(st.sampled_from(submissions), label="what the page lets a browser send")
        fields = data.draw(hostile_input.mutated(submission))
        method = submission.method.upper()
        if submission.url:
            url = submission.url
        else:
            url = endpoint.path(data.draw(hostile_input.path_strategy(endpoint, known)))
            method = data.draw(st.sampled_from([method, method, method, "HEAD", "POST"]))
        url, body = (url, fields) if method == "POST" else (f"{url}?{fields}", "")
        client = new_client()
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            started = time.process_time()
            # Raises what the view raised: any unhandled exception fails here, with the input that caused it.
            response = client.generic(method, url, body, content_type="application/x-www-form-urlencoded")
            cpu_seconds = time.process_time() - started
            transaction.set_rollback(True)  # every example starts from the same world
        assert response.status_code < 500, (method, url, body)
        assert cpu_seconds <= MAX_CPU_SECONDS, (method, url, body, cpu_seconds)
        assert len(queries) <= MAX_QUERIES, (method, url, body, len(queries))
        assert sum(len(query["sql"]) for query in queries) <= MAX_SQL_CHARACTERS, (method, url, body)

    requests_never_fail()


def test_request_size_is_capped(client, dana):
    """The caps every bound above rests on: Django refuses bodies and field counts beyond them with a 400."""
    assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 2_621_440
    assert django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS <= 1000
    client.force_login(dana)
    url = reverse("admin:curation_reference_import")
    too_big = client.post(url, {"lines": "1" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    assert too_big.status_code == 400
    too_many = client.post(
        url, "&".join(f"f{i}=1" for i in range(1001)), content_type="application/x-www-form-urlencoded"
    )
    assert too_many.status_code == 400
    assert "could not understand this request" in too_many.content.decode()
