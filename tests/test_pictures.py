"""The geometry of the two pictures (curation/pictures.py), and the home map as the page serves it."""

import pytest
from django.urls import reverse

from curation import pictures
from curation.consensus import papers_by_top_level
from curation.models import Direction, EvidenceLevel, Status
from tests.factories import make_evidence, make_mechanism, make_reference


@pytest.mark.parametrize(
    "contested, shade",
    [(None, "no-primary"), (0.0, "contest-0"), (0.1, "contest-1"), (0.25, "contest-1"), (0.5, "contest-2"),
     (0.6, "contest-3"), (1.0, "contest-4")],
)  # fmt: skip
def test_the_shade_is_the_contested_score_in_quarters(contested, shade):
    assert pictures.shade(contested) == shade


def test_no_papers_draw_no_timeline():
    assert pictures.timeline([]) is None
    assert pictures.timeline([(2016, 0, 0)]) is None


def test_one_paper_is_one_bar_as_tall_as_half_the_plot():
    drawn = pictures.timeline([(2016, 1, 0)])
    (bar,) = drawn.bars
    assert (bar.year, bar.supports, bar.refutes, bar.down_height) == (2016, 1, 0, 0)
    assert bar.up_y + bar.up_height == drawn.axis_y and bar.up_y == drawn.top
    assert drawn.ticks == [(pytest.approx(drawn.left + (drawn.right - drawn.left) / 2), 2016)]


def test_years_keep_their_place_and_refuting_bars_hang_below_the_axis():
    drawn = pictures.timeline([(2000, 2, 0), (2010, 0, 1)])
    first, last = drawn.bars
    slot = (drawn.right - drawn.left) / 11
    assert last.x - first.x == pytest.approx(10 * slot)
    assert last.up_height == 0 and last.down_height == pytest.approx(first.up_height / 2)
    assert [year for _, year in drawn.ticks] == [2000, 2002, 2004, 2006, 2008, 2010]  # at most 10 labels


def test_a_century_of_papers_keeps_at_most_ten_year_labels():
    drawn = pictures.timeline([(year, 1, 1) for year in range(1925, 2025)])
    assert len(drawn.bars) == 100 and len(drawn.ticks) <= 10
    assert all(bar.width >= 1 for bar in drawn.bars)


def test_the_map_draws_the_best_supported_first_and_counts_the_rest_in_one_tile():
    items = [pictures.MapItem(f"M{n:02d}", f"/m/{n}/", n, 0.0, "Supported") for n in range(20)]
    drawn = pictures.taxonomy_map([("Intrinsic", "/list/", items, 30, 5), ("Extrinsic", "/x/", [], 0, 0)])
    tiles = drawn.branches[0].tiles
    assert [tile.item.name for tile in tiles[:3]] == ["M19", "M18", "M17"]
    assert tiles[-1].item is None and tiles[-1].label == "and 13 more top-level mechanisms"
    assert tiles[-1].url == "/list/" and len(tiles) == pictures.MAP_TILES + 1
    heights = [tile.height for tile in tiles[:-1]]
    assert heights == sorted(heights, reverse=True)
    assert drawn.height >= tiles[-1].y + tiles[-1].height
    assert drawn.branches[1].tiles == []


@pytest.mark.django_db
def test_top_level_mechanisms_are_weighed_with_their_subtree_each_paper_once():
    root = make_mechanism("Root", status=Status.PUBLISHED)
    child = make_mechanism("Child", parent=root, status=Status.PUBLISHED)
    grandchild = make_mechanism("Grandchild", parent=child, status=Status.PUBLISHED)
    shared = make_reference()
    make_evidence(root, shared)
    make_evidence(grandchild, shared, direction=Direction.REFUTES)
    make_evidence(child, level=EvidenceLevel.CLINICAL_COHORT)
    make_evidence(child, level=EvidenceLevel.REVIEW)  # not counted
    assert papers_by_top_level() == {root.pk: 2}


@pytest.mark.django_db
def test_the_home_map_is_svg_that_the_csp_allows(client):
    mechanism = make_mechanism("Loss of <b>B2M</b>", status=Status.PUBLISHED)
    make_evidence(mechanism)
    html = client.get(reverse("home")).content.decode()
    svg = html[html.index('<svg class="map-svg"') : html.index("</svg>")]
    assert f'<a class="map-tile" href="{mechanism.get_absolute_url()}">' in svg
    assert "Loss of &lt;b&gt;B2M&lt;/b&gt;" in svg and "<b>" not in svg
    assert "style=" not in svg and "<script" not in svg
