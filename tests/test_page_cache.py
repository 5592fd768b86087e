"""Public pages come from the cache for anonymous readers, and are never stale, shared or personal.

The cache (curation/page_cache.py) is keyed by the content version
(curation/content_version.py), which triggers in the database bump. Personas:
the plain `client` is an anonymous reader; alice a curator (signed in), bob a reviewer.
"""

import pytest
from django.db import OperationalError, connection, transaction
from django.template import engines
from django.template.loaders.cached import Loader as CachedLoader
from django.test import Client

from curation import content_version, workflow
from curation.models import Mechanism, Reference, RefreshRun, Status
from tests import hostile_input
from tests.factories import make_evidence, make_mechanism, make_reference

pytestmark = pytest.mark.django_db


@pytest.fixture
def atlas():
    reference = make_reference(pmid=29968044, title="Loss of B2M in relapsed melanoma.")
    b2m = make_mechanism("Loss of B2M", slug="b2m-loss", status=Status.PUBLISHED)
    make_evidence(b2m, reference, statement="Tumours without B2M escape CD8 T cells.")
    return b2m


PAGES = ["/", "/mechanisms/", "/mechanisms/b2m-loss/", "/evidence/", "/search/?q=b2m", "/references/29968044/"]


@pytest.mark.parametrize("url", PAGES)
def test_a_second_anonymous_request_is_answered_from_the_cache_with_one_query(
    client, atlas, url, django_assert_num_queries
):
    first = client.get(url)
    assert first.status_code == 200

    with django_assert_num_queries(1):  # the content version
        second = client.get(url)

    assert second.status_code == 200
    assert second.content == first.content
    assert second["ETag"] == first["ETag"]
    assert second["Content-Type"] == first["Content-Type"]


def test_cached_pages_still_carry_the_security_headers(client, atlas):
    client.get("/mechanisms/")
    cached = client.get("/mechanisms/")
    for header in ("Content-Security-Policy", "Permissions-Policy", "X-Frame-Options", "X-Content-Type-Options"):
        assert cached.has_header(header), header
    assert "Cookie" in cached["Vary"]
    assert "no-cache" in cached["Cache-Control"]


def test_a_host_not_allowed_is_refused_with_every_security_header(client, atlas):
    refused = client.get("/mechanisms/", HTTP_HOST="evil.example")
    assert refused.status_code == 400
    assert refused.has_header("Content-Security-Policy")


def test_each_address_and_query_is_cached_apart(client, atlas):
    make_mechanism("Interferon gamma pathway loss", status=Status.PUBLISHED)
    b2m = client.get("/search/?q=b2m").content.decode()
    interferon = client.get("/search/?q=interferon").content.decode()
    assert "Interferon gamma" in interferon
    assert "Interferon gamma" not in b2m
    assert client.get("/search/?q=b2m").content.decode() == b2m
    assert b"Interferon gamma" in client.get("/search/?q=interferon", HTTP_HOST="localhost").content


def test_pages_are_fresh_right_after_a_publish(client, atlas, alice, bob):
    draft = make_mechanism("Interferon gamma pathway loss", slug="ifng-loss")
    make_evidence(draft)
    assert "Interferon gamma" not in client.get("/").content.decode()
    assert "Interferon gamma" not in client.get("/mechanisms/").content.decode()

    workflow.publish(workflow.submit(draft, by=alice), by=bob)

    assert "Interferon gamma" in client.get("/").content.decode()
    assert "Interferon gamma" in client.get("/mechanisms/").content.decode()
    assert client.get("/mechanisms/ifng-loss/").status_code == 200


def test_a_retired_mechanism_leaves_the_cached_pages_at_once(client, atlas, bob):
    assert client.get("/mechanisms/b2m-loss/").status_code == 200
    assert "Loss of B2M" in client.get("/mechanisms/").content.decode()

    workflow.retire(atlas, by=bob)

    assert client.get("/mechanisms/b2m-loss/").status_code == 410
    assert "Loss of B2M" not in client.get("/mechanisms/").content.decode()


