"""The read API as an anonymous script uses it: published content only, filters, paging, 304, gzip, 429."""

import gzip
import json

import pytest
from django.urls import reverse

from curation.models import Evidence, EvidenceLevel, ModelSystem, Status
from curation.search import search_mechanisms
from tests.factories import make_evidence, make_gene, make_mechanism, make_reference

pytestmark = pytest.mark.django_db


def get(client, url, **headers):
    response = client.get(url, headers=headers)
    return response, (response.json() if response["Content-Type"].startswith("application/json") else None)


def slugs(body):
    return [item["slug"] for item in body["results"]]


def walk(client, url):
    """Every item of a list endpoint, following `next` links as a script would."""
    items = []
    while url:
        response, body = get(client, url)
        assert response.status_code == 200, body
        items += body["results"]
        url = body["next"]
    return items


def test_reader_lists_only_published_mechanisms(client, published_atlas):
    _, body = get(client, "/api/mechanisms/")
    assert sorted(slugs(body)) == sorted(m.slug for m in published_atlas.mechanisms)
    assert body["count"] == 4
    # The pending revision shares antigen's slug but not its text.
    antigen = next(item for item in body["results"] if item["slug"] == "antigen-presentation")
    assert antigen["name"] == "Antigen presentation defects"


def test_mechanism_names_its_tree_position_vocabulary_and_counts(client, published_atlas):
    _, child = get(client, "/api/mechanisms/b2m-loss/")
    assert child["parent"] == "antigen-presentation"
    assert child["ancestors"] == ["antigen-presentation"]
    assert child["depth"] == 2
    assert child["genes"] == ["B2M"]
    assert child["therapies"] == ["pembrolizumab"]
    assert child["cancer_types"] == ["melanoma"]
    assert child["phenotypes"] == ["acquired"]
    assert child["evidence_count"] == 2
    assert child["reference_count"] == 2
    assert child["consensus"] == {"supports": 1, "refutes": 1}
    _, root = get(client, "/api/mechanisms/antigen-presentation/")
    assert root["children"] == ["b2m-loss"]
    assert root["parent"] is None and root["depth"] == 1
    # The revision names a draft-only gene: readers never see it.
    assert root["genes"] == ["B2M"]


def test_unpublished_work_is_invisible_everywhere(client, published_atlas):
    _, evidence = get(client, "/api/evidence/?page_size=1000")
    assert sorted(item["id"] for item in evidence["results"]) == sorted(e.pk for e in published_atlas.evidence)
    _, references = get(client, "/api/references/")
    assert sorted(item["pmid"] for item in references["results"]) == sorted(r.pmid for r in published_atlas.references)
    _, genes = get(client, "/api/genes/")
    assert [item["symbol"] for item in genes["results"]] == ["B2M", "JAK1"]
    for url in (
        "/api/mechanisms/draft-idea/",
        f"/api/genes/{published_atlas.draft_gene.symbol}/",
        *(f"/api/references/{r.pmid}/" for r in published_atlas.unpublished_references),
        f"/api/evidence/{published_atlas.draft.evidence.get().pk}/",
        f"/api/evidence/{published_atlas.revision.evidence.get().pk}/",
    ):
        response, body = get(client, url)
        assert response.status_code == 404, url
        assert body["detail"]


def test_a_retired_mechanism_answers_gone(client, published_atlas):
    response, body = get(client, "/api/mechanisms/retired-idea/")
    assert response.status_code == 410
    assert "retired" in body["detail"]


def test_reference_carries_citation_metadata_flags_and_corrections(client, published_atlas):
    response, body = get(client, f"/api/references/{published_atlas.retracted.pmid}/")
    assert response.status_code == 200
    assert body["flags"] == ["retracted"]
    assert body["corrections"] == [{"type": "RetractionIn", "pmid": "31000001", "source": "J Test Immunol. 2020"}]
    assert body["authors"][0] == {
        "last_name": "Curie", "fore_name": "Ada", "initials": "A", "collective_name": "", "orcid": "",
    }  # fmt: skip
    assert body["citation"].startswith("Curie A, Okafor BJ.")
    assert body["identifiers"] == [f"pubmed:{published_atlas.retracted.pmid}", f"doi:10.5555/test.{body['pmid']}"]
    # PubMed's pipeline state and the publishers' abstracts are not the API's to hand out.
    assert not {"abstract", "raw_xml", "last_error", "metadata_state"} & body.keys()
    _, zaretsky = get(client, "/api/references/27433843/")
    assert zaretsky["title"] == "Mutations Associated with Acquired Resistance."
    assert zaretsky["title_html"] == "Mutations Associated with <i>Acquired</i> Resistance."


def test_lookups_use_the_stable_ids(client, published_atlas):
    evidence = published_atlas.evidence[0]
    assert get(client, f"/api/evidence/{evidence.pk}/")[1]["statement"] == "B2M truncation at relapse."
    assert get(client, "/api/genes/B2M/")[1]["identifiers"] == ["hgnc:914", "ncbigene:567"]
    assert get(client, "/api/therapies/pembrolizumab/")[1]["mechanisms"] == ["antigen-presentation", "b2m-loss"]
    assert get(client, "/api/cancer-types/melanoma/")[1]["doid"] == "DOID:1909"


