"""Geometry of the atlas's two pictures, drawn as SVG by the templates (no JavaScript, no CDN).

Django-free: the views hand in plain numbers (from curation.consensus) and the templates draw
what this returns, escaping every name. Colours come from classes in static/css/atlas.css,
never from style attributes, which the Content-Security-Policy forbids.

- `taxonomy_map`: the home page's map. Each branch is a column of tiles, one per top-level
  mechanism; a tile's height and width grow with the square root of its primary papers (so a
  mechanism with 100 papers is 10 times one with 1, not 100 times) and its shade says how
  contested it is. At most MAP_TILES tiles per branch are drawn, the best supported first; the
  rest are one tile that links to the branch's list, so the map stays readable at any size.
- `timeline`: a mechanism's primary papers per year, supporting above the axis, refuting below.
"""

import math
from dataclasses import dataclass, field

MAP_TILES = 12  # tiles per branch before the "and N more" tile
MAP_WIDTH = 960
_COLUMN_GAP = 24
_HEADER = 44
_TILE_GAP = 6
_TILE_MIN, _TILE_GROW = 30, 34  # a tile's height: minimum, plus up to this much for the best supported
_LABEL_CHARS_PER_PX = 1 / 7.2  # roughly, at the map's 13px font


@dataclass
class MapItem:
    """What the map needs of one top-level mechanism."""

    name: str
    url: str
    papers: int  # primary papers, its sub-mechanisms' included
    contested: float | None  # 0..1, None without primary evidence
    verdict: str


@dataclass
class Tile:
    item: MapItem | None
    x: float
    y: float
    width: float
    height: float
    label: str
    detail: str
    shade: str  # a CSS class: contest-0 … contest-4, or no-primary, or more
    url: str
    title: str


@dataclass
class Branch:
    label: str
    url: str
    x: float
    width: float
    tiles: list[Tile] = field(default_factory=list)
    mechanism_count: int = 0


@dataclass
class Map:
    width: int
    height: int
    branches: list[Branch]


def shade(contested: float | None) -> str:
    """contest-0 for agreement … contest-4 for an even split; no-primary without papers."""
    if contested is None:
        return "no-primary"
    return f"contest-{min(4, math.ceil(contested * 4))}"


def _fit(text: str, width: float) -> str:
    room = max(4, int(width * _LABEL_CHARS_PER_PX))
    return text if len(text) <= room else text[: room - 1].rstrip() + "…"


def taxonomy_map(branches: list[tuple[str, str, list[MapItem], int, int]], *, width: int = MAP_WIDTH) -> Map:
    """Lay out, per branch, (label, list address, top-level items, how many mechanisms the branch has,
    how many more top-level mechanisms it has than the items given)."""
    column = (width - _COLUMN_GAP * (len(branches) - 1)) / max(1, len(branches))
    biggest = max((item.papers for _, _, items, _, _ in branches for item in items), default=0)
    laid, height = [], _HEADER
    for index, (label, url, items, count, not_given) in enumerate(branches):
        branch = Branch(label, url, x=index * (column + _COLUMN_GAP), width=column, mechanism_count=count)
        ranked = sorted(items, key=lambda item: (-item.papers, item.name))
        shown, hidden = ranked[:MAP_TILES], len(ranked[MAP_TILES:]) + not_given
        y = _HEADER
        for item in shown:
            share = math.sqrt(item.papers / biggest) if biggest else 0
            tile_height = _TILE_MIN + _TILE_GROW * share
            tile_width = column * (0.45 + 0.55 * share)
            papers = f"{item.papers} primary paper{'s' if item.papers != 1 else ''}"
            if item.contested is None:
                detail = "no primary evidence yet"
            else:
                detail = f"{papers} · {round(100 * item.contested)}% contested"
            branch.tiles.append(
                Tile(item, branch.x, y, tile_width, tile_height, _fit(item.name, tile_width - 12),
                     _fit(detail, tile_width - 12), shade(item.contested), item.url,
                     f"{item.name}: {item.verdict}")
            )  # fmt: skip
            y += tile_height + _TILE_GAP
        if hidden:
            more = f"and {hidden} more top-level mechanism{'s' if hidden != 1 else ''}"
            branch.tiles.append(
                Tile(None, branch.x, y, column, _TILE_MIN, _fit(more, column - 12), "list them all", "more", url,
                     f"{label}: {more}")
            )  # fmt: skip
            y += _TILE_MIN + _TILE_GAP
        height = max(height, y)
        laid.append(branch)
    return Map(width=width, height=round(height), branches=laid)


TIMELINE_WIDTH, TIMELINE_HEIGHT = 640, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 12, 14, 30
_TICK_STEPS = (1, 2, 5, 10, 20, 50, 100)


@dataclass
class Bar:
    year: int
    supports: int
    refutes: int
    x: float
    width: float
    up_y: float
    up_height: float
    down_height: float
    title: str


@dataclass
class Timeline:
    width: int
    height: int
    axis_y: float
    left: float
    right: float
    top: float
    bottom: float
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (x, year) under the axis
    most: int  # the tallest bar, in papers, labelled on the scale
    first_year: int
    last_year: int


def timeline(points: list[tuple[int, int, int]], *, width: int = TIMELINE_WIDTH) -> Timeline | None:
    """Bars for (year, supporting papers, refuting papers); None when there is nothing to draw.

    Years without papers between the first and the last keep their place, so the gaps show.
    """
    points = [(year, s, r) for year, s, r in points if s or r]
    if not points:
        return None
    first, last = points[0][0], points[-1][0]
    years = last - first + 1
    plot_width = width - _LEFT - _RIGHT
    slot = plot_width / years
    bar_width = max(1.0, slot * 0.7)
    half = (TIMELINE_HEIGHT - _TOP - _BOTTOM) / 2
    axis = _TOP + half
    most = max(max(s, r) for _, s, r in points)
    bars = []
    for year, s, r in points:
        x = _LEFT + (year - first) * slot + (slot - bar_width) / 2
        up, down = half * s / most, half * r / most
        title = f"{year}: {s} supporting, {r} refuting paper{'s' if r != 1 else ''}"
        bars.append(Bar(year, s, r, x, bar_width, axis - up, up, down, title))
    step = next((step for step in _TICK_STEPS if years / step <= 10), _TICK_STEPS[-1])
    ticks = [
        (_LEFT + (year - first) * slot + slot / 2, year)
        for year in range(first, last + 1)
        if year % step == 0 or (year == first and step == 1)
    ]
    if not ticks:
        ticks = [(_LEFT + slot / 2, first)]
    return Timeline(
        width=width, height=TIMELINE_HEIGHT, axis_y=axis, left=_LEFT, right=width - _RIGHT, top=_TOP,
        bottom=TIMELINE_HEIGHT - _BOTTOM, bars=bars, ticks=ticks, most=most, first_year=first, last_year=last,
    )  # fmt: skip
