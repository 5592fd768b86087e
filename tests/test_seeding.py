"""`seed_atlas`: the first content, loaded once and then left to the curators."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from curation.citations.names import first_author_nlm
from curation.models import CancerType, Evidence, Gene, Mechanism, MetadataState, Reference, Status, Therapy
from curation.seeding import DEFAULT_SEED_PATH, SeedError, seed_atlas

pytestmark = pytest.mark.django_db

SEED = json.loads(DEFAULT_SEED_PATH.read_text(encoding="utf-8"))
MODELS = [Gene, Therapy, CancerType, Mechanism, Reference, Evidence]


def database_counts():
    return {model.__name__: model.objects.count() for model in MODELS}


def history_counts():
    return {model.__name__: model.history.count() for model in MODELS}


def small_seed(tmp_path, **changes):
    """A seed file of two mechanisms (a parent after its child, on purpose) and one paper."""
    data = {
        "genes": [{"symbol": "B2M", "name": "beta-2-microglobulin"}],
        "therapies": [{"slug": "anti-pd-1", "name": "Anti-PD-1 antibody", "therapy_class": "anti-PD-1"}],
        "cancer_types": [{"slug": "melanoma", "name": "Melanoma"}],
        "mechanisms": [
            {
                "slug": "b2m-loss",
                "name": "Loss of B2M",
                "category": "tumor-intrinsic",
                "parent": "antigen-presentation-defects",
                "genes": ["B2M"],
                "therapies": ["anti-pd-1"],
                "phenotypes": ["acquired"],
                "summary": "Without B2M no MHC class I reaches the surface.",
                "strategies": "Engage NK cells.",
            },
            {
                "slug": "antigen-presentation-defects",
                "name": "Antigen presentation defects",
                "category": "tumor-intrinsic",
                "parent": None,
                "genes": [],
                "therapies": [],
                "phenotypes": ["primary", "acquired"],
                "summary": "The tumour hides its antigens.",
                "strategies": "",
            },
        ],
        "references": [
            {
                "pmid": 27433843,
                "doi": "10.1056/NEJMoa1604958",
                "first_author": "Zaretsky JM",
                "year": 2016,
                "journal": "N Engl J Med",
                "title": "Mutations Associated with Acquired Resistance to PD-1 Blockade in Melanoma",
            }
        ],
        "evidence": [
            {
                "mechanism": "b2m-loss",
                "pmid": 27433843,
                "statement": "A relapsing melanoma had lost B2M.",
                "direction": "supports",
                "level": "clinical-cohort",
                "model_system": "patient-cohort",
                "therapy": "anti-pd-1",
                "cancer_type": "melanoma",
                "phenotype": "acquired",
                "locator": "Fig. 2",
            }
        ],
    }
    data.update(changes)
    path = tmp_path / "atlas.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --- the project's seed file ------------------------------------------------------


def test_seeding_twice_creates_and_changes_nothing_the_second_time():
    first = seed_atlas()
    counts, histories = database_counts(), history_counts()

    second = seed_atlas()

    assert first.created == {kind: len(SEED[kind]) for kind in first.created}
    assert second.created == dict.fromkeys(second.created, 0)
    assert second.present == first.created
    assert database_counts() == counts
    assert history_counts() == histories


def test_every_seeded_mechanism_is_published_in_its_place_in_the_tree():
    seed_atlas()
    assert Mechanism.objects.published().count() == Mechanism.objects.count() == len(SEED["mechanisms"])
    for row in SEED["mechanisms"]:
        mechanism = Mechanism.objects.get(slug=row["slug"])
        assert mechanism.status == Status.PUBLISHED and mechanism.published_at is not None
        assert (mechanism.parent.slug if mechanism.parent else None) == row["parent"]
        assert sorted(g.symbol for g in mechanism.genes.all()) == sorted(row["genes"])
        assert sorted(t.slug for t in mechanism.therapies.all()) == sorted(row["therapies"])
        assert sorted(mechanism.phenotypes) == sorted(row["phenotypes"])


def test_seeded_references_keep_their_facts_and_await_pubmed():
    seed_atlas()
    review = Reference.objects.get(pmid=29968044)
    assert review.title == "Acquired resistance to cancer immunotherapy"
    assert review.authors == [
        {"last_name": "Draghi", "initials": "A", "fore_name": "", "collective_name": "", "orcid": ""}
    ]
    assert first_author_nlm(review.authors) == "Draghi A"
    assert (review.pub_year, review.journal_iso, review.doi) == (
        2019,
        "Semin Immunopathol",
        "10.1007/s00281-018-0692-y",
    )
    assert set(Reference.objects.values_list("metadata_state", flat=True)) == {MetadataState.PENDING}
    assert not Reference.objects.filter(fetched_at__isnull=False).exists()
    for row in SEED["references"]:  # multi-word surnames ("Van Allen EM") stay whole
        assert first_author_nlm(Reference.objects.get(pmid=row["pmid"]).authors) == row["first_author"]


def test_every_seeded_claim_links_its_mechanism_and_reference():
    seed_atlas()
    linked = set(Evidence.objects.values_list("mechanism__slug", "reference__pmid", "statement"))
    assert linked == {(row["mechanism"], row["pmid"], row["statement"]) for row in SEED["evidence"]}


# --- curators own what exists -------------------------------------------------------


def test_a_curators_edits_survive_a_second_seeding(tmp_path):
    path = small_seed(tmp_path)
    seed_atlas(path)
    Mechanism.objects.filter(slug="b2m-loss").update(summary="Rewritten by a curator.", status=Status.RETIRED)
    Evidence.objects.update(statement="Reworded by a curator.")
    Reference.objects.filter(pmid=27433843).update(title="Corrected title", metadata_state=MetadataState.VERIFIED)
    Gene.objects.filter(symbol="B2M").update(name="beta-2 microglobulin (edited)")

    report = seed_atlas(path)

    assert sum(report.created.values()) == 0
    mechanism = Mechanism.objects.get(slug="b2m-loss")
    assert (mechanism.summary, mechanism.status) == ("Rewritten by a curator.", Status.RETIRED)
    assert list(Evidence.objects.values_list("statement", flat=True)) == ["Reworded by a curator."]
    reference = Reference.objects.get(pmid=27433843)
    assert (reference.title, reference.metadata_state) == ("Corrected title", MetadataState.VERIFIED)
    assert Gene.objects.get(symbol="B2M").name == "beta-2 microglobulin (edited)"


def test_rows_added_to_the_seed_later_are_created_beside_curated_ones(tmp_path):
    seed_atlas(small_seed(tmp_path))
    Mechanism.objects.filter(slug="b2m-loss").update(summary="Rewritten by a curator.")
    bigger = json.loads((tmp_path / "atlas.json").read_text())
    bigger["genes"].append({"symbol": "JAK1", "name": "Janus kinase 1"})

    report = seed_atlas(small_seed(tmp_path, genes=bigger["genes"]))

    assert report.created["genes"] == 1 and report.present["genes"] == 1
    assert Mechanism.objects.get(slug="b2m-loss").summary == "Rewritten by a curator."


def test_a_child_listed_before_its_parent_is_loaded_below_it(tmp_path):
    seed_atlas(small_seed(tmp_path))
    assert Mechanism.objects.get(slug="b2m-loss").parent.slug == "antigen-presentation-defects"


# --- a broken seed file loads nothing -------------------------------------------------


def test_an_unknown_gene_loads_nothing_and_names_it(tmp_path):
    path = small_seed(tmp_path, genes=[])
    with pytest.raises(SeedError, match="the gene “B2M”"):
        seed_atlas(path)
    assert database_counts() == dict.fromkeys(database_counts(), 0)


def test_a_broken_tree_rule_loads_nothing(tmp_path):
    data = json.loads(small_seed(tmp_path).read_text())
    data["mechanisms"][0]["category"] = "tumor-extrinsic"
    with pytest.raises(SeedError, match="shares its parent's category"):
        seed_atlas(small_seed(tmp_path, mechanisms=data["mechanisms"]))
    assert not Mechanism.objects.exists()


def test_the_command_reports_counts_and_refuses_a_broken_file(tmp_path):
    out = StringIO()
    call_command("seed_atlas", path=str(small_seed(tmp_path)), stdout=out)
    assert "mechanisms: 2 created, 0 already present" in out.getvalue()

    out = StringIO()
    call_command("seed_atlas", path=str(small_seed(tmp_path)), stdout=out)
    assert "mechanisms: 0 created, 2 already present" in out.getvalue()

    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(CommandError, match="Nothing was loaded"):
        call_command("seed_atlas", path=str(tmp_path / "broken.json"))