@pytest.mark.parametrize(
    "query",
    ["gene=b2m", "gene=JAK1", "therapy=pembrolizumab", "phenotype=acquired", "category=tumor-extrinsic",
     "q=beta", "q=loss interferon", "gene=B2M&phenotype=acquired"],
)  # fmt: skip
def test_mechanism_filters_list_what_the_site_lists(client, published_atlas, query):
    params = dict(pair.split("=") for pair in query.split("&"))
    site = search_mechanisms(params)
    _, body = get(client, f"/api/mechanisms/?{query}")
    assert sorted(slugs(body)) == sorted(m.slug for m in site.mechanisms)


def test_evidence_and_reference_filters(client, published_atlas):
    def evidence_ids(query):
        return sorted(item["id"] for item in get(client, f"/api/evidence/?{query}")[1]["results"])

    b2m_claims = sorted(e.pk for e in published_atlas.evidence if e.mechanism == published_atlas.b2m_loss)
    assert evidence_ids("mechanism=b2m-loss") == b2m_claims
    assert evidence_ids("direction=refutes") == [published_atlas.evidence[1].pk]
    assert evidence_ids("level=clinical-cohort&cancer_type=melanoma") == [published_atlas.evidence[0].pk]
    assert evidence_ids("flag=retracted") == [published_atlas.evidence[1].pk]
    assert evidence_ids("year_min=2017") == [published_atlas.evidence[1].pk]
    assert evidence_ids("gene=jak1") == sorted(
        e.pk for e in published_atlas.evidence if e.mechanism.slug == "ifng-loss"
    )
    _, cited = get(client, "/api/references/?mechanism=ifng-loss")
    assert sorted(item["pmid"] for item in cited["results"]) == [27433843, 27667683]
    _, flagged = get(client, "/api/references/?flag=erratum")
    assert [item["pmid"] for item in flagged["results"]] == [27667683]


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("/api/mechanisms/?category=nope", "category"),
        ("/api/mechanisms/?page_size=0", "page_size"),
        ("/api/mechanisms/?page_size=1001", "page_size"),
        ("/api/mechanisms/?ordering=summary", "ordering"),
        ("/api/mechanisms/?cursor=forged", "cursor"),
        ("/api/evidence/?year_min=soon", "year_min"),
        ("/api/evidence/?reference=-3", "reference"),
        ("/api/references/?flag=dubious", "flag"),
        ("/api/search/?page=0", "page"),
        ("/api/search/?category=nope", "search"),
    ],
)
def test_bad_parameters_answer_400_naming_them(client, published_atlas, query, parameter):
    response, body = get(client, query)
    assert response.status_code == 400
    assert parameter in body and body[parameter]


def test_a_cursor_is_only_good_for_its_own_ordering(client, published_atlas):
    _, first = get(client, "/api/mechanisms/?page_size=1&ordering=name")
    cursor = first["next"].split("cursor=")[1].split("&")[0]
    response, body = get(client, f"/api/mechanisms/?page_size=1&ordering=-name&cursor={cursor}")
    assert response.status_code == 400
    assert "ordering" in body["cursor"][0]


def test_orderings_are_total_and_reversible(client, published_atlas):
    by_name = slugs(get(client, "/api/mechanisms/?ordering=name")[1])
    assert by_name == [m.slug for m in sorted(published_atlas.mechanisms, key=lambda m: m.name)]
    assert slugs(get(client, "/api/mechanisms/?ordering=-name")[1]) == by_name[::-1]
    years = [item["pub_year"] for item in get(client, "/api/references/?ordering=-year")[1]["results"]]
    assert years == sorted(years, reverse=True)


def test_paging_follows_next_and_previous_links_without_gaps(client, published_atlas):
    mechanism = published_atlas.ifng
    for n in range(23):
        make_evidence(mechanism, make_reference(pub_year=2000 + n % 5), statement=f"Claim {n}.")
    expected = list(Evidence.objects.published().order_by("reference__pub_year", "reference__pmid", "pk"))
    pages, url = [], "/api/evidence/?ordering=year&page_size=10"
    while url:
        response, body = get(client, url)
        assert response["Link"] if body["next"] or body["previous"] else True
        pages.append([item["id"] for item in body["results"]])
        url = body["next"]
    assert [i for page in pages for i in page] == [e.pk for e in expected]
    assert [len(page) for page in pages] == [10, 10, 8]
    # Back from the last page, page by page, to the first.
    _, last = get(client, "/api/evidence/?ordering=year&page_size=10")
    url = last["next"]
    _, second = get(client, url)
    _, third = get(client, second["next"])
    _, back = get(client, third["previous"])
    assert [item["id"] for item in back["results"]] == pages[1]
    _, front = get(client, back["previous"])
    assert [item["id"] for item in front["results"]] == pages[0]
    assert front["previous"] is None


