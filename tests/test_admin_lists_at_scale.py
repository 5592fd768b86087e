"""The curators' lists as the atlas grows: the same queries at any size, cheap filters, counts that do not scan."""

import pytest
from django.db import connection
from django.urls import reverse

from curation.admin.common import EstimatedCountPaginator
from curation.models import Category, Status
from tests.admin_pages import signed_in
from tests.factories import make_cancer_type, make_evidence, make_mechanism, make_reference, make_therapy

pytestmark = pytest.mark.django_db

MECHANISMS = reverse("admin:curation_mechanism_changelist")
REFERENCES = reverse("admin:curation_reference_changelist")
EVIDENCE = reverse("admin:curation_evidence_changelist")


def grow(size: int):
    """`size` mechanisms in trees, each with `size` evidence items on papers of their own, and a flagged paper."""
    therapy, cancer = make_therapy(), make_cancer_type()
    flagged = make_reference(is_retracted=True)
    parents = []
    for n in range(size):
        parent = parents[0] if parents and n % 3 else None
        mechanism = make_mechanism(
            parent=parent,
            status=Status.PUBLISHED if n % 2 else Status.DRAFT,
            therapies=[therapy],
            cancer_types=[cancer],
            category=parent.category if parent else Category.TUMOR_INTRINSIC,
        )
        if parent is None:
            parents.append(mechanism)
        make_evidence(mechanism, flagged, therapy=therapy)
        for _ in range(size):
            make_evidence(mechanism, make_reference(pub_year=2001), cancer_type=cancer)
    return parents[0]


def admin_urls(parent):
    return [
        MECHANISMS,
        f"{MECHANISMS}?parent={parent.pk}",
        f"{MECHANISMS}?parent=none&status__exact=published",
        f"{MECHANISMS}?o=6",  # by evidence count
        REFERENCES,
        f"{REFERENCES}?is_retracted__exact=1",
        EVIDENCE,
        f"{EVIDENCE}?level__exact=in-vitro",
        reverse("curation-dashboard"),
    ]


@pytest.mark.parametrize("size", [2, 15])
def test_admin_lists_and_the_dashboard_run_a_bounded_number_of_queries(dana, django_assert_max_num_queries, size):
    client = signed_in(dana)
    for url in admin_urls(grow(size)):
        # Session, user, permissions, the page, its count, filters' choices, the dashboard's sections.
        with django_assert_max_num_queries(15, info=url):
            assert client.get(url).status_code == 200, url


def test_the_parent_filter_lists_no_parents_but_filters_by_the_one_clicked(dana):
    parent = make_mechanism("Parent of many")
    child = make_mechanism("Its child", parent=parent)
    make_mechanism("Somewhere else")
    client = signed_in(dana)
    page = client.get(MECHANISMS)
    assert f'href="?parent={parent.pk}"' in page.content.decode()  # the parent column links the filter
    under = client.get(f"{MECHANISMS}?parent={parent.pk}")
    assert [m.pk for m in under.context["cl"].result_list] == [child.pk]
    assert "Under Parent of many" in under.content.decode()
    top = client.get(f"{MECHANISMS}?parent=none")
    assert {m.name for m in top.context["cl"].result_list} == {"Parent of many", "Somewhere else"}
    for junk in ("abc", "-1", "99999999999999999999", "<b>"):
        assert client.get(f"{MECHANISMS}?parent={junk}").status_code in (200, 302)


def test_the_therapy_filter_offers_only_therapies_some_mechanism_names(dana):
    named = make_therapy("Named antibody")
    make_therapy("Unused antibody")
    make_mechanism(therapies=[named])
    html = signed_in(dana).get(MECHANISMS).content.decode()
    assert "Named antibody" in html and "Unused antibody" not in html


def test_evidence_counts_are_per_row_and_sortable(dana):
    busy = make_mechanism("Busy")
    make_mechanism("Quiet")
    for _ in range(3):
        make_evidence(busy)
    rows = signed_in(dana).get(f"{MECHANISMS}?o=-6").context["cl"].result_list
    assert [(m.name, m.evidence_count) for m in rows] == [("Busy", 3), ("Quiet", 0)]


def test_the_evidence_list_shows_the_newest_first(dana):
    first, second = make_evidence(), make_evidence()
    rows = signed_in(dana).get(EVIDENCE).context["cl"].result_list
    assert [item.pk for item in rows] == [second.pk, first.pk]


@pytest.mark.postgres
def test_an_unfiltered_big_list_says_its_count_is_an_estimate(postgres, dana, monkeypatch):
    for _ in range(3):
        make_evidence()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE curation_evidence")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_ABOVE", 1)
    client = signed_in(dana)
    response = client.get(EVIDENCE)
    assert response.context["cl"].paginator.estimated
    assert "about 3 evidence" in response.content.decode()
    filtered = client.get(f"{EVIDENCE}?level__exact=in-vitro")
    assert not filtered.context["cl"].paginator.estimated
    assert filtered.context["cl"].result_count == 3


def test_admin_query_counts_do_not_grow_with_the_data(dana):
    from django.test.utils import CaptureQueriesContext

    client = signed_in(dana)

    def counts(urls):
        measured = []
        for url in urls:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200, url
            measured.append(len(queries))
        return measured

    small = counts(admin_urls(grow(2)))
    # The second atlas adds to the first.
    large = counts(admin_urls(grow(12)))
    assert small == large


def test_the_stale_section_shows_the_first_stale_mechanisms_by_name_most_urgent_first(alice, monkeypatch):
    monkeypatch.setattr("curation.dashboard.SECTION_LIMIT", 2)
    for name, year in (("Beta", 1990), ("Alpha", 2001), ("Gamma", 1980)):
        make_evidence(make_mechanism(name, status=Status.PUBLISHED), make_reference(pub_year=year))
    make_evidence(make_mechanism("Aaa recent", status=Status.PUBLISHED), make_reference(pub_year=2100))
    response = signed_in(alice).get(reverse("curation-dashboard"))
    rows, more = response.context["sections"]["stale"]
    assert [(m.name, m.newest_year) for m in rows] == [("Beta", 1990), ("Alpha", 2001)]
    assert more and "More mechanisms are stale" in response.content.decode()
