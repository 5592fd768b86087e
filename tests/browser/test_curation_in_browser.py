"""The curation workflow in a real browser: draft, evidence, review, publication, and a refused conflict.

Alice (curator) writes a mechanism citing a PMID and submits it; bob (reviewer)
publishes it; an anonymous reader sees it. Alice and carol then edit the same
draft at once and carol's stale save is refused with a message naming alice.
Screenshots of the key screens go to $ATLAS_SCREENSHOTS (docs/screenshots/ for the README:
`ATLAS_SCREENSHOTS=docs/screenshots make test`), else to a temporary folder.
"""

import re

import pytest

from curation.models import MetadataState, Status
from tests.browser.conftest import screenshot, sign_in
from tests.factories import make_evidence, make_mechanism, make_reference

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PMID = 29968044
SUMMARY = "Tumours that lose B2M present no MHC class I, so CD8 T cells cannot recognise them."


def choose_reference(page, row, pmid):
    """Pick a reference in the admin's autocomplete (select2) of an evidence row."""
    page.click(f"#evidence-{row} td.field-reference .select2-selection")
    page.fill(".select2-container--open .select2-search__field", str(pmid))
    page.click(f".select2-results__option:has-text('{pmid}')")


def test_a_curator_drafts_a_reviewer_publishes_and_a_reader_sees_it(live_server, new_page, alice, bob):
    make_reference(pmid=PMID, metadata_state=MetadataState.PENDING, title="Primary, adaptive and acquired resistance.")

    # Alice writes the draft with one piece of evidence.
    curator = new_page()
    sign_in(curator, live_server, "alice")
    curator.goto(f"{live_server.url}/admin/curation/mechanism/add/")
    curator.fill("#id_name", "Loss of B2M")
    curator.press("#id_name", "Tab")
    assert curator.input_value("#id_slug") == "loss-of-b2m"  # the admin fills the slug from the name
    curator.select_option("#id_category", "tumor-intrinsic")
    curator.fill("#id_summary", SUMMARY)
    choose_reference(curator, 0, PMID)
    curator.fill("#id_evidence-0-statement", "B2M loss lets melanoma escape anti-PD-1 therapy.")
    curator.select_option("#id_evidence-0-level", "clinical-cohort")
    curator.select_option("#id_evidence-0-model_system", "patient-cohort")
    screenshot(curator, "1-curator-writes-a-draft")
    curator.click("input[name=_continue]")
    curator.wait_for_selector("#workflow-panel")
    assert "Review state: Draft" in curator.inner_text("#workflow-panel")

    curator.click("#workflow-submit")
    curator.wait_for_selector(".messagelist")
    assert "Submitted “Loss of B2M” for review." in curator.inner_text(".messagelist")
    assert "Submitted for review by alice" in curator.inner_text("#workflow-panel")
    screenshot(curator, "2-submitted-for-review")

    # Bob finds it on his dashboard and publishes it.
    reviewer = new_page()
    sign_in(reviewer, live_server, "bob")
    reviewer.goto(f"{live_server.url}/curation/dashboard/")
    screenshot(reviewer, "3-reviewer-dashboard")
    reviewer.click("#to-review >> text=Loss of B2M")
    reviewer.wait_for_selector("#workflow-publish")
    screenshot(reviewer, "4-reviewer-sees-publish")
    reviewer.click("#workflow-publish")
    reviewer.wait_for_selector(".messagelist")
    assert "Published “Loss of B2M”: readers see it now." in reviewer.inner_text(".messagelist")

    # An anonymous reader sees the published text and its evidence.
    reader = new_page()
    response = reader.goto(f"{live_server.url}/mechanisms/loss-of-b2m/")
    assert response.status == 200
    assert SUMMARY in reader.inner_text("main")
    assert str(PMID) in reader.inner_text("main")
    screenshot(reader, "5-reader-sees-the-published-mechanism")


def test_a_conflicting_edit_is_refused_with_the_message_and_keeps_the_input(live_server, new_page, alice, carol):
    mechanism = make_mechanism("Loss of B2M", status=Status.DRAFT, summary="The summary both start from.")
    make_evidence(mechanism, statement="B2M loss hides the tumour from CD8 T cells.")
    url = f"{live_server.url}/admin/curation/mechanism/{mechanism.pk}/change/"

    alices, carols = new_page(), new_page()
    sign_in(alices, live_server, "alice")
    sign_in(carols, live_server, "carol")
    alices.goto(url)
    carols.goto(url)

    alices.fill("#id_summary", "Alice's corrected summary.")
    alices.click("input[name=_continue]")
    alices.wait_for_selector(".messagelist")

    carols.fill("#id_name", "Loss of beta-2-microglobulin")
    carols.click("input[name=_continue]")
    carols.wait_for_selector(".errornote")

    errors = carols.inner_text(".errorlist.nonfield")
    assert re.search(r"Not saved: after you opened the mechanism “Loss of B2M”, alice changed summary\.", errors)
    assert carols.input_value("#id_name") == "Loss of beta-2-microglobulin"
    screenshot(carols, "6-conflicting-edit-refused")
    mechanism.refresh_from_db()
    assert (mechanism.name, mechanism.summary) == ("Loss of B2M", "Alice's corrected summary.")

    # Carol looks up what alice changed: the history compares the last two versions by default.
    carols.click("text=History")
    carols.click("input[value='Compare selected versions']")
    diff = carols.inner_text(".history-diff")
    assert "Summary" in diff and "Alice's corrected summary." in diff
    screenshot(carols, "7-history-diff")
