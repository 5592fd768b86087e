"""Shared fixtures: personas and the real services some tests depend on.

Personas: alice and carol are curators, bob is a reviewer, dana is an admin,
and an anonymous reader uses the plain `client`.
"""

import os

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from curation import roles
from curation import task_queue as task_queue_module
from curation import tasks as _tasks  # noqa: F401  (registers the tasks that QueuedTasks runs by name)
from resistance_atlas.celery import app as celery_app
from tests.services import port_open, require_service

pytest_plugins = ["tests.fixtures_ncbi"]


@pytest.fixture
def postgres():
    """Marks a test that needs PostgreSQL as its database."""
    engine = settings.DATABASES["default"]["ENGINE"]
    require_service("PostgreSQL", "postgresql" in engine, "set DATABASE_URL=postgres://...")


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        url = "redis://127.0.0.1:6379/0"
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    require_service("Redis", port_open(host, int(port or 6379)), f"nothing answers at {host_port}")
    return url


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Most tests create personas with passwords; Django's real hasher spends ~0.5 s on each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def roles_as_migrated(django_db_setup, django_db_blocker) -> dict[str, set[str]]:
    """{role: its permissions} as the migrations left the test database, read before any test can flush it."""
    with django_db_blocker.unblock():
        return {
            group.name: {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
            for group in Group.objects.prefetch_related("permissions__content_type")
        }


@pytest.fixture
def role_groups(db):
    """The Curator, Reviewer and Admin groups with their permissions; the personas depend on it.

    The groups come from a data migration. A transactional test (threads, a
    live server) ends by emptying the database: Django then recreates content
    types and permissions, but not the groups, so they are put back here.
    """
    ensure_role_groups()


def ensure_role_groups() -> None:
    """Put the role groups back if a transactional test's flush removed them (see `role_groups`)."""
    if Group.objects.filter(name__in=roles.ROLE_PERMISSIONS).count() == len(roles.ROLE_PERMISSIONS):
        return
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    roles.sync_role_groups(Group, Permission)


def _member(django_user_model, username, role):
    user = django_user_model.objects.create_user(
        username=username, password="correct horse battery staple", email=f"{username}@example.org", is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def alice(django_user_model, role_groups) -> User:
    return _member(django_user_model, "alice", roles.CURATOR)


@pytest.fixture
def carol(django_user_model, role_groups) -> User:
    return _member(django_user_model, "carol", roles.CURATOR)


@pytest.fixture
def bob(django_user_model, role_groups) -> User:
    return _member(django_user_model, "bob", roles.REVIEWER)


@pytest.fixture
def dana(django_user_model, role_groups) -> User:
    return _member(django_user_model, "dana", roles.ADMIN)


@pytest.fixture
def curator_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def reviewer_client(client, bob):
    client.force_login(bob)
    return client


class QueuedTasks(list):
    """Tasks the services queued (after commit), as (task name, args) pairs, instead of sent to a broker."""

    def record(self, name, args):
        self.append((name, tuple(args)))

    def args_of(self, name) -> list[tuple]:
        return [args for queued, args in self if queued == name]

    def run(self, name, *, throw=True):
        """Run the queued tasks called `name` in this process, oldest first, as a worker would.

        Tasks they queue in turn are run too. `throw=False` lets a task's own
        retries run; a task that still fails raises its error all the same.
        """
        while any(queued == name for queued, _ in self):
            index = next(i for i, (queued, _) in enumerate(self) if queued == name)
            _, args = self.pop(index)
            result = celery_app.tasks[name].apply(args=args, throw=throw)
            if result.failed():
                raise result.result


@pytest.fixture
def task_queue(monkeypatch) -> QueuedTasks:
    """What the code under test queues for Celery, caught instead of sent (see `QueuedTasks`)."""
    queued = QueuedTasks()
    monkeypatch.setattr(task_queue_module, "_send_now", queued.record)
    return queued


@pytest.fixture
def worker_inline(monkeypatch):
    """Run queued tasks at once, in this process, as a worker would."""
    monkeypatch.setattr(task_queue_module, "_send_now", lambda name, args: celery_app.tasks[name].apply(args=args))


@pytest.fixture
def dana_client(dana):
    """Signed in as dana (Admin), in a client of its own: `client` is the curator's in tests that use both."""
    client = Client()
    client.force_login(dana)
    return client


@pytest.fixture
def erin(django_user_model):
    """Staff who may look at citation updates but not decide them."""
    user = django_user_model.objects.create_user(username="erin", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_citationupdate", "view_reference"]))
    return user


@pytest.fixture(autouse=True)
def _fresh_api_throttle():
    """Every test starts with no API requests counted against its client address."""
    from django.core.cache import caches

    caches["api-throttle"].clear()


@pytest.fixture(autouse=True)
def _fresh_page_cache(request):
    """Every test starts with no cached page, and sees its own changes reach the content version.

    A test in pytest-django's rolled-back transaction never commits, so the
    content version's triggers, which run at COMMIT on PostgreSQL, are made to
    run at each statement there (curation/content_version.py). Tests with real
    commits (transaction=True, a live server) keep the production behaviour.
    """
    from django.core.cache import caches

    caches["pages"].clear()
    marker = request.node.get_closest_marker("django_db")
    transactional = {"transactional_db", "live_server"} & set(request.fixturenames) or (
        marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    )
    if transactional or not (marker is not None or "db" in request.fixturenames):
        return
    request.getfixturevalue("db")
    from curation import content_version

    content_version.bump_at_each_statement()


@pytest.fixture
def published_atlas(db):
    """A small atlas for the API and releases: published entries in a tree, and unpublished work beside them.

    Published: antigen (root) > b2m-loss, and ifng-loss, with evidence. Not published: a draft (with its
    own gene and paper), a pending revision of antigen (with its own paper) and a retired mechanism.
    """
    from types import SimpleNamespace

    from curation.models import Category, Direction, EvidenceLevel, Status
    from tests.factories import (
        make_cancer_type,
        make_evidence,
        make_gene,
        make_mechanism,
        make_reference,
        make_therapy,
    )

    b2m = make_gene("B2M", name="beta-2-microglobulin", hgnc_id="HGNC:914", ncbi_gene_id=567)
    jak1 = make_gene("JAK1", name="Janus kinase 1")
    draft_gene = make_gene("DRAFTONLY1", name="named by a draft only")
    pembro = make_therapy("Pembrolizumab", slug="pembrolizumab")
    ipi = make_therapy("Ipilimumab", slug="ipilimumab")
    melanoma = make_cancer_type("Melanoma", slug="melanoma", doid="DOID:1909")
    published = {"status": Status.PUBLISHED}
    antigen = make_mechanism(
        "Antigen presentation defects", slug="antigen-presentation", genes=[b2m], therapies=[pembro],
        acquired_resistance=True, **published,
    )  # fmt: skip
    b2m_loss = make_mechanism(
        "Loss of beta-2-microglobulin", slug="b2m-loss", parent=antigen, genes=[b2m], therapies=[pembro],
        cancer_types=[melanoma], acquired_resistance=True, **published,
    )  # fmt: skip
    ifng = make_mechanism(
        "Interferon-gamma pathway loss", slug="ifng-loss", genes=[jak1], therapies=[ipi],
        primary_resistance=True, **published,
    )  # fmt: skip
    tregs = make_mechanism("Regulatory T cells", slug="tregs", category=Category.TUMOR_EXTRINSIC, **published)
    draft = make_mechanism("Draft idea", slug="draft-idea", genes=[draft_gene])
    revision = make_mechanism("Antigen presentation defects (edit)", revision_of=antigen, genes=[draft_gene])
    retired = make_mechanism("Retired idea", slug="retired-idea", status=Status.RETIRED)

    zaretsky = make_reference(27433843, title="Mutations Associated with <i>Acquired</i> Resistance.", pub_year=2016)
    retracted = make_reference(
        30000001, pub_year=2019, is_retracted=True,
        corrections=[{"type": "RetractionIn", "pmid": "31000001", "source": "J Test Immunol. 2020"}],
    )  # fmt: skip
    gao = make_reference(27667683, pub_year=2016, has_erratum=True)
    draft_paper = make_reference(30000002)
    revision_paper = make_reference(30000003)
    retired_paper = make_reference(30000004)
    evidence = [
        make_evidence(b2m_loss, zaretsky, level=EvidenceLevel.CLINICAL_COHORT, therapy=pembro, cancer_type=melanoma,
                      phenotype="acquired", statement="B2M truncation at relapse."),
        make_evidence(b2m_loss, retracted, direction=Direction.REFUTES, statement="No B2M loss in this cohort."),
        make_evidence(antigen, zaretsky, statement="Antigen presentation is lost at relapse."),
        make_evidence(ifng, gao, therapy=ipi, phenotype="primary", statement="IFN-gamma pathway genes lost."),
        make_evidence(ifng, zaretsky, statement="JAK1 loss-of-function at relapse."),
    ]  # fmt: skip
    make_evidence(draft, draft_paper)
    make_evidence(revision, revision_paper)
    make_evidence(retired, retired_paper)
    return SimpleNamespace(
        genes=[b2m, jak1], draft_gene=draft_gene, therapies=[pembro, ipi], melanoma=melanoma,
        mechanisms=[antigen, b2m_loss, ifng, tregs], antigen=antigen, b2m_loss=b2m_loss, ifng=ifng, draft=draft,
        revision=revision, retired=retired, references=[zaretsky, retracted, gao], retracted=retracted,
        unpublished_references=[draft_paper, revision_paper, retired_paper], evidence=evidence,
    )  # fmt: skip
