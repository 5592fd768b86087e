"""schema.org JSON-LD on mechanism and reference pages, and compact identifiers (Bioregistry prefixes)."""

import json
import re

import pytest
from django.urls import reverse
from pyld import jsonld

from curation import workflow
from tests.factories import make_evidence, make_gene, make_mechanism, make_reference

pytestmark = pytest.mark.django_db
SCHEMA = "https://schema.org/"


def schema_context_loader(url, options=None):
    """schema.org's context, offline: every term in the schema.org vocabulary (tests never use the network)."""
    assert url.rstrip("/") == SCHEMA.rstrip("/"), url
    return {"contextUrl": None, "documentUrl": url, "document": {"@context": {"@vocab": SCHEMA}}}


def jsonld_of(html: str) -> dict:
    [block] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, flags=re.S)
    return json.loads(block)


def expanded_nodes(data: dict) -> list[dict]:
    """The document as RDF-ready JSON-LD: every node flattened, with full IRIs."""
    return jsonld.flatten(data, options={"documentLoader": schema_context_loader})


def values(node: dict, term: str) -> list:
    return [v.get("@value", v.get("@id")) for v in node.get(SCHEMA + term, [])]


def by_type(nodes, schema_type):
    return [n for n in nodes if SCHEMA + schema_type in n.get("@type", [])]


@pytest.fixture
def published(alice, bob):
    mechanism = make_mechanism(name="Loss of B2M", summary="Tumours lose beta-2-microglobulin.")
    cited = [
        make_reference(pmid=92000001, doi="10.5555/jsonld.1", pmcid="PMC9200001"),
        make_reference(pmid=92000002, doi=""),
    ]
    for reference in cited:
        make_evidence(mechanism, reference=reference)
    return workflow.publish(workflow.submit(mechanism, by=alice), by=bob)


def test_a_mechanism_page_is_a_defined_term_in_the_atlas_set_citing_its_papers(client, published):
    html = client.get(reverse("mechanism-detail", args=[published.slug])).content.decode()
    nodes = expanded_nodes(jsonld_of(html))
    [term] = by_type(nodes, "DefinedTerm")
    assert values(term, "name") == ["Loss of B2M"] and "<h1>Loss of B2M</h1>" in html
    assert values(term, "description") == ["Tumours lose beta-2-microglobulin."]
    assert values(term, "version") == ["1"]
    [term_set] = values(term, "inDefinedTermSet")
    assert by_type(nodes, "DefinedTermSet")[0]["@id"] == term_set
    cited = [n for n in nodes if n["@id"] in values(term, "citation")]
    pmids = sorted(v for n in cited for i in values(n, "identifier") for v in _pubmed_ids(nodes, i))
    assert pmids == ["92000001", "92000002"]
    for pmid in pmids:
        assert f'href="https://pubmed.ncbi.nlm.nih.gov/{pmid}/"' in html


def _pubmed_ids(nodes, identifier_id):
    [node] = [n for n in nodes if n["@id"] == identifier_id]
    return values(node, "value") if values(node, "propertyID") == ["pubmed"] else []


def test_a_reference_page_is_a_scholarly_article_with_its_identifiers(client, published):
    html = client.get(reverse("reference-detail", args=[92000001])).content.decode()
    data = jsonld_of(html)
    nodes = expanded_nodes(data)
    [article] = by_type(nodes, "ScholarlyArticle")
    assert values(article, "name")[0] in html
    identifiers = {
        values(n, "propertyID")[0]: values(n, "value")[0] for n in nodes if n["@id"] in values(article, "identifier")
    }
    assert identifiers == {"pubmed": "92000001", "pmc": "PMC9200001", "doi": "10.5555/jsonld.1"}
    assert set(values(article, "sameAs")) == {
        "https://pubmed.ncbi.nlm.nih.gov/92000001/",
        "https://pmc.ncbi.nlm.nih.gov/articles/PMC9200001/",
        "https://doi.org/10.5555/jsonld.1",
    }
    authors = [n for n in nodes if n["@id"] in values(article, "author")]
    assert {values(a, "name")[0] for a in authors} == {"Ada Curie", "Ben J Okafor"}
    assert "Ada Curie" in html


def test_the_page_shows_and_links_compact_identifiers(client, published):
    html = client.get(reverse("reference-detail", args=[92000001])).content.decode()
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/92000001/"><code>pubmed:92000001</code></a>' in html
    assert '<a href="https://pmc.ncbi.nlm.nih.gov/articles/PMC9200001/"><code>pmc:PMC9200001</code></a>' in html
    assert '<a href="https://doi.org/10.5555/jsonld.1"><code>doi:10.5555/jsonld.1</code></a>' in html


def test_a_gene_page_shows_hgnc_and_ncbigene_identifiers(client, published):
    gene = make_gene("B2M", hgnc_id="HGNC:914", ncbi_gene_id=567)
    published.genes.add(gene)
    html = client.get(reverse("gene-detail", args=["B2M"])).content.decode()
    assert "<code>hgnc:914</code>" in html
    assert 'href="https://www.genenames.org/data/gene-symbol-report/#!/hgnc_id/HGNC:914"' in html
    assert '<a href="https://www.ncbi.nlm.nih.gov/gene/567"><code>ncbigene:567</code></a>' in html


def test_curator_text_cannot_end_the_json_ld_block(client, alice, bob):
    name = "B2M </script><script>alert(1)</script> & <!-- loss"
    mechanism = make_mechanism(name=name, summary="</SCRIPT><img src=x onerror=alert(2)>")
    make_evidence(mechanism)
    workflow.publish(workflow.submit(mechanism, by=alice), by=bob)
    html = client.get(reverse("mechanism-detail", args=[mechanism.slug])).content.decode()
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, flags=re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block
    assert html.count("<script") == 1
    data = jsonld_of(html)
    assert data["name"] == name and data["description"] == "</SCRIPT><img src=x onerror=alert(2)>"
