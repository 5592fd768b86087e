"""Data releases: what `export_release` writes, its changelog, the downloads page and who may make one."""

import hashlib
import json

import pytest
from django.urls import reverse

from curation import releases
from curation.models import DataRelease, Evidence, Status
from curation.releases import read_json_items, read_tsv_rows, release_path
from curation.task_queue import EXPORT_RELEASE
from tests.commands import run_command
from tests.factories import make_evidence, make_reference

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def releases_dir(settings, tmp_path):
    settings.DATA_RELEASES_DIR = tmp_path / "releases"
    return settings.DATA_RELEASES_DIR


def changelog_of(release):
    return json.loads((release_path(release) / "changelog.json").read_text())


def api_items(client, name):
    items, url = [], f"/api/{name}/?page_size=1000"
    while url:
        body = client.get(url).json()
        items += body["results"]
        url = body["next"]
    return items


def test_a_release_holds_exactly_what_the_api_serves_field_for_field(client, published_atlas):
    release = releases.export_release()
    for name in releases.RELEASED_RESOURCES:
        key = releases.RESOURCES[name].key
        served = sorted(api_items(client, name), key=lambda item: item[key])
        assert list(read_json_items(release_path(release) / f"{name}.json")) == served, name
    assert release.counts == {"mechanisms": 4, "evidence": 5, "references": 3, "genes": 2, "therapies": 2,
                              "cancer-types": 1}  # fmt: skip


def test_tsv_reads_back_with_the_csv_module_as_the_json_says(published_atlas):
    hostile = 'Tab\there, "quoted", a\nnew line, and a \r return'
    Evidence.objects.filter(pk=published_atlas.evidence[0].pk).update(statement=hostile, locator="=HYPERLINK(1)")
    release = releases.export_release()
    folder = release_path(release)
    for name in releases.RELEASED_RESOURCES:
        rows = read_tsv_rows(folder / f"{name}.tsv")
        items = list(read_json_items(folder / f"{name}.json"))
        assert [row.keys() for row in rows][:1] == [items[0].keys()]
        assert [{field: releases.tsv_cell(value) for field, value in item.items()} for item in items] == rows
    evidence = {row["id"]: row for row in read_tsv_rows(folder / "evidence.tsv")}
    row = evidence[str(published_atlas.evidence[0].pk)]
    assert row["statement"] == hostile
    # A spreadsheet must not run it as a formula; the JSON keeps the value as curated.
    assert row["locator"] == "'=HYPERLINK(1)"
    assert json.loads(evidence[str(published_atlas.evidence[1].pk)]["reference_flags"]) == ["retracted"]