def _grow(atlas, n):
    """n more published mechanisms, each with genes, a child-free place in the tree and evidence."""
    for i in range(n):
        mechanism = make_mechanism(
            status=Status.PUBLISHED, parent=atlas.antigen, genes=[make_gene()], therapies=atlas.therapies,
            cancer_types=[atlas.melanoma],
        )  # fmt: skip
        make_evidence(mechanism, make_reference(), level=EvidenceLevel.IN_VITRO, therapy=atlas.therapies[0])


@pytest.mark.parametrize(
    "url",
    ["/api/mechanisms/?page_size=1000", "/api/evidence/?page_size=1000&ordering=year",
     "/api/references/?page_size=1000&gene=B2M", "/api/genes/?page_size=1000", "/api/therapies/",
     "/api/cancer-types/", "/api/search/?q=test&page_size=1000", "/api/mechanisms/b2m-loss/"],
)  # fmt: skip
def test_queries_per_request_do_not_grow_with_the_atlas(client, published_atlas, django_assert_max_num_queries, url):
    _grow(published_atlas, 2)
    with django_assert_max_num_queries(10) as small:
        assert client.get(url).status_code == 200
    _grow(published_atlas, 30)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200


def test_a_repeat_request_gets_304_until_the_answer_changes(client, published_atlas):
    first = client.get("/api/mechanisms/")
    etag = first["ETag"]
    again = client.get("/api/mechanisms/", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    published_atlas.ifng.name = "Interferon-gamma pathway loss (renamed)"
    published_atlas.ifng.save()
    changed = client.get("/api/mechanisms/", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_responses_are_gzipped_and_carry_no_session_or_csrf_token(client, published_atlas):
    response = client.get("/api/evidence/", headers={"Accept-Encoding": "gzip"})
    assert response["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(response.content))["count"] == 5
    # A repeat with the compressed response's (weak) ETag is still a 304.
    assert (
        client.get("/api/evidence/", headers={"Accept-Encoding": "gzip", "If-None-Match": response["ETag"]}).status_code
        == 304
    )
    assert not response.cookies
    assert b"csrf" not in gzip.decompress(response.content).lower()
    assert "Cookie" not in response.get("Vary", "")


def test_past_the_rate_a_client_gets_429_with_retry_after(client, published_atlas, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    for _ in range(3):
        assert client.get("/api/genes/").status_code == 200
    response, body = get(client, "/api/genes/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert body["detail"]
    # Naming another address in X-Forwarded-For does not make a new client.
    spoofed = client.get("/api/genes/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status_code == 429


def test_search_returns_the_sites_matches_in_the_sites_order(client, published_atlas):
    for params in ({"q": "loss"}, {"gene": "B2M"}, {}):
        site = [m.slug for m in search_mechanisms(params).mechanisms]
        query = "&".join(f"{k}={v}" for k, v in params.items())
        assert slugs(get(client, f"/api/search/?{query}")[1]) == site
    _, first = get(client, "/api/search/?q=loss&page_size=1")
    assert first["count"] == 2 and len(first["results"]) == 1
    _, second = get(client, first["next"])
    assert second["results"][0]["slug"] != first["results"][0]["slug"]


def test_schema_and_docs_page_load_from_our_own_static_files(client, published_atlas):
    schema = client.get("/api/schema/", headers={"Accept": "application/json"})
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"] if schema["Content-Type"].startswith("application/json") else None
    if paths is None:
        import yaml

        paths = yaml.safe_load(schema.content)["paths"]
    assert {"/api/mechanisms/", "/api/evidence/{id}/", "/api/references/{pmid}/", "/api/search/"} <= paths.keys()
    docs = client.get(reverse("api-docs"))
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/static/js/api-docs.js" in html
    assert "<script>" not in html and "<style" not in html and "//cdn" not in html


def test_a_script_pages_through_all_evidence_at_1000_a_page_then_is_throttled(client, published_atlas, settings):
    """The issue's "done when": page through every item, follow links, 304 on a repeat, 429 past the limit."""
    references = [make_reference() for _ in range(50)]
    Evidence.objects.bulk_create(
        Evidence(mechanism=published_atlas.ifng, reference=references[i % 50], statement=f"Claim {i}.",
                 level=EvidenceLevel.IN_VITRO, model_system=ModelSystem.CELL_LINE)
        for i in range(2400)
    )  # fmt: skip
    settings.API_THROTTLE_RATE = "10/minute"
    items = walk(client, "/api/evidence/?page_size=1000")
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)) == Evidence.objects.published().count() == 2405
    first = client.get("/api/evidence/?page_size=1000")
    assert client.get("/api/evidence/?page_size=1000", headers={"If-None-Match": first["ETag"]}).status_code == 304
    statuses = [client.get("/api/evidence/?page_size=1").status_code for _ in range(6)]
    # 3 pages + 2 requests above = 5 of 10; five more pass, then the limit.
    assert statuses == [200] * 5 + [429]
