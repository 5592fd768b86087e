"""The OpenAPI schema's view of every operation: its 200 body plus the errors it can answer.

drf-spectacular documents only successes; the API also answers 400 (a bad
filter, page size, ordering or cursor), 404 (no published object has this id),
410 (a retired mechanism) and 429 (past the anonymous rate, with Retry-After).
Documenting them lets clients, and the schema-driven tests, expect them.
"""

from drf_spectacular.openapi import AutoSchema

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_FIELD_ERRORS = {
    "type": "object",
    "description": "Messages per query parameter.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}


def _error(description: str, schema: dict, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


class AtlasAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        responses["429"] = _error(
            "Too many requests from this address; wait `Retry-After` seconds.",
            _DETAIL,
            {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
        )
        if self._is_list_view() or getattr(self.view, "validates_query", False):
            responses["400"] = _error("A query parameter is malformed; the body names it.", _FIELD_ERRORS)
        if "{" in self.path:
            responses["404"] = _error("No published object has this identifier.", _DETAIL)
        for status, description in getattr(self.view, "extra_responses", {}).items():
            responses[str(status)] = _error(description, _DETAIL)
        return responses