def test_the_manifest_checksums_every_file_and_names_licence_and_citation(published_atlas):
    release = releases.export_release()
    folder = release_path(release)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["release"] == 1 and manifest["licence"]["spdx"] == "CC-BY-4.0"
    assert "Resistance Atlas data release 1" in manifest["citation"]
    names = {entry["name"] for entry in manifest["files"]}
    assert {"mechanisms.json", "evidence.tsv", "changelog.json", "LICENSE.txt", "CITATION.bib"} <= names
    for entry in manifest["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    sums = dict(reversed(line.split("  ")) for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert sums["manifest.json"] == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    assert "creativecommons.org/licenses/by/4.0" in (folder / "LICENSE.txt").read_text()
    assert "Resistance Atlas data release 1" in (folder / "CITATION.ris").read_text()


def test_two_releases_with_an_edit_between_have_a_changelog_naming_exactly_that_edit(published_atlas):
    first = releases.export_release()
    assert changelog_of(first)["added"]["evidence"] == sorted(e.pk for e in published_atlas.evidence)
    claim = published_atlas.evidence[3]
    claim.statement = "IFN-gamma pathway genes are lost in non-responders."
    claim.save()
    second = releases.export_release()
    changelog = changelog_of(second)
    assert changelog["release"] == 2 and changelog["previous_release"] == 1
    assert changelog["changed"] == {"evidence": [{"id": claim.pk, "fields": ["statement"]}]}
    assert changelog["added"] == changelog["removed"] == changelog["retired"] == {}
    assert changelog["newly_retracted"] == changelog["newly_corrected"] == []
    assert second.changes["changed"] == {"evidence": 1}


def test_the_changelog_names_retired_mechanisms_and_newly_retracted_or_corrected_papers(published_atlas):
    releases.export_release()
    published_atlas.ifng.status = Status.RETIRED
    published_atlas.ifng.save()
    zaretsky = published_atlas.references[0]
    zaretsky.is_retracted = True
    zaretsky.corrections = [{"type": "RetractionIn", "pmid": "39999999", "source": "N Engl J Med. 2025"}]
    zaretsky.save()
    new_paper = make_reference(30000009)
    make_evidence(published_atlas.b2m_loss, new_paper, statement="A new claim.")
    changelog = changelog_of(releases.export_release())
    assert changelog["retired"] == {"mechanisms": ["ifng-loss"]}
    assert "mechanisms" not in changelog["removed"]
    # The retired mechanism's evidence and the paper only it cited left the release with it.
    assert changelog["removed"]["evidence"] == sorted(
        e.pk for e in published_atlas.evidence if e.mechanism.slug == "ifng-loss"
    )
    assert changelog["removed"]["references"] == [27667683]
    assert changelog["newly_retracted"] == [zaretsky.pmid]
    assert changelog["added"]["references"] == [30000009]
    changed_mechanisms = {entry["slug"]: entry["fields"] for entry in changelog["changed"]["mechanisms"]}
    assert changed_mechanisms == {"b2m-loss": ["evidence_count", "reference_count", "consensus"]}


def test_only_one_release_is_built_at_a_time(published_atlas):
    DataRelease.objects.create()  # a build in progress
    with pytest.raises(releases.ReleaseInProgress):
        releases.export_release()


def test_a_release_that_cannot_be_written_fails_cleanly(published_atlas, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.DATA_RELEASES_DIR = blocker / "releases"
    with pytest.raises(releases.ReleaseError, match="could not be written"):
        releases.export_release()
    failed = DataRelease.objects.get()
    assert failed.state == DataRelease.State.FAILED and failed.number is None and failed.error
    settings.DATA_RELEASES_DIR = tmp_path / "ok"
    assert releases.export_release().number == 1


def test_the_command_writes_a_release_and_reports_the_changes(published_atlas):
    out = run_command("export_release")
    assert "Release 1 written" in out and "4 mechanisms" in out
    out = run_command("export_release")
    assert "Release 2 written" in out and "changed nothing" in out


def test_downloads_page_lists_releases_with_changes_and_serves_their_files(client, published_atlas):
    releases.export_release()
    published_atlas.references[0].is_retracted = True
    published_atlas.references[0].save()
    second = releases.export_release()
    page = client.get(reverse("downloads"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Release 2" in html and "Release 1" in html and "The first release." in html
    assert "Newly retracted papers" in html and "27433843" in html
    response = client.get(reverse("release-file", args=[2, "evidence.tsv"]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="evidence.tsv"'
    assert b"".join(response.streaming_content) == (release_path(second) / "evidence.tsv").read_bytes()


@pytest.mark.parametrize("name", ["../resistance-atlas-1", "..%2F..%2Fsettings.py", "secret.txt", ".building-1"])
def test_downloads_serve_only_the_files_a_release_lists(client, published_atlas, releases_dir, name):
    releases.export_release()
    (releases_dir / "secret.txt").write_text("not part of any release")
    assert client.get(f"/downloads/1/{name}").status_code == 404
    assert client.get(reverse("release-file", args=[99, "evidence.tsv"])).status_code == 404


def test_beat_makes_a_release_monthly_through_the_task(settings, published_atlas, worker_inline):
    entry = settings.CELERY_BEAT_SCHEDULE["export-release-monthly"]
    assert entry["task"] == EXPORT_RELEASE
    assert entry["schedule"].day_of_month == {1}
    from resistance_atlas.celery import app

    assert app.tasks[EXPORT_RELEASE].apply().get() == 1
    assert DataRelease.objects.get().state == DataRelease.State.READY


def test_an_admin_makes_a_release_now_and_others_may_not(
    client, dana, dana_client, alice, bob, task_queue, django_capture_on_commit_callbacks
):
    make_url = reverse("admin:curation_datarelease_make")
    for user in (alice, bob):
        client.force_login(user)
        assert client.post(make_url).status_code == 403
    listing = dana_client.get(reverse("admin:curation_datarelease_changelist"))
    assert "Make a release now" in listing.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = dana_client.post(make_url)
    assert response.status_code == 302
    assert task_queue.args_of(EXPORT_RELEASE) == [(dana.pk,)]
    assert dana_client.get(make_url).status_code == 405
