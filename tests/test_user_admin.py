"""Admins manage accounts and roles, but cannot make anyone a superuser."""

import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db


def _change_form_data(user, **changes):
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "is_active": "on",
        "is_staff": "on",
        "groups": [group.pk for group in user.groups.all()],
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return data


def test_an_admin_can_give_a_curator_the_reviewer_role_but_not_superuser_status(client, dana, alice):
    client.force_login(dana)
    url = f"/admin/auth/user/{alice.pk}/change/"
    assert 'name="is_superuser"' not in client.get(url).content.decode()

    reviewer = Group.objects.get(name="Reviewer")
    response = client.post(url, _change_form_data(alice, groups=[reviewer.pk], is_superuser="on"))

    assert response.status_code == 302, response.content.decode()[:2000]
    alice.refresh_from_db()
    assert list(alice.groups.all()) == [reviewer]
    assert not alice.is_superuser


def test_an_admin_cannot_make_herself_superuser(client, dana):
    client.force_login(dana)
    client.post(f"/admin/auth/user/{dana.pk}/change/", _change_form_data(dana, is_superuser="on"))
    dana.refresh_from_db()
    assert not dana.is_superuser
