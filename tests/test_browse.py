"""Browsing as a reader: the cited papers, the genes, a therapy's and a cancer type's pages, and paging."""

import pytest
from django.urls import reverse

from curation import views
from curation.models import Category, Status
from curation.paging import MAX_PAGE_SIZE
from tests.factories import make_cancer_type, make_evidence, make_gene, make_mechanism, make_reference, make_therapy

pytestmark = pytest.mark.django_db


def published(name=None, **fields):
    return make_mechanism(name, status=Status.PUBLISHED, **fields)


@pytest.fixture
def library():
    """Papers cited by published mechanisms (years 2001-2012), one cited only by a draft, a retracted one."""
    pd1 = make_therapy("Nivolumab", slug="nivolumab")
    melanoma = make_cancer_type("Melanoma", slug="melanoma")
    jak1 = make_gene("JAK1", name="Janus kinase 1")
    secret_gene = make_gene("SECRET1")
    loss = published("JAK1 loss", slug="jak1-loss", genes=[jak1], therapies=[pd1], cancer_types=[melanoma])
    other = published("Other escape", slug="other-escape", genes=[jak1])
    draft = make_mechanism("Secret draft idea", slug="secret-draft", genes=[secret_gene], therapies=[pd1])
    papers = [make_reference(10_000 + year, pub_year=year, title=f"Paper of {year}.") for year in range(2001, 2013)]
    for paper in papers:
        make_evidence(loss, paper, statement=f"Claim from {paper.pub_year}.", therapy=pd1, cancer_type=melanoma)
    # The paper of 2005 is cited by two mechanisms; the retracted one by one.
    make_evidence(other, papers[4], statement="The 2005 paper again.")
    retracted = make_reference(20_000, pub_year=1999, is_retracted=True, title="A retracted paper.")
    make_evidence(other, retracted, statement="Resting on a retracted paper.")
    hidden = make_reference(30_000, pub_year=2030, title="Paper cited only by a draft.")
    make_evidence(draft, hidden, statement="Draft claim nobody may read.", therapy=pd1)
    return {"loss": loss, "other": other, "papers": papers, "retracted": retracted, "pd1": pd1, "melanoma": melanoma}


def pmids(response):
    return [reference.pmid for reference in response.context["paged"].rows]


# --- /references/ ----------------------------------------------------------------------------


def test_references_list_only_papers_that_published_evidence_cites(client, library):
    response = client.get(reverse("reference-list"))
    assert response.status_code == 200
    assert 30_000 not in pmids(response)
    assert "Paper cited only by a draft" not in response.content.decode()
    assert response.context["paged"].count == 13


def test_references_are_newest_first_and_page_two_shows_the_next(client, library):
    first = pmids(client.get(reverse("reference-list"), {"per_page": 5}))
    second = pmids(client.get(reverse("reference-list"), {"per_page": 5, "page": 2}))
    assert first == [10_000 + year for year in (2012, 2011, 2010, 2009, 2008)]
    assert second == [10_000 + year for year in (2007, 2006, 2005, 2004, 2003)]


def test_references_sort_by_year_or_by_the_mechanisms_citing_them(client, library):
    oldest = pmids(client.get(reverse("reference-list"), {"sort": "year"}))
    assert oldest[:2] == [20_000, 12_001]
    most = client.get(reverse("reference-list"), {"sort": "-mechanisms"})
    assert most.context["paged"].rows[0].pmid == 12_005
    assert most.context["paged"].rows[0].mechanism_count == 2
    # Ties (one citing mechanism each) fall back on the PMID, so the order is the same every time.
    assert pmids(most)[1:] == sorted(pmids(most)[1:])


def test_references_filter_by_notice_and_flag_it(client, library):
    response = client.get(reverse("reference-list"), {"flag": "retracted"})
    assert pmids(response) == [20_000]
    assert 'class="badge badge-retracted"' in response.content.decode()
    assert pmids(client.get(reverse("reference-list"), {"flag": "erratum"})) == []


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": "-1"},
        {"page": "0"},
        {"page": "99999999999999999999"},
        {"page": "1e3"},
        {"per_page": "0"},
        {"per_page": "-5"},
        {"per_page": "many"},
        {"per_page": "٣"},  # an Arabic-Indic digit: isdigit() but not what int() should be trusted with
        {"sort": "<script>"},
        {"flag": "'; DROP TABLE"},
    ],
)
def test_junk_paging_and_sorting_params_show_a_page_instead_of_an_error(client, library, params):
    response = client.get(reverse("reference-list"), params)
    assert response.status_code == 200
    assert response.context["paged"].rows


def test_a_page_past_the_end_is_the_last_page(client, library):
    response = client.get(reverse("reference-list"), {"per_page": 5, "page": 40})
    assert response.context["paged"].page.number == 3
    assert pmids(response) == [12_002, 12_001, 20_000]


