"""No lost updates: a save based on a stale version is refused, says who changed what, and keeps the input.

Alice and carol (both curators) open the same page; alice saves first. Carol's
save must be refused with a message naming alice and what she changed, carol's
input must still be in the form, and alice's work must be intact.
"""

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from curation import roles
from curation.admin import versioning
from curation.concurrency import StaleEdit
from curation.models import Evidence, Mechanism
from tests.admin_pages import change_url, form_data, signed_in
from tests.factories import make_cancer_type, make_evidence, make_gene, make_mechanism, make_therapy, save_versioned

pytestmark = pytest.mark.django_db


@pytest.fixture
def mechanism():
    mechanism = make_mechanism(name="Loss of B2M", summary="The summary both curators start from.")
    make_evidence(mechanism, statement="B2M loss hides the tumour from CD8 T cells.", locator="Fig. 1")
    return mechanism


@pytest.fixture
def pages(mechanism, alice, carol):
    """Alice's and carol's sessions, each with the mechanism's change page open."""
    alice_client, carol_client = signed_in(alice), signed_in(carol)
    url = change_url(mechanism)
    return {
        "url": url,
        "alice": (alice_client, form_data(alice_client.get(url))),
        "carol": (carol_client, form_data(carol_client.get(url))),
    }


def save(pages, who, **changes):
    client, data = pages[who]
    return client.post(pages["url"], {**data, **changes})


# --- two sessions in the admin -----------------------------------------------------------


def test_a_stale_mechanism_form_is_refused_naming_who_changed_which_field(pages, mechanism):
    assert save(pages, "alice", summary="Alice's reviewed summary.").status_code == 302

    response = save(pages, "carol", name="Name proposed by carol")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Not saved: after you opened the mechanism “Loss of B2M”, alice changed summary." in html
    assert "Your input is kept below" in html
    assert 'value="Name proposed by carol"' in html
    mechanism.refresh_from_db()
    assert (mechanism.name, mechanism.summary) == ("Loss of B2M", "Alice's reviewed summary.")
    assert mechanism.version == 2


def test_a_stale_form_is_refused_even_when_the_other_change_was_to_the_genes(pages, mechanism):
    gene = make_gene("B2M")
    assert save(pages, "alice", genes=[str(gene.pk)]).status_code == 302

    response = save(pages, "carol", strategies="Carol's strategies.")

    assert "alice changed genes" in response.content.decode()
    mechanism.refresh_from_db()
    assert (list(mechanism.genes.all()), mechanism.strategies) == ([gene], "")


