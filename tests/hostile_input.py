"""Generated hostile input for every page, form, admin list and management command.

Nothing here is written per page. Pages come from walking the URL resolver
(`endpoints`), so a page added later is fuzzed without anyone listing it; the
values of its path parameters come from `PATH_VALUES`, keyed by parameter
name, and a parameter with no entry fails
`test_every_url_pattern_has_a_strategy`. Query and form fields come from what
the page itself shows a browser (`discover`: the forms in its HTML, and for an
admin list every filter, the date hierarchy, search, ordering and paging), so
a new form or filter is fuzzed as soon as it is rendered.
"""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

from django.contrib import admin
from django.contrib.admin.utils import quote as admin_quote
from django.contrib.admin.views.main import ALL_VAR, ERROR_FLAG, IS_POPUP_VAR, ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern
from hypothesis import strategies as st

from curation.citations import FORMATS
from curation.models import CancerType, Evidence, Gene, Mechanism, Reference, ReferenceImport, SearchPreview, Therapy

# --- values -----------------------------------------------------------------------

# Classes of input that broke, or could break, a parser, a lookup or a database column. Each is
# one branch of `hostile_text`, so even a few examples per page try most of them.
ATTACKS = {
    "NUL and control characters": ["\x00", "a\x00b", "\x00" * 3, "\x1b[31m", "\r\n", "\x7f"],
    "integers out of range": [
        "2147483648",
        "-2147483649",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999",
        "99999999999999999999",
        "9" * 40,
    ],
    "numbers in odd spellings": ["-1", "-0", "+1", "0", "00", "1.5", "1e309", "nan", "inf", "0x10", " 1", "１２"],
    "impossible dates": ["0", "9999", "10000", "2024-02-30", "0000-00-00", "9999-12-31", "2024-13-01T25:61"],
    "markup and injection": [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "javascript:alert(1)",
        "' OR 1=1 --",
        "%",
        "_",
        "*",
        "\\",
        "../../../../etc/passwd",
        "{{ 7*7 }}",
        "[]",
        "{}",
        "null",
    ],
    "Unicode that changes length or direction": ["İ", "ß", "ﬁ", "\u202eevil", "\ufeff", "🧬", "Å", "\u0301"],
    "blank": ["", " ", "\t"],
}
overlong = st.sampled_from([201, 256, 1001, 5000]).map(lambda n: ("word " * n)[:n])
# Percent-encoded bytes that are not UTF-8 at all; a browser can send them in a query string or a form.
raw_bytes = st.binary(min_size=1, max_size=12)
# One strategy per class: an example picks a class, then uses it on every value it changes.
ATTACK_STRATEGIES = [
    *(st.sampled_from(values) for values in ATTACKS.values()),
    overlong,
    st.text(max_size=40),
    raw_bytes,
]
_attack = st.one_of(*ATTACK_STRATEGIES[:-1])
hostile_text = st.one_of(_attack, _attack, overlong, st.text(max_size=40), st.integers().map(str))


def near(known: list[str], attack=_attack):
    """A real value with something hostile before or after it ("B2M\x00"), or a real value as it is."""
    real = st.sampled_from(known)
    return st.one_of(real, st.tuples(real, attack).map("".join), st.tuples(attack, real).map("".join))


# --- pages ------------------------------------------------------------------------

_ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<regex>[^()]*)\)")


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern: its route from the root, its parameters' names and regexes, and its model admin."""

    route: str
    name: str
    parameters: tuple[tuple[str, str], ...]  # (name, regex a value must match)
    model_admin: admin.ModelAdmin | None = field(default=None, compare=False)
    callback: object = field(default=None, compare=False)  # the view

    @property
    def id(self) -> str:
        return self.name

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/")

    def path(self, values: dict[str, str]) -> str:
        def route_value(match):
            return quote(values[match["name"]].encode("utf-8", "surrogatepass"), safe="/")

        # Regex groups first: a group's own "(?P<name>" would otherwise read as a route parameter "<name>".
        path = _REGEX_GROUP.sub(route_value, self.route)
        path = _ROUTE_PARAMETER.sub(route_value, path)
        return "/" + path.replace("^", "").replace("$", "")


