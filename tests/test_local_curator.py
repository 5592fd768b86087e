"""`create_local_curator`: the account `make run` prints once, for trying the atlas locally."""

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from curation import roles

pytestmark = pytest.mark.django_db


def run_command():
    out = StringIO()
    call_command("create_local_curator", stdout=out)
    return out.getvalue()


def test_the_local_curator_is_an_admin_whose_password_is_printed_once(settings):
    settings.DEBUG = True

    output = run_command()

    password = re.search(r"password: (\S+)", output).group(1)
    user = User.objects.get(username="curator")
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == [roles.ADMIN]
    # Signing in needs a request: django-axes throttles sign-ins per address.
    sign_in = RequestFactory().post("/admin/login/")
    assert authenticate(sign_in, username="curator", password=password) == user
    assert user.has_perm("curation.import_references") and user.has_perm("curation.publish_mechanism")


def test_a_second_run_says_the_account_exists_and_prints_no_password(settings):
    settings.DEBUG = True
    run_command()
    password_hash = User.objects.get(username="curator").password

    output = run_command()

    assert "already exists" in output and "changepassword curator" in output
    assert "password:" not in output
    assert User.objects.get(username="curator").password == password_hash


def test_it_refuses_to_run_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG is off"):
        run_command()
    assert not User.objects.filter(username="curator").exists()
