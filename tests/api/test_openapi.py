"""The OpenAPI document reads as if written by hand (STYLE.md habit 12)."""

import re

from app.main import create_app
from tests.conftest import make_settings


def test_operation_ids_are_unique_and_readable():
    schema = create_app(make_settings("sqlite:///:memory:")).openapi()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+-[a-z_]+", i) for i in ids), ids
    assert "tickets-take_charge" in ids
    assert all(op.get("tags") for op in operations)


def test_ids_in_paths_are_bounded():
    schema = create_app(make_settings("sqlite:///:memory:")).openapi()
    for path, methods in schema["paths"].items():
        for op in methods.values():
            for parameter in op.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"].endswith("_id"):
                    assert parameter["schema"]["maximum"] == 2**31 - 1, path
                    assert parameter["schema"]["minimum"] == 1, path
