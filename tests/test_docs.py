"""The project stands alone in a clone: its README and docs link only to what it carries."""

import re
from pathlib import Path

from app.main import create_app
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_resolves_inside_the_repository():
    broken = []
    for document in DOCUMENTS:
        for target in LINK.findall(document.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # an absolute URL
            resolved = (document.parent / target).resolve()
            if not resolved.exists() or ROOT not in resolved.parents:
                broken.append(f"{document.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_the_rules_and_the_api_guide_are_the_projects_own():
    rules = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert all(f"R{n}" in rules for n in range(1, 18))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/rules.md)" in readme and "(docs/api.md)" in readme
    description = create_app(make_settings("sqlite:///:memory:")).openapi()["info"]["description"]
    assert "docs/api.md" in description and "docs/rules.md" in description


def test_every_module_the_map_names_exists():
    """docs/architecture.md names modules by their path (or its tail): each one is there."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"[\w/]*\w\.py\b", text))
    files = ["/" + str(path.relative_to(ROOT)) for path in ROOT.glob("**/*.py")]
    missing = sorted(name for name in named if not any(f.endswith("/" + name) for f in files))
    assert missing == []


def test_the_webhooks_page_lists_every_event_type_as_the_schemas_say():
    """docs/webhooks.md's catalogue is the one the event schemas write, every type in it."""
    from app.enums import EventType
    from app.services.webhooks.catalogue import page_with_catalogue

    page = (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    assert page_with_catalogue(page) == page  # `python -m app.services.webhooks.catalogue`
    assert all(f"### `{event_type}`" in page for event_type in EventType)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/webhooks.md)" in readme
