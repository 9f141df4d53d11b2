"""Jinja2 templates under app/templates: the public pages and the emails.

HTML templates are autoescaped (whatever a customer typed is text, never markup); plain-text
templates (`.txt`) are not.
"""

import base64
import hashlib
import re
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


def csp_hash(content: str | bytes) -> str:
    """The Content-Security-Policy source allowing one inline element: `'sha256-...'`."""
    data = content.encode() if isinstance(content, str) else content
    return f"'sha256-{base64.b64encode(hashlib.sha256(data).digest()).decode()}'"


NO_FORMS, FORMS_TO_US = "'none'", "'self'"


@cache
def page_policy(*, forms: bool = False) -> str:
    """The Content-Security-Policy of every page we serve: no script, no framing, nothing
    loaded from anywhere; the only style is the pages' own `<style>` elements, by hash. A page
    with a form of ours (`forms`, the status page's consent button) may post to us only."""
    env = environment()
    assert env.loader is not None
    styles = []
    for name in env.list_templates(filter_func=lambda n: n.startswith(("pages/", "reports/"))):
        source = env.loader.get_source(env, name)[0]
        styles += [csp_hash(css) for css in re.findall(r"<style>(.*?)</style>", source, re.S)]
    return (
        f"default-src 'none'; style-src {' '.join(sorted(set(styles)))}; base-uri 'none'; "
        f"form-action {FORMS_TO_US if forms else NO_FORMS}; frame-ancestors 'none'"
    )


@cache
def console_policy() -> str:
    """The staff console's Content-Security-Policy: no script at all, only its own `<style>`
    by hash, forms posted to us only, never framed."""
    env = environment()
    assert env.loader is not None
    styles = []
    for name in env.list_templates(filter_func=lambda n: n.startswith("console/")):
        source = env.loader.get_source(env, name)[0]
        styles += [csp_hash(css) for css in re.findall(r"<style>(.*?)</style>", source, re.S)]
    return (
        f"default-src 'none'; style-src {' '.join(sorted(set(styles)))}; base-uri 'none'; "
        f"form-action {FORMS_TO_US}; frame-ancestors 'none'"
    )
