"""Search as a researcher uses it: known questions with known answers on the seeded atlas.

Tests without the `postgres` fixture run on whichever database the suite uses (SQLite's
substring fallback without DATABASE_URL, full-text search with it); those with it check
what only PostgreSQL does (stemming, weighted ranking, stored vectors kept current).
"""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from curation import bulk
from curation.models import EvidenceLevel, Gene, Mechanism, Reference, Status
from curation.search import text
from curation.search.query import MAX_QUERY_LENGTH, parse
from curation.seeding import seed_atlas
from tests.factories import make_evidence, make_gene, make_mechanism, make_reference

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def seeded(django_db_setup, django_db_blocker):
    """The seeded atlas, loaded once for this module; each test runs in a transaction on top of it."""
    with django_db_blocker.unblock():
        seed_atlas()
    yield
    with django_db_blocker.unblock():
        # As after a transactional test: empty tables (conftest's role_groups puts the groups back).
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _rendered_pages(settings):
    """These tests read the view's context and switch the matching method under the same address:
    the page cache (tests/test_page_cache.py) would answer repeats without running the view."""
    settings.PAGE_CACHE_SECONDS = 0


@pytest.fixture
def fallback(monkeypatch):
    """The substring search SQLite uses, on whichever database runs the test."""
    monkeypatch.setattr(text, "uses_full_text", lambda: False)


def search(client, q, **params):
    response = client.get(reverse("search"), {"q": q, **params})
    assert response.status_code == 200
    return response


def found(client, q, of, **params) -> list[str]:
    """What one kind of result lists for `q`, best first: mechanism slugs, gene symbols, PMIDs or statements."""
    results = search(client, q, **params).context["results"]
    group = next(group for group in results.groups if group.kind.key == of)
    key = {"mechanisms": "slug", "genes": "symbol", "papers": "pmid", "evidence": "statement"}[of]
    return [getattr(row, key) for row in group.rows]


def test_tim3_finds_the_tim3_mechanism_first(client, seeded):
    assert found(client, "TIM-3", "mechanisms")[0] == "tim3-upregulation"


def test_tim3_names_the_gene_under_its_hgnc_symbol(client, seeded):
    assert found(client, "TIM-3", "genes")[0] == "HAVCR2"


@pytest.mark.parametrize(
    ("alias", "symbol"), [("PD-L1", "CD274"), ("PD-1", "PDCD1"), ("VISTA", "VSIR"), ("lag-3", "LAG3")]
)
def test_an_alias_finds_the_gene_by_its_hgnc_symbol(client, seeded, alias, symbol):
    assert found(client, alias, "genes")[0] == symbol


def test_jak_finds_jak1_and_jak2(client, seeded):
    assert found(client, "JAK", "genes")[:2] == ["JAK1", "JAK2"]
    assert "jak1-jak2-loss" in found(client, "JAK", "mechanisms")


def test_a_gene_symbol_in_any_case_finds_the_gene(client, seeded):
    assert found(client, "b2m", "genes") == ["B2M"]


def test_antigen_presentation_as_a_phrase_finds_its_branch_first(client, seeded):
    assert found(client, '"antigen presentation"', "mechanisms")[0] == "antigen-presentation-defects"


def test_words_out_of_order_are_not_the_phrase(client, seeded):
    assert "antigen-presentation-defects" not in found(client, '"presentation antigen"', "mechanisms")


def test_or_finds_either_word_and_without_it_both_must_match(client, seeded):
    either = found(client, "B2M OR STK11", "mechanisms")
    assert {"b2m-loss", "stk11-lkb1-loss"} <= set(either)
    assert "b2m-loss" not in found(client, "B2M STK11", "mechanisms")


def test_minus_review_excludes_reviews(client, seeded):
    levels = {
        e.level for e in search(client, "antigen", kind="evidence", per_page=100).context["results"].groups[0].rows
    }
    assert EvidenceLevel.REVIEW in levels  # there is something to exclude
    without = search(client, "antigen -review", kind="evidence", per_page=100).context["results"]
    evidence = next(group for group in without.groups if group.kind.key == "evidence")
    assert evidence.rows and all(item.level != EvidenceLevel.REVIEW for item in evidence.rows)


def test_a_prefix_finds_the_words_it_starts(client, seeded):
    assert "ifng-pathway-defects" in found(client, "interfer*", "mechanisms")


