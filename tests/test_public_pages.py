"""Public pages as an anonymous reader sees them (the plain `client`)."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from curation.models import Category, Direction, EvidenceLevel, MetadataState, Phenotype, Status
from tests.factories import (
    make_cancer_type,
    make_evidence,
    make_gene,
    make_mechanism,
    make_reference,
    make_therapy,
)

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def published(name=None, **fields):
    return make_mechanism(name, status=Status.PUBLISHED, **fields)


@pytest.fixture
def atlas():
    """A small published atlas: a parent and child in each branch, with evidence, plus unpublished work."""
    b2m = make_gene("B2M", name="beta-2-microglobulin", hgnc_id="HGNC:914", ncbi_gene_id=567)
    jak1 = make_gene("JAK1", name="Janus kinase 1")
    pd1 = make_therapy("Pembrolizumab", slug="pembrolizumab")
    ctla4 = make_therapy("Ipilimumab", slug="ipilimumab")
    melanoma = make_cancer_type("Melanoma")
    antigen = published(
        "Antigen presentation defects",
        slug="antigen-presentation",
        summary="Tumours stop showing peptides to T cells.",
        strategies="Restore MHC class I expression.",
        genes=[b2m],
        therapies=[pd1],
        acquired_resistance=True,
    )
    b2m_loss = published(
        "Loss of beta-2-microglobulin",
        slug="b2m-loss",
        parent=antigen,
        summary="Truncating B2M mutations remove MHC class I from the surface.",
        genes=[b2m],
        therapies=[pd1],
        cancer_types=[melanoma],
        acquired_resistance=True,
    )
    interferon = published(
        "Interferon-gamma pathway loss",
        slug="ifng-loss",
        summary="JAK1/2 loss makes tumours deaf to interferon.",
        genes=[jak1],
        therapies=[ctla4],
        primary_resistance=True,
    )
    tregs = published(
        "Regulatory T cells",
        slug="tregs",
        category=Category.TUMOR_EXTRINSIC,
        summary="Suppressive T cells in the microenvironment.",
    )
    zaretsky = make_reference(
        27433843,
        title="Mutations Associated with Acquired Resistance to PD-1 Blockade in Melanoma.",
        authors=[
            {"last_name": "Zaretsky", "fore_name": "Jesse M", "initials": "JM", "collective_name": "", "orcid": ""},
            {"last_name": "Ribas", "fore_name": "Antoni", "initials": "A", "collective_name": "", "orcid": ""},
        ],
        journal_title="The New England journal of medicine",
        journal_iso="N Engl J Med",
        volume="375",
        issue="9",
        pages="819-29",
        pub_year=2016,
        pub_date="2016 Sep 1",
        doi="10.1056/NEJMoa1604958",
        abstract=[
            {"label": "BACKGROUND", "category": "BACKGROUND", "text": "Some tumours <i>relapse</i>."},
            {"label": "METHODS", "category": "METHODS", "text": "We sequenced biopsies."},
        ],
        publication_types=["Journal Article"],
        mesh_terms=["Melanoma", "beta 2-Microglobulin"],
        keywords=["PD-1"],
    )
    make_evidence(
        b2m_loss,
        zaretsky,
        statement="B2M truncation found in a relapsing melanoma on anti-PD-1.",
        level=EvidenceLevel.CLINICAL_COHORT,
        therapy=pd1,
        cancer_type=melanoma,
        phenotype=Phenotype.ACQUIRED,
        locator="Fig. 3",
    )
    make_evidence(interferon, zaretsky, statement="JAK1 loss-of-function mutations in relapsing tumours.")
    make_evidence(antigen, statement="Antigen presentation reviewed.", level=EvidenceLevel.REVIEW)
    draft = make_mechanism("Secret draft mechanism", slug="secret-draft", genes=[b2m], parent=antigen)
    in_review = make_mechanism("Mechanism under review", slug="under-review", status=Status.IN_REVIEW, genes=[jak1])
    revision = make_mechanism(
        "Unreviewed new wording", status=Status.IN_REVIEW, revision_of=interferon, summary="Unreviewed new summary."
    )
    retired = make_mechanism("Old retired idea", slug="old-idea", status=Status.RETIRED, parent=antigen, genes=[b2m])
    draft_only_ref = make_reference(11111111, title="Paper cited only by a draft.")
    make_evidence(draft, draft_only_ref, statement="Draft statement nobody may read.")
    make_evidence(retired, zaretsky, statement="Statement of a retired mechanism.")
    make_evidence(revision, zaretsky, statement="Statement of an unreviewed revision.")
    return {
        "b2m": b2m,
        "jak1": jak1,
        "antigen": antigen,
        "b2m_loss": b2m_loss,
        "interferon": interferon,
        "tregs": tregs,
        "zaretsky": zaretsky,
        "draft": draft,
        "in_review": in_review,
        "revision": revision,
        "retired": retired,
        "draft_only_ref": draft_only_ref,
    }


UNPUBLISHED_TEXT = [
    "Secret draft mechanism",
    "Mechanism under review",
    "Unreviewed new wording",
    "Unreviewed new summary",
    "Old retired idea",
    "Draft statement nobody may read",
    "Statement of a retired mechanism",
    "Statement of an unreviewed revision",
]


def assert_no_unpublished_work(content: str):
    for text in UNPUBLISHED_TEXT:
        assert text not in content, text


# --- Home ------------------------------------------------------------------------


def test_home_shows_both_branches_as_a_tree_with_counts(client, atlas):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Tumour-intrinsic" in html and "Tumour-extrinsic" in html
    assert "3 mechanisms" in html  # intrinsic branch: parent, child, interferon
    assert "1 mechanism<" in html  # extrinsic branch
    tree = html[html.index('<div class="branches">') :]  # below the map (tests/test_pictures.py)
    antigen_at = tree.index("Antigen presentation defects")
    child_at = tree.index("Loss of beta-2-microglobulin")
    assert antigen_at < child_at < tree.index("Tumour-extrinsic")
    assert 'href="/mechanisms/b2m-loss/"' in html
    assert "1 evidence item<" in html
    assert '<form class="search-box" role="search" action="/search/" method="get">' in html
    assert '<label for="home-search">' in html


def test_home_never_lists_unpublished_work(client, atlas):
    assert_no_unpublished_work(client.get(reverse("home")).content.decode())


def test_published_child_of_an_unpublished_parent_still_appears(client, atlas):
    published("Orphaned but published", parent=atlas["draft"])
    html = client.get(reverse("home")).content.decode()
    assert "Orphaned but published" in html
    assert "Secret draft mechanism" not in html


def test_pages_have_landmarks_and_a_skip_link(client, atlas):
    html = client.get(reverse("home")).content.decode()
    assert '<a class="skip-link" href="#content">' in html
    assert '<main id="content"' in html
    assert '<nav aria-label="Main">' in html
    assert "<footer" in html
    assert html.count("<h1>") == 1


# --- Mechanism list ----------------------------------------------------------------


def listed_names(response):
    return [m.name for m in response.context["mechanisms"]]


def test_list_shows_every_published_mechanism_and_nothing_else(client, atlas):
    response = client.get(reverse("mechanism-list"))
    assert response.status_code == 200
    assert sorted(listed_names(response)) == sorted(
        [
            "Antigen presentation defects",
            "Loss of beta-2-microglobulin",
            "Interferon-gamma pathway loss",
            "Regulatory T cells",
        ]
    )
    assert "4 published mechanisms." in response.content.decode()
    assert_no_unpublished_work(response.content.decode())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=tumor-extrinsic", ["Regulatory T cells"]),
        ("gene=B2M", ["Antigen presentation defects", "Loss of beta-2-microglobulin"]),
        ("gene=b2m", ["Antigen presentation defects", "Loss of beta-2-microglobulin"]),
        ("therapy=ipilimumab", ["Interferon-gamma pathway loss"]),
        ("phenotype=acquired", ["Antigen presentation defects", "Loss of beta-2-microglobulin"]),
        ("phenotype=primary", ["Interferon-gamma pathway loss"]),
        ("q=interferon", ["Interferon-gamma pathway loss"]),
        # Every word must match, in the name, summary or strategies.
        ("q=MHC+class", ["Antigen presentation defects", "Loss of beta-2-microglobulin"]),
        ("q=surface+peptides", []),
        (
            "gene=B2M&therapy=pembrolizumab&category=tumor-intrinsic",
            ["Antigen presentation defects", "Loss of beta-2-microglobulin"],
        ),
    ],
)
def test_list_filters(client, atlas, query, expected):
    response = client.get(f"{reverse('mechanism-list')}?{query}")
    assert response.status_code == 200
    assert sorted(listed_names(response)) == sorted(expected)


def test_gene_filter_does_not_find_unpublished_mechanisms(client, atlas):
    response = client.get(reverse("mechanism-list"), {"gene": "JAK1"})
    assert listed_names(response) == ["Interferon-gamma pathway loss"]


def test_active_filters_are_shown_with_a_way_to_remove_each(client, atlas):
    html = client.get(reverse("mechanism-list"), {"gene": "B2M", "category": "tumor-intrinsic"}).content.decode()
    assert "Gene symbol: <strong>B2M</strong>" in html
    assert "Category: <strong>Tumour-intrinsic</strong>" in html
    assert 'href="/mechanisms/?category=tumor-intrinsic" aria-label="Remove filter Gene symbol: B2M"' in html
    assert "2 published mechanisms match." in html


def test_filter_form_controls_are_labelled(client, atlas):
    html = client.get(reverse("mechanism-list")).content.decode()
    for name in ("q", "category", "gene", "therapy", "phenotype"):
        assert f'<label for="id_{name}">' in html
        assert f'id="id_{name}"' in html
    assert '<option value="pembrolizumab">Pembrolizumab</option>' in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"category": "tumor-magic"}, "“tumor-magic” is not a category of the atlas."),
        ({"gene": "NOPE1"}, "No gene with the symbol “NOPE1” is in the atlas."),
        ({"therapy": "snake-oil"}, "No published mechanism is linked to the therapy “snake-oil”."),
        ({"phenotype": "eventual"}, "“eventual” is not a resistance phenotype."),
        ({"q": "x" * 500}, "Ensure this value has at most 200 characters"),
        ({"gene": "B2M", "category": "nonsense"}, "is not a category of the atlas."),
    ],
)
def test_invalid_filter_gives_an_empty_result_and_a_clear_message(client, atlas, params, message):
    response = client.get(reverse("mechanism-list"), params)
    assert response.status_code == 200
    assert listed_names(response) == []
    assert message in response.content.decode()
    assert 'role="alert"' in response.content.decode()


def test_invalid_filter_is_marked_on_its_control(client, atlas):
    html = client.get(reverse("mechanism-list"), {"gene": "NOPE1"}).content.decode()
    assert 'aria-invalid="true" aria-describedby="id_gene_helptext id_gene_error" id="id_gene"' in html
    assert (
        '<small id="id_gene_error" class="error-text">No gene with the symbol “NOPE1” is in the atlas.</small>' in html
    )


def test_hostile_filter_values_are_escaped(client, atlas):
    html = client.get(reverse("mechanism-list"), {"gene": HOSTILE, "q": HOSTILE}).content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html


def test_unmatched_filters_say_so(client, atlas):
    html = client.get(reverse("mechanism-list"), {"q": "zebrafish"}).content.decode()
    assert "No published mechanism matches these filters." in html


# --- Mechanism page -------------------------------------------------------------------


def test_mechanism_page_shows_what_a_reader_looks_for(client, atlas):
    response = client.get(reverse("mechanism-detail", args=["b2m-loss"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Loss of beta-2-microglobulin</h1>" in html
    assert "Truncating B2M mutations remove MHC class I from the surface." in html
    assert 'href="/genes/B2M/"' in html
    assert "Pembrolizumab" in html and "Melanoma" in html
    assert "Acquired resistance" in html
    # Breadcrumb: overview > branch > parent > this page.
    crumbs = html[html.index('aria-label="Breadcrumb"') : html.index("</nav>", html.index('aria-label="Breadcrumb"'))]
    assert 'href="/mechanisms/antigen-presentation/">Antigen presentation defects</a>' in crumbs
    # The evidence row: statement, direction, level, context, locator, citation with links.
    assert "B2M truncation found in a relapsing melanoma on anti-PD-1." in html
    assert "Supports" in html and "Clinical cohort" in html and "Fig. 3" in html
    assert (
        'Zaretsky JM, Ribas A. <span class="citation-title">Mutations Associated with Acquired Resistance to PD-1 '
        'Blockade in Melanoma.</span> <span class="citation-journal">N Engl J Med.</span> 2016;375(9):819-29.'
    ) in html
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/27433843/"' in html
    assert 'href="https://doi.org/10.1056/NEJMoa1604958"' in html
    assert 'href="/references/27433843/"' in html
    assert "<caption" in html and '<th scope="col">Statement</th>' in html


def test_mechanism_page_lists_only_published_sub_mechanisms(client, atlas):
    html = client.get(reverse("mechanism-detail", args=["antigen-presentation"])).content.decode()
    assert "Sub-mechanisms" in html
    assert 'href="/mechanisms/b2m-loss/"' in html
    assert_no_unpublished_work(html)


def test_published_mechanism_with_a_pending_revision_shows_the_reviewed_text(client, atlas):
    html = client.get(reverse("mechanism-detail", args=["ifng-loss"])).content.decode()
    assert "JAK1/2 loss makes tumours deaf to interferon." in html
    assert "JAK1 loss-of-function mutations in relapsing tumours." in html
    assert_no_unpublished_work(html)


def test_cite_this_entry_names_the_version_its_date_and_permalink(client, atlas):
    mechanism = atlas["b2m_loss"]
    # A second publication (what publishing a revision does to the row's publication date).
    mechanism.published_at = datetime.datetime(2024, 3, 5, tzinfo=datetime.UTC)
    mechanism.save()
    html = client.get(reverse("mechanism-detail", args=["b2m-loss"])).content.decode()
    today = timezone.localdate()
    permalink = "http://testserver/mechanisms/b2m-loss/versions/2/"
    assert (
        f'Resistance Atlas. Loss of beta-2-microglobulin. Version 2, published 5 March 2024. <a href="{permalink}"'
    ) in html
    assert f"Accessed {today.day} {today:%B %Y}." in html
    assert 'href="/mechanisms/b2m-loss/versions/"' in html


@pytest.mark.parametrize("slug", ["secret-draft", "under-review", "no-such-mechanism"])
def test_unpublished_mechanisms_are_not_found(client, atlas, slug):
    response = client.get(reverse("mechanism-detail", args=[slug]))
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_a_pending_revision_is_never_served_in_place_of_a_missing_original(client, atlas):
    orphan = make_mechanism("Draft original", slug="draft-original")
    make_mechanism("Its revision", status=Status.IN_REVIEW, revision_of=orphan)
    assert client.get(reverse("mechanism-detail", args=["draft-original"])).status_code == 404


def test_retired_mechanism_is_gone_with_an_explanation(client, atlas):
    response = client.get(reverse("mechanism-detail", args=["old-idea"]))
    assert response.status_code == 410
    html = response.content.decode()
    assert "Old retired idea: retired" in html
    assert 'href="/mechanisms/antigen-presentation/"' in html
    assert "Statement of a retired mechanism" not in html


def test_retraction_is_flagged_by_a_banner_and_a_badge(client, atlas):
    reference = atlas["zaretsky"]
    reference.is_retracted = True
    reference.corrections = [{"type": "RetractionIn", "pmid": 39999999, "source": "N Engl J Med. 2025;392(1):100"}]
    reference.save()
    html = client.get(reverse("mechanism-detail", args=["b2m-loss"])).content.decode()
    banner = html[html.index('class="notice notice-alert"') :]
    assert "Read with care: 1 cited paper has a notice in PubMed" in banner
    assert "Retraction notice:" in banner
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/39999999/">N Engl J Med. 2025;392(1):100</a>' in banner
    assert html.index("Read with care") < html.index('<h2 id="summary-heading">')
    # A badge in the evidence row as well as in the banner.
    table = html[html.index("<table") :]
    assert '<span class="badge badge-retracted">Retracted</span>' in table


def test_erratum_and_expression_of_concern_are_flagged(client, atlas):
    reference = make_reference(
        has_erratum=True,
        has_expression_of_concern=True,
        corrections=[
            {"type": "ErratumIn", "pmid": 38888888, "source": "Cell. 2024"},
            {"type": "ExpressionOfConcernIn", "pmid": None, "source": "Cell. 2025"},
        ],
    )
    make_evidence(atlas["tregs"], reference)
    html = client.get(reverse("mechanism-detail", args=["tregs"])).content.decode()
    assert '<span class="badge badge-erratum">Erratum</span>' in html
    assert '<span class="badge badge-expression-of-concern">Expression of concern</span>' in html
    assert "Expression of concern:" in html and "Cell. 2025" in html


def test_unflagged_page_has_no_banner(client, atlas):
    html = client.get(reverse("mechanism-detail", args=["b2m-loss"])).content.decode()
    assert "Read with care" not in html
    assert "badge-retracted" not in html


def test_pending_reference_carries_a_note(client, atlas):
    make_evidence(atlas["tregs"], make_reference(metadata_state=MetadataState.PENDING))
    html = client.get(reverse("mechanism-detail", args=["tregs"])).content.decode()
    assert "Citation details not yet confirmed by PubMed." in html
    verified = client.get(reverse("mechanism-detail", args=["b2m-loss"])).content.decode()
    assert "not yet confirmed" not in verified


def test_curator_text_is_escaped(client):
    gene = make_gene("TP53")
    mechanism = published(
        f"Name {HOSTILE}", slug="hostile", summary=f"Summary {HOSTILE}", strategies=f"Strategy {HOSTILE}", genes=[gene]
    )
    make_evidence(mechanism, statement=f"Statement {HOSTILE}", locator=f"Locator {HOSTILE}")
    for url in (
        reverse("home"),
        reverse("mechanism-list"),
        reverse("mechanism-detail", args=["hostile"]),
        reverse("gene-detail", args=["TP53"]),
    ):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "<img src=x" not in html, url
        assert "&lt;script&gt;" in html, url


def without_jsonld(html: str) -> tuple[str, str]:
    """The page without its one JSON-LD block (data, not script), and that block's JSON text."""
    start = html.index('<script type="application/ld+json">')
    end = html.index("</script>", start)
    return html[:start] + html[end + len("</script>") :], html[start + len('<script type="application/ld+json">') : end]


