"""An evidence item's model system: what the claim was shown in, separate from its level."""

import importlib

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from curation.models import Evidence, EvidenceLevel, ModelSystem, Status
from curation.search.facets import FACETS
from tests.factories import make_evidence, make_mechanism

pytestmark = pytest.mark.django_db

migration = importlib.import_module("curation.migrations.0012_evidence_model_system")


@pytest.mark.parametrize(
    "level, statement, expected",
    [
        ("review", "Reviews antigen loss.", "not-applicable"),
        ("computational", "A model predicted response.", "computational"),
        ("case-report", "One patient relapsed.", "case-report"),
        ("clinical-cohort", "Melanomas that relapsed on PD-1 blockade had lost JAK1.", "patient-cohort"),
        ("clinical-cohort", "In a randomised phase 3 trial the combination failed.", "clinical-trial"),
        ("preclinical-in-vivo", "An in vivo CRISPR screen found Ptpn2.", "screen"),
        ("preclinical-in-vivo", "Patient-derived xenografts resisted.", "xenograft-pdx"),
        ("preclinical-in-vivo", "Genetically engineered mouse melanomas excluded T cells.", "engineered-mouse"),
        ("preclinical-in-vivo", "Mice lacking lymphocytes (knockout mice) grew tumours.", "engineered-mouse"),
        ("preclinical-in-vivo", "MC38 tumours in mice resisted anti-PD-1.", "syngeneic-mouse"),
        ("in-vitro", "Organoids of colon cancer resisted T cells.", "organoid"),
        ("in-vitro", "A genome-wide screen in co-culture.", "screen"),
        ("in-vitro", "Melanoma cell lines lost HLA.", "cell-line"),
    ],
)
def test_the_migration_gives_existing_rows_the_model_system_their_level_and_words_imply(level, statement, expected):
    assert migration.model_system_for(level, statement) == expected


def test_the_seed_states_a_model_system_for_every_row_that_matches_its_level():
    from curation.seeding import DEFAULT_SEED_PATH, _read

    for row in _read(DEFAULT_SEED_PATH)["evidence"]:
        assert row["model_system"] in ModelSystem.values
        assert (row["level"] == "review") == (row["model_system"] == "not-applicable"), row


@pytest.mark.parametrize(
    "level, model_system",
    [(EvidenceLevel.REVIEW, ModelSystem.CELL_LINE), (EvidenceLevel.IN_VITRO, ModelSystem.NOT_APPLICABLE)],
)
def test_only_a_review_has_no_model_system(level, model_system):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_evidence(level=level, model_system=model_system)


def test_an_unknown_model_system_is_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        make_evidence(model_system="zebrafish")


def test_model_system_is_a_search_facet():
    assert "model_system" in [facet.param for facet in FACETS]


@pytest.fixture
def two_systems():
    mechanism = make_mechanism("Interferon loss", status=Status.PUBLISHED)
    mouse = make_evidence(
        mechanism, statement="Mouse tumours lacking Jak1 resist.", level=EvidenceLevel.PRECLINICAL_IN_VIVO
    )
    cells = make_evidence(mechanism, statement="Cells lacking JAK1 ignore IFN-gamma.")
    return mouse, cells


def test_the_evidence_table_shows_and_filters_by_model_system(client, two_systems):
    mouse, cells = two_systems
    response = client.get(reverse("evidence-list"), {"model_system": "syngeneic-mouse"})
    html = response.content.decode()
    assert response.status_code == 200
    assert mouse.statement in html and cells.statement not in html
    assert 'sort=model_system">Model system</a></th>' in html
    assert "Syngeneic mouse" in html


def test_the_evidence_table_sorts_by_model_system(client, two_systems):
    rows = client.get(reverse("evidence-list"), {"sort": "model_system"}).context["table"].paged.rows
    assert [row.model_system for row in rows] == ["cell-line", "syngeneic-mouse"]


def test_an_unknown_model_system_in_the_address_is_a_message_not_an_error(client, two_systems):
    response = client.get(reverse("evidence-list"), {"model_system": "<zebrafish>" * 50})
    assert response.status_code == 200
    assert "is not a value of “Model system”" in response.content.decode()


def test_the_api_serves_and_filters_by_model_system(client, two_systems):
    mouse, _ = two_systems
    items = client.get("/api/evidence/", {"model_system": "syngeneic-mouse"}).json()["results"]
    assert [(item["id"], item["model_system"]) for item in items] == [(mouse.pk, "syngeneic-mouse")]
    assert client.get("/api/evidence/", {"model_system": "zebrafish"}).status_code == 400


def test_a_curator_sees_the_model_system_in_the_evidence_admin(curator_client, two_systems):
    html = curator_client.get(reverse("admin:curation_evidence_changelist"), {"model_system": "cell-line"})
    assert html.status_code == 200
    assert Evidence.objects.filter(model_system="cell-line").count() == 1
    assert "Cells lacking JAK1" in html.content.decode()


def test_the_history_records_a_change_of_model_system():
    item = make_evidence(level=EvidenceLevel.PRECLINICAL_IN_VIVO, model_system=ModelSystem.SYNGENEIC_MOUSE)
    item.model_system = ModelSystem.XENOGRAFT
    item.save()
    assert [record.model_system for record in item.history.order_by("history_date")] == [
        "syngeneic-mouse",
        "xenograft-pdx",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_existing_rows_and_their_history():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("curation", "0011_worker_heartbeat")], [("curation", "0012_evidence_model_system")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        mechanism = old.get_model("curation", "Mechanism").objects.create(
            slug="m", name="M", category="tumor-intrinsic", summary="s"
        )
        reference = old.get_model("curation", "Reference").objects.create(pmid=1)
        rows = [
            ("clinical-cohort", "In a randomised phase 3 trial, nothing changed."),
            ("preclinical-in-vivo", "Patient-derived xenografts resisted."),
            ("review", "Reviews it."),
        ]
        for level, statement in rows:
            item = old.get_model("curation", "Evidence").objects.create(
                mechanism=mechanism, reference=reference, level=level, statement=statement
            )
            old.get_model("curation", "HistoricalEvidence").objects.create(
                id=item.pk, mechanism=mechanism, reference=reference, level=level, statement=statement,
                version=1, direction="supports", history_date="2020-01-01T00:00Z", history_type="+",
                created_at="2020-01-01T00:00Z", updated_at="2020-01-01T00:00Z",
            )  # fmt: skip
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps
        expected = ["clinical-trial", "xenograft-pdx", "not-applicable"]
        for name in ("Evidence", "HistoricalEvidence"):
            found = new.get_model("curation", name).objects.order_by("statement").values_list("model_system", flat=True)
            assert sorted(found) == sorted(expected), name
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