def test_a_reference_changed_without_signals_still_refreshes_its_pages(client, atlas):
    """QuerySet.update and raw SQL, as the refresh pipeline writes, send no signal: the triggers see them."""
    assert "Loss of B2M in relapsed" in client.get("/references/29968044/").content.decode()

    Reference.objects.filter(pmid=29968044).update(title="A corrected title.")
    assert "A corrected title." in client.get("/references/29968044/").content.decode()

    with connection.cursor() as cursor:
        cursor.execute("UPDATE curation_reference SET title = %s WHERE pmid = %s", ["Raw SQL title.", 29968044])
    assert "Raw SQL title." in client.get("/references/29968044/").content.decode()
    assert "Raw SQL title." in client.get("/mechanisms/b2m-loss/").content.decode()


def test_a_conditional_get_of_an_unchanged_page_gets_304(client, atlas):
    first = client.get("/mechanisms/b2m-loss/")
    etag, last_modified = first["ETag"], first["Last-Modified"]

    assert client.get("/mechanisms/b2m-loss/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    not_modified = client.get("/mechanisms/b2m-loss/", HTTP_IF_MODIFIED_SINCE=last_modified)
    assert not_modified.status_code == 304
    assert not_modified.content == b""

    Mechanism.objects.filter(pk=atlas.pk).update(summary="A new summary.")
    changed = client.get("/mechanisms/b2m-loss/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert "A new summary." in changed.content.decode()


def test_a_signed_in_reader_is_never_served_the_anonymous_page(client, atlas, alice):
    anonymous = client.get("/mechanisms/b2m-loss/").content.decode()
    assert "suggest-form" not in anonymous

    signed_in = Client()
    signed_in.force_login(alice)
    for _ in range(2):
        page = signed_in.get("/mechanisms/b2m-loss/").content.decode()
        assert "suggest-form" in page
        assert "csrfmiddlewaretoken" in page

    again = client.get("/mechanisms/b2m-loss/").content.decode()
    assert "suggest-form" not in again
    assert "csrfmiddlewaretoken" not in again


def test_a_signed_in_page_is_never_kept_for_others(atlas, alice):
    signed_in = Client()
    signed_in.force_login(alice)
    signed_in.get("/mechanisms/b2m-loss/")
    assert "csrfmiddlewaretoken" not in Client().get("/mechanisms/b2m-loss/").content.decode()


@pytest.mark.urls("tests.page_cache_urls")
@pytest.mark.parametrize("url", ["/odd/csrf/", "/odd/message/", "/odd/cookie/", "/odd/private/"])
def test_a_page_with_a_token_a_message_or_a_cookie_is_not_kept(url):
    first = Client().get(url, HTTP_COOKIE="csrftoken=" + "a" * 32)
    second = Client().get(url)
    assert first.status_code == second.status_code == 200
    assert second.content != first.content  # rendered again: the first visitor's answer was not kept


@pytest.mark.urls("tests.page_cache_urls")
def test_the_odd_pages_would_be_kept_if_they_behaved():
    """The control for the test above: the same kind of page, without the token, message or cookie, is kept."""
    assert Client().get("/odd/plain/").content == Client().get("/odd/plain/").content


def test_a_reader_with_a_flash_message_cookie_gets_a_fresh_page(client, atlas):
    client.get("/mechanisms/")
    client.cookies["messages"] = "anything"
    Mechanism.objects.filter(pk=atlas.pk).update(name="Renamed")  # the stamp moves either way; here the path
    assert "Renamed" in client.get("/mechanisms/").content.decode()


def test_only_get_is_served_from_the_cache(client, atlas):
    client.get("/mechanisms/")
    assert client.head("/mechanisms/").status_code == 200
    assert client.post("/mechanisms/").status_code == 405


def test_only_the_public_reading_pages_are_marked_for_the_cache():
    """Sign-in, suggestions, the dashboard, the admin and release files (streamed) are never cached."""
    marked = {e.name for e in hostile_input.endpoints() if getattr(e.callback, "public_page", False)}
    assert marked == {
        "home",
        "search",
        "evidence-list",
        "evidence-export",
        "mechanism-list",
        "mechanism-detail",
        "mechanism-export",
        "mechanism-versions",
        "mechanism-version",
        "mechanism-version-entry",
        "mechanism-version-references",
        "reference-detail",
        "reference-export",
        "gene-detail",
        "downloads",
    }


def test_the_cache_can_be_turned_off(client, atlas, settings):
    settings.PAGE_CACHE_SECONDS = 0
    client.get("/mechanisms/")
    Mechanism.objects.filter(pk=atlas.pk).update(name="Renamed")
    assert "Renamed" in client.get("/mechanisms/").content.decode()


def test_every_table_is_watched_or_named_private():
    """A new table is a decision: do public pages show it (then a migration watches it) or not."""
    tables = set(connection.introspection.table_names())
    curation_tables = {t for t in tables if t.startswith("curation_")}
    assert curation_tables - set(content_version.WATCHED_TABLES) - set(content_version.PRIVATE_TABLES) == set()
    assert set(content_version.WATCHED_TABLES) <= curation_tables


def test_every_watched_table_has_its_trigger():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'content_version_%'")
            found = {name for (name,) in cursor.fetchall()}
            expected = {content_version.trigger_name(t) for t in content_version.WATCHED_TABLES}
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'content_version_%'")
            found = {name for (name,) in cursor.fetchall()}
            expected = {
                f"{content_version.trigger_name(t)}_{event}"
                for t in content_version.WATCHED_TABLES
                for event in ("insert", "update", "delete")
            }
    assert found == expected


def test_a_change_to_private_bookkeeping_leaves_the_version_alone(atlas, alice):
    before = content_version.current()
    make_mechanism("A draft")  # a mechanism row, even a draft's, is watched
    moved = content_version.current()
    assert moved != before

    RefreshRun.objects.create(scope=RefreshRun.Scope.ALL, requested_by=alice)
    assert content_version.current() == moved


def test_templates_are_compiled_once_per_process():
    """Django wraps the loaders in its cached loader unless told otherwise: nobody may tell it otherwise."""
    assert isinstance(engines["django"].engine.template_loaders[0], CachedLoader)


@pytest.mark.django_db(transaction=True)
def test_the_version_moves_when_the_change_commits_not_before(postgres, atlas):
    """On PostgreSQL the triggers run at COMMIT: a reader sees the new version and the new data together."""
    before = content_version.current()
    with transaction.atomic():
        Mechanism.objects.filter(pk=atlas.pk).update(name="Renamed")
        Mechanism.objects.filter(pk=atlas.pk).update(name="Renamed again")
        assert content_version.current() == before  # no lock taken before commit
    after = content_version.current()
    assert after.counter == before.counter + 1  # once per commit, not per row or statement
    assert Client().get("/mechanisms/").content.decode().count("Renamed again") >= 1


def test_the_api_answers_a_repeat_from_the_cache_and_is_fresh_after_a_change(client, atlas, django_assert_num_queries):
    first = client.get("/api/mechanisms/")
    assert first.status_code == 200
    with django_assert_num_queries(1):  # the content version
        second = client.get("/api/mechanisms/")
    assert second.json() == first.json()

    Mechanism.objects.filter(pk=atlas.pk).update(name="Renamed")
    assert [m["name"] for m in client.get("/api/mechanisms/").json()["results"]] == ["Renamed"]


def test_a_cached_api_answer_still_counts_against_the_rate_limit(client, atlas, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    assert [client.get("/api/mechanisms/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_when_the_version_cannot_be_read_the_page_is_left_to_its_view(client, atlas, monkeypatch):
    """A database that fails the cache's one query fails the page as it would uncached, not in the cache."""

    def unreadable():
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(content_version, "current", unreadable)
    assert client.get("/mechanisms/").status_code == 200  # here the view's own queries still work