def _parameters(pattern) -> list[tuple[str, str]]:
    if isinstance(pattern, RoutePattern):
        return [(name, converter.regex) for name, converter in pattern.converters.items()]
    if isinstance(pattern, RegexPattern):
        return [(m["name"], m["regex"]) for m in _REGEX_GROUP.finditer(pattern._regex)]
    raise TypeError(f"unknown kind of URL pattern: {pattern!r}")


def _admin_for(route: str):
    """The ModelAdmin whose URLs live under admin/<app_label>/<model_name>/."""
    for model, model_admin in admin.site._registry.items():
        if route.startswith(f"admin/{model._meta.app_label}/{model._meta.model_name}/"):
            return model_admin
    return None


def endpoints(resolver=None, prefix="", parameters=()) -> list[Endpoint]:
    """Every URL pattern the project answers, admin included, found by walking the resolver."""
    resolver = resolver or get_resolver()
    found = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        params = (*parameters, *_parameters(pattern.pattern))
        if isinstance(pattern, URLResolver):
            found += endpoints(pattern, route, params)
        elif isinstance(pattern, URLPattern):
            name = pattern.name or f"unnamed: {route}"
            found.append(Endpoint(route, name, tuple(params), _admin_for(route), pattern.callback))
    return found


def _model_ids(endpoint, limit=5) -> list[str]:
    # The admin's "view on site" link takes a content type and an object: a mechanism's, which has a page.
    # The API's evidence is addressed by its id; every other id belongs to the admin the route is under.
    model = (
        Mechanism
        if endpoint.name == "view_on_site"
        else Evidence
        if endpoint.route.startswith("api/evidence/")
        else getattr(endpoint.model_admin, "model", None)
    )
    if model is None:
        return ["1"]
    ids = model._default_manager.order_by("pk").values_list("pk", flat=True)[:limit]
    return [admin_quote(str(pk)) for pk in ids] or ["1"]


def _slugged(endpoint):
    """The model whose slugs a page's `slug` names: a therapy's or cancer type's page, else a mechanism's."""
    return {"therapy-detail": Therapy, "cancer-type-detail": CancerType}.get(endpoint.name, Mechanism)


def _history_ids(endpoint, limit=5) -> list[str]:
    model = endpoint.model_admin.model if endpoint.model_admin else None
    if model is None or not hasattr(model, "history"):
        return ["1"]
    return [str(pk) for pk in model.history.order_by("history_id").values_list("history_id", flat=True)[:limit]]


def _slugs(endpoint, limit=8) -> list[str]:
    """Slugs of the rows the route names (therapies, cancer types), else of mechanisms."""
    model = Therapy if "therapies" in endpoint.route else CancerType if "cancer-types" in endpoint.route else Mechanism
    return list(model.objects.order_by("pk").values_list("slug", flat=True)[:limit])


# Realistic values for each path parameter, by name, so that the fuzz reaches the view's own
# code and not just its 404. A new parameter name needs an entry (the coverage test says so).
PATH_VALUES = {
    "object_id": _model_ids,
    "id": _model_ids,
    "history_id": _history_ids,
    "import_id": lambda endpoint: [str(pk) for pk in ReferenceImport.objects.values_list("pk", flat=True)[:5]],
    "preview_id": lambda endpoint: [str(pk) for pk in SearchPreview.objects.values_list("pk", flat=True)[:5]],
    "content_type_id": lambda endpoint: [
        str(ContentType.objects.get_for_model(Mechanism).pk),
        *(str(pk) for pk in ContentType.objects.values_list("pk", flat=True)[:5]),
    ],
    "app_label": lambda endpoint: sorted({model._meta.app_label for model in admin.site._registry}),
    "url": lambda endpoint: ["", "nothing/", "curation/nothing/"],
    "slug": lambda endpoint: _slugs(endpoint),
    "pmid": lambda endpoint: [str(p) for p in Reference.objects.order_by("pk").values_list("pmid", flat=True)[:8]],
    "fmt": lambda endpoint: sorted(FORMATS),
    "number": lambda endpoint: ["1", "2"],  # a mechanism's published versions, a data release
    "name": lambda endpoint: ["manifest.json", "changelog.json", "CITATION.ris", "mechanisms.tsv", "..", ".env"],
    "symbol": lambda endpoint: list(Gene.objects.order_by("pk").values_list("symbol", flat=True)[:8]),
}


