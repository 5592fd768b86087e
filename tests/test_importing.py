"""Adding references: pasted PMIDs and citation strings, the service, the "Add references" page
and `manage.py import_pmids`.
"""

import pytest
from django.core.management import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from curation import importing
from curation import task_queue as task_queue_names
from curation.importing import add_references
from curation.models import MetadataState, Reference, ReferenceImport, RefreshRun
from curation.paste import InvalidPmids, parse_citation_string, parse_pmids
from curation.task_queue import MATCH_IMPORT_CITATIONS, REFRESH_BATCH
from tests.commands import run_command
from tests.factories import make_reference
from tests.fixtures_ncbi import new_pmids

pytestmark = pytest.mark.django_db

ADD_REFERENCES = "admin:curation_reference_import"


def test_adding_references_queues_their_fetch_after_commit(
    ncbi_settings, task_queue, django_capture_on_commit_callbacks, alice
):
    with django_capture_on_commit_callbacks(execute=True):
        result = importing.add_references([31_999_200, 31_999_201], by=alice)

    assert result.run.scope == RefreshRun.Scope.IMPORT
    assert result.run.requested_by == alice
    assert task_queue.args_of(task_queue_names.REFRESH_BATCH) == [
        (result.run.pk, sorted(r.pk for r in Reference.objects.all()))
    ]


