"""A researcher weighs the evidence in Chromium: the issue's question walked end to end, and the
two pictures (the home map and a mechanism's timeline) drawn, linked and read as a user would."""

import pytest

from curation.models import Direction, EvidenceLevel, Mechanism, ModelSystem, Status
from curation.seeding import seed_atlas
from tests.browser.conftest import screenshot, violations
from tests.factories import make_evidence, make_mechanism, make_reference

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_researcher_answers_the_jak1_question_in_a_minute(live_server, new_page):
    """Search "JAK1 anti-PD-1", narrow by level, open the mechanism, read the consensus, page its evidence."""
    seed_atlas()
    jak = Mechanism.objects.get(slug="jak1-jak2-loss")
    # Enough claims to page through at 10 a page (the seed gives the mechanism two).
    for year in range(2000, 2012):
        make_evidence(
            jak,
            make_reference(pub_year=year),
            statement=f"JAK1 loss in a cell line, study of {year}.",
            level=EvidenceLevel.IN_VITRO,
            model_system=ModelSystem.CELL_LINE,
        )
    page = new_page()
    page.goto(live_server.url + "/")
    page.fill("#home-search", "JAK1 anti-PD-1")
    page.click(".search-box button[type=submit]")
    page.wait_for_selector("#kind-mechanisms")
    assert page.locator("#kind-mechanisms .result h3 a").first.inner_text() == jak.name

    page.click("#facet-level + ul a:has-text('Clinical cohort')")
    page.wait_for_url("**level=clinical-cohort**")
    assert "Clinical cohort" in page.inner_text("#facet-level + ul strong")
    first = page.locator("#kind-mechanisms .result").first
    assert "Supported by 2 clinical cohorts" in first.inner_text()
    first.locator("h3 a").click()

    page.wait_for_selector("#consensus-verdict")
    assert page.url.endswith("/mechanisms/jak1-jak2-loss/")
    verdict = page.inner_text("#consensus-verdict")
    assert verdict == "Supported by 2 clinical cohorts and 12 in-vitro studies."
    assert page.locator(".timeline-svg .year").count() == 14  # 2000–2011 and 2016, 2017
    screenshot(page, "8-consensus-panel")

    page.goto(page.url + "?per_page=10")
    assert page.locator("table.evidence tbody tr").count() == 10
    assert "Page 1 of 2" in page.inner_text(".pagination")
    page.click(".pagination a[rel=next]")
    page.wait_for_url("**page=2**")
    assert page.locator("table.evidence tbody tr").count() == 4
    assert "Showing 11–14 of 14" in page.inner_text(".pagination")
    assert violations(page) == []


def test_the_home_map_draws_both_branches_and_every_tile_opens_its_page(live_server, new_page):
    seed_atlas()
    page = new_page()
    page.goto(live_server.url + "/")
    svg = page.locator("svg.map-svg")
    assert svg.is_visible()
    box = svg.bounding_box()
    assert box["width"] > 600 and box["height"] > 200
    labels = page.locator(".map-branch-label").all_text_contents()  # SVG text has no innerText
    assert [label.split(" (")[0] for label in labels] == ["Tumour-intrinsic", "Tumour-extrinsic"]
    tiles = page.locator("a.map-tile")
    roots = Mechanism.objects.published().filter(parent__isnull=True)
    assert tiles.count() == roots.count() == 10
    # Every tile is drawn with a size and links to a page that answers.
    hrefs = []
    for index in range(tiles.count()):
        rect = tiles.nth(index).locator("rect").bounding_box()
        assert rect["width"] > 50 and rect["height"] >= 30
        hrefs.append(tiles.nth(index).get_attribute("href"))
    assert sorted(hrefs) == sorted(m.get_absolute_url() for m in roots)
    page.locator('a.map-tile[href="/mechanisms/ifng-pathway-defects/"]').click()
    page.wait_for_selector("#consensus-verdict")
    assert page.url.endswith("/mechanisms/ifng-pathway-defects/")
    page.go_back()
    page.wait_for_selector("svg.map-svg")
    assert page.locator("details.map-data li").count() == 10  # the text alternative lists them too
    assert violations(page) == []


