"""The literature queue in a real browser: a curator filters the queue, reads a highlighted abstract,
accepts one paper (landing on the evidence form) and rejects another with a reason.

Screenshots go to $ATLAS_SCREENSHOTS like the other browser tests.
"""

import pytest

from curation import candidates
from curation.models import Candidate, MetadataState, Reference, SavedSearch
from tests.browser.conftest import screenshot, sign_in
from tests.factories import make_gene, make_mechanism
from tests.test_triage_queue import make_candidate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_curator_walks_the_queue_filters_reads_accepts_and_rejects(live_server, new_page, alice):
    b2m = make_mechanism("Loss of B2M", genes=[make_gene("B2M")])
    search = SavedSearch.objects.create(name="B2M loss", query="B2M")
    papers = [make_candidate(pmid) for pmid in range(47_000_000, 47_000_040)]
    about_b2m = [c for c in papers if "B2M" in c.terms["gene"]]
    keep, drop = about_b2m[:2]
    candidates.record_sources([keep.pk, drop.pk], search=search)

    page = new_page()
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/admin/curation/candidate/")
    assert "relevance = 5 × people who suggested it" in page.inner_text("#relevance-formula")

    # Filter: only what the saved search found.
    page.click(f"#changelist-filter >> text={search.name}")
    page.wait_for_url("**search=*")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2

    # Read a paper: its abstract names the mechanism "loss of B2M", highlighted (the longest term wins).
    page.click(f"text=PMID {keep.pmid} >> xpath=ancestor::div[@class='candidate']//a[@class='candidate-title']")
    page.wait_for_selector("#candidate-abstract")
    mark = page.locator("#candidate-abstract mark.term-mechanism").first
    assert mark.inner_text() == "loss of B2M" and mark.get_attribute("title") == "mechanism Loss of B2M"
    assert "Loss of B2M" in page.inner_text("#accept-mechanism")
    screenshot(page, "8-literature-queue-paper")

    # Accept it as evidence for the suggested mechanism: the evidence form opens for it.
    page.select_option("#accept-mechanism", str(b2m.pk))
    page.click("#accept")
    page.wait_for_selector("#evidence_form")
    assert "Accepted PMID" in page.inner_text(".messagelist")
    reference = Reference.objects.get(pmid=keep.pmid)
    assert reference.metadata_state == MetadataState.NEEDS_REVIEW
    assert page.input_value("#id_mechanism") == str(b2m.pk)

    # Back to the queue: reject the other with a reason.
    page.goto(f"{live_server.url}/admin/curation/candidate/{drop.pk}/change/")
    page.select_option("#id_reason", "no-mechanism")
    page.fill("#id_note", "About B2M in transplant rejection.")
    page.click("#reject")
    page.wait_for_selector(".messagelist")
    assert "will not come back" in page.inner_text(".messagelist")
    screenshot(page, "9-literature-queue-after-decisions")
    drop.refresh_from_db()
    assert (drop.state, drop.reject_reason, drop.reject_note) == (
        Candidate.State.REJECTED,
        "no-mechanism",
        "About B2M in transplant rejection.",
    )
    queue = page.inner_text("#result_list")
    assert f"PMID {keep.pmid}" not in queue and f"PMID {drop.pmid}" not in queue