def path_values(endpoint) -> dict[str, list[str]]:
    # An empty table still gets one plausible id, so the strategy is never empty.
    return {name: PATH_VALUES[name](endpoint) or ["1"] for name, _ in endpoint.parameters}


def path_strategy(endpoint, known: dict[str, list[str]]):
    """A dict of path parameter values: mostly real ones, sometimes anything the converter accepts."""
    return st.fixed_dictionaries(
        {
            name: st.one_of(
                st.sampled_from(known[name]),
                near(known[name]),
                st.from_regex(f"^(?:{regex})$", fullmatch=True).filter(lambda v: len(v) < 200),
            )
            for name, regex in endpoint.parameters
        }
    )


# --- what a page offers -------------------------------------------------------------


@dataclass
class Form:
    method: str
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # what the browser would send as shown
    options: dict[str, list[str]] = field(default_factory=dict)  # every value a select/radio/checkbox offers
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self, url):
        super().__init__()
        self.url, self.forms, self._select = url, [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(Form((a.get("method") or "get").lower(), urljoin(self.url, a.get("action") or "")))
            return
        if not self.forms or not a.get("name") and tag != "option":
            return
        form = self.forms[-1]
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            value = a.get("value") or ("on" if kind in ("checkbox", "radio") else "")
            if kind in ("submit", "image", "button"):
                form.buttons.append((a["name"], value))
            elif kind in ("checkbox", "radio"):
                form.options.setdefault(a["name"], []).append(value)
                if "checked" in a:
                    form.fields.append((a["name"], value))
            elif kind != "file":
                form.fields.append((a["name"], value))
        elif tag == "button" and (a.get("type") or "submit") == "submit":
            form.buttons.append((a["name"], a.get("value") or ""))
        elif tag == "textarea":
            form.fields.append((a["name"], ""))
        elif tag == "select":
            self._select = a["name"]
            form.options.setdefault(self._select, [])
        elif tag == "option" and self._select:
            form.options[self._select].append(a.get("value") or "")
            if "selected" in a:
                form.fields.append((self._select, a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def forms_of(html: str, url: str) -> list[Form]:
    parser = _FormParser(url)
    parser.feed(html)
    return parser.forms


GENERIC_ADMIN_LIST_PARAMETERS = [SEARCH_VAR, ORDER_VAR, PAGE_VAR, ALL_VAR, ERROR_FLAG, IS_POPUP_VAR, "_to_field"]


def changelist_queries(model_admin, user) -> tuple[list[list[tuple[str, str]]], dict[str, list[str]]]:
    """An admin list's own filter links as queries, and every parameter it understands with its values."""
    request = RequestFactory().get("/")
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    parameters = {name: [] for name in GENERIC_ADMIN_LIST_PARAMETERS}
    queries = [[], [(SEARCH_VAR, "b2m")], [(ORDER_VAR, "-1")], [(PAGE_VAR, "2")]]
    for spec in changelist.filter_specs:
        for name in spec.expected_parameters():
            parameters.setdefault(name, [])
        for choice in spec.choices(changelist):
            query = parse_qsl(choice["query_string"].lstrip("?"))
            queries.append(query)
            for name, value in query:
                parameters.setdefault(name, []).append(value)
    if changelist.date_hierarchy:
        parts = [f"{changelist.date_hierarchy}__{part}" for part in ("year", "month", "day")]
        queries.append(list(zip(parts, ["2024", "2", "29"], strict=True)))
        for name, value in zip(parts, ["2024", "2", "29"], strict=True):
            parameters[name] = [value]
    parameters[ORDER_VAR] += [str(i) for i in range(-len(changelist.list_display), len(changelist.list_display))]
    return queries, parameters


def autocomplete_queries() -> list[list[tuple[str, str]]]:
    """What select2 asks the admin's autocomplete view, for every autocomplete field of every admin."""
    queries = []
    for model, model_admin in admin.site._registry.items():
        for holder in [model_admin, *(inline(model, admin.site) for inline in model_admin.inlines)]:
            opts = holder.model._meta
            for field_name in holder.autocomplete_fields:
                queries.append(
                    [("term", "b"), ("app_label", opts.app_label), ("model_name", opts.model_name)]
                    + [("field_name", field_name), ("page", "1")]
                )
    return queries


# Views that JavaScript calls with parameters no form on a page shows.
SCRIPTED_QUERIES = {"autocomplete": autocomplete_queries}


@dataclass
class Submission:
    """One thing a page lets a browser send: a method, an address and its fields as a browser fills them."""

    method: str
    url: str  # "" for the page's own (possibly mutated) path
    pairs: list[tuple[str, str]]
    options: dict[str, list[str]] = field(default_factory=dict)


def discover(endpoint, client, path) -> list[Submission]:
    """Open the page as a browser would and collect what it lets a user send: its forms, filters and scripts."""
    response = client.get(path)
    is_html = response.get("Content-Type", "").startswith("text/html")
    forms = forms_of(response.content.decode("utf-8", "replace"), f"http://testserver{path}") if is_html else []
    submissions = [Submission("get", "", [])]
    for form in forms:
        target = urlsplit(form.action)
        if target.netloc != "testserver":
            continue
        pairs = list(form.fields) + form.buttons[:1]
        options = {name: values for name, values in form.options.items()}
        for name, value in form.buttons:
            options.setdefault(name, []).append(value)
        if form.method == "get":
            submissions.append(Submission("get", "" if target.path == path else target.path, pairs, options))
        else:
            submissions.append(Submission("post", target.path, pairs, options))
    if endpoint.model_admin is not None and endpoint.name.endswith("_changelist"):
        queries, parameters = changelist_queries(endpoint.model_admin, response.wsgi_request.user)
        submissions += [Submission("get", "", query, parameters) for query in queries]
    for query in SCRIPTED_QUERIES.get(endpoint.name, list)():
        submissions.append(Submission("get", "", query, {name: [value] for name, value in query}))
    return submissions


def _encode(pairs) -> str:
    return urlencode(list(pairs))


@st.composite
def mutated(draw, submission: Submission) -> str:
    """The submission's fields, urlencoded, after one class of attack on one to four of them.

    A changed field gets a value of the attack's class, alone or around one of
    the field's real values, or is dropped or repeated. Sometimes a field the
    page never sends is added.
    """
    attack = draw(st.sampled_from(ATTACK_STRATEGIES))
    pairs = list(submission.pairs)
    names = sorted({name for name, _ in pairs} | set(submission.options))
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True)) if names else []
    for name in chosen:
        known = sorted({v for v in submission.options.get(name, []) if v} | {v for n, v in pairs if n == name and v})
        value = draw(st.one_of(attack, near(known, attack)) if known and attack is not raw_bytes else attack)
        how = draw(st.sampled_from(["replace", "replace", "replace", "drop", "repeat"]))
        if how == "repeat":
            pairs.append((name, value))
        else:
            pairs = [(n, v) for n, v in pairs if n != name] + ([(name, value)] if how == "replace" else [])
    if draw(st.integers(0, 4)) == 0:
        pairs.append((draw(hostile_text), draw(attack)))
    return _encode(pairs)