def test_the_map_stays_readable_with_many_top_level_mechanisms(live_server, new_page):
    for n in range(40):
        mechanism = make_mechanism(f"Escape route {n:02d}", status=Status.PUBLISHED)
        make_evidence(mechanism, level=EvidenceLevel.CLINICAL_COHORT, model_system=ModelSystem.PATIENT_COHORT)
    page = new_page()
    page.goto(live_server.url + "/")
    assert page.locator("a.map-tile").count() == 12 + 1  # the best supported, then one "more" tile
    more = page.locator("a.map-tile", has_text="and 28 more")
    assert more.count() == 1
    more.click()
    page.wait_for_url("**/mechanisms/?category=tumor-intrinsic")
    assert "40 published mechanisms" in page.inner_text(".result-count")


@pytest.mark.parametrize("items", [0, 1, 300])
def test_the_timeline_is_right_for_none_one_and_hundreds_of_papers(live_server, new_page, items):
    mechanism = make_mechanism("Timeline test", status=Status.PUBLISHED)
    make_evidence(mechanism, level=EvidenceLevel.REVIEW, model_system=ModelSystem.NOT_APPLICABLE)
    for n in range(items):
        make_evidence(
            mechanism,
            make_reference(pub_year=1990 + n % 30),
            direction=Direction.REFUTES if n % 3 == 0 else Direction.SUPPORTS,
        )
    page = new_page()
    page.goto(live_server.url + mechanism.get_absolute_url())
    verdict = page.inner_text("#consensus-verdict")
    if items == 0:
        assert verdict == "No primary evidence yet: only 1 review discusses it."
        assert page.locator("svg.timeline-svg").count() == 0
        return
    svg = page.locator("svg.timeline-svg")
    assert svg.is_visible()
    bars = page.locator(".timeline-svg .year")
    assert bars.count() == min(items, 30)
    axis = page.locator(".timeline-svg .axis").bounding_box()
    for index in range(bars.count()):
        group = bars.nth(index)
        up, down = group.locator(".bar-supports"), group.locator(".bar-refutes")
        if up.count():  # supporting bars sit above the axis
            assert up.bounding_box()["y"] + up.bounding_box()["height"] <= axis["y"] + axis["height"] + 0.5
        if down.count():  # refuting bars hang below it
            assert down.bounding_box()["y"] >= axis["y"] - 0.5
    if items == 1:
        assert verdict == "Refuted by 1 in-vitro study; no primary study supports it."
        assert page.locator(".timeline-svg .bar-refutes").count() == 1
        assert page.locator(".timeline-svg .bar-supports").count() == 0
    else:
        # By hand: paper n is from 1990 + n % 30 and refutes when n % 3 == 0, so the 10 papers of the
        # years 1990, 1993, … 2017 all refute (100) and those of the other 20 years all support (200).
        assert verdict == "Supported by 200 in-vitro studies; 100 in-vitro studies disagree."
        # The table is in a closed <details>: read its text, which innerText would hide.
        cells = page.locator("details.timeline-data tbody tr").evaluate_all(
            "rows => rows.map(row => [...row.cells].map(cell => cell.textContent))"
        )
        rows = cells
        assert rows[:3] == [["1990", "0", "10"], ["1991", "10", "0"], ["1992", "10", "0"]]
        assert page.locator(".bar-refutes").count() == 10 and page.locator(".bar-supports").count() == 20
        heights = {round(bar.bounding_box()["height"]) for bar in page.locator(".bar-supports, .bar-refutes").all()}
        assert len(heights) == 1  # 10 papers each, so every bar is as tall
    assert violations(page) == []