def test_a_word_finds_evidence_through_its_mechanism(client, seeded):
    statements = found(client, "JAK1 anti-PD-1", "evidence")
    assert statements  # the Zaretsky and Shin claims about JAK1/2 loss on PD-1 blockade
    results = search(client, "JAK1 anti-PD-1").context["results"]
    evidence = next(group for group in results.groups if group.kind.key == "evidence")
    assert {item.mechanism.slug for item in evidence.rows} == {"jak1-jak2-loss"}


def test_results_are_grouped_by_kind_with_counts_and_links(client, seeded):
    html = search(client, "JAK").content.decode()
    for kind in ("Mechanisms", "Evidence", "Papers", "Genes"):
        assert f'id="heading-{kind.lower()}">{kind} <span class="count">' in html
    assert 'href="/mechanisms/jak1-jak2-loss/"' in html
    assert 'href="/genes/JAK1/"' in html


def test_matches_are_highlighted(client, seeded):
    html = search(client, "interferon").content.decode()
    assert "<mark>" in html.lower()


# --- Hostile and absurd queries ---------------------------------------------------------------

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.mark.parametrize(
    "q",
    [
        HOSTILE,
        "OR OR -- * - \"\" ''",
        '"unbalanced quote',
        'tim-3"',
        # A NUL byte never reaches the search: UnstorableInputMiddleware answers 400 (tests/test_hostile_requests.py).
        "'; DROP TABLE curation_gene; --",
        "!!! & | <-> :* ()",
        "-review",
        "🧬 λ ∞",
        "x" * MAX_QUERY_LENGTH,
    ],
)
def test_hostile_queries_are_just_text(client, seeded, q):
    response = search(client, q)
    html = response.content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert Gene.objects.filter(symbol="B2M").exists()


def test_a_query_of_10_kb_is_refused_with_a_clear_message(client, seeded):
    response = search(client, "antigen " * 1280)
    results = response.context["results"]
    assert results.groups == []
    assert f"A search is at most {MAX_QUERY_LENGTH} characters; this one has" in response.content.decode()


def test_exclusions_alone_say_what_is_missing(client, seeded):
    assert "Add a word to look for" in search(client, "-review").content.decode()


def test_snippets_carry_no_markup_but_the_highlight(client):
    mechanism = make_mechanism(
        "Zanzibar escape", status=Status.PUBLISHED, summary="Zanzibar <b>bold</b> <script>alert(1)</script> cells."
    )
    paper = make_reference(title="The <i>Zanzibar</i> effect<script>alert(2)</script>")
    make_evidence(mechanism, paper, statement="Zanzibar cells <img src=x onerror=alert(3)> escape.")
    html = search(client, "Zanzibar").content.decode()
    assert "<mark>Zanzibar</mark>" in html
    for markup in ("<b>bold", "<script>", "<img", "<i>Zanzibar"):
        assert markup not in html


# --- Facets -----------------------------------------------------------------------------------


def test_facet_counts_add_up_to_the_evidence_found(client, seeded):
    counts = search(client, "tumor").context["results"].counts
    directions = dict(counts.facets)[_facet("direction")]
    assert counts.total > 0
    assert sum(value.count for value in directions) == counts.total


def test_a_facet_narrows_the_results_to_its_count(client, seeded):
    counts = search(client, "tumor").context["results"].counts
    level = max(dict(counts.facets)[_facet("level")], key=lambda value: value.count)
    narrowed = search(client, "tumor", level=level.value, kind="evidence", per_page=100).context["results"]
    assert narrowed.counts.total == level.count
    assert {item.level for item in narrowed.groups[0].rows} == {level.value}


def test_facet_links_are_shareable_addresses_that_keep_the_query(client, seeded):
    html = search(client, "tumor").content.decode()
    assert 'href="/search/?q=tumor&amp;level=clinical-cohort"' in html


def test_a_facet_in_use_shows_a_way_to_remove_it(client, seeded):
    html = search(client, "tumor", level="clinical-cohort").content.decode()
    assert 'href="/search/?q=tumor" aria-label="Remove Evidence level: Clinical cohort"' in html


def test_an_unknown_facet_value_gives_a_message_and_no_results(client, seeded):
    response = search(client, "tumor", level="astrology")
    assert response.context["results"].groups == []
    assert "“astrology” is not a value of “Evidence level”." in response.content.decode()


def test_a_year_range_narrows_to_papers_of_those_years(client, seeded):
    results = search(client, "tumor", kind="evidence", year_from=2017, year_to=2017, per_page=100).context["results"]
    assert results.groups[0].rows
    assert {item.reference.pub_year for item in results.groups[0].rows} == {2017}


