"""Pages of a result list: a size the reader picks within a cap, and a known count reused."""

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.utils.functional import cached_property

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25


def page_size(params, default: int = DEFAULT_PAGE_SIZE) -> int:
    """The `per_page` the reader asked for if it is one of PAGE_SIZES, else `default`."""
    try:
        size = int(params.get("per_page", default))
    except (TypeError, ValueError):
        return default
    return size if size in PAGE_SIZES else default


class _CountedPaginator(Paginator):
    """A paginator told its count, for lists whose count another query already gave."""

    def __init__(self, object_list, per_page, count: int):
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self):
        return self._known_count


@dataclass
class Paged:
    page: Page
    per_page: int

    @property
    def rows(self) -> list:
        return list(self.page.object_list)


def paginate(queryset, params, *, count: int | None = None, default_size: int = DEFAULT_PAGE_SIZE) -> Paged:
    """The page `params` asks for (`page`, `per_page`); a page past the end is the last page.

    The queryset must be ordered on a unique key last, so that pages never overlap.
    """
    per_page = page_size(params, default_size)
    paginator = Paginator(queryset, per_page) if count is None else _CountedPaginator(queryset, per_page, count)
    return Paged(page=paginator.get_page(params.get("page")), per_page=per_page)
