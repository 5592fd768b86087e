"""Every response tells the browser to run only the atlas's own scripts and to deny powerful features.

The policy is strict: scripts and styles from the atlas's origin only, no inline
script or style, no plugins, no framing, forms post only to the atlas. The
browser tests (tests/browser/test_content_security_policy.py) check that every
page still works under it; here the headers and the templates are checked.
"""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from curation.models import Status
from tests.admin_pages import signed_in
from tests.factories import make_evidence, make_mechanism

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def policy(response) -> dict[str, list[str]]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.fixture
def pages(dana):
    mechanism = make_mechanism("Loss of B2M", slug="b2m-loss", status=Status.PUBLISHED)
    make_evidence(mechanism)
    return [
        (None, "/"),
        (None, "/mechanisms/"),
        (None, "/mechanisms/b2m-loss/"),
        (None, "/no-such-page/"),
        (None, reverse("admin:login")),
        (dana, reverse("admin:index")),
        (dana, reverse("admin:curation_mechanism_change", args=[mechanism.pk])),
    ]


def test_every_page_sends_a_strict_content_security_policy(client, pages):
    for user, url in pages:
        response = (signed_in(user) if user else client).get(url)
        directives = policy(response)
        assert directives["default-src"] == ["'self'"], url
        assert directives["script-src"] == ["'self'"], url
        assert directives["style-src"] == ["'self'"], url
        assert directives["object-src"] == ["'none'"], url
        assert directives["base-uri"] == ["'none'"], url
        assert directives["frame-ancestors"] == ["'none'"], url
        assert directives["form-action"] == ["'self'"], url


def test_every_page_denies_powerful_browser_features_and_cross_origin_openers(client, pages):
    for user, url in pages:
        response = (signed_in(user) if user else client).get(url)
        features = dict(item.split("=", 1) for item in response["Permissions-Policy"].split(", "))
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert features[feature] == "()", (url, feature)
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert response["X-Content-Type-Options"] == "nosniff", url


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")", re.I), "an inline <script>"),
    (re.compile(r"<style", re.I), "a <style> element"),
    (re.compile(r"\sstyle=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+=", re.I), "an event-handler attribute"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def test_no_template_has_inline_script_or_style_that_the_policy_would_block():
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text()
        found += [f"{template.relative_to(TEMPLATES)}: {what}" for pattern, what in INLINE if pattern.search(text)]
    assert found == []