def test_hostile_pubmed_markup_is_sanitised(client, atlas):
    reference = make_reference(
        title='Loss of <i>B2M</i><script>alert(1)</script><img src=x onerror="alert(2)">'
        '<a href="javascript:alert(3)">click</a><iframe src="https://evil.example"></iframe>'
        '<math><mi onclick="alert(4)">x</mi><mtext><style>*{}</style></mtext></math>',
        abstract=[
            {
                "label": "RESULTS",
                "category": "RESULTS",
                "text": '<b onmouseover="alert(5)">bold</b><svg><script>alert(6)</script></svg>H<sub>2</sub>O',
            }
        ],
    )
    make_evidence(atlas["tregs"], reference)
    for url in (reverse("mechanism-detail", args=["tregs"]), reverse("reference-detail", args=[reference.pmid])):
        html, data = without_jsonld(client.get(url).content.decode())
        assert "<" not in data and ">" not in data
        for dangerous in (
            "<script",
            "onerror",
            "onclick",
            "onmouseover",
            "javascript:",
            "<iframe",
            "<svg><script",  # the page's own pictures are SVG; PubMed's markup never is
            "<img",
            "<style",
            '<a href="javascript',
        ):
            assert dangerous not in html, (url, dangerous)
        assert "Loss of <i>B2M</i>" in html
    html = client.get(reverse("reference-detail", args=[reference.pmid])).content.decode()
    assert "<b>bold</b>" in html
    assert "H<sub>2</sub>O" in html
    assert "<math><mi>x</mi>" in html


