"""The event catalogue of docs/webhooks.md, written from the event schemas (app.models.webhook).

`python -m app.services.webhooks.catalogue` rewrites the page's catalogue between its markers;
a test checks that the page says what the schemas say.
"""

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.models.webhook import EVENT_DATA, EVENT_SUMMARY

BEGIN, END = "<!-- catalogue: generated, do not edit -->", "<!-- /catalogue -->"
PAGE = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def markdown() -> str:
    """The catalogue: each event type, what it means, and its `data` field by field."""
    lines: list[str] = []
    shared: dict[str, type[BaseModel]] = {}
    for event_type, schema in EVENT_DATA.items():
        lines += [f"### `{event_type}`", "", EVENT_SUMMARY[event_type], ""]
        lines += ["| `data` field | type | meaning |", "| --- | --- | --- |"]
        lines += _rows(schema, "", shared)
        lines.append("")
    for name, model in shared.items():
        lines += [f"### {name}", "", (model.__doc__ or "").strip(), ""]
        lines += ["| field | type | meaning |", "| --- | --- | --- |"]
        lines += _rows(model, "", {})
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _rows(schema: type[BaseModel], prefix: str, shared: dict[str, type[BaseModel]]) -> list[str]:
    rows = []
    for name, field in schema.model_fields.items():
        kind, nested = _kind(field.annotation)
        if nested is not None:
            shared.setdefault(nested.__name__, nested)
            for inner in nested.model_fields.values():
                _, deeper = _kind(inner.annotation)
                if deeper is not None:
                    shared.setdefault(deeper.__name__, deeper)
        description = (field.description or "").replace("\n", " ")
        rows.append(f"| `{prefix}{name}` | {kind} | {description} |")
    return rows


def _kind(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """A field's type in words, and the schema it holds if it is one."""
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    optional = len(args) < len(getattr(annotation, "__args__", ()))
    inner = args[0] if optional and len(args) == 1 else annotation
    suffix = " or null" if optional else ""
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return f"object ({inner.__name__}){suffix}", inner
    name = getattr(inner, "__name__", str(inner))
    words = {"str": "string", "int": "integer", "bool": "boolean", "AwareDatetime": "date-time"}
    return words.get(name, name) + suffix, None


def page_with_catalogue(page: str) -> str:
    """The page with its catalogue rewritten from the schemas."""
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n\n{markdown()}\n{END}{tail}"


if __name__ == "__main__":
    PAGE.write_text(page_with_catalogue(PAGE.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"{PAGE} rewritten\n")
