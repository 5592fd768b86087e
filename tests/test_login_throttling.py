"""Repeated failed sign-ins lock out that username from that address (django-axes).

The lockout is keyed by username *and* IP address, so an attacker guessing
alice's password from one address cannot lock alice out from hers. It lifts by
itself after the cool-off, and an Admin can lift it at once in the admin.
"""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.admin_pages import signed_in

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # the personas' password, see tests/conftest.py
ATTACKER, ALICES_DESK = "203.0.113.66", "198.51.100.7"


def sign_in(username, password, *, ip):
    return Client(REMOTE_ADDR=ip).post(reverse("admin:login"), {"username": username, "password": password})


def fail_until_locked(username, *, ip):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(username, "wrong guess", ip=ip).status_code == 200  # the form again, with its error
    assert sign_in(username, "wrong guess", ip=ip).status_code == 429  # the last failure allowed locks


def test_repeated_failures_lock_out_even_the_right_password_with_a_clear_message(alice):
    fail_until_locked("alice", ip=ATTACKER)

    response = sign_in("alice", PASSWORD, ip=ATTACKER)

    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert f"blocked here for {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in page
    assert "_auth_user_id" not in response.wsgi_request.session


def test_the_lockout_is_per_username_and_address(alice, carol):
    fail_until_locked("alice", ip=ATTACKER)

    assert sign_in("alice", PASSWORD, ip=ALICES_DESK).status_code == 302  # alice, from her own desk
    assert sign_in("carol", PASSWORD, ip=ATTACKER).status_code == 302  # another user, same address


def test_the_lockout_lifts_after_the_cool_off(alice):
    fail_until_locked("alice", ip=ATTACKER)
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))

    assert sign_in("alice", PASSWORD, ip=ATTACKER).status_code == 302


def test_an_admin_unlocks_a_locked_out_curator(alice, dana):
    fail_until_locked("alice", ip=ALICES_DESK)
    assert sign_in("alice", PASSWORD, ip=ALICES_DESK).status_code == 429
    admin = signed_in(dana)
    changelist = reverse("admin:axes_accessattempt_changelist")
    listing = admin.get(changelist + "?locked_out=yes")
    assert listing.status_code == 200 and "alice" in listing.content.decode()

    attempt = AccessAttempt.objects.get(username="alice")
    admin.post(changelist, {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"})

    assert not AccessAttempt.objects.exists()
    assert sign_in("alice", PASSWORD, ip=ALICES_DESK).status_code == 302


def test_a_curator_cannot_see_or_lift_lockouts(alice, carol):
    fail_until_locked("carol", ip=ATTACKER)
    assert signed_in(alice).get(reverse("admin:axes_accessattempt_changelist")).status_code == 403


def test_a_username_longer_than_any_account_is_a_failed_sign_in_not_a_500():
    """Found by the fuzz: axes stored the whole username in a varchar(255), which PostgreSQL refused."""
    username = "x" * 300
    assert sign_in(username, "wrong guess", ip=ATTACKER).status_code == 200  # the form again, with its error
    attempt = AccessAttempt.objects.get(ip_address=ATTACKER)
    assert attempt.username == username[:255] and attempt.failures_since_start == 1
