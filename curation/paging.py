"""Pages of a public list: `?page=` and `?per_page=` read leniently, a size within a cap, counts bounded.

Every list of the atlas that can grow (the cited papers, the genes, a gene's or a
paper's mechanisms, a mechanism's evidence, a therapy's or a cancer type's, search results and the evidence table) pages
through `paginate`. What a reader types into the address is never an error: a page
number that is not a number is the first page, one past the end is the last, and a
page size that is not a number, or is below 1, is the default; one above the cap is
the cap. The queryset must end its ordering on a unique key, so that pages neither
overlap nor skip rows.

With `count_ahead`, the total is counted only up to a few pages past the one shown
(`SELECT COUNT(*) FROM (... LIMIT n)`), so that the first pages of a list of 100,000
papers cost what a short list costs; the page then says "of more than N".
"""

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.utils.functional import cached_property

# The sizes the page-size links offer; any size from 1 to a list's cap may be typed.
PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
# A page number with more digits than this is not a page anybody can reach: read it as the last.
_MAX_PAGE_DIGITS = 9


def _int_param(params, name: str) -> int | None:
    raw = str(params.get(name, "")).strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_PAGE_DIGITS:
        return None
    return int(raw)


def page_size(params, *, default: int = DEFAULT_PAGE_SIZE, cap: int = MAX_PAGE_SIZE) -> int:
    """The `per_page` asked for, within 1..cap; the default when it is missing or not a number."""
    size = _int_param(params, "per_page")
    if size is None or size < 1:
        return min(default, cap)
    return min(size, cap)


class _BoundedCountPaginator(Paginator):
    """A paginator that counts at most `limit` rows: past that it knows only that there are more."""

    def __init__(self, object_list, per_page, *, limit: int, counted=None):
        super().__init__(object_list, per_page)
        self.limit = limit
        self.counted = object_list if counted is None else counted

    @cached_property
    def count(self):
        # Only the keys, unordered: annotations and ORDER BY would otherwise be computed for each row counted.
        return self.counted.order_by().values("pk")[: self.limit].count()

    @property
    def exact(self) -> bool:
        return self.count < self.limit


@dataclass
class Paged:
    """One page of a list, as the pagination template shows it."""

    page: Page
    per_page: int
    exact: bool = True  # False: the list has more than `count` rows

    @property
    def rows(self) -> list:
        return list(self.page.object_list)

    @property
    def count(self) -> int:
        return self.page.paginator.count

    @property
    def known_count(self) -> int:
        """The rows known to exist: the count, or when it was cut short, the rows counted before the cut."""
        return self.count if self.exact else self.count - 1


class _KnownCountPaginator(Paginator):
    """A paginator told its count, for lists whose count another query already gave (search's facets)."""

    def __init__(self, object_list, per_page, count: int):
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self):
        return self._known_count


def paginate(
    queryset,
    params,
    *,
    default: int = DEFAULT_PAGE_SIZE,
    cap: int = MAX_PAGE_SIZE,
    count: int | None = None,
    count_ahead: int | None = None,
    counted=None,
) -> Paged:
    """The page of `queryset` that `params`' `page` and `per_page` ask for (see the module's docstring).

    `count`: the total, when another query already knows it. `count_ahead`: count the total only
    up to that many pages past the requested one, in `counted` if given (a cheaper queryset of
    the same rows, e.g. before a GROUP BY).
    """
    per_page = page_size(params, default=default, cap=cap)
    number = _int_param(params, "page")
    if count_ahead is None:
        paginator = Paginator(queryset, per_page) if count is None else _KnownCountPaginator(queryset, per_page, count)
        return Paged(page=paginator.get_page(number or 1), per_page=per_page)
    wanted = number or 1
    limit = (wanted + count_ahead) * per_page + 1
    paginator = _BoundedCountPaginator(queryset, per_page, limit=limit, counted=counted)
    page = paginator.get_page(wanted)
    return Paged(page=page, per_page=per_page, exact=paginator.exact)
