"""The consensus of a mechanism's evidence, on cases counted by hand (docs/consensus.md)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from curation import consensus, workflow
from curation.consensus import contestedness
from curation.models import Direction, EvidenceLevel, ModelSystem, Status
from curation.seeding import SeedError, seed_atlas
from tests.factories import make_evidence, make_mechanism, make_reference

pytestmark = pytest.mark.django_db
S, R = Direction.SUPPORTS, Direction.REFUTES


def published(name="Interferon loss", **fields):
    return make_mechanism(name, status=Status.PUBLISHED, **fields)


def claim(mechanism, *, direction=S, level=EvidenceLevel.CLINICAL_COHORT, system=None, reference=None, year=2020):
    return make_evidence(
        mechanism,
        reference or make_reference(pub_year=year),
        direction=direction,
        level=level,
        **({"model_system": system} if system else {}),
    )


@pytest.mark.parametrize(
    "supports, refutes, expected",
    [(0, 0, None), (3, 0, 0.0), (0, 2, 0.0), (1, 1, 1.0), (3, 1, 0.5), (5, 2, 4 / 7), (2, 6, 0.5)],
)
def test_contestedness_is_twice_the_minority_share(supports, refutes, expected):
    # By hand: 3 for and 1 against is 2 × 1 / 4 = 0.5; 5 and 2 is 2 × 2 / 7 = 4/7.
    assert contestedness(supports, refutes) == expected


def test_the_example_from_the_issue_reads_as_the_issue_wrote_it():
    mechanism = published()
    for _ in range(3):
        claim(mechanism, system=ModelSystem.PATIENT_COHORT)
    claim(mechanism, level=EvidenceLevel.PRECLINICAL_IN_VIVO, system=ModelSystem.SYNGENEIC_MOUSE)
    claim(mechanism, level=EvidenceLevel.PRECLINICAL_IN_VIVO, system=ModelSystem.XENOGRAFT)
    claim(mechanism, direction=R, level=EvidenceLevel.IN_VITRO, system=ModelSystem.CELL_LINE)

    result = consensus.for_mechanism(mechanism)

    assert result.verdict == "Supported by 3 clinical cohorts and 2 mouse studies; 1 in-vitro study disagrees"
    assert (result.supports, result.refutes) == (5, 1)
    assert result.contested == pytest.approx(2 * 1 / 6)
    assert result.level_rows == [
        {"value": "clinical-cohort", "label": "Clinical cohort", "supports": 3, "refutes": 0},
        {"value": "preclinical-in-vivo", "label": "Preclinical in vivo", "supports": 2, "refutes": 0},
        {"value": "in-vitro", "label": "In vitro", "supports": 0, "refutes": 1},
    ]
    assert [(row["value"], row["supports"], row["refutes"]) for row in result.system_rows] == [
        ("patient-cohort", 3, 0),
        ("syngeneic-mouse", 1, 0),
        ("xenograft-pdx", 1, 0),
        ("cell-line", 0, 1),
    ]


@pytest.mark.parametrize(
    "claims, verdict",
    [
        ([], "No primary evidence yet"),
        ([(R, ModelSystem.CLINICAL_TRIAL)], "Refuted by 1 clinical trial; no primary study supports it"),
        (
            [(R, ModelSystem.CLINICAL_TRIAL), (R, ModelSystem.CLINICAL_TRIAL), (S, ModelSystem.ORGANOID)],
            "Contested: refuted by 2 clinical trials; 1 in-vitro study supports it",
        ),
        (
            [(S, ModelSystem.SCREEN), (R, ModelSystem.CASE_REPORT), (R, ModelSystem.COMPUTATIONAL)],
            "Contested: refuted by 1 case report and 1 computational study; 1 screen supports it",
        ),
        ([(S, ModelSystem.SCREEN), (R, ModelSystem.CASE_REPORT)], "Supported by 1 screen; 1 case report disagrees"),
    ],
)
def test_the_verdict_names_each_side_by_its_kinds_of_study(claims, verdict):
    mechanism = published()
    levels = {
        ModelSystem.CLINICAL_TRIAL: EvidenceLevel.CLINICAL_COHORT,
        ModelSystem.ORGANOID: EvidenceLevel.IN_VITRO,
        ModelSystem.SCREEN: EvidenceLevel.IN_VITRO,
        ModelSystem.CASE_REPORT: EvidenceLevel.CASE_REPORT,
        ModelSystem.COMPUTATIONAL: EvidenceLevel.COMPUTATIONAL,
    }
    for direction, system in claims:
        claim(mechanism, direction=direction, level=levels[system], system=system)
    assert consensus.for_mechanism(mechanism).verdict == verdict


def test_reviews_are_listed_but_never_counted(client):
    mechanism = published()
    claim(mechanism, level=EvidenceLevel.REVIEW)
    claim(mechanism, level=EvidenceLevel.REVIEW, direction=R)

    result = consensus.for_mechanism(mechanism)

    assert (result.supports, result.refutes, result.reviews) == (0, 0, 2)
    assert not result.has_primary and result.contested is None
    assert result.verdict == "No primary evidence yet: only 2 reviews discuss it"
    html = client.get(mechanism.get_absolute_url()).content.decode()
    assert "No primary evidence yet: only 2 reviews discuss it." in html
    assert html.count("Context only: not counted in the consensus.") == 2


def test_a_paper_counts_once_per_side_however_many_claims_it_backs():
    mechanism = published()
    paper = make_reference(pub_year=2016)
    claim(mechanism, reference=paper, level=EvidenceLevel.CLINICAL_COHORT, system=ModelSystem.PATIENT_COHORT)
    make_evidence(mechanism, paper, statement="The same paper, in mice.", level=EvidenceLevel.PRECLINICAL_IN_VIVO)
    make_evidence(mechanism, paper, statement="The same paper, against.", direction=R)

    result = consensus.for_mechanism(mechanism)

    assert (result.supports, result.refutes) == (1, 1)  # one paper on each side
    assert result.by_kind == {(S, "cohort"): 1, (S, "mouse"): 1, (R, "in-vitro"): 1}


def test_a_parent_rolls_up_its_published_children_and_grandchildren_without_counting_a_paper_twice():
    root = published("Interferon pathway defects")
    child = published("JAK1/JAK2 loss", parent=root)
    grandchild = published("JAK1 truncation", parent=child)
    draft_child = make_mechanism("Unreviewed idea", parent=root)
    shared = make_reference(pub_year=2016)
    claim(root, reference=shared)
    claim(child, reference=shared, system=ModelSystem.PATIENT_COHORT)  # the same paper as the root's
    claim(child, year=2017)
    claim(grandchild, direction=R, level=EvidenceLevel.IN_VITRO, year=2019)
    claim(draft_child, year=2001)  # a draft's evidence never counts

    results = consensus.for_mechanisms([root, child, grandchild], with_years=True)

    # By hand: the root has papers 2016 (its own and the child's), 2017 (child) and 2019 (grandchild, against).
    assert (results[root.pk].supports, results[root.pk].refutes) == (2, 1)
    assert results[root.pk].year_span == "2016–2019"
    assert results[root.pk].timeline() == [(2016, 1, 0), (2017, 1, 0), (2019, 0, 1)]
    assert (results[child.pk].supports, results[child.pk].refutes) == (2, 1)
    assert (results[grandchild.pk].supports, results[grandchild.pk].refutes) == (0, 1)


def test_any_number_of_mechanisms_is_weighed_in_one_query():
    mechanisms = [published(f"Mechanism {n}") for n in range(25)]
    for mechanism in mechanisms[::2]:
        claim(mechanism)
    with CaptureQueriesContext(connection) as queries:
        results = consensus.for_mechanisms(mechanisms, with_years=True)
    assert len(queries) == 1
    assert sum(result.has_primary for result in results.values()) == 13


def test_lists_and_search_results_say_plainly_when_a_mechanism_has_no_primary_evidence(client):
    backed = published("Backed escape")
    claim(backed, system=ModelSystem.PATIENT_COHORT)
    bare = published("Bare escape")
    claim(bare, level=EvidenceLevel.REVIEW)
    for address in (reverse("mechanism-list"), reverse("search") + "?q=escape"):
        html = client.get(address).content.decode()
        assert "Supported by 1 clinical cohort." in html, address
        assert "No primary evidence yet: only 1 review discusses it." in html, address


def test_the_mechanism_page_shows_the_panel_and_its_formula(client):
    mechanism = published()
    claim(mechanism, system=ModelSystem.PATIENT_COHORT, year=2015)
    claim(mechanism, direction=R, level=EvidenceLevel.IN_VITRO, year=2021)
    html = client.get(mechanism.get_absolute_url()).content.decode()
    assert 'id="consensus-verdict">Supported by 1 clinical cohort; 1 in-vitro study disagrees.</p>' in html
    assert "<dt>Contested</dt><dd>100%</dd>" in html
    assert "2015–2021" in html
    assert consensus.CONTESTED_FORMULA in html


# --- the rule: nothing is published without primary evidence ------------------------------


def test_a_reviewer_cannot_publish_a_mechanism_backed_by_reviews_only(alice, bob):
    mechanism = make_mechanism("Only reviewed")
    make_evidence(mechanism, level=EvidenceLevel.REVIEW)
    workflow.submit(mechanism, by=alice)
    with pytest.raises(workflow.WorkflowError, match="published only with primary evidence"):
        workflow.publish(mechanism, by=bob)
    mechanism.refresh_from_db()
    assert mechanism.status == Status.IN_REVIEW


def test_a_branch_is_published_on_its_published_childrens_primary_evidence(alice, bob):
    branch = make_mechanism("A branch")
    make_evidence(branch, level=EvidenceLevel.REVIEW)
    claim(published("Its child", parent=branch))
    workflow.submit(branch, by=alice)
    assert workflow.publish(branch, by=bob).status == Status.PUBLISHED


def test_the_seed_refuses_to_publish_a_mechanism_without_primary_evidence(tmp_path):
    from tests.test_seeding import small_seed

    path = small_seed(tmp_path, evidence=[])
    with pytest.raises(SeedError, match="without primary evidence.*b2m-loss"):
        seed_atlas(path)


def test_every_mechanism_the_seed_publishes_has_primary_evidence():
    seed_atlas()
    assert not consensus.published_without_primary_evidence().exists()
    weighed = consensus.for_mechanisms(list(consensus.Mechanism.objects.published()))
    assert all(result.has_primary for result in weighed.values())


def test_the_seeded_ido1_trial_refutes_and_the_seeded_indirect_papers_say_so():
    seed_atlas()
    ido = consensus.Mechanism.objects.get(slug="ido-kynurenine")
    assert consensus.for_mechanism(ido).verdict == "Supported by 1 clinical cohort; 1 clinical trial disagrees"
    trial = ido.evidence.get(reference__pmid=31221619)
    assert (trial.direction, trial.model_system) == (R, ModelSystem.CLINICAL_TRIAL)
    tim3 = consensus.Mechanism.objects.get(slug="tim3-upregulation").evidence.get()
    assert "Indirect" in tim3.statement


def test_the_api_counts_no_review_for_or_against(client):
    mechanism = published()
    claim(mechanism, system=ModelSystem.PATIENT_COHORT)
    claim(mechanism, level=EvidenceLevel.REVIEW)
    claim(mechanism, level=EvidenceLevel.REVIEW, direction=R)
    body = client.get(f"/api/mechanisms/{mechanism.slug}/").json()
    assert (body["evidence_count"], body["consensus"]) == (3, {"supports": 1, "refutes": 0})


def test_a_branch_page_says_which_sub_mechanisms_lack_primary_evidence(client):
    branch = published("A branch")
    backed = published("Backed child", parent=branch)
    claim(backed, system=ModelSystem.PATIENT_COHORT)
    published("Bare child", parent=branch)
    html = client.get(branch.get_absolute_url()).content.decode()
    children = html[html.index('id="children-heading"') :]
    assert children.index("Backed child") < children.index("Supported by 1 clinical cohort.")
    assert children.index("Bare child") < children.index("No primary evidence yet.")
    assert 'id="consensus-verdict">Supported by 1 clinical cohort.</p>' in html  # rolled up
