"""Published versions of a mechanism: the public list, permalinks that keep old text, citing a version.

Personas: alice and carol curate, bob reviews; the plain `client` is an anonymous reader.
"""

import json

import pytest
import rispy
from django.urls import reverse

from curation import workflow
from tests.factories import make_evidence, make_gene, make_mechanism, make_reference, save_versioned

pytestmark = pytest.mark.django_db


@pytest.fixture
def twice_published(alice, carol, bob):
    """B2M loss published, then revised (summary, a gene, one claim reworded, one added) and published again."""
    first_gene, second_gene = make_gene("B2M"), make_gene("HLA-A")
    mechanism = make_mechanism(name="Loss of B2M", summary="First reviewed text.", genes=[first_gene])
    make_evidence(mechanism, reference=make_reference(pmid=91000001), statement="The first wording of the claim.")
    workflow.publish(workflow.submit(mechanism, by=alice), by=bob)

    revision = workflow.start_revision(mechanism, by=carol)
    revision.summary = "Second reviewed text."
    save_versioned(revision)
    revision.genes.add(second_gene)
    revision.evidence.update(statement="The second wording of the claim.")
    make_evidence(revision, reference=make_reference(pmid=91000002), statement="A claim added in version two.")
    workflow.submit(revision, by=carol)
    workflow.publish(revision, by=bob)
    mechanism.refresh_from_db()
    return mechanism


def page(client, name, *args):
    response = client.get(reverse(name, args=args))
    return response.status_code, response.content.decode()


def test_the_versions_page_lists_each_publication_with_its_permalink(client, twice_published):
    status, html = page(client, "mechanism-versions", twice_published.slug)
    assert status == 200
    assert "2 published versions" in html
    assert f'href="/mechanisms/{twice_published.slug}/versions/1/"' in html
    assert f'href="/mechanisms/{twice_published.slug}/versions/2/"' in html
    assert "2 (current)" in html


def test_an_old_permalink_shows_the_text_genes_and_evidence_as_published_then(client, twice_published):
    status, html = page(client, "mechanism-version", twice_published.slug, 1)
    assert status == 200
    assert "First reviewed text." in html and "Second reviewed text." not in html
    assert "The first wording of the claim." in html and "The second wording" not in html
    assert "A claim added in version two." not in html
    assert ">B2M</a>" in html and ">HLA-A</a>" not in html
    assert "This is version 1 of this entry" in html and "read the current version (2)" in html


def test_the_latest_permalink_shows_what_the_mechanism_page_shows(client, twice_published):
    _, html = page(client, "mechanism-version", twice_published.slug, 2)
    _, live = page(client, "mechanism-detail", twice_published.slug)
    for text in ("Second reviewed text.", "The second wording of the claim.", "A claim added in version two."):
        assert text in html and text in live
    assert "the current version" in html


def test_the_mechanism_page_cites_its_current_version_by_permalink(client, twice_published):
    _, html = page(client, "mechanism-detail", twice_published.slug)
    assert "Cite this entry" in html
    assert "Version 2, published" in html
    assert f"http://testserver/mechanisms/{twice_published.slug}/versions/2/" in html


def test_a_draft_revision_never_shows_on_the_version_pages(client, twice_published, carol):
    revision = workflow.start_revision(twice_published, by=carol)
    revision.summary = "Unreviewed draft text."
    save_versioned(revision)
    workflow.submit(revision, by=carol)
    for args in ((twice_published.slug,), (twice_published.slug, 1), (twice_published.slug, 2)):
        name = "mechanism-versions" if len(args) == 1 else "mechanism-version"
        status, html = page(client, name, *args)
        assert status == 200 and "Unreviewed draft text." not in html
    assert page(client, "mechanism-version", twice_published.slug, 3)[0] == 404


def test_versions_of_unpublished_or_retired_mechanisms_are_not_served(client, twice_published, bob):
    draft = make_mechanism(name="Draft only")
    assert page(client, "mechanism-versions", draft.slug)[0] == 404
    assert page(client, "mechanism-version", draft.slug, 1)[0] == 404
    workflow.retire(twice_published, by=bob)
    assert page(client, "mechanism-versions", twice_published.slug)[0] == 410
    assert page(client, "mechanism-version", twice_published.slug, 1)[0] == 410


def test_a_versions_own_citation_downloads_with_its_number_date_and_permalink(client, twice_published):
    permalink = f"http://testserver/mechanisms/{twice_published.slug}/versions/1/"
    status, text = page(client, "mechanism-version-entry", twice_published.slug, 1, "csl-json")
    [item] = json.loads(text)
    assert status == 200
    assert (item["type"], item["title"], item["version"], item["URL"]) == (
        "entry-encyclopedia",
        "Loss of B2M",
        "1",
        permalink,
    )
    [entry] = rispy.loads(page(client, "mechanism-version-entry", twice_published.slug, 1, "ris")[1])
    assert entry["type_of_reference"] == "ENCYC" and entry["urls"] == [permalink] and entry["edition"] == "1"
    _, vancouver = page(client, "mechanism-version-entry", twice_published.slug, 1, "vancouver.txt")
    assert "Loss of B2M" in vancouver and "Resistance Atlas" in vancouver and permalink in vancouver


def test_a_versions_references_are_the_papers_it_cited(client, twice_published):
    old = rispy.loads(page(client, "mechanism-version-references", twice_published.slug, 1, "ris")[1])
    new = rispy.loads(page(client, "mechanism-version-references", twice_published.slug, 2, "ris")[1])
    assert [e["accession_number"] for e in old] == ["91000001"]
    assert sorted(e["accession_number"] for e in new) == ["91000001", "91000002"]