def test_page_size_is_capped(client):
    mechanism = published()
    for n in range(MAX_PAGE_SIZE + 5):
        make_evidence(mechanism, make_reference())
    response = client.get(reverse("reference-list"), {"per_page": 10_000})
    assert response.context["paged"].per_page == MAX_PAGE_SIZE
    assert len(response.context["paged"].rows) == MAX_PAGE_SIZE


def test_deep_lists_count_only_a_few_pages_ahead(client, library, monkeypatch):
    monkeypatch.setattr("curation.browse_views.COUNT_PAGES_AHEAD", 1)
    response = client.get(reverse("reference-list"), {"per_page": 2})
    paged = response.context["paged"]
    assert not paged.exact and paged.page.has_next()
    assert "of more than 4." in response.content.decode()
    last = client.get(reverse("reference-list"), {"per_page": 2, "page": 7})
    assert last.context["paged"].exact and pmids(last) == [20_000]


# --- /genes/ ----------------------------------------------------------------------------------


def test_genes_list_public_genes_with_their_published_mechanisms(client, library):
    response = client.get(reverse("gene-list"))
    html = response.content.decode()
    assert [gene.symbol for gene in response.context["genes"]] == ["JAK1"]
    assert "SECRET1" not in html and "Secret draft idea" not in html
    assert 'href="/mechanisms/jak1-loss/"' in html and 'href="/mechanisms/other-escape/"' in html


def test_genes_page_and_sort_by_mechanisms(client):
    for n in range(7):
        published(genes=[make_gene(f"G{n}"), *([make_gene(f"POPULAR{n}")] if n == 3 else [])])
    popular = published(genes=[make_gene("ZZZ")])
    published(genes=[popular.genes.get()])
    by_symbol = client.get(reverse("gene-list"), {"per_page": 3, "page": 2}).context["genes"]
    assert [g.symbol for g in by_symbol] == ["G3", "G4", "G5"]
    most = client.get(reverse("gene-list"), {"sort": "-mechanisms"}).context["genes"]
    assert most[0].symbol == "ZZZ" and most[0].mechanism_count == 2


# --- A gene's mechanisms, a paper's mechanisms, a mechanism's evidence ------------------------------


def test_a_genes_mechanisms_are_paged(client):
    gene = make_gene("PAGED1")
    names = [published(f"Mechanism {n:02}", genes=[gene]).name for n in range(12)]
    make_mechanism("Draft of PAGED1", genes=[gene])
    url = reverse("gene-detail", args=["PAGED1"])
    first = client.get(url, {"per_page": 5}).context["gene"].public_mechanisms
    second = client.get(url, {"per_page": 5, "page": 2}).context["gene"].public_mechanisms
    assert [m.name for m in first + second] == names[:10]
    assert client.get(url).context["paged"].count == 12


def test_a_papers_citing_mechanisms_are_paged(client):
    paper = make_reference(40_000)
    names = [f"Citing {n:02}" for n in range(7)]
    for name in names:
        make_evidence(published(name), paper)
    make_evidence(make_mechanism("Citing draft"), paper)
    url = reverse("reference-detail", args=[paper.pmid])
    pages = [client.get(url, {"per_page": 3, "page": n}) for n in (1, 2, 3)]
    shown = [group["mechanism"].name for page in pages for group in page.context["citing"]]
    assert shown == names
    assert "Citing draft" not in "".join(page.content.decode() for page in pages)
    assert "by 7 mechanisms" in pages[0].content.decode()


def test_a_mechanisms_evidence_is_paged_newest_paper_first(client, library):
    url = reverse("mechanism-detail", args=["jak1-loss"])
    first = client.get(url, {"per_page": 5})
    second = client.get(url, {"per_page": 5, "page": 2})
    years = [item.reference.pub_year for page in (first, second) for item in page.context["evidence"]]
    assert years == list(range(2012, 2002, -1))
    assert "12 items" in first.content.decode()
    assert 'rel="next"' in first.content.decode()


def test_a_flagged_paper_on_another_page_is_still_named_in_the_warning(client, library):
    paper = make_reference(50_000, pub_year=1990, has_erratum=True)
    make_evidence(library["loss"], paper, statement="An old claim.")
    html = client.get(reverse("mechanism-detail", args=["jak1-loss"]), {"per_page": 5}).content.decode()
    assert "1 cited paper has a notice" in html
    assert 'href="/references/50000/"' in html  # not an anchor: the row is on the last page


# --- Therapies and cancer types ---------------------------------------------------------------------


