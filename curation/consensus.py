"""How the published evidence of a mechanism adds up: for and against, by level and model system.

The rules (docs/consensus.md has them in full, with the verdict's wording):

- Only primary evidence counts. Review articles (`EvidenceQuerySet.reviews()`) are listed on the
  page but never counted; the panel says how many there are.
- The unit is a paper: a paper counts once on each side it takes, however many claims it backs.
  Breakdowns (by level, by model system, by kind of study) count papers per row, so a paper that
  shows a claim in mice and in cell lines is one paper in the total and one in each row.
- A mechanism's consensus includes the published evidence of the published mechanisms below it
  (the tree is at most three levels deep), so a branch says what its sub-mechanisms show.
- Contestedness = 2 × min(S, R) / (S + R), where S and R are the papers that support and refute:
  0 when every paper agrees, 1 when they split evenly; nothing when there is no primary evidence.

Everything is computed by the database in one statement for any number of mechanisms
(`for_mechanisms`), so a page of search results or of the mechanism list costs one query.
"""

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Case, CharField, Count, F, IntegerField, Q, Value, When
from django.db.models.functions import Coalesce

from curation.models import (
    REVIEW_CONDITION,
    Direction,
    Evidence,
    EvidenceLevel,
    Mechanism,
    ModelSystem,
    Status,
)


@dataclass(frozen=True)
class StudyKind:
    """How the verdict names papers of some model systems ("2 mouse studies")."""

    key: str
    singular: str
    plural: str
    systems: tuple[str, ...]

    def phrase(self, n: int) -> str:
        return f"{n} {self.singular if n == 1 else self.plural}"


# Strongest first: the verdict names the kinds in this order.
STUDY_KINDS = (
    StudyKind("trial", "clinical trial", "clinical trials", (ModelSystem.CLINICAL_TRIAL,)),
    StudyKind("cohort", "clinical cohort", "clinical cohorts", (ModelSystem.PATIENT_COHORT,)),
    StudyKind("case", "case report", "case reports", (ModelSystem.CASE_REPORT,)),
    StudyKind(
        "mouse",
        "mouse study",
        "mouse studies",
        (ModelSystem.SYNGENEIC_MOUSE, ModelSystem.ENGINEERED_MOUSE, ModelSystem.XENOGRAFT),
    ),
    StudyKind("in-vitro", "in-vitro study", "in-vitro studies", (ModelSystem.ORGANOID, ModelSystem.CELL_LINE)),
    StudyKind("screen", "screen", "screens", (ModelSystem.SCREEN,)),
    StudyKind("computational", "computational study", "computational studies", (ModelSystem.COMPUTATIONAL,)),
)
CONTESTED_FORMULA = "contested = 2 × min(supporting, refuting) / (supporting + refuting)"
NO_PRIMARY = "No primary evidence yet"


def contestedness(supports: int, refutes: int) -> float | None:
    """2·min(S, R)/(S + R): 0 when all papers agree, 1 for an even split; None without papers."""
    total = supports + refutes
    return None if total == 0 else 2 * min(supports, refutes) / total