def test_a_facet_narrows_the_mechanisms_too(client, seeded):
    everything = found(client, "tumor", "mechanisms", kind="mechanisms", per_page=100)
    extrinsic = found(client, "tumor", "mechanisms", kind="mechanisms", per_page=100, category="tumor-extrinsic")
    assert extrinsic and set(extrinsic) < set(everything)
    assert all(Mechanism.objects.get(slug=slug).category == "tumor-extrinsic" for slug in extrinsic)


def _facet(param):
    from curation.search.facets import FACETS

    return next(facet for facet in FACETS if facet.param == param)


# --- Only published content -------------------------------------------------------------------


@pytest.fixture
def unpublished():
    """Work nobody may find: a draft with its own gene and paper, and a pending revision of a published entry."""
    secret_gene = make_gene("QQQ1", name="quixotic gene", aliases="QUIXO")
    draft = make_mechanism("Quixotic draft", summary="Quixotic escape.", genes=[secret_gene])
    make_evidence(draft, make_reference(title="Quixotic paper"), statement="Quixotic claim.")
    public = make_mechanism("Plain mechanism", status=Status.PUBLISHED, summary="Plain words.")
    make_evidence(public, statement="A plain claim.")
    revision = make_mechanism("Quixotic revision", status=Status.IN_REVIEW, revision_of=public, summary="Quixotic")
    make_evidence(revision, statement="Quixotic revised claim.")


@pytest.mark.parametrize("q", ["quixotic", "QQQ1", "QUIXO", "QQQ"])
def test_drafts_and_revisions_never_appear(client, unpublished, q):
    results = search(client, q).context["results"]
    assert results.total == 0
    assert results.counts.total == 0
    assert "uixotic" not in search(client, q).content.decode().replace(q, "")


# --- The fallback and PostgreSQL agree --------------------------------------------------------


@pytest.mark.parametrize("word", ["interferon", "macrophages", "adenosine", "microbiome", "exhaustion", "TIGIT"])
def test_the_fallback_finds_the_same_mechanisms_for_plain_words(client, seeded, postgres, monkeypatch, word):
    full_text = set(found(client, word, "mechanisms", kind="mechanisms", per_page=100))
    monkeypatch.setattr(text, "uses_full_text", lambda: False)
    substring = set(found(client, word, "mechanisms", kind="mechanisms", per_page=100))
    assert full_text and substring <= full_text


def test_the_fallback_understands_the_same_syntax(client, seeded, fallback):
    assert found(client, "TIM-3", "mechanisms")[0] == "tim3-upregulation"
    assert found(client, "PD-L1", "genes")[0] == "CD274"
    assert {"b2m-loss", "stk11-lkb1-loss"} <= set(found(client, "B2M OR STK11", "mechanisms"))
    assert found(client, '"antigen presentation"', "mechanisms")[0] == "antigen-presentation-defects"


# --- PostgreSQL: stemming, ranking, vectors kept current --------------------------------------


def test_stemming_finds_other_forms_of_a_word(client, seeded, postgres):
    assert "antigen-presentation-defects" in found(client, "presenting antigens", "mechanisms")


def test_a_name_ranks_above_a_summary_that_mentions_the_word(client, seeded, postgres):
    assert found(client, "macrophages", "mechanisms")[0] == "tumor-associated-macrophages"


def test_a_curators_new_alias_is_found_at_once(client, seeded, postgres):
    gene = Gene.objects.get(symbol="STAT1")
    gene.aliases = "ISGF-3"
    gene.save()
    assert found(client, "ISGF-3", "genes") == ["STAT1"]


def test_a_title_the_refresh_pipeline_writes_in_bulk_is_searchable(client, seeded, postgres):
    papers = list(Reference.objects.filter(evidence__mechanism__slug="jak1-jak2-loss").distinct()[:2])
    for paper in papers:
        paper.title = f"Xylophone resistance study {paper.pmid}"
    bulk.update_rows(Reference, [(paper, ["title"]) for paper in papers])
    assert sorted(found(client, "xylophone", "papers")) == sorted(paper.pmid for paper in papers)


# --- Query counts do not grow with the atlas ---------------------------------------------------