def test_citation_strings_are_matched_by_a_task_before_anything_is_created(
    ncbi_settings, fake_eutils, alice, task_queue, django_capture_on_commit_callbacks
):
    fake_eutils.add_citation(pmid=31_999_300, journal="J Refresh Test", year=2021, volume="7", first_page="100")
    fake_eutils.add_citation(pmid=31_999_301, journal="J Refresh Test", year=2022, volume="8", first_page="5")
    fake_eutils.add_citation(pmid=31_999_302, journal="J Refresh Test", year=2022, volume="8", first_page="5")
    text = "\n".join(
        [
            "29968044",
            "Doe J. A title. J Refresh Test. 2021;7(2):100-110.",
            "J Refresh Test. 2022;8:5-9",
            "J Refresh Test. 2023;9(1):1-2",
        ]
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = importing.start_import(text, by=alice)
    started = result.citations
    assert started.state == ReferenceImport.State.MATCHING
    # The PMID is added at once; the citations wait for their matches.
    assert list(Reference.objects.values_list("pmid", flat=True)) == [29968044]
    task_queue.run(task_queue_names.MATCH_IMPORT_CITATIONS)

    started.refresh_from_db()
    assert started.state == ReferenceImport.State.READY
    assert [(e["status"], e["pmid"]) for e in started.entries] == [
        ("matched", 31_999_300),
        ("ambiguous", None),
        ("not_found", None),
    ]
    assert importing.importable_pmids(started) == [31_999_300]
    assert list(Reference.objects.values_list("pmid", flat=True)) == [29968044]


def test_lines_that_are_neither_pmids_nor_citations_are_listed_and_nothing_is_recorded(alice):
    with pytest.raises(importing.InvalidImport) as refused:
        importing.start_import("29968044\nsee the paper by Smith\n12x4", by=alice)

    assert len(refused.value.errors) == 2
    assert "“see the paper by Smith” (line 2)" in refused.value.errors[0]
    assert "12x4" in refused.value.errors[1]
    assert not ReferenceImport.objects.exists()


def test_importing_citations_shows_matched_not_found_and_ambiguous_before_creating_anything(
    curator_client, alice, ncbi_settings, fake_eutils, task_queue, django_capture_on_commit_callbacks
):
    fake_eutils.add_citation(pmid=31_600_001, journal="J Admin Test", year=2020, volume="3", first_page="11")
    fake_eutils.add_citation(pmid=31_600_002, journal="J Admin Test", year=2021, volume="4", first_page="7")
    fake_eutils.add_citation(pmid=31_600_003, journal="J Admin Test", year=2021, volume="4", first_page="7")
    lines = "\n".join(
        ["31600009", "J Admin Test. 2020;3(1):11-19", "J Admin Test. 2021;4:7-8", "J Admin Test. 2022;5:1-3"]
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(reverse("admin:curation_reference_import"), {"lines": lines})
    reference_import = ReferenceImport.objects.get()
    preview = reverse("admin:curation_reference_import_preview", args=[reference_import.pk])
    assert response.url == preview
    # The PMID is added at once; the citations wait for PubMed's answer.
    assert list(Reference.objects.values_list("pmid", flat=True)) == [31_600_009]
    waiting = curator_client.get(preview).content.decode()
    assert "Looking up 3 citations in PubMed" in waiting and '<meta http-equiv="refresh"' in waiting

    task_queue.run(MATCH_IMPORT_CITATIONS)
    page = curator_client.get(preview).content.decode()

    assert "Matched" in page and "31600001" in page
    assert "Not found" in page and "Ambiguous" in page
    assert "Add 1 reference (1 new)" in page
    assert list(Reference.objects.values_list("pmid", flat=True)) == [31_600_009]

    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(preview)
    assert set(Reference.objects.values_list("pmid", flat=True)) == {31_600_009, 31_600_001}
    run = RefreshRun.objects.filter(scope=RefreshRun.Scope.IMPORT).latest("pk")
    assert list(run.items.values_list("reference__pmid", flat=True)) == [31_600_001]
    assert response.url == reverse("admin:curation_refreshrun_change", args=[run.pk])
    assert len(task_queue.args_of(REFRESH_BATCH)) == 2


def test_an_import_with_bad_lines_names_each_one_and_creates_nothing(curator_client, task_queue):
    response = curator_client.post(
        reverse("admin:curation_reference_import"), {"lines": "29968044\n0123\nnot a citation at all\n-5"}
    )

    page = response.content.decode()
    assert "Nothing was added: 3 problems to fix first." in page
    assert "“0123”" in page and "“not a citation at all” (line 3)" in page and "“-5”" in page
    assert not ReferenceImport.objects.exists()
    assert not Reference.objects.exists()


def test_an_overlong_line_is_refused_with_its_length_before_any_parsing(curator_client, task_queue):
    # Parsing used to be quadratic in a line's length: 80 kB of "2017 2017 ..." took 13 s, 200 kB
    # outlived the web server's timeout. Now a line longer than any citation is refused by its size.
    overlong = "Cell. " + "2017 " * 16_000 + "end"

    response = curator_client.post(reverse("admin:curation_reference_import"), {"lines": f"29968044\n{overlong}"})

    assert response.status_code == 200
    errors = response.context["line_errors"]
    assert errors == ["Line 2 has 80,009 characters; a citation has at most 2,000."]
    assert Reference.objects.count() == 0 and ReferenceImport.objects.count() == 0


def test_confirming_an_import_twice_creates_nothing_more(
    curator_client, task_queue, ncbi_settings, fake_eutils, django_capture_on_commit_callbacks
):
    fake_eutils.add_citation(pmid=31_600_100, journal="J Admin Test", year=2020, volume="3", first_page="11")
    with django_capture_on_commit_callbacks(execute=True):
        curator_client.post(reverse("admin:curation_reference_import"), {"lines": "J Admin Test. 2020;3(1):11-19"})
    task_queue.run(MATCH_IMPORT_CITATIONS)
    preview = reverse("admin:curation_reference_import_preview", args=[ReferenceImport.objects.get().pk])
    curator_client.post(preview)

    response = curator_client.post(preview, follow=True)

    assert "cannot be confirmed: it is imported" in response.content.decode()
    assert Reference.objects.count() == 1
    assert RefreshRun.objects.count() == 1


def test_importing_needs_the_import_permission(client, erin):
    client.force_login(erin)

    assert client.get(reverse("admin:curation_reference_import")).status_code == 403
    assert client.post(reverse("admin:curation_reference_import"), {"lines": "29968044"}).status_code == 403
    assert not ReferenceImport.objects.exists()


def test_a_failed_lookup_is_shown_and_nothing_can_be_imported(
    curator_client, ncbi_settings, fake_eutils, task_queue, django_capture_on_commit_callbacks
):
    fake_eutils.fail_next(100, kind="http500", endpoint="ecitmatch.cgi")
    with django_capture_on_commit_callbacks(execute=True):
        curator_client.post(reverse("admin:curation_reference_import"), {"lines": "Cell. 2017;168(4):707-723"})
    reference_import = ReferenceImport.objects.get()

    task_queue.run(MATCH_IMPORT_CITATIONS, throw=False)  # every retry fails too
    page = curator_client.get(reverse("admin:curation_reference_import_preview", args=[reference_import.pk]))

    assert "PubMed could not be asked" in page.content.decode()
    assert "HTTP 500" in page.content.decode()
    assert 'id="confirm-import"' not in page.content.decode()


@pytest.mark.django_db
def test_import_pmids_names_every_bad_item_and_creates_nothing():
    with pytest.raises(CommandError) as refused:
        run_command("import_pmids", "29968044", "0042", "12a")

    assert "“0042”" in str(refused.value) and "“12a”" in str(refused.value)
    assert not Reference.objects.exists()


@pytest.mark.django_db
def test_import_pmids_reads_a_file_and_queues_a_fetch(tmp_path, task_queue, django_capture_on_commit_callbacks):
    make_reference(pmid=32_100_003)
    listing = tmp_path / "pmids.txt"
    listing.write_text("32100001\n32100002, 32100003\n")

    with django_capture_on_commit_callbacks(execute=True):
        output = run_command("import_pmids", "32100004", "--file", str(listing))

    assert set(Reference.objects.values_list("pmid", flat=True)) == {32_100_001, 32_100_002, 32_100_003, 32_100_004}
    assert "Added 3 reference(s); 1 already in the atlas." in output
    run = RefreshRun.objects.get()
    assert run.scope == RefreshRun.Scope.IMPORT and len(task_queue.args_of(task_queue_names.REFRESH_BATCH)) == 1


@pytest.mark.django_db
def test_import_pmids_with_an_unreadable_file_says_so(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run_command("import_pmids", "--file", str(tmp_path / "missing.txt"))


@pytest.mark.django_db(transaction=True)
def test_import_pmids_wait_prints_the_counts(ncbi_settings, fake_eutils, worker_inline):
    pmids = new_pmids(fake_eutils, 3)

    output = run_command("import_pmids", *map(str, pmids), "--wait")

    assert "3/3 done: 3 updated, 0 unchanged, 0 awaiting review, 0 not found, 0 failed" in output
    assert Reference.objects.needs_review().count() == 3


@pytest.mark.django_db(transaction=True)
def test_import_pmids_prints_each_citation_line_and_adds_the_matched_only_when_confirmed(
    ncbi_settings, fake_eutils, worker_inline, tmp_path
):
    fake_eutils.add_citation(pmid=32_400_001, journal="J Command Test", year=2019, volume="2", first_page="50")
    citations = tmp_path / "citations.txt"
    citations.write_text("J Command Test. 2019;2(3):50-59\nJ Command Test. 2020;3:1-2\n")

    output = run_command("import_pmids", "--file", str(citations))

    assert "line 1\tmatched\t32400001\tJ Command Test. 2019;2(3):50-59" in output
    assert "line 2\tNOT FOUND\tNOT_FOUND" in output
    assert "1 matched, 1 not found, 0 ambiguous" in output
    assert not Reference.objects.exists()

    output = run_command("import_pmids", "--file", str(citations), "--confirm", "--wait")

    assert list(Reference.objects.values_list("pmid", flat=True)) == [32_400_001]
    assert "Added 1 reference(s) from citations" in output


@pytest.mark.django_db
def test_import_pmids_lists_unreadable_lines_and_looks_nothing_up(tmp_path, ncbi_settings, fake_eutils):
    citations = tmp_path / "citations.txt"
    citations.write_text("Cell. 2017;168(4):707-723\nsomething else\n")

    with pytest.raises(CommandError, match="“something else” \\(line 2\\)"):
        run_command("import_pmids", "--file", str(citations))
    assert fake_eutils.requests == []
    assert not Reference.objects.exists()


def inserts_into(table, queries):
    return [q["sql"] for q in queries if q["sql"].startswith("INSERT") and f'"{table}"' in q["sql"]]


def test_adding_a_reference_leads_to_the_add_references_page(curator_client):
    response = curator_client.get(reverse("admin:curation_reference_add"))
    assert response.status_code == 302
    assert response.url == reverse(ADD_REFERENCES)


def test_the_reference_list_links_to_add_references(curator_client):
    response = curator_client.get(reverse("admin:curation_reference_changelist"))
    assert f'href="{reverse(ADD_REFERENCES)}"' in response.content.decode()


def test_anonymous_posts_to_add_references_create_nothing(client):
    response = client.post(reverse(ADD_REFERENCES), {"lines": "29968044"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    assert not Reference.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_staff_without_a_role_may_not_add_references(client, django_user_model, method):
    client.force_login(django_user_model.objects.create_user("eve", is_staff=True))
    response = getattr(client, method)(reverse(ADD_REFERENCES), {"lines": "29968044"})
    assert response.status_code == 403
    assert not Reference.objects.exists()


def test_a_reviewer_may_add_references(reviewer_client):
    assert reviewer_client.get(reverse(ADD_REFERENCES)).status_code == 200


def test_bad_tokens_are_named_and_nothing_is_added(curator_client):
    pasted = "29968044\n0; -5 12.5\n12345678901234567890 007\nabc\n28187290"

    response = curator_client.post(reverse(ADD_REFERENCES), {"lines": pasted})

    assert response.status_code == 200
    errors = response.context["line_errors"]
    for token in ("0", "-5", "12.5", "12345678901234567890", "007"):
        assert any(f"“{token}”" in error for error in errors), token
    page = response.content.decode()
    assert "“0” (item 2, line 2)" in page
    # A line with letters is read as a citation, so it is named whole.
    assert "“abc” (line 4) is neither a PMID nor a citation" in page
    assert not Reference.objects.exists()


def test_new_pmids_become_pending_references_in_one_insert(curator_client, alice):
    make_reference(pmid=29968044)

    with CaptureQueriesContext(connection) as queries:
        response = curator_client.post(reverse(ADD_REFERENCES), {"lines": "29968044, 28187290\n27332730 28187290"})

    assert response.status_code == 302
    assert len(inserts_into("curation_reference", queries.captured_queries)) == 1
    created = Reference.objects.filter(pmid__in=[28187290, 27332730])
    assert {r.metadata_state for r in created} == {MetadataState.PENDING}
    assert {r.history.get().history_user for r in created} == {alice}
    assert Reference.objects.count() == 3
    shown = [str(m) for m in response.wsgi_request._messages]
    assert any("Added 2 reference(s)" in m and "28187290, 27332730" in m for m in shown)
    assert any("1 already present" in m and "29968044" in m for m in shown)
    assert any("Listed more than once" in m and "28187290" in m for m in shown)


def test_an_empty_paste_asks_for_pmids(curator_client):
    response = curator_client.post(reverse(ADD_REFERENCES), {"lines": " \n , "})
    assert response.status_code == 200
    assert response.context["line_errors"] == ["Nothing to import: paste one PMID or one citation per line."]
    assert curator_client.post(reverse(ADD_REFERENCES), {"lines": ""}).context["form"].errors["lines"] == [
        "Paste at least one PMID or citation."
    ]


def test_parse_pmids_accepts_every_separator_and_keeps_the_first_order():
    parsed = parse_pmids("3, 1;2\t4\r\n5  1\n\n6")
    assert parsed.pmids == [3, 1, 2, 4, 5, 6]
    assert parsed.errors == []
    assert parsed.repeated == [1]


@pytest.mark.parametrize("token", ["1", "29968044", "999999999"])
def test_parse_pmids_accepts_one_to_nine_digits(token):
    assert parse_pmids(token).pmids == [int(token)]


@pytest.mark.parametrize(
    "token, reason",
    [
        ("abc", "not a number"),
        ("0", "PMIDs start at 1"),
        ("-5", "no sign"),
        ("+5", "no sign"),
        ("12.5", "whole number"),
        ("007", "no leading zero"),
        ("1000000000", "too long (10 digits"),
        ("12345678901234567890", "too long (20 digits"),
        ("PMID:123", "not a number"),
        ("１２３", "not a number"),  # full-width digits pasted from a word processor
    ],
)
def test_parse_pmids_names_each_bad_token_and_why(token, reason):
    parsed = parse_pmids(f"29968044 {token}")
    assert parsed.pmids == [29968044]
    assert parsed.bad_tokens == [token]
    assert f"“{token}” (item 2, line 1)" in parsed.errors[0] and reason in parsed.errors[0]


def test_add_references_refuses_values_that_are_not_pmids(alice):
    with pytest.raises(InvalidPmids) as raised:
        add_references([29968044, 0, "123", True, 10**9], by=alice)
    assert raised.value.tokens == ["0", "'123'", "True", "1000000000"]
    assert not Reference.objects.exists()


def test_add_references_reports_what_was_already_there(alice):
    make_reference(pmid=29968044)
    result = add_references([29968044, 28187290, 29968044], by=alice)
    assert [r.pmid for r in result.created] == [28187290]
    assert result.existing == [29968044]
    assert add_references([], by=alice).created == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cell. 2017 Feb 9;168(4):707-723", ("Cell", 2017, "168", "707", "")),
        (
            "Sharma P, Hu-Lieskovan S, Wargo JA, Ribas A. Primary, Adaptive, and Acquired Resistance to Cancer "
            "Immunotherapy. Cell. 2017 Feb 9;168(4):707-723. doi: 10.1016/j.cell.2017.01.017.",
            ("Cell", 2017, "168", "707", "Sharma P"),
        ),
        ("Sharma P, et al. Cell. 2017 Feb 9;168(4):707-723.", ("Cell", 2017, "168", "707", "Sharma P")),
        (
            "Semin Immunopathol. 2019 Jan;41(1):31-40. doi: 10.1007/s00281-018-0692-y. Epub 2018 Jul 2.",
            ("Semin Immunopathol", 2019, "41", "31", ""),
        ),
        ("N Engl J Med 2016;375:819-29", ("N Engl J Med", 2016, "375", "819", "")),
        (
            "Arch Rec Tumour Immunol. 1998 Dec-1999 Jan;12(6):1116-22.",
            ("Arch Rec Tumour Immunol", 1998, "12", "1116", ""),
        ),
        ("J Immunother Cancer. 2021 Apr;9(4):e001234.", ("J Immunother Cancer", 2021, "9", "e001234", "")),
        (
            "Siegel RL, et al. Cancer statistics, 2020. CA Cancer J Clin. 2020 Jan;70(1):7-30.",
            ("CA Cancer J Clin", 2020, "70", "7", "Siegel RL"),
        ),
    ],
)
def test_pubmed_citation_strings_are_understood(text, expected):
    query = parse_citation_string(text)
    assert (query.journal, query.year, query.volume, query.first_page, query.author) == expected
    assert query.key == " ".join(text.split())


@pytest.mark.parametrize("text", ["", "Acquired resistance to cancer immunotherapy", "doi:10.1056/NEJMoa1604958"])
def test_text_that_is_not_a_citation_gives_none(text):
    assert parse_citation_string(text) is None
