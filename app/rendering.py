"""Jinja2 templates under app/templates: the public pages and the emails.

HTML templates are autoescaped (whatever a customer typed is text, never markup); plain-text
templates (`.txt`) are not.
"""

import base64
import hashlib
import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from app.settings import Settings, logo_type

STYLESHEET = Path(__file__).parent / "static" / "sportello.css"
CONSOLE_SCRIPT = Path(__file__).parent / "static" / "console.js"


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


class Asset(NamedTuple):
    """A file the pages load from us: its bytes, type and version (in its URL, so that it can
    be cached for a year and a new one is fetched as soon as it changes)."""

    data: bytes
    media_type: str
    version: str


def _asset(data: bytes, media_type: str) -> Asset:
    return Asset(data, media_type, hashlib.sha256(data).hexdigest()[:16])


@cache
def stylesheet() -> Asset:
    """The pages' one stylesheet (app/static/sportello.css)."""
    return _asset(STYLESHEET.read_bytes(), "text/css; charset=utf-8")


@cache
def console_script() -> Asset:
    """The console's one script (app/static/console.js): its keyboard shortcuts and the
    queue's refresh."""
    return _asset(CONSOLE_SCRIPT.read_bytes(), "text/javascript; charset=utf-8")


@cache
def logo(path: str) -> Asset:
    """The agency's logo (SPORTELLO_LOGO_FILE), read once: restart to change it."""
    data = Path(path).read_bytes()
    media_type = logo_type(data)
    assert media_type is not None  # checked with the settings
    return _asset(data, media_type)


def render_page(name: str, settings: Settings, **context: object) -> str:
    """Render one of the customer's pages (templates/pages): with the agency's name, its logo
    if set, and the stylesheet, each from its versioned URL."""
    logo_url = None
    if settings.logo_file is not None:
        logo_url = f"/pages/logo.{logo(settings.logo_file).version}"
    return render(
        name,
        agency=settings.company_name,
        logo_url=logo_url,
        stylesheet_url=f"/pages/sportello.{stylesheet().version}.css",
        **context,
    )


def csp_hash(content: str | bytes) -> str:
    """The Content-Security-Policy source allowing one inline element: `'sha256-...'`."""
    data = content.encode() if isinstance(content, str) else content
    return f"'sha256-{base64.b64encode(hashlib.sha256(data).digest()).decode()}'"


NO_FORMS, FORMS_TO_US = "'none'", "'self'"


@cache
def page_policy(*, forms: bool = False) -> str:
    """The Content-Security-Policy of every page we serve: no script, no framing, nothing
    loaded from elsewhere; the only style is our stylesheet (`'self'`) and the printable
    reports' own `<style>` elements, by hash; the only images, our logo. A page with a form of
    ours (`forms`, the status page's consent button) may post to us only."""
    env = environment()
    assert env.loader is not None
    styles = []
    for name in env.list_templates(filter_func=lambda n: n.startswith(("pages/", "reports/"))):
        source = env.loader.get_source(env, name)[0]
        styles += [csp_hash(css) for css in re.findall(r"<style>(.*?)</style>", source, re.S)]
    return (
        f"default-src 'none'; style-src 'self' {' '.join(sorted(set(styles)))}; "
        "img-src 'self'; base-uri 'none'; "
        f"form-action {FORMS_TO_US if forms else NO_FORMS}; frame-ancestors 'none'"
    )


@cache
def console_policy() -> str:
    """The staff console's Content-Security-Policy: no inline script, only its own script file
    (`'self'`: the keyboard shortcuts, and the queue's refresh, which asks us only), only its
    own `<style>` by hash, forms posted to us only, never framed."""
    env = environment()
    assert env.loader is not None
    styles = []
    for name in env.list_templates(filter_func=lambda n: n.startswith("console/")):
        source = env.loader.get_source(env, name)[0]
        styles += [csp_hash(css) for css in re.findall(r"<style>(.*?)</style>", source, re.S)]
    return (
        f"default-src 'none'; script-src 'self'; connect-src 'self'; "
        f"style-src {' '.join(sorted(set(styles)))}; base-uri 'none'; "
        f"form-action {FORMS_TO_US}; frame-ancestors 'none'"
    )
