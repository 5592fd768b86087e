"""Helpers for tests that use admin pages the way a browser does."""

from django.forms import CheckboxInput
from django.test import Client
from django.urls import reverse


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_data(response) -> dict:
    """What the browser would post back for an admin add/change form as rendered, inline rows included."""
    data = {}

    def add(form):
        for field in form:
            value = field.value()
            if value is None:
                continue  # a browser posts nothing for an empty select, the same as an empty text
            if isinstance(field.field.widget, CheckboxInput):
                if value:
                    data[field.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[field.html_name] = [str(item) for item in value]
            else:
                data[field.html_name] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def change_url(obj) -> str:
    return reverse(f"admin:curation_{obj._meta.model_name}_change", args=[obj.pk])


def admin_url(obj, name: str, *args) -> str:
    return reverse(f"admin:curation_{obj._meta.model_name}_{name}", args=[obj.pk, *args])


def action_post(client, action, objects, model="reference"):
    """Run a list action of the admin on `objects`, as ticking them and pressing "Go" does; follows the redirect."""
    changelist = reverse(f"admin:curation_{model}_changelist")
    return client.post(changelist, {"action": action, "_selected_action": [o.pk for o in objects]}, follow=True)
