"""The API's documentation page in Chromium, under the strict Content-Security-Policy the site sends.

The policy is added to the page's response here, as the site's CSP middleware sends it: scripts,
styles and fonts from our own origin only, no inline script or style, no eval. Swagger UI must
render every operation and then try one out without a single violation.
"""

import pytest

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def test_a_reader_browses_the_api_docs_and_tries_an_operation(live_server, new_page, published_atlas):
    page = new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text else None)

    def with_csp(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

    page.route(f"{live_server.url}/api/docs/", with_csp)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector("text=/api/mechanisms/{slug}/")
    assert page.locator(".opblock").count() == 13
    page.click("#operations-genes-genes_retrieve .opblock-summary")
    page.click("text=Try it out")
    page.fill("input[placeholder='symbol']", "B2M")
    page.click("text=Execute")
    # The live answer's table, not the documented responses below it.
    page.wait_for_selector(".live-responses-table .response-col_status >> text=200")
    assert "beta-2-microglobulin" in page.locator(".live-responses-table").inner_text()
    screenshot(page, "api-docs")
    assert violations == []
