"""PubMed's and curators' text cannot run script on any page that shows it, public or admin.

Every text field a page shows carries markup that runs script if it reaches
the page unescaped or unsanitised. Stored as it is (as if a sanitiser had been
bypassed upstream), it must still arrive as text or allow-listed markup: no
element with an event handler, no `javascript:` link, no script that ran
(`window.__xss` stays unset), and nothing for the Content-Security-Policy to
block, which it would report if an injected <script> reached the page.
"""

import pytest
from django.test import Client

from curation import workflow
from curation.models import (
    Candidate,
    CitationUpdate,
    DataRelease,
    MetadataState,
    ReferenceImport,
    RefreshItem,
    RefreshRun,
    SavedSearch,
    SearchPreview,
    SearchRun,
    Status,
    Suggestion,
)
from tests import hostile_input
from tests.browser.conftest import sign_in, violations
from tests.factories import make_cancer_type, make_evidence, make_gene, make_mechanism, make_reference, make_therapy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = (  # short enough for a 200-character name with its label
    "<script>__xss=1</script><img src=x onerror=__xss=2><a href=javascript:__xss=3>a</a>"
    "<svg onload=__xss=4></svg>\"'><b onmouseover=__xss=5>b</b>"
)
INJECTED = """() => ({
  xss: window.__xss || null,
  handlers: [...document.querySelectorAll("*")].flatMap(
    (el) => [...el.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${el.tagName} ${a.name}`)),
  jsLinks: [...document.querySelectorAll("[href^='javascript'], [src^='javascript']")].map((el) => el.outerHTML),
  dialogs: window.__dialogs || 0,
})"""


@pytest.fixture
def hostile_atlas(alice, bob, dana):
    def text(label):
        return f"{label} {HOSTILE}"

    gene = make_gene("HOST1", name=text("gene"))
    therapy = make_therapy(text("therapy")[:120], slug="hostile-therapy")
    cancer_type = make_cancer_type(text("cancer")[:120], slug="hostile-cancer")
    reference = make_reference(
        pmid=29968044,
        title=text("title"),
        journal_title=text("journal"),
        journal_iso="J <script>x</script>",
        authors=[  # every key the parser writes (curation.pubmed_records), as the API's serializer expects
            {
                "last_name": text("Doe"),
                "fore_name": "<img src=x onerror=alert(1)>",
                "initials": "J",
                "collective_name": "",
                "orcid": "",
            },
            {"last_name": "", "fore_name": "", "initials": "", "collective_name": text("group"), "orcid": ""},
        ],
        abstract=[{"label": text("label")[:60], "text": text("abstract")}],
        keywords=[text("keyword")],
        mesh_terms=[text("mesh")],
        metadata_state=MetadataState.NEEDS_REVIEW,
        last_error=text("error"),
    )
    published = make_mechanism(
        text("name"),
        slug="hostile",
        status=Status.PUBLISHED,
        summary=text("summary"),
        strategies=text("strategies"),
        genes=[gene],
        therapies=[therapy],
        cancer_types=[cancer_type],
    )
    make_evidence(published, reference, statement=text("statement"), locator=text("locator")[:100], therapy=therapy)
    draft = make_mechanism(text("draft"), created_by=alice, updated_by=alice, summary=text("draft summary"))
    make_evidence(draft, reference, statement=text("draft statement"))
    workflow.submit(draft, by=alice)
    workflow.reject(draft, by=bob, reason=text("reason"))
    draft.refresh_from_db()
    update = CitationUpdate.objects.create(
        reference=reference, diff={"title": {"old": text("old title"), "new": text("new title")}}
    )
    run = RefreshRun.objects.create(
        scope=RefreshRun.Scope.ALL, requested_by=dana, state=RefreshRun.State.FAILED, error=text("run error")
    )
    RefreshItem.objects.create(run=run, reference=reference, outcome=RefreshItem.Outcome.FAILED, error=text("item"))
    reference_import = ReferenceImport.objects.create(
        state=ReferenceImport.State.READY,
        entries=[{"line": 1, "text": text("line"), "status": "not_found", "pmid": None, "detail": text("detail")}],
    )
    # Literature triage and releases: PubMed's text in the queue (highlighted: markup is built around it),
    # NCBI's messages on saved searches and previews, readers' suggestions, a release's changelog.
    search = SavedSearch.objects.create(
        name=text("search")[:120],
        query="HOST1 AND resistance",
        translation=text("translation"),
        ncbi_errors=[text("ncbi error")],
        ncbi_warnings=[text("ncbi warning")],
        created_by=alice,
    )
    search.mechanisms.add(published)
    SearchRun.objects.create(
        search=search,
        query=text("run query"),
        window_start="2025-01-01",
        window_end="2025-01-31",
        state=SearchRun.State.FAILED,
        error=text("search run error"),
    )
    preview = SearchPreview.objects.create(
        query=text("preview query"),
        draft={"name": text("preview name")[:120], "schedule": "weekly", "active": True},
        window_start="2024-01-01",
        window_end="2025-01-31",
        state=SearchPreview.State.READY,
        count=1,
        translation=text("preview translation"),
        ncbi_errors=[text("preview error")],
        first_papers=[{"pmid": 32000001, "title": text("preview paper"), "journal": text("j"), "year": 2025}],
    )
    candidate = Candidate.objects.create(
        pmid=32_000_001,
        title=text("candidate title"),
        journal=text("candidate journal")[:255],
        pub_year=2025,
        record={"abstract": [{"label": text("cl")[:60], "text": text("HOST1 candidate abstract")}]},
    )
    Suggestion.objects.create(
        text=text("suggestion"), mechanism=published, suggested_by=alice, detail=text("suggestion detail")[:500]
    )
    DataRelease.objects.create(
        number=1,
        state=DataRelease.State.READY,
        directory="none",
        changes={"mechanisms": {"added": [text("release change")]}},
    )
    DataRelease.objects.create(state=DataRelease.State.FAILED, error=text("release error"))
    return {
        "published": published,
        "draft": draft,
        "reference": reference,
        "update": update,
        "run": run,
        "import": reference_import,
        "gene": gene,
        "preview": preview,
        "candidate": candidate,
    }


