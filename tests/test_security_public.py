"""Security of the public pages: an anonymous reader learns nothing about unpublished work.

The public pages themselves are tested in test_public_pages.py; here are the
side channels (redirects, filter messages, error pages, download headers)
through which a reader could tell that unpublished work exists.
"""

import pytest
from django.urls import reverse

from curation.models import Status
from tests.factories import make_evidence, make_gene, make_mechanism, make_reference, make_therapy

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret_work():
    """A published mechanism, and a draft whose gene, therapy and paper nothing published uses."""
    public_gene = make_gene("B2M")
    public = make_mechanism("Loss of B2M", slug="b2m-loss", status=Status.PUBLISHED, genes=[public_gene])
    make_evidence(public, make_reference(pmid=27433843), statement="A reviewed claim.")
    secret_gene = make_gene("SECRET1")
    secret_therapy = make_therapy("Secretumab", slug="secretumab")
    draft = make_mechanism(
        "Unannounced escape route",
        slug="unannounced",
        summary="Unreviewed summary.",
        genes=[secret_gene],
        therapies=[secret_therapy],
        parent=public,
    )
    make_evidence(draft, make_reference(pmid=31111111), statement="An unreviewed claim.")
    return {"public": public, "draft": draft}


def test_gene_of_unpublished_work_is_not_revealed_by_a_lower_case_address(client, secret_work):
    # The canonical address answers 404; any other spelling must answer the same, not redirect to it.
    assert client.get(reverse("gene-detail", args=["SECRET1"])).status_code == 404
    response = client.get(reverse("gene-detail", args=["secret1"]))
    assert response.status_code == 404
    assert client.get(reverse("gene-detail", args=["b2m"]))["Location"] == "/genes/B2M/"


def test_gene_filter_answers_alike_for_unknown_genes_and_genes_of_unpublished_work(client, secret_work):
    unknown = client.get(reverse("mechanism-list"), {"gene": "NOSUCH1"})
    secret = client.get(reverse("mechanism-list"), {"gene": "SECRET1"})
    assert unknown.context["errors"] == ["No gene with the symbol “NOSUCH1” is in the atlas."]
    assert secret.context["errors"] == ["No gene with the symbol “SECRET1” is in the atlas."]
    public = client.get(reverse("mechanism-list"), {"gene": "b2m"})
    assert [m.name for m in public.context["mechanisms"]] == ["Loss of B2M"]


def test_therapy_filter_answers_alike_for_unknown_therapies_and_therapies_of_unpublished_work(client, secret_work):
    unknown = client.get(reverse("mechanism-list"), {"therapy": "nosuchumab"})
    secret = client.get(reverse("mechanism-list"), {"therapy": "secretumab"})
    assert unknown.context["errors"] == ["No published mechanism is linked to the therapy “nosuchumab”."]
    assert secret.context["errors"] == ["No published mechanism is linked to the therapy “secretumab”."]


def test_not_found_page_of_a_draft_names_nothing_of_it(client, secret_work):
    draft_page = client.get(reverse("mechanism-detail", args=["unannounced"]))
    missing_page = client.get(reverse("mechanism-detail", args=["never-existed"]))
    assert draft_page.status_code == missing_page.status_code == 404
    assert draft_page.content == missing_page.content
    assert b"Unannounced" not in draft_page.content


def test_public_pages_never_mention_the_draft_below_a_published_mechanism(client, secret_work):
    for url in (
        reverse("home"),
        reverse("mechanism-list"),
        reverse("mechanism-list") + "?q=unannounced",
        reverse("mechanism-detail", args=["b2m-loss"]),
        reverse("reference-detail", args=[27433843]),
        reverse("gene-detail", args=["B2M"]),
    ):
        html = client.get(url).content.decode()
        for secret in ("Unannounced", "Unreviewed", "unreviewed claim", "SECRET1", "Secretumab", "31111111"):
            assert secret not in html, (url, secret)


@pytest.mark.parametrize("fmt", ["ris", "bibtex", "csl-json"])
def test_citation_export_of_a_paper_only_a_draft_cites_is_not_found(client, secret_work, fmt):
    assert client.get(reverse("reference-export", args=[31111111, fmt])).status_code == 404
    assert client.get(reverse("reference-export", args=[39999999, fmt])).status_code == 404


def test_retired_page_does_not_name_an_unpublished_parent(client):
    parent = make_mechanism("Draft umbrella", slug="draft-umbrella")
    make_mechanism("Old idea", slug="old-idea", status=Status.RETIRED, parent=parent)
    response = client.get(reverse("mechanism-detail", args=["old-idea"]))
    assert response.status_code == 410
    assert b"Draft umbrella" not in response.content


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("ris", "application/x-research-info-systems"),
        ("bibtex", "application/x-bibtex"),
        ("csl-json", "application/vnd.citationstyles.csl+json"),
    ],
)
def test_citation_downloads_are_attachments_the_browser_will_not_sniff(client, secret_work, fmt, content_type):
    response = client.get(reverse("reference-export", args=[27433843, fmt]))
    assert response["Content-Type"] == f"{content_type}; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="pmid-27433843.')
    assert response["X-Content-Type-Options"] == "nosniff"


def test_hostile_metadata_cannot_break_out_of_a_citation_download(client, secret_work):
    reference = make_reference(
        pmid=27433843 + 1,
        title="Title\r\nER  - \r\nTY  - JOUR\r\nTI  - Injected",
        journal_title="J}\n@misc{evil, title={x}",
        authors=[{"last_name": "Doe\nAU  - Injected", "fore_name": "J", "initials": "J"}],
    )
    make_evidence(secret_work["public"], reference)
    ris = client.get(reverse("reference-export", args=[reference.pmid, "ris"])).content.decode()
    assert [line[:6] for line in ris.splitlines() if line.startswith(("TY", "ER"))] == ["TY  - ", "ER  - "]
    assert "\r" not in ris and "\nTI  - Injected" not in ris and "\nAU  - Injected" not in ris
    bibtex = client.get(reverse("reference-export", args=[reference.pmid, "bibtex"])).content.decode()
    assert bibtex.count("@") == 1


@pytest.mark.parametrize("url", ["/", "/mechanisms/b2m-loss/", "/references/27433843/cite.ris", "/admin/login/"])
def test_pages_refuse_to_be_framed(client, secret_work, url):
    assert client.get(url)["X-Frame-Options"] == "DENY"