def _join(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


@dataclass
class Consensus:
    """The primary evidence of one mechanism (and the published mechanisms below it), in papers."""

    supports: int = 0
    refutes: int = 0
    reviews: int = 0  # review articles: listed, not counted
    first_year: int | None = None
    last_year: int | None = None
    by_level: dict[tuple[str, str], int] = field(default_factory=dict)  # (direction, level) -> papers
    by_system: dict[tuple[str, str], int] = field(default_factory=dict)  # (direction, model system) -> papers
    by_kind: dict[tuple[str, str], int] = field(default_factory=dict)  # (direction, StudyKind.key) -> papers
    years: dict[int, dict[str, int]] = field(default_factory=dict)  # year -> {direction: papers}

    @property
    def has_primary(self) -> bool:
        return bool(self.supports or self.refutes)

    @property
    def contested(self) -> float | None:
        return contestedness(self.supports, self.refutes)

    @property
    def contested_percent(self) -> int | None:
        return None if self.contested is None else round(100 * self.contested)

    def _kinds(self, direction: str) -> str:
        phrases = [
            kind.phrase(self.by_kind[direction, kind.key])
            for kind in STUDY_KINDS
            if self.by_kind.get((direction, kind.key))
        ]
        return _join(phrases) if phrases else ""

    @property
    def verdict(self) -> str:
        """One line in words: "Supported by 3 clinical cohorts and 2 mouse studies; 1 in-vitro study disagrees"."""
        if not self.has_primary:
            if self.reviews == 1:
                return f"{NO_PRIMARY}: only 1 review discusses it"
            if self.reviews:
                return f"{NO_PRIMARY}: only {self.reviews} reviews discuss it"
            return NO_PRIMARY
        support, refute = self._kinds(Direction.SUPPORTS), self._kinds(Direction.REFUTES)
        if not self.refutes:
            return f"Supported by {support}"
        if not self.supports:
            return f"Refuted by {refute}; no primary study supports it"
        if self.supports >= self.refutes:
            return f"Supported by {support}; {refute} {'disagrees' if self.refutes == 1 else 'disagree'}"
        return f"Contested: refuted by {refute}; {support} {'supports' if self.supports == 1 else 'support'} it"

    @property
    def year_span(self) -> str:
        if self.first_year is None:
            return ""
        return str(self.first_year) if self.first_year == self.last_year else f"{self.first_year}–{self.last_year}"

    def rows(self, which: str) -> list[dict]:
        """The panel's table rows for "level" or "system": label, supporting and refuting papers."""
        counts, choices = (self.by_level, EvidenceLevel) if which == "level" else (self.by_system, ModelSystem)
        rows = []
        for value, label in choices.choices:
            s, r = counts.get((Direction.SUPPORTS, value), 0), counts.get((Direction.REFUTES, value), 0)
            if s or r:
                rows.append({"value": value, "label": label, "supports": s, "refutes": r})
        return rows

    @property
    def level_rows(self) -> list[dict]:
        return self.rows("level")

    @property
    def system_rows(self) -> list[dict]:
        return self.rows("system")

    def timeline(self) -> list[tuple[int, int, int]]:
        """(year, supporting papers, refuting papers), oldest first, for the years with any."""
        return [
            (year, counts.get(Direction.SUPPORTS, 0), counts.get(Direction.REFUTES, 0))
            for year, counts in sorted(self.years.items())
        ]


def for_mechanisms(mechanisms, *, with_years: bool = False) -> dict[int, Consensus]:
    """{pk: Consensus} for mechanisms (instances or primary keys), in one query whatever their number.

    Every pk asked for is in the answer; a mechanism without published primary evidence gets
    an empty Consensus (`has_primary` False). With `with_years`, papers per year as well.
    """
    pks = sorted({getattr(m, "pk", m) for m in mechanisms})
    result = {pk: Consensus() for pk in pks}
    if not pks:
        return result
    with connection.cursor() as cursor:
        cursor.execute(*_sql(pks, with_years))
        rows = cursor.fetchall()
    for kind, target, direction, value, papers, first, last in rows:
        consensus = result[target]
        if kind == "reviews":
            consensus.reviews = papers
        elif kind == "total":
            setattr(consensus, "supports" if direction == Direction.SUPPORTS else "refutes", papers)
            # The span covers both sides: the earliest and latest year of any primary paper.
            consensus.first_year = min((y for y in (consensus.first_year, first) if y is not None), default=None)
            consensus.last_year = max((y for y in (consensus.last_year, last) if y is not None), default=None)
        elif kind == "level":
            consensus.by_level[direction, value] = papers
        elif kind == "system":
            consensus.by_system[direction, value] = papers
        elif kind == "kind":
            consensus.by_kind[direction, value] = papers
        elif kind == "year":
            consensus.years.setdefault(int(value), {})[direction] = papers
    return result


def for_mechanism(mechanism, *, with_years: bool = True) -> Consensus:
    return for_mechanisms([mechanism], with_years=with_years)[mechanism.pk]


# Each item is attributed to its own mechanism, its parent and its grandparent (the tree is at
# most three levels deep); only the mechanisms asked for are then kept, so COUNT(DISTINCT) over
# that set counts a paper cited by a parent and by its child once for the parent.
_ATTRIBUTED = (
    "SELECT e_m AS t, e_r, e_d, e_l, e_s, e_k, e_v, e_y FROM e UNION ALL "
    "SELECT e_p AS t, e_r, e_d, e_l, e_s, e_k, e_v, e_y FROM e WHERE e_p IS NOT NULL UNION ALL "
    "SELECT e_g AS t, e_r, e_d, e_l, e_s, e_k, e_v, e_y FROM e WHERE e_g IS NOT NULL"
)
# One row per (grouping, mechanism, direction, value); e_v is 1 for a review, which only "reviews" counts.
_GROUPINGS = (
    "SELECT 'total' AS k, t, e_d AS d, '' AS v, COUNT(DISTINCT e_r) AS n, MIN(e_y) AS y0, MAX(e_y) AS y1 "
    "FROM a WHERE e_v = 0 GROUP BY t, e_d",
    "SELECT 'level', t, e_d, e_l, COUNT(DISTINCT e_r), NULL, NULL FROM a WHERE e_v = 0 GROUP BY t, e_d, e_l",
    "SELECT 'system', t, e_d, e_s, COUNT(DISTINCT e_r), NULL, NULL FROM a WHERE e_v = 0 GROUP BY t, e_d, e_s",
    "SELECT 'kind', t, e_d, e_k, COUNT(DISTINCT e_r), NULL, NULL FROM a WHERE e_v = 0 GROUP BY t, e_d, e_k",
    "SELECT 'reviews', t, '', '', COUNT(DISTINCT e_r), NULL, NULL FROM a WHERE e_v = 1 GROUP BY t",
)
_YEARS = (
    "SELECT 'year', t, e_d, CAST(e_y AS TEXT), COUNT(DISTINCT e_r), NULL, NULL FROM a "
    "WHERE e_v = 0 AND e_y IS NOT NULL GROUP BY t, e_d, e_y"
)


def _sql(pks: list[int], with_years: bool) -> tuple[str, list]:
    """One statement over the published evidence of the mechanisms and of those below them.

    Nothing is interpolated but the fixed SQL above and one placeholder per mechanism.
    """
    # The subtrees' mechanisms first, as a union of three indexed reads of the mechanism table
    # (the mechanisms, their children, their grandchildren), then their evidence through its
    # mechanism index: an OR over joins would make PostgreSQL scan every evidence item.
    mechanisms = Mechanism.objects.order_by()
    children = mechanisms.filter(parent_id__in=pks).values("pk")
    subtrees = (
        mechanisms.filter(pk__in=pks)
        .values("pk")
        .union(
            children, mechanisms.filter(parent_id__in=mechanisms.filter(parent_id__in=pks).values("pk")).values("pk")
        )
    )
    public = Q(mechanism__status=Status.PUBLISHED, mechanism__revision_of__isnull=True)
    study_kind = Case(
        *(When(model_system__in=kind.systems, then=Value(kind.key)) for kind in STUDY_KINDS),
        default=Value(""),
        output_field=CharField(),
    )
    inner, params = (
        Evidence.objects.filter(public, mechanism_id__in=subtrees)
        .order_by()
        .values(
            e_m=F("mechanism_id"),
            e_p=F("mechanism__parent_id"),
            e_g=F("mechanism__parent__parent_id"),
            e_r=F("reference_id"),
            e_d=F("direction"),
            e_l=F("level"),
            e_s=F("model_system"),
            e_k=study_kind,
            e_v=Case(When(REVIEW_CONDITION, then=Value(1)), default=Value(0), output_field=IntegerField()),
            e_y=F("reference__pub_year"),
        )
        .query.sql_with_params()
    )
    placeholders = ", ".join(["%s"] * len(pks))
    groupings = [*_GROUPINGS, _YEARS] if with_years else list(_GROUPINGS)
    sql = "WITH e AS (" + inner + "), a AS (SELECT * FROM (" + _ATTRIBUTED + ") AS attributed "  # noqa: S608
    sql += "WHERE t IN (" + placeholders + ")) " + " UNION ALL ".join(groupings)
    return sql, [*params, *pks]


def papers_by_top_level() -> dict[int, int]:
    """{top-level mechanism pk: its primary papers, its whole subtree included}, in one query.

    What the home map ranks its tiles by: one grouping over the published evidence, where
    `for_mechanisms` makes five over three copies of it, so that the map weighs every
    top-level mechanism cheaply and then the full consensus of only the tiles it draws. A
    paper that both supports and refutes counts once here (the map's size is "how much is
    known"); a published child of an unpublished parent counts for that parent, which the
    map does not show.
    """
    top = Coalesce("mechanism__parent__parent_id", "mechanism__parent_id", "mechanism_id")
    rows = (
        Evidence.objects.published()
        .primary()
        .annotate(top=top)
        .order_by()
        .values("top")
        .annotate(papers=Count("reference_id", distinct=True))
        .values_list("top", "papers")
    )
    return dict(rows)


def published_without_primary_evidence():
    """Published mechanisms with no primary evidence of their own nor below them (should be none)."""
    has = Evidence.objects.published().exclude(REVIEW_CONDITION)
    # NOT IN over a list holding NULL is never true: leave the roots' missing parents out.
    return (
        Mechanism.objects.published()
        .exclude(pk__in=has.values("mechanism_id"))
        .exclude(pk__in=has.filter(mechanism__parent__isnull=False).values("mechanism__parent_id"))
        .exclude(pk__in=has.filter(mechanism__parent__parent__isnull=False).values("mechanism__parent__parent_id"))
    )
