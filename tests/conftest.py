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


@pytest.fixture
def role_groups(db):
    """The Curator, Reviewer and Admin groups with their permissions; the personas depend on it.

    The groups come from a data migration. A transactional test (threads, a
    live server) ends by emptying the database: Django then recreates content
    types and permissions, but not the groups, so they are put back here.
    """
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