def test_a_stale_evidence_row_on_the_mechanism_page_is_refused(pages, mechanism):
    row = mechanism.evidence.get()
    assert save(pages, "alice", **{"evidence-0-statement": "Alice's sharper claim."}).status_code == 302

    response = save(pages, "carol", **{"evidence-0-locator": "Fig. 3C"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "alice changed evidence “Loss of B2M ← PMID" in html
    assert "(statement)" in html
    assert 'value="Fig. 3C"' in html
    row.refresh_from_db()
    assert (row.statement, row.locator) == ("Alice's sharper claim.", "Fig. 1")


def test_an_evidence_row_changed_elsewhere_is_not_overwritten_from_a_stale_page(pages, mechanism, alice):
    row = mechanism.evidence.get()
    alice_client = signed_in(alice)
    evidence_page = form_data(alice_client.get(change_url(row)))
    alice_client.post(change_url(row), {**evidence_page, "statement": "Edited in the evidence list."})
    row.refresh_from_db()
    assert row.statement == "Edited in the evidence list."

    response = save(pages, "carol", **{"evidence-0-locator": "Table 2"})

    assert response.status_code == 200
    assert "alice changed statement." in response.content.decode()
    row.refresh_from_db()
    assert (row.statement, row.locator) == ("Edited in the evidence list.", "Fig. 1")


def test_deleting_an_evidence_row_someone_just_changed_is_refused(pages, mechanism, alice):
    row = mechanism.evidence.get()
    row.statement, row._history_user = "Alice rescued this claim.", alice
    save_versioned(row)

    response = save(pages, "carol", **{"evidence-0-DELETE": "on"})

    assert response.status_code == 200
    assert "alice changed statement" in response.content.decode()
    assert Evidence.objects.filter(pk=row.pk).exists()


def test_a_fresh_form_saves_normally_and_bumps_the_version(pages, mechanism):
    response = save(pages, "carol", summary="Carol's summary.")

    assert response.status_code == 302
    mechanism.refresh_from_db()
    assert (mechanism.summary, mechanism.version, mechanism.updated_by.username) == ("Carol's summary.", 2, "carol")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_save_losing_the_race_after_validation_is_refused_on_the_page(postgres, pages, mechanism, alice):
    """Alice commits between carol's validation and carol's save: the claim fails, nothing is written."""
    real_check = versioning.check_version
    slipped_in = []

    def alice_commits_during_carols_request():
        copy = Mechanism.objects.get(pk=mechanism.pk)
        copy.summary, copy._history_user = "Alice slipped in.", alice
        save_versioned(copy)
        connection.close()

    def check_then_let_alice_in(instance, based_on, **kwargs):
        real_check(instance, based_on, **kwargs)
        if not slipped_in and isinstance(instance, Mechanism):
            slipped_in.append(True)
            thread = threading.Thread(target=alice_commits_during_carols_request)
            thread.start()
            thread.join(timeout=30)

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(versioning, "check_version", check_then_let_alice_in)
    try:
        response = save(pages, "carol", name="Name proposed by carol")
    finally:
        monkeypatch.undo()

    assert slipped_in
    assert response.status_code == 200
    html = response.content.decode()
    assert "alice changed summary" in html
    assert 'value="Name proposed by carol"' in html
    mechanism.refresh_from_db()
    assert (mechanism.name, mechanism.summary, mechanism.version) == ("Loss of B2M", "Alice slipped in.", 2)


# --- the service level ------------------------------------------------------------------


def test_save_versioned_refuses_a_stale_copy_and_writes_nothing(mechanism, alice, carol):
    alices, carols = Mechanism.objects.get(pk=mechanism.pk), Mechanism.objects.get(pk=mechanism.pk)
    alices.summary, alices._history_user = "Alice's summary.", alice
    save_versioned(alices)

    carols.summary, carols._history_user = "Carol's summary.", carol
    with pytest.raises(StaleEdit) as stale:
        save_versioned(carols)

    assert stale.value.users == ["alice"]
    assert str(stale.value) == "Not saved: after you opened the mechanism “Loss of B2M”, alice changed summary."
    assert Mechanism.objects.get(pk=mechanism.pk).summary == "Alice's summary."


# --- real concurrency against PostgreSQL ------------------------------------------------

THREADS = 8


def _curators(django_user_model, n):
    group = Group.objects.get(name=roles.CURATOR)
    users = [django_user_model.objects.create_user(f"curator{i}", is_staff=True) for i in range(n)]
    for user in users:
        user.groups.add(group)
    return users


def _run_in_threads(target, n):
    errors = []

    def run(i):
        try:
            target(i)
        except Exception as error:  # reported below: a thread's failure must fail the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_of_one_version_have_exactly_one_winner(postgres, role_groups, django_user_model):
    users = _curators(django_user_model, THREADS)
    mechanism = make_mechanism(summary="Before the race.")
    barrier = threading.Barrier(THREADS)
    outcomes = {}

    def save_summary(i):
        copy = Mechanism.objects.get(pk=mechanism.pk)
        barrier.wait(timeout=30)  # everyone holds version 1 before anyone writes
        copy.summary, copy._history_user = f"Written by curator{i}.", users[i]
        try:
            save_versioned(copy)
            outcomes[i] = "won"
        except StaleEdit as stale:
            outcomes[i] = stale

    _run_in_threads(save_summary, THREADS)

    winners = [i for i, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == THREADS
    assert len(winners) == 1
    winner = winners[0]
    mechanism.refresh_from_db()
    assert (mechanism.summary, mechanism.version) == (f"Written by curator{winner}.", 2)
    assert mechanism.history.filter(version=2).count() == 1
    for i, outcome in outcomes.items():
        if i != winner:
            assert outcome.users == [f"curator{winner}"]
            assert "changed summary" in str(outcome)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_who_retry_on_conflict_lose_no_update(postgres, role_groups, django_user_model):
    users = _curators(django_user_model, THREADS)
    mechanism = make_mechanism(strategies="")
    barrier = threading.Barrier(THREADS)
    conflicts = []

    def append_line(i):
        barrier.wait(timeout=30)
        while True:
            copy = Mechanism.objects.get(pk=mechanism.pk)
            copy.strategies = f"{copy.strategies}line {i}\n"
            copy._history_user = users[i]
            try:
                save_versioned(copy)
                return
            except StaleEdit:
                conflicts.append(i)

    _run_in_threads(append_line, THREADS)

    mechanism.refresh_from_db()
    assert sorted(mechanism.strategies.splitlines()) == sorted(f"line {i}" for i in range(THREADS))
    assert mechanism.version == 1 + THREADS
    assert mechanism.history.filter(version__gt=1).count() == THREADS


@pytest.mark.parametrize(
    ("make", "field", "value"),
    [
        (lambda: make_gene("B2M"), "name", "beta-2-microglobulin"),
        (lambda: make_therapy("Nivolumab"), "ncit_code", "C68814"),
        (lambda: make_cancer_type("Melanoma"), "doid", "DOID:1909"),
    ],
    ids=["gene", "therapy", "cancer type"],
)
def test_every_editable_model_refuses_a_stale_form(make, field, value, alice, carol):
    obj = make()
    url = change_url(obj)
    alice_client, carol_client = signed_in(alice), signed_in(carol)
    alice_page, carol_page = form_data(alice_client.get(url)), form_data(carol_client.get(url))

    assert alice_client.post(url, {**alice_page, field: value}).status_code == 302
    response = carol_client.post(url, carol_page)

    assert response.status_code == 200
    label = type(obj)._meta.get_field(field).verbose_name
    assert f"alice changed {label}" in response.content.decode()
    obj.refresh_from_db()
    assert getattr(obj, field) == value
