"""The curator admin for content: mechanisms with evidence, the taxonomy, and read-only references."""

import pytest
from django.urls import reverse

from curation.models import Category, Evidence, Mechanism, MetadataState, Status
from tests.factories import (
    make_cancer_type,
    make_evidence,
    make_gene,
    make_mechanism,
    make_reference,
    make_therapy,
)

pytestmark = pytest.mark.django_db

ADD_REFERENCES = "admin:curation_reference_import"


MODELS = ["mechanism", "evidence", "gene", "therapy", "cancertype", "reference"]


def mechanism_form(**overrides):
    """The POST body of the mechanism form with an empty evidence inline."""
    data = {
        "name": "Loss of B2M",
        "slug": "b2m-loss",
        "category": Category.TUMOR_INTRINSIC,
        "parent": "",
        "summary": "Without B2M the tumour shows no MHC class I, so CD8 T cells cannot see it.",
        "strategies": "Therapies that do not need MHC class I, such as NK-cell engagers.",
        "evidence-TOTAL_FORMS": "0",
        "evidence-INITIAL_FORMS": "0",
        "evidence-MIN_NUM_FORMS": "0",
        "evidence-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def evidence_rows(*rows):
    data = {"evidence-TOTAL_FORMS": str(len(rows))}
    for i, row in enumerate(rows):
        data.update({f"evidence-{i}-{field}": value for field, value in row.items()})
    return data


@pytest.mark.parametrize("model", MODELS)
def test_a_curator_can_open_every_content_list(curator_client, model):
    make_evidence()
    response = curator_client.get(reverse(f"admin:curation_{model}_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("model", ["mechanism", "evidence", "gene", "therapy", "cancertype"])
def test_a_curator_can_open_every_add_form(curator_client, model):
    response = curator_client.get(reverse(f"admin:curation_{model}_add"))
    assert response.status_code == 200


def test_the_mechanism_form_states_the_curation_rules(curator_client):
    html = curator_client.get(reverse("admin:curation_mechanism_add")).content.decode()
    for rule in (
        "Do not paste abstracts",  # summary
        "at most 3 levels deep",  # parent
        "Tumour-intrinsic: a property of the cancer cells",  # category
        "Never change it once published",  # slug
        "Do not quote the abstract",  # evidence statement
        "Add it by PMID",  # evidence reference
    ):
        assert rule in html, rule


def test_a_curator_can_open_every_change_form(curator_client):
    gene, therapy, cancer_type = make_gene("B2M"), make_therapy(), make_cancer_type()
    mechanism = make_mechanism(genes=[gene], therapies=[therapy], cancer_types=[cancer_type])
    evidence = make_evidence(mechanism, therapy=therapy, cancer_type=cancer_type)
    for obj in (mechanism, evidence, gene, therapy, cancer_type, evidence.reference):
        url = reverse(f"admin:curation_{obj._meta.model_name}_change", args=[obj.pk])
        assert curator_client.get(url).status_code == 200, url


def test_a_curator_saves_a_mechanism_with_its_evidence_in_one_form(curator_client, alice):
    gene, therapy, cancer_type = make_gene("B2M"), make_therapy("Pembrolizumab"), make_cancer_type("Melanoma")
    reference = make_reference(pmid=27433843)
    data = mechanism_form(genes=[gene.pk], therapies=[therapy.pk], cancer_types=[cancer_type.pk])
    data["acquired_resistance"] = "on"
    data.update(
        evidence_rows(
            {
                "reference": reference.pk,
                "statement": "Relapsing melanomas had lost B2M.",
                "direction": "supports",
                "level": "clinical-cohort",
                "model_system": "patient-cohort",
                "therapy": therapy.pk,
                "cancer_type": cancer_type.pk,
                "phenotype": "acquired",
                "locator": "Fig. 2",
            }
        )
    )

    response = curator_client.post(reverse("admin:curation_mechanism_add"), data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    mechanism = Mechanism.objects.get(slug="b2m-loss")
    assert mechanism.status == Status.DRAFT
    assert (mechanism.created_by, mechanism.updated_by) == (alice, alice)
    assert list(mechanism.genes.all()) == [gene]
    assert mechanism.acquired_resistance
    evidence = mechanism.evidence.get()
    assert (evidence.reference, evidence.therapy, evidence.cancer_type) == (reference, therapy, cancer_type)
    assert evidence.created_by == alice


def test_the_same_claim_twice_in_one_form_is_refused_with_a_message(curator_client):
    reference = make_reference(pmid=27433843)
    claim = {
        "reference": reference.pk,
        "direction": "supports",
        "level": "clinical-cohort",
        "model_system": "patient-cohort",
    }
    data = mechanism_form()
    data.update(
        evidence_rows(
            {**claim, "statement": "Relapsing melanomas had lost B2M."},
            {**claim, "statement": "relapsing melanomas had lost b2m."},
        )
    )

    response = curator_client.post(reverse("admin:curation_mechanism_add"), data)

    assert response.status_code == 200
    assert "Two rows cite PMID 27433843 for the same claim" in response.content.decode()
    assert not Mechanism.objects.exists()
    assert not Evidence.objects.exists()


def test_a_curator_cannot_publish_through_the_form(curator_client):
    response = curator_client.post(
        reverse("admin:curation_mechanism_add"), mechanism_form(status=Status.PUBLISHED, published_at="2020-01-01")
    )

    assert response.status_code == 302
    mechanism = Mechanism.objects.get(slug="b2m-loss")
    assert (mechanism.status, mechanism.published_at) == (Status.DRAFT, None)


def test_a_published_slug_cannot_be_changed_in_the_form(curator_client):
    mechanism = make_mechanism("Loss of B2M", slug="b2m-loss", status=Status.PUBLISHED)
    url = reverse("admin:curation_mechanism_change", args=[mechanism.pk])

    curator_client.post(url, mechanism_form(slug="renamed"))

    mechanism.refresh_from_db()
    assert mechanism.slug == "b2m-loss"


def test_the_tree_rules_are_explained_in_the_form(curator_client):
    parent = make_mechanism("Immunosuppressive stroma", category=Category.TUMOR_EXTRINSIC)

    response = curator_client.post(reverse("admin:curation_mechanism_add"), mechanism_form(parent=parent.pk))

    assert response.status_code == 200
    assert "A child shares its parent" in response.content.decode()
    assert not Mechanism.objects.filter(slug="b2m-loss").exists()


def test_a_curator_adds_evidence_from_the_evidence_list(curator_client, alice):
    mechanism, reference = make_mechanism(), make_reference()
    data = {
        "mechanism": mechanism.pk,
        "reference": reference.pk,
        "statement": "Knock-out mice resist PD-1 blockade.",
        "direction": "supports",
        "level": "preclinical-in-vivo",
        "model_system": "syngeneic-mouse",
    }

    response = curator_client.post(reverse("admin:curation_evidence_add"), data)

    assert response.status_code == 302
    assert mechanism.evidence.get().created_by == alice


def test_the_evidence_form_refuses_a_duplicate_claim(curator_client):
    evidence = make_evidence(statement="Knock-out mice resist PD-1 blockade.")
    data = {
        "mechanism": evidence.mechanism.pk,
        "reference": evidence.reference.pk,
        "statement": "KNOCK-OUT mice resist PD-1 blockade.",
        "direction": "supports",
        "level": "preclinical-in-vivo",
        "model_system": "syngeneic-mouse",
    }

    response = curator_client.post(reverse("admin:curation_evidence_add"), data)

    assert response.status_code == 200
    assert "already cites this reference for the same claim" in response.content.decode()
    assert Evidence.objects.count() == 1


@pytest.mark.parametrize(
    "model, field, term, expected",
    [
        ("mechanism", "genes", "b2", "B2M"),
        ("mechanism", "therapies", "pembro", "Pembrolizumab"),
        ("mechanism", "cancer_types", "melan", "Melanoma"),
        ("mechanism", "parent", "antigen", "Antigen presentation defects"),
        ("evidence", "reference", "27433843", "PMID 27433843"),
        ("evidence", "therapy", "pembro", "Pembrolizumab"),
        ("evidence", "cancer_type", "melan", "Melanoma"),
        ("evidence", "mechanism", "antigen", "Antigen presentation defects"),
    ],
)
def test_autocomplete_finds_what_a_curator_types(curator_client, model, field, term, expected):
    make_gene("B2M"), make_therapy("Pembrolizumab"), make_cancer_type("Melanoma"), make_reference(pmid=27433843)
    make_mechanism("Antigen presentation defects")

    response = curator_client.get(
        reverse("admin:autocomplete"), {"app_label": "curation", "model_name": model, "field_name": field, "term": term}
    )

    assert response.status_code == 200
    assert [result["text"] for result in response.json()["results"]] == [expected]


def test_autocomplete_never_offers_a_pending_revision(curator_client):
    published = make_mechanism("Antigen presentation defects", status=Status.PUBLISHED)
    make_mechanism("Antigen presentation defects", status=Status.IN_REVIEW, revision_of=published)

    response = curator_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "curation", "model_name": "mechanism", "field_name": "parent", "term": "antigen"},
    )

    assert [result["id"] for result in response.json()["results"]] == [str(published.pk)]


def test_reference_search_finds_by_pmid_doi_and_title_and_survives_words(curator_client):
    reference = make_reference(pmid=27433843, doi="10.1056/NEJMoa1604958", title="Mutations in PD-1 resistance")
    make_reference()
    url = reverse("admin:curation_reference_changelist")
    for term in ("27433843", "NEJMoa1604958", "PD-1 resistance"):
        response = curator_client.get(url, {"q": term})
        assert list(response.context["cl"].result_list) == [reference], term
    assert list(curator_client.get(url, {"q": "no such words"}).context["cl"].result_list) == []


def test_the_reference_page_shows_pubmed_metadata_read_only_and_safe(curator_client):
    reference = make_reference(
        title="Loss of <i>B2M</i><script>alert(1)</script>",
        authors=[
            {"last_name": "Zaretsky<b>", "initials": "JM", "fore_name": "", "collective_name": "", "orcid": ""},
            {"last_name": "", "initials": "", "fore_name": "", "collective_name": "TRACERx Consortium", "orcid": ""},
        ],
        abstract=[{"label": "BACKGROUND", "category": "BACKGROUND", "text": "Tumours <sup>escape</sup>."}],
        is_retracted=True,
        corrections=[{"type": "RetractionIn", "pmid": 31000001, "source": "Cell. 2020"}],
        raw_xml="<PubmedArticle><MedlineCitation/></PubmedArticle>",
    )

    response = curator_client.get(reverse("admin:curation_reference_change", args=[reference.pk]))

    html = response.content.decode()
    assert "Loss of <i>B2M</i>" in html
    assert "<script>alert(1)</script>" not in html
    assert "Zaretsky&lt;b&gt; JM" in html
    assert "TRACERx Consortium" in html
    assert "<strong>BACKGROUND:</strong> Tumours <sup>escape</sup>." in html
    assert "Retracted" in html and "RetractionIn: PMID 31000001" in html
    assert "&lt;PubmedArticle&gt;" in html
    assert 'name="title"' not in html and 'name="pmid"' not in html
    assert 'name="_save"' not in html  # nothing to save: every field is read-only


def test_saving_the_reference_form_cannot_change_its_metadata(curator_client):
    reference = make_reference(pmid=27433843, title="The real title")

    curator_client.post(
        reverse("admin:curation_reference_change", args=[reference.pk]),
        {"title": "A typed title", "pmid": "1", "metadata_state": MetadataState.VERIFIED},
    )

    reference.refresh_from_db()
    assert (reference.pmid, reference.title) == (27433843, "The real title")


ADMIN_URLS = [
    *(f"admin:curation_{model}_changelist" for model in MODELS),
    *(f"admin:curation_{model}_add" for model in MODELS),
    ADD_REFERENCES,
]


@pytest.mark.parametrize("url_name", ADMIN_URLS)
def test_anonymous_users_are_sent_to_sign_in(client, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
