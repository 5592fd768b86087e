"""Finding published content: the site's search, the mechanism list and the evidence table.

- query.py    what a reader typed, as web-search syntax (Django-free)
- text.py     matching and ranking by that query: PostgreSQL full text, or a substring fallback
- snippets.py highlighted passages that carry no markup but the highlight
- facets.py   the facets (declared once) that narrow results, and their counts
- evidence.py the published evidence, as search and the evidence table see it
- site.py     `/search/`; mechanisms.py: `/mechanisms/` (pages come from curation.paging)
"""

from curation.search.evidence import browse_evidence
from curation.search.mechanisms import (
    MechanismFilterForm,
    filter_mechanisms,
    ranked_mechanisms,
    search_mechanisms,
    text_match,
)
from curation.search.site import site_search

__all__ = [
    "MechanismFilterForm",
    "browse_evidence",
    "filter_mechanisms",
    "ranked_mechanisms",
    "search_mechanisms",
    "site_search",
    "text_match",
]
