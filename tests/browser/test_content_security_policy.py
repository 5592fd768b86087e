"""Every page still works in a real browser under the strict Content-Security-Policy.

Chromium reports each thing the policy blocks as a `securitypolicyviolation`
event (recorded by tests/browser/conftest.py). A reader's pages and a curator's
admin pages are opened and their scripts exercised: the slug that follows the
name, autocomplete, adding an inline row, collapsible fieldsets, the date
hierarchy, "select all" for actions, the two-list group picker, the calendar,
the theme switch, the history and diff pages. No page may report a violation,
and each feature must still work, which it would not if its script were blocked.
"""

import pytest

from curation.models import CitationUpdate, MetadataState, RefreshRun, Status
from tests.browser.conftest import sign_in, violations
from tests.factories import make_evidence, make_gene, make_mechanism, make_reference

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def atlas(dana):
    gene = make_gene("B2M", name="beta-2-microglobulin")
    reference = make_reference(pmid=29968044, abstract=[{"label": "RESULTS", "text": "<i>B2M</i> was lost."}])
    mechanism = make_mechanism("Loss of B2M", slug="b2m-loss", status=Status.PUBLISHED, genes=[gene])
    make_evidence(mechanism, reference)
    draft = make_mechanism("Epigenetic silencing", created_by=dana, updated_by=dana)
    draft.summary = "A second version, so that the history has something to compare."
    draft.save()
    make_reference(pmid=31000001, metadata_state=MetadataState.NEEDS_REVIEW)
    update = CitationUpdate.objects.create(reference=reference, diff={"pages": {"old": "1-9", "new": "1-10"}})
    RefreshRun.objects.create(scope=RefreshRun.Scope.ALL, requested_by=dana, state=RefreshRun.State.FINISHED)
    return {"mechanism": mechanism, "draft": draft, "reference": reference, "update": update}


def test_no_page_breaks_the_content_security_policy(live_server, new_page, atlas, dana):
    page = new_page()
    base = live_server.url
    blocked = {}

    def visit(path):
        response = page.goto(base + path)
        assert response.status < 500, path
        page.wait_for_load_state("load")
        return response

    def record(label):
        found = violations(page)
        if found:
            blocked[label] = found

    # A reader's pages.
    for path in ["/", "/mechanisms/?q=b2m", "/mechanisms/b2m-loss/", "/references/29968044/", "/genes/B2M/"]:
        visit(path)
        record(path)
    assert visit("/no-such-page/").status == 404
    record("404")

    visit("/admin/login/")
    record("sign-in page")
    sign_in(page, live_server, "dana")
    page.click("button.theme-toggle")
    record("admin index, theme switch")

    # A new mechanism: the slug follows the name, genes autocomplete, another evidence row, the fieldsets.
    visit("/admin/curation/mechanism/add/")
    page.fill("#id_name", "Loss of JAK1")
    page.press("#id_name", "Tab")
    assert page.input_value("#id_slug") == "loss-of-jak1"
    page.click(".field-genes .select2-selection")
    page.fill(".select2-container--open .select2-search__field", "B2M")
    page.click(".select2-results__option:has-text('B2M')")
    assert "B2M" in page.inner_text(".field-genes")
    rows = page.locator("tr.dynamic-evidence").count()
    page.click("#evidence-group .add-row a")
    assert page.locator("tr.dynamic-evidence").count() == rows + 1
    page.click("fieldset details summary >> nth=0")  # a collapsed fieldset opens
    record("mechanism add form")

    visit("/admin/curation/mechanism/")
    page.check("#action-toggle")
    assert page.locator("input.action-select:checked").count() == page.locator("input.action-select").count()
    record("mechanism list, select all")

    visit(f"/admin/curation/mechanism/{atlas['mechanism'].pk}/change/")
    record("published mechanism page")
    draft = atlas["draft"].pk
    visit(f"/admin/curation/mechanism/{draft}/history/")
    page.click("input[value='Compare selected versions']")
    page.wait_for_selector(".history-diff")
    record("history and diff")
    first = atlas["draft"].history.earliest().history_id
    visit(f"/admin/curation/mechanism/{draft}/history/{first}/revert/")
    record("revert page")

    visit("/admin/curation/refreshrun/")
    page.click("nav.toplinks a >> nth=-1")  # a day of the date hierarchy
    page.wait_for_load_state("load")
    record("refresh runs, date hierarchy")

    visit(f"/admin/auth/user/{dana.pk}/change/")
    assert page.locator("#id_groups_from").count() == 1  # SelectFilter2 built the two lists
    page.click(".datetimeshortcuts a >> nth=1")  # the calendar of the last-login date
    assert page.locator(".calendarbox").first.is_visible()
    record("user page: group picker, calendar")

    for path in [
        f"/admin/curation/reference/{atlas['reference'].pk}/change/",
        f"/admin/curation/citationupdate/{atlas['update'].pk}/change/",
        "/admin/curation/reference/?metadata_state__exact=needs-review",
        "/admin/curation/reference/import/",
        "/admin/curation/reference/add-pmids/",
        "/admin/curation/evidence/",
        "/admin/axes/accessattempt/",
        "/curation/dashboard/",
    ]:
        visit(path)
        record(path)

    assert blocked == {}
