"""Management commands: import_pmids, refresh_references, match_citations.

Commands queue Celery tasks after commit. Here "the worker" is the same
process: `delay` runs the task with `.apply()`, and tests that wait for a run
use a transactional database so that on_commit fires as it would in production.
"""

import io
import itertools

import pytest
from django.core.management import CommandError, call_command

from curation import tasks
from curation.models import MetadataState, Reference, RefreshRun
from tests.factories import make_reference

_pmids = itertools.count(32_000_001)


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def worker_inline(monkeypatch):
    """Run queued tasks at once, in this process, as a worker would."""
    for task in (tasks.refresh_batch, tasks.match_import_citations):
        monkeypatch.setattr(task, "delay", lambda *args, task=task: task.apply(args=args))


def run_command(*args, stdout=None):
    out = stdout or io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def known(fake, n):
    pmids = [next(_pmids) for _ in range(n)]
    fake.add_synthetic(pmids)
    return pmids


# --- import_pmids -------------------------------------------------------------------


@pytest.mark.django_db
def test_import_pmids_names_every_bad_item_and_creates_nothing():
    with pytest.raises(CommandError) as refused:
        run_command("import_pmids", "29968044", "0042", "12a")

    assert "“0042”" in str(refused.value) and "“12a”" in str(refused.value)
    assert not Reference.objects.exists()


@pytest.mark.django_db
def test_import_pmids_reads_a_file_and_queues_a_fetch(tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.refresh_batch, "delay", lambda *args: queued.append(args))
    make_reference(pmid=32_100_003)
    listing = tmp_path / "pmids.txt"
    listing.write_text("32100001\n32100002, 32100003\n")

    with django_capture_on_commit_callbacks(execute=True):
        output = run_command("import_pmids", "32100004", "--file", str(listing))

    assert set(Reference.objects.values_list("pmid", flat=True)) == {32_100_001, 32_100_002, 32_100_003, 32_100_004}
    assert "Added 3 reference(s); 1 already in the atlas." in output
    run = RefreshRun.objects.get()
    assert run.scope == RefreshRun.Scope.IMPORT and len(queued) == 1


@pytest.mark.django_db
def test_import_pmids_with_an_unreadable_file_says_so(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run_command("import_pmids", "--file", str(tmp_path / "missing.txt"))


@pytest.mark.django_db(transaction=True)
def test_import_pmids_wait_prints_the_counts(ncbi_settings, fake_eutils, worker_inline):
    pmids = known(fake_eutils, 3)

    output = run_command("import_pmids", *map(str, pmids), "--wait")

    assert "3/3 done: 3 updated, 0 unchanged, 0 awaiting review, 0 not found, 0 failed" in output
    assert Reference.objects.needs_review().count() == 3


# --- refresh_references ---------------------------------------------------------------


@pytest.mark.django_db
def test_refresh_references_needs_exactly_one_scope():
    with pytest.raises(CommandError, match="exactly one"):
        run_command("refresh_references")
    with pytest.raises(CommandError):
        run_command("refresh_references", "--all", "--stale", "3")


@pytest.mark.django_db
def test_refresh_references_refuses_pmids_not_in_the_atlas():
    make_reference(pmid=32_200_001)

    with pytest.raises(CommandError, match="32200002"):
        run_command("refresh_references", "32200001", "32200002")
    assert not RefreshRun.objects.exists()


@pytest.mark.django_db
def test_refresh_references_with_nothing_stale_says_so(monkeypatch):
    make_reference(fetched_at=None, metadata_state=MetadataState.NOT_FOUND)

    output = run_command("refresh_references", "--stale", "30")

    assert "No reference is stale" in output
    assert not RefreshRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_refresh_references_wait_draws_a_bar_on_a_terminal_and_prints_counts(ncbi_settings, fake_eutils, worker_inline):
    found = [Reference.objects.create(pmid=pmid) for pmid in known(fake_eutils, 2)]
    unknown = Reference.objects.create(pmid=32_299_999)

    output = run_command("refresh_references", "--all", "--wait", stdout=Terminal())

    assert "\r[##############################] 100%" in output
    assert "finished. 3/3 done: 2 updated, 0 unchanged, 0 awaiting review, 1 not found, 0 failed." in output
    assert Reference.objects.get(pk=unknown.pk).metadata_state == MetadataState.NOT_FOUND
    assert all(Reference.objects.get(pk=r.pk).metadata_state == MetadataState.NEEDS_REVIEW for r in found)


@pytest.mark.django_db(transaction=True)
def test_refresh_references_wait_fails_loudly_when_every_fetch_failed(ncbi_settings, fake_eutils, worker_inline):
    (pmid,) = known(fake_eutils, 1)
    Reference.objects.create(pmid=pmid)
    fake_eutils.fail_pmids([pmid], kind="error")
    out = io.StringIO()

    with pytest.raises(CommandError, match="Every reference failed"):
        run_command("refresh_references", str(pmid), "--wait", stdout=out)

    assert "1 failed" in out.getvalue()
    assert "First failure: PubMed efetch of 1 PMID" in out.getvalue()


@pytest.mark.django_db
def test_refresh_references_wait_gives_up_after_the_timeout_without_stopping_the_run(monkeypatch):
    monkeypatch.setattr(tasks.refresh_batch, "delay", lambda *args: None)  # no worker at all
    make_reference(pmid=32_300_001)

    with pytest.raises(CommandError, match="Gave up waiting"):
        run_command("refresh_references", "32300001", "--wait", "--timeout", "0.2")
    assert RefreshRun.objects.get().state == RefreshRun.State.QUEUED


# --- match_citations --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_match_citations_prints_each_line_and_imports_only_with_the_flag(
    ncbi_settings, fake_eutils, worker_inline, tmp_path
):
    fake_eutils.add_citation(pmid=32_400_001, journal="J Command Test", year=2019, volume="2", first_page="50")
    citations = tmp_path / "citations.txt"
    citations.write_text("J Command Test. 2019;2(3):50-59\nJ Command Test. 2020;3:1-2\n")

    output = run_command("match_citations", str(citations))

    assert "line 1\tmatched\t32400001\tJ Command Test. 2019;2(3):50-59" in output
    assert "line 2\tNOT FOUND\tNOT_FOUND" in output
    assert "1 matched, 1 not found, 0 ambiguous" in output
    assert not Reference.objects.exists()

    output = run_command("match_citations", str(citations), "--import", "--wait")

    assert list(Reference.objects.values_list("pmid", flat=True)) == [32_400_001]
    assert "Added 1 reference(s)" in output


@pytest.mark.django_db
def test_match_citations_lists_unreadable_lines_and_looks_nothing_up(tmp_path, ncbi_settings, fake_eutils):
    citations = tmp_path / "citations.txt"
    citations.write_text("Cell. 2017;168(4):707-723\nsomething else\n")

    with pytest.raises(CommandError, match="“something else” \\(line 2\\)"):
        run_command("match_citations", str(citations))
    assert fake_eutils.requests == []
