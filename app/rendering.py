"""Jinja2 templates under app/templates: the public pages and the emails.

HTML templates are autoescaped (whatever a customer typed is text, never markup); plain-text
templates (`.txt`) are not.
"""

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@cache
def environment() -> Environment:
    """The one template environment (built on first use)."""
    return Environment(
        loader=PackageLoader("app", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a missing value is a bug, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(name: str, **context: object) -> str:
    """Render the template `name` (a path under app/templates) with `context`."""
    return environment().get_template(name).render(**context)