def grow(size: int, word: str):
    """`size` published mechanisms named with `word`, each with `size` evidence items and a gene."""
    for n in range(size):
        mechanism = make_mechanism(f"{word} mechanism {n}", status=Status.PUBLISHED, genes=[make_gene()])
        for _ in range(size):
            make_evidence(mechanism, statement=f"{word} claim {n}.", level=EvidenceLevel.CLINICAL_COHORT)


SEARCH_URLS = [
    "/search/?q={word}",
    "/search/?q={word}&kind=evidence&level=clinical-cohort",
    "/search/?q={word}&kind=papers&page=2&per_page=10",
    "/search/?q={word}&kind=genes",
    "/evidence/?level=clinical-cohort&sort=-mechanism",
    "/evidence/?q={word}&page=2",
    "/mechanisms/?q={word}",
]


@pytest.mark.parametrize("size", [2, 12])
def test_search_pages_run_a_bounded_number_of_queries(client, django_assert_max_num_queries, size):
    grow(size, "Wombat")
    for url in SEARCH_URLS:
        with django_assert_max_num_queries(13):
            assert client.get(url.format(word="Wombat")).status_code == 200


def test_search_query_counts_do_not_grow_with_the_atlas(client):
    def counts(word):
        measured = []
        for url in SEARCH_URLS:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url.format(word=word)).status_code == 200
            measured.append(len(queries))
        return measured

    grow(2, "Quokka")
    small = counts("Quokka")
    grow(12, "Wombat")
    assert counts("Wombat") == small


# --- Aliases ----------------------------------------------------------------------------------


def test_aliases_are_stored_normalised():
    gene = make_gene("CD999", aliases=" PD-L1 ,B7-H1,  pd-l1 ;PDL1 ")
    gene.refresh_from_db()
    assert gene.aliases == "PD-L1, B7-H1, PDL1"


@pytest.mark.parametrize("aliases", ["<b>PD-L1</b>", "PD-L1, x" + "y" * 45, "PD-L1; 'quoted'"])
def test_malformed_aliases_are_refused_with_a_message(aliases):
    gene = Gene(symbol="CD999", aliases=aliases)
    with pytest.raises(ValidationError, match="Write aliases as names separated by commas"):
        gene.full_clean()


def test_the_seed_gives_cd274_its_aliases_and_keeps_a_curators_edit():
    gene = Gene.objects.get(symbol="CD274")
    assert gene.aliases == "PD-L1, B7-H1, PDL1"
    gene.aliases = "B7-H1"
    gene.save()
    seed_atlas()
    gene.refresh_from_db()
    assert gene.aliases == "B7-H1"


def test_parse_reads_web_search_syntax():
    query = parse('"antigen presentation" JAK OR STAT1 -review interfer*')
    assert [[(t.text, t.phrase, t.negated, t.prefix) for t in group] for group in query.groups] == [
        [("antigen presentation", True, False, False)],
        [("JAK", False, False, False), ("STAT1", False, False, False)],
        [("review", False, True, False)],
        [("interfer", False, False, True)],
    ]


# --- Exporting what was found -----------------------------------------------------------------


def test_the_papers_behind_search_results_download_as_ris(client, seeded):
    html = search(client, "JAK1 anti-PD-1").content.decode()
    assert 'href="/evidence/cite.ris?q=JAK1+anti-PD-1" download' in html
    response = client.get("/evidence/cite.ris", {"q": "JAK1 anti-PD-1"})
    assert response.status_code == 200
    cited = {item.reference.pmid for item in search(client, "JAK1 anti-PD-1").context["results"].groups[1].rows}
    assert cited and all(
        f"AN  - {pmid}" in response.content.decode() or str(pmid) in response.content.decode() for pmid in cited
    )


def test_the_evidence_table_exports_what_its_facets_select(client, seeded):
    html = client.get("/evidence/", {"level": "review", "sort": "-year"}).content.decode()
    assert 'href="/evidence/cite.bibtex?level=review" download' in html
    assert client.get("/evidence/cite.ris", {"level": "astrology"}).status_code == 400


def test_the_jak1_question_finds_the_jak1_mechanism_first(client, seeded):
    # The question: a patient relapsed on anti-PD-1 with a JAK1 mutation.
    assert found(client, "JAK1 anti-PD-1", "mechanisms")[0] == "jak1-jak2-loss"


def test_minus_review_leaves_no_review_among_the_evidence(client, seeded):
    results = search(client, "antigen -review", kind="evidence", per_page=100).context["results"]
    assert results.groups[0].rows and all(row.level != EvidenceLevel.REVIEW for row in results.groups[0].rows)