def test_hostile_text_runs_no_script_on_any_page_that_shows_it(live_server, new_page, hostile_atlas, dana):
    w = hostile_atlas
    draft, reference = w["draft"], w["reference"]
    public = [
        "/",
        "/mechanisms/",
        "/mechanisms/?q=name",
        "/mechanisms/hostile/",
        "/references/29968044/",
        "/genes/HOST1/",
    ]
    first = draft.history.earliest().history_id
    admin = [
        "/curation/dashboard/",
        "/admin/curation/mechanism/",
        f"/admin/curation/mechanism/{w['published'].pk}/change/",
        f"/admin/curation/mechanism/{draft.pk}/change/",
        f"/admin/curation/mechanism/{draft.pk}/history/",
        f"/admin/curation/mechanism/{draft.pk}/history/compare/",
        f"/admin/curation/mechanism/{draft.pk}/history/{first}/revert/",
        f"/admin/curation/mechanism/{draft.pk}/submit/",
        "/admin/curation/evidence/",
        f"/admin/curation/evidence/{draft.evidence.get().pk}/change/",
        "/admin/curation/reference/",
        f"/admin/curation/reference/{reference.pk}/change/",
        f"/admin/curation/reference/{reference.pk}/history/",
        "/admin/curation/citationupdate/",
        f"/admin/curation/citationupdate/{w['update'].pk}/change/",
        "/admin/curation/refreshrun/",
        f"/admin/curation/refreshrun/{w['run'].pk}/change/",
        f"/admin/curation/reference/import/{w['import'].pk}/",
        "/admin/curation/gene/",
        f"/admin/curation/gene/{w['gene'].pk}/change/",
        "/admin/curation/therapy/",
        "/admin/curation/cancertype/",
    ]
    page = hostile_page(new_page)
    found = {}

    def check(path):
        result = visit(page, live_server, path)
        if result:
            found[path] = result

    for path in public:
        check(path)
    sign_in(page, live_server, "dana")
    for path in admin:
        check(path)
    assert found == {}
    # Curators' text is shown as they typed it, escaped, not dropped.
    check("/mechanisms/hostile/")
    assert "summary <script>__xss=1</script>" in page.inner_text("main")


def hostile_page(new_page):
    page = new_page()
    page.on(
        "dialog", lambda dialog: (page.evaluate("window.__dialogs = (window.__dialogs || 0) + 1"), dialog.dismiss())
    )
    return page


def visit(page, live_server, path) -> dict:
    """What ran or survived on the page at `path`: empty when nothing did."""
    response = page.goto(live_server.url + path)
    assert response.status == 200, path
    page.wait_for_load_state("load")
    page.mouse.move(300, 300)  # hover handlers, if any survived, get their chance
    result = page.evaluate(INJECTED)
    result["csp"] = violations(page)
    return result if any(result.values()) else {}


def html_pages(client, endpoints) -> list[str]:
    """Each endpoint's address with the first real value of each path parameter, if it answers an HTML page."""
    paths = []
    for endpoint in endpoints:
        known = hostile_input.path_values(endpoint)
        path = endpoint.path({name: values[0] for name, values in known.items()})
        response = client.get(path)
        # Downloads (an HTML bibliography is an attachment) are not pages: tests/test_export_hostile_text.py.
        attachment = response.get("Content-Disposition", "").startswith("attachment")
        if response.status_code == 200 and response["Content-Type"].startswith("text/html") and not attachment:
            paths.append(path)
    return paths


def test_hostile_text_runs_no_script_on_any_page_of_the_site(live_server, new_page, hostile_atlas, dana):
    """Every page the URL resolver knows, admin included, opened with the hostile rows as its first values.

    Walked, not listed: a page added later is visited as soon as it answers HTML,
    signed in as an Admin for the admin and the dashboard, as a reader elsewhere.
    """
    endpoints = hostile_input.endpoints()
    staff = [e for e in endpoints if e.is_admin or e.route.startswith("curation/")]
    public = [e for e in endpoints if e not in staff]
    reader, admin = Client(), Client()
    admin.force_login(dana)
    public_paths = html_pages(reader, public)
    staff_paths = html_pages(admin, [e for e in staff if e.name not in ("logout", "login")])
    assert len(public_paths) >= 10 and len(staff_paths) >= 60, (public_paths, staff_paths)
    # The walk names the hostile rows, not others: the first gene, reference and mechanism are hostile.
    assert "/genes/HOST1/" in public_paths and "/mechanisms/hostile/" in public_paths

    page = hostile_page(new_page)
    found = {path: result for path in public_paths if (result := visit(page, live_server, path))}
    sign_in(page, live_server, "dana")
    found |= {path: result for path in staff_paths if (result := visit(page, live_server, path))}
    assert found == {}
    # The triage queue: PubMed's abstract is read as markup and shown as its plain text, the atlas's terms
    # highlighted around it; the journal and section labels, plain text, are shown as they are, escaped.
    visit(page, live_server, "/admin/curation/candidate/")
    text = page.evaluate("document.body.textContent")
    assert "candidate journal <script>__xss=1</script>" in text
    assert "HOST1 candidate abstract" in text
    assert "cl <script>__xss=1</script><img src=x onerror" in text  # a section label, plain text: escaped
    assert page.locator("mark", has_text="HOST1").count() >= 1
