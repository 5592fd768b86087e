import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from curation import roles

USERNAME = "curator"


class Command(BaseCommand):
    help = (
        "For local development (`make run`): create the user 'curator' in the Admin group and print its "
        "password once. Refuses to run unless DEBUG is on."
    )

    def handle(self, *args, **options):
        # A known account with every permission must never appear on a real deployment.
        if not settings.DEBUG:
            raise CommandError("Refusing to create a local curator account: DJANGO_DEBUG is off.")
        User = get_user_model()
        if User.objects.filter(username=USERNAME).exists():
            self.stdout.write(
                f"The local user '{USERNAME}' already exists; its password was printed when it was created. "
                f"To set a new one: python manage.py changepassword {USERNAME}"
            )
            return
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user = User.objects.create_user(username=USERNAME, password=password, is_staff=True)
            user.groups.add(Group.objects.get(name=roles.ADMIN))
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the local user '{USERNAME}' (role {roles.ADMIN}). Sign in at /admin/ with\n"
                f"  username: {USERNAME}\n  password: {password}\n"
                "This password is shown only once."
            )
        )