# --- Reference page -------------------------------------------------------------------


def test_reference_page_shows_the_paper_and_the_published_mechanisms_citing_it(client, atlas):
    response = client.get(reverse("reference-detail", args=[27433843]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Mutations Associated with Acquired Resistance to PD-1 Blockade in Melanoma.</h1>" in html
    assert "Jesse M Zaretsky" in html and "Antoni Ribas" in html
    assert "The New England journal of medicine" in html and "2016 Sep 1" in html
    assert "<h3>BACKGROUND</h3>" in html and "Some tumours <i>relapse</i>." in html
    assert "<h3>METHODS</h3>" in html
    assert "beta 2-Microglobulin" in html and "Journal Article" in html and "PD-1" in html
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/27433843/"' in html
    assert 'href="https://doi.org/10.1056/NEJMoa1604958"' in html
    assert 'href="/mechanisms/b2m-loss/"' in html and 'href="/mechanisms/ifng-loss/"' in html
    assert "B2M truncation found in a relapsing melanoma on anti-PD-1." in html
    assert_no_unpublished_work(html)


def test_reference_page_shows_collective_authors_pmc_link_and_orcid(client, atlas):
    reference = make_reference(
        pmcid="PMC123456",
        authors=[
            {"collective_name": "Cancer Genome Atlas Network", "last_name": ""},
            {
                "last_name": "Ng",
                "fore_name": "Kim",
                "initials": "K",
                "collective_name": "",
                "orcid": "0000-0002-1825-0097",
            },
        ],
    )
    make_evidence(atlas["tregs"], reference)
    html = client.get(reverse("reference-detail", args=[reference.pmid])).content.decode()
    assert "<li>Cancer Genome Atlas Network</li>" in html
    assert 'href="https://orcid.org/0000-0002-1825-0097"' in html
    assert 'href="https://pmc.ncbi.nlm.nih.gov/articles/PMC123456/"' in html


def test_retracted_reference_page_says_so(client, atlas):
    reference = atlas["zaretsky"]
    reference.is_retracted = True
    reference.corrections = [{"type": "RetractionIn", "pmid": 39999999, "source": "N Engl J Med. 2025"}]
    reference.save()
    html = client.get(reverse("reference-detail", args=[27433843])).content.decode()
    assert "This paper has been retracted" in html
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/39999999/"' in html


def test_reference_cited_only_by_unpublished_work_is_not_found(client, atlas):
    assert client.get(reverse("reference-detail", args=[11111111])).status_code == 404
    assert client.get(reverse("reference-detail", args=[99999998])).status_code == 404


def test_reference_cited_only_by_a_retired_mechanism_or_a_revision_is_not_found(client, atlas):
    reference = make_reference()
    make_evidence(atlas["retired"], reference)
    make_evidence(atlas["revision"], reference)
    assert client.get(reverse("reference-detail", args=[reference.pmid])).status_code == 404


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("ris", "TY  - JOUR"), ("bibtex", "@article{Zaretsky2016_27433843"), ("csl-json", '"PMID": "27433843"')],
)
def test_reference_citation_downloads(client, atlas, fmt, expected):
    response = client.get(reverse("reference-export", args=[27433843, fmt]))
    assert response.status_code == 200
    assert expected in response.content.decode()
    assert response["Content-Disposition"].startswith('attachment; filename="pmid-27433843.')


