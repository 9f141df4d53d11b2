"""The JSON Schema of an export's `data.json`, published as docs/export.schema.json: written
from the models (app/models/privacy.py), so that it cannot drift from what is exported.

`python -m app.services.privacy.schema` writes it again.
"""

import json
from pathlib import Path

from app.models.privacy import ExportDocument

SCHEMA_ID = "https://sportello.dev/schemas/export.schema.json"
PUBLISHED = Path(__file__).resolve().parents[3] / "docs" / "export.schema.json"


def export_schema() -> str:
    """The schema as published: JSON Schema 2020-12, sorted keys, two-space indent."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **ExportDocument.model_json_schema(mode="serialization"),
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    PUBLISHED.write_text(export_schema(), encoding="utf-8")