def test_a_therapy_page_lists_its_published_mechanisms_and_evidence(client, library):
    response = client.get(reverse("therapy-detail", args=["nivolumab"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert [m.slug for m in response.context["mechanisms"]] == ["jak1-loss"]
    assert response.context["paged"].count == 12
    assert "Secret draft idea" not in html and "Draft claim nobody may read" not in html


def test_a_cancer_type_page_pages_its_evidence(client, library):
    url = reverse("cancer-type-detail", args=["melanoma"])
    first = client.get(url, {"per_page": 10}).context["paged"].rows
    second = client.get(url, {"per_page": 10, "page": 2}).context["paged"].rows
    assert len(first) == 10 and len(second) == 2
    assert not {item.pk for item in first} & {item.pk for item in second}


def test_terms_only_drafts_use_are_not_found_and_an_id_redirects_to_the_slug(client, library):
    make_therapy("Secret antibody", slug="secret-antibody")
    assert client.get(reverse("therapy-detail", args=["secret-antibody"])).status_code == 404
    assert client.get(reverse("cancer-type-detail", args=["nowhere"])).status_code == 404
    response = client.get(reverse("therapy-detail", args=[str(library["pd1"].pk)]))
    assert response.status_code == 301 and response["Location"] == "/therapies/nivolumab/"


def test_evidence_rows_link_their_therapy_and_cancer_type(client, library):
    html = client.get(reverse("evidence-list")).content.decode()
    assert 'href="/therapies/nivolumab/"' in html and 'href="/cancer-types/melanoma/"' in html
    page = client.get(reverse("mechanism-detail", args=["jak1-loss"])).content.decode()
    assert 'href="/therapies/nivolumab/"' in page and 'href="/cancer-types/melanoma/"' in page


def test_the_header_links_the_new_lists(client, library):
    html = client.get(reverse("home")).content.decode()
    assert 'href="/references/"' in html and 'href="/genes/"' in html


# --- The home tree at size ---------------------------------------------------------------------------


def test_home_shows_the_first_top_levels_and_links_the_rest(client, monkeypatch):
    monkeypatch.setattr(views, "ROOTS_SHOWN", 3)
    monkeypatch.setattr(views, "CHILDREN_SHOWN", 2)
    roots = [published(f"Root {n}") for n in range(5)]
    children = [published(f"Child {n}", parent=roots[0]) for n in range(4)]
    published("Grandchild 0", parent=children[0])
    published("Extrinsic root", category=Category.TUMOR_EXTRINSIC)
    page = client.get(reverse("home")).content.decode()
    html = page.split('<div class="branches">', 1)[1]  # the tree, not the map above it
    assert "Root 2" in html and "Root 3" not in html
    assert "The first 3 top-level mechanisms" in html
    assert "Child 1" in html and "Child 2" not in html
    assert "2 more sub-mechanisms" in html
    assert "Grandchild 0" not in html and "1 sub-mechanism<" in html
    assert "List all 10 tumour-intrinsic mechanisms" in html
    assert "Extrinsic root" in html


# --- Query counts --------------------------------------------------------------------------------------


def grow_library(size: int):
    """`size` published mechanisms sharing a gene, a therapy and a cancer type, each citing `size` papers."""
    gene, therapy, cancer = make_gene(), make_therapy(), make_cancer_type()
    shared = make_reference(is_retracted=True)
    mechanisms = []
    for n in range(size):
        parent = mechanisms[0] if mechanisms and n % 3 == 2 else None
        mechanism = published(parent=parent, genes=[gene, make_gene()], therapies=[therapy], cancer_types=[cancer])
        make_evidence(mechanism, shared, therapy=therapy)
        for _ in range(size):
            make_evidence(mechanism, make_reference(), cancer_type=cancer)
        make_mechanism(parent=mechanism, genes=[gene])  # a draft, filtered out
        mechanisms.append(mechanism)
    return [
        reverse("home"),
        reverse("reference-list"),
        reverse("reference-list") + "?sort=-mechanisms&flag=any&page=2&per_page=3",
        reverse("reference-detail", args=[shared.pmid]) + "?per_page=3&page=2",
        reverse("gene-list"),
        reverse("gene-list") + "?sort=-mechanisms",
        reverse("gene-detail", args=[gene.symbol]) + "?page=2&per_page=3",
        reverse("therapy-detail", args=[therapy.slug]),
        reverse("cancer-type-detail", args=[cancer.slug]) + "?page=3",
        reverse("mechanism-detail", args=[mechanisms[0].slug]) + "?page=2&per_page=5",
    ]


@pytest.mark.parametrize("size", [2, 12])
def test_browse_pages_run_a_bounded_number_of_queries(client, django_assert_max_num_queries, size):
    for url in grow_library(size):
        # The mechanism page needs the most: 11, its consensus panel and the page cache's version read included.
        with django_assert_max_num_queries(11, info=url):
            assert client.get(url).status_code == 200, url
