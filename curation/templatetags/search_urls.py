"""Addresses of the search pages with one GET parameter changed, so every state is a shareable link."""

from django import template

register = template.Library()


def _address(request, params) -> str:
    return f"{request.path}?{params.urlencode()}" if params else request.path


@register.simple_tag(takes_context=True)
def url_with(context, name, value):
    """This page's address with `name` set to `value`; any change but the page's goes back to page 1."""
    request = context["request"]
    params = request.GET.copy()
    if name != "page":
        params.pop("page", None)
    params[name] = value
    return _address(request, params)


@register.simple_tag(takes_context=True)
def url_without(context, *names):
    """This page's address without the parameters `names` (and back to page 1)."""
    request = context["request"]
    params = request.GET.copy()
    for name in (*names, "page"):
        params.pop(name, None)
    return _address(request, params)


@register.simple_tag(takes_context=True)
def hidden_params(context, *except_names):
    """The page's GET parameters but `except_names`, as (name, value) pairs for hidden inputs."""
    skip = {*except_names, "page"}
    return [(name, value) for name, values in context["request"].GET.lists() if name not in skip for value in values]
