"""The read API under /api/: published content only, anonymous, read-only (docs/api.md).

- `views`: one list and one detail view per resource of `curation.serializers.RESOURCES`, search, docs.
- `filters`: the query-string filters (django-filter), matching the site's facets.
- `pagination`: keyset pages of up to API_MAX_PAGE_SIZE items in a deterministic order, with links.
- `throttling`: the anonymous request rate (API_THROTTLE_RATE); `http`: ETag/304 and gzip per view.
- `schema`: the OpenAPI 3 schema's error responses; `urls`: the routes.
"""