def test_citation_downloads_follow_the_same_visibility_rule(client, atlas):
    assert client.get(reverse("reference-export", args=[11111111, "ris"])).status_code == 404
    assert client.get(reverse("reference-export", args=[27433843, "docx"])).status_code == 404


# --- Gene page ----------------------------------------------------------------------------


def test_gene_page_lists_published_mechanisms_with_evidence_counts(client, atlas):
    response = client.get(reverse("gene-detail", args=["B2M"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "beta-2-microglobulin" in html
    assert 'href="https://www.ncbi.nlm.nih.gov/gene/567"' in html
    assert "HGNC:914" in html
    assert [m.name for m in response.context["gene"].public_mechanisms] == [
        "Antigen presentation defects",
        "Loss of beta-2-microglobulin",
    ]
    assert '<td class="num">1</td>' in html
    assert_no_unpublished_work(html)


def test_gene_without_ids_has_no_external_links(client, atlas):
    html = client.get(reverse("gene-detail", args=["JAK1"])).content.decode()
    assert "ncbi.nlm.nih.gov/gene" not in html and "genenames.org" not in html


def test_gene_symbol_in_another_case_redirects(client, atlas):
    response = client.get(reverse("gene-detail", args=["b2m"]))
    assert response.status_code == 301
    assert response["Location"] == "/genes/B2M/"


def test_gene_in_no_published_mechanism_is_not_found(client, atlas):
    make_gene("LONELY")
    secret = make_gene("SECRET1")
    make_mechanism("Draft using it", genes=[secret])
    assert client.get(reverse("gene-detail", args=["LONELY"])).status_code == 404
    assert client.get(reverse("gene-detail", args=["SECRET1"])).status_code == 404
    assert client.get(reverse("gene-detail", args=["NOSUCH"])).status_code == 404


def test_public_pages_refuse_to_be_written_to(client, atlas):
    assert client.post(reverse("mechanism-list")).status_code == 405


# --- Query counts --------------------------------------------------------------------------


def grow_atlas(size: int, shared_symbol="SHARED"):
    """`size` published mechanisms (a third of them children), each with genes, therapies and `size` evidence rows."""
    therapy = make_therapy()
    cancer = make_cancer_type()
    parents = []
    for n in range(size):
        parent = parents[n % len(parents)] if n % 3 == 2 and parents else None
        mechanism = published(
            parent=parent,
            genes=[make_gene()],
            therapies=[therapy],
            cancer_types=[cancer],
            category=parent.category if parent else Category.values[n % 2],
        )
        if parent is None:
            parents.append(mechanism)
        make_mechanism(parent=mechanism)  # a draft child, filtered out
    shared_gene = make_gene(shared_symbol)
    shared_reference = make_reference(
        is_retracted=True, corrections=[{"type": "RetractionIn", "pmid": 1, "source": "x"}]
    )
    root = parents[0]
    root.genes.add(shared_gene)
    for n in range(size):
        make_evidence(
            root,
            make_reference(),
            therapy=therapy,
            cancer_type=cancer,
            phenotype=Phenotype.PRIMARY,
            direction=Direction.REFUTES if n % 2 else Direction.SUPPORTS,
        )
    for mechanism in parents[1:]:
        mechanism.genes.add(shared_gene)
        make_evidence(mechanism, shared_reference)
    make_evidence(root, shared_reference)
    return root, shared_reference, shared_symbol


def page_urls(root, reference, symbol):
    return [
        reverse("home"),
        reverse("mechanism-list"),
        reverse("mechanism-list") + f"?gene={symbol}&therapy=" + root.therapies.get().slug + "&q=mechanism",
        reverse("mechanism-detail", args=[root.slug]),
        reverse("reference-detail", args=[reference.pmid]),
        reverse("reference-export", args=[reference.pmid, "ris"]),
        reverse("gene-detail", args=[symbol]),
    ]


@pytest.mark.parametrize("size", [2, 30])
def test_each_page_runs_a_bounded_number_of_queries(client, django_assert_max_num_queries, size):
    for url in page_urls(*grow_atlas(size)):
        # 10: the mechanism page also reads its published versions (one query on the history table),
        # its consensus (one), the count of its paged evidence (one) and the flagged papers it cites (one);
        # +1: the page cache reads the content version first (curation/page_cache.py).
        with django_assert_max_num_queries(11):
            response = client.get(url)
        assert response.status_code == 200, url


def test_query_counts_do_not_grow_with_the_atlas(client):
    def counts(urls):
        measured = []
        for url in urls:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200, url
            measured.append(len(queries))
        return measured

    small = counts(page_urls(*grow_atlas(2, "SMALL")))
    # The second atlas adds to the first: home and list now show both.
    large = counts(page_urls(*grow_atlas(30, "LARGE")))
    assert small == large
