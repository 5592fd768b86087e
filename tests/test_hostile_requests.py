"""Requests no browser sends get a clear answer, never a 500 or a traceback.

These are the cases a hostile test of the running site found (issue 8, defect 4),
each pinned here; tests/test_hostile_input_suite.py generalises them to every page,
form, admin list and command.
"""

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.urls import reverse

from curation.models import Category, Gene, RefreshRun, Status
from tests.admin_pages import signed_in
from tests.factories import make_evidence, make_gene, make_mechanism

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def atlas():
    gene = make_gene("B2M")
    mechanism = make_mechanism("Loss of B2M", slug="b2m-loss", status=Status.PUBLISHED, genes=[gene])
    make_evidence(mechanism)
    RefreshRun.objects.create(scope=RefreshRun.Scope.ALL)
    return mechanism


@pytest.fixture
def admin_client(dana):
    return signed_in(dana)


def _assert_refused_as_unstorable(response):
    assert response.status_code == 400
    assert "cannot be stored" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "url",
    [
        "/genes/%00/",
        "/genes/B2M%00/",
        "/mechanisms/%00/",
        "/mechanisms/?q=%00",
        "/mechanisms/?gene=B2M%00",
        "/?q=a%00b",
    ],
)
def test_a_nul_byte_in_a_public_address_is_refused_with_a_clear_page(client, atlas, url):
    _assert_refused_as_unstorable(client.get(url))


def test_a_nul_byte_in_the_admin_autocomplete_is_refused(admin_client, atlas):
    params = "term=%00&app_label=curation&model_name=evidence&field_name=mechanism"
    _assert_refused_as_unstorable(admin_client.get(f"{reverse('admin:autocomplete')}?{params}"))


def test_a_nul_byte_in_an_admin_list_filter_is_refused(admin_client, atlas):
    url = reverse("admin:curation_evidence_changelist") + "?mechanism__category__exact=%00"
    _assert_refused_as_unstorable(admin_client.get(url))


def test_a_nul_byte_in_a_posted_form_is_refused_and_changes_nothing(admin_client, atlas):
    response = admin_client.post(
        reverse("admin:curation_gene_add"), {"symbol": "EVIL\x00", "name": "a gene", "version": "0"}
    )
    _assert_refused_as_unstorable(response)
    assert not Gene.objects.filter(symbol__startswith="EVIL").exists()


def test_a_nul_byte_in_the_sign_in_form_is_refused(client):
    _assert_refused_as_unstorable(client.post(reverse("admin:login"), {"username": "\x00", "password": "x"}))


def test_a_nul_byte_in_the_session_cookie_is_refused(client):
    client.cookies["sessionid"] = "\x00" * 8  # sent as "\000...", which Django decodes back to NULs
    _assert_refused_as_unstorable(client.get(reverse("admin:index")))


def test_an_ordinary_request_still_goes_through(client, atlas):
    assert client.get("/genes/B2M/").status_code == 200
    assert client.get("/mechanisms/?q=B2M").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "created_at__year=99999999999",
        "created_at__year=9999",
        "created_at__year=9999&created_at__month=12",
        "created_at__year=2024&created_at__month=99999999999",
        "created_at__year=2024&created_at__month=2&created_at__day=99999999999",
    ],
)
def test_an_out_of_range_date_in_the_admin_date_hierarchy_is_refused(admin_client, atlas, query):
    response = admin_client.get(reverse("admin:curation_refreshrun_changelist") + "?" + query, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][0].endswith("?e=1")
    assert "The filters in the address could not be applied" in response.content.decode()


def test_every_registered_admin_uses_the_changelist_that_refuses_bad_numbers(rf, dana):
    from resistance_atlas.admin_site import HostileInputChangeList

    request = rf.get("/")
    request.user = dana
    for model, model_admin in admin.site._registry.items():
        assert issubclass(model_admin.get_changelist(request), HostileInputChangeList), model


def _run(*args):
    call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.parametrize("days", ["99999999999999999999", "-1", "1e3", "nan"])
def test_refresh_references_refuses_an_impossible_number_of_days(days):
    with pytest.raises(CommandError, match="--stale"):
        _run("refresh_references", "--stale", days)
    assert not RefreshRun.objects.exists()


@pytest.mark.parametrize("pmid", ["99999999999999999999", "0", "-5"])
def test_refresh_references_refuses_an_impossible_pmid(pmid):
    with pytest.raises(CommandError, match="PMID"):
        _run("refresh_references", pmid)


@pytest.mark.parametrize("timeout", ["inf", "nan", "-1", "1e400"])
def test_commands_refuse_an_impossible_timeout(timeout):
    with pytest.raises(CommandError, match="--timeout"):
        _run("refresh_references", "--all", "--wait", "--timeout", timeout)


def test_refresh_references_on_the_command_line_prints_a_message_not_a_traceback():
    result = subprocess.run(
        [sys.executable, "manage.py", "refresh_references", "--stale", "99999999999999999999"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "--stale" in result.stderr and "36500" in result.stderr


def test_a_category_filter_still_filters(admin_client, atlas):
    url = reverse("admin:curation_evidence_changelist") + f"?mechanism__category__exact={Category.TUMOR_INTRINSIC}"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_every_admin_search_refuses_a_search_of_too_many_words(admin_client, atlas):
    # Django's admin search adds a condition per word and field: 200 words took PostgreSQL 5 s to plan.
    from resistance_atlas.admin_site import MAX_SEARCH_WORDS

    searched = [m for m, model_admin in admin.site._registry.items() if model_admin.search_fields]
    assert searched
    for model in searched:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = admin_client.get(url, {"q": "word " * (MAX_SEARCH_WORDS + 1)})
        assert response.status_code == 200, model
        assert f"at most {MAX_SEARCH_WORDS} words" in response.content.decode(), model
        assert response.context["cl"].query == "", model


def test_an_admin_search_of_a_few_words_still_finds(admin_client, atlas):
    url = reverse("admin:curation_mechanism_changelist")
    response = admin_client.get(url, {"q": "Loss of B2M"})
    assert [m.name for m in response.context["cl"].result_list] == ["Loss of B2M"]


@pytest.mark.parametrize(
    ("url_name", "data"),
    [
        ("admin:curation_evidence_add", {"cancer_type": "abc", "reference": "9" * 30}),
        (
            "admin:curation_mechanism_add",
            {"genes": ["x1", "2"], "evidence-TOTAL_FORMS": "1", "evidence-0-therapy": "?"},
        ),
    ],
)
def test_a_non_numeric_choice_in_an_autocomplete_field_is_a_form_error(admin_client, atlas, url_name, data):
    # The form came back with errors, and re-drawing its autocomplete widgets looked the bad value up (a 500).
    management = {"evidence-INITIAL_FORMS": "0", "evidence-MIN_NUM_FORMS": "0", "evidence-MAX_NUM_FORMS": "1000"}
    response = admin_client.post(reverse(url_name), {**management, **data})
    assert response.status_code == 200
    assert response.context["errors"]


def test_every_inline_of_every_admin_draws_bounded_autocomplete_widgets(rf, dana):
    from resistance_atlas.admin_site import BoundedAutocompleteMixin

    request = rf.get("/")
    request.user = dana
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, BoundedAutocompleteMixin), model
        for inline in model_admin.get_inline_instances(request):
            assert isinstance(inline, BoundedAutocompleteMixin), (model, inline)


def test_a_nul_byte_in_an_api_request_is_refused_in_json(client, atlas):
    response = client.get("/api/genes/?q=%00")
    assert response.status_code == 400
    assert "cannot be stored" in response.json()["query_string"][0]
