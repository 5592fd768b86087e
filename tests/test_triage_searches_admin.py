"""Saving a PubMed search in the admin: previewed first (count, NCBI's translation and notes, first titles),
then saved from the preview; "Run now"; NCBI's words shown on the search."""

from datetime import date, timedelta

import pytest
from django.urls import reverse

from curation import task_queue as names
from curation import triage
from curation.models import SavedSearch, SearchPreview, SearchRun
from tests.admin_pages import signed_in
from tests.factories import make_mechanism

pytestmark = pytest.mark.django_db


def test_a_new_search_is_previewed_then_saved_from_the_preview(
    alice, ncbi_settings, fake_eutils, task_queue, django_capture_on_commit_callbacks
):
    yesterday = triage.ncbi_today() - timedelta(days=1)
    fake_eutils.add_synthetic(range(49_000_000, 49_000_012), entry_date=yesterday)
    mechanism = make_mechanism("Loss of B2M")
    client = signed_in(alice)
    form = {
        "name": "B2M",
        "query": "synthetic OR abcXYZ",
        "mechanisms": [mechanism.pk],
        "schedule": "daily",
        "active": "on",
    }
    assert b'name="_preview"' in client.get(reverse("admin:curation_savedsearch_add")).content

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:curation_savedsearch_add"), form)
    preview = SearchPreview.objects.get()
    assert response["Location"] == reverse("admin:curation_savedsearch_preview", args=[preview.pk])
    assert not SavedSearch.objects.exists()  # nothing is saved before the curator has seen the preview
    waiting = client.get(response["Location"])
    assert b"Asking PubMed" in waiting.content and b'http-equiv="refresh"' in waiting.content
    task_queue.run(names.PREVIEW_SEARCH)

    page = client.get(response["Location"]).content.decode()
    assert "PubMed finds 12 papers." in page
    assert "PhraseNotFound: abcXYZ" in page and "[Date - Entry]" in page
    assert page.count("<li>Synthetic record") == 5  # the first titles, fetched by WebEnv
    webenv_fetch = fake_eutils.requests_to("efetch.fcgi")[-1]
    assert webenv_fetch.params["WebEnv"].startswith("MCID_") and webenv_fetch.params["retmax"] == "5"

    saved = client.post(response["Location"])
    search = SavedSearch.objects.get()
    assert saved["Location"] == reverse("admin:curation_savedsearch_change", args=[search.pk])
    assert (search.name, search.query, search.schedule, search.created_by) == (
        "B2M",
        "synthetic OR abcXYZ",
        "daily",
        alice,
    )
    assert list(search.mechanisms.all()) == [mechanism]
    assert search.ncbi_errors == ["PhraseNotFound: abcXYZ"]
    shown = client.get(saved["Location"]).content.decode()
    assert "PhraseNotFound: abcXYZ" in shown and 'id="run-now"' in shown


def test_an_invalid_form_is_shown_again_with_its_errors_and_nothing_is_previewed(alice, task_queue):
    client = signed_in(alice)
    response = client.post(reverse("admin:curation_savedsearch_add"), {"name": "", "query": "", "schedule": "daily"})
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert not SearchPreview.objects.exists() and not task_queue


def test_run_now_starts_a_run_and_shows_its_page(alice, task_queue):
    search = SavedSearch.objects.create(name="B2M", query="B2M", first_lookback_days=7)
    response = signed_in(alice).post(reverse("admin:curation_savedsearch_run", args=[search.pk]))
    run = SearchRun.objects.get()
    assert response["Location"] == reverse("admin:curation_searchrun_change", args=[run.pk])
    assert run.window_end == triage.ncbi_today() - timedelta(days=1)
    assert run.window_start == run.window_end - timedelta(days=6)
    again = signed_in(alice).post(reverse("admin:curation_savedsearch_run", args=[search.pk]), follow=True)
    assert "running already" in again.content.decode()


def test_changing_the_query_in_the_form_makes_the_next_run_look_back_again(alice):
    search = SavedSearch.objects.create(name="B2M", query="B2M", covered_until=date(2025, 1, 1))
    client = signed_in(alice)
    url = reverse("admin:curation_savedsearch_change", args=[search.pk])
    data = {"name": "B2M", "query": "B2M OR HLA-A", "schedule": "weekly", "active": "on", "expected_version": 1}
    assert client.post(url, data).status_code == 302
    search.refresh_from_db()
    assert (search.query, search.covered_until) == ("B2M OR HLA-A", None)
