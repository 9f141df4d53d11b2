"""The OpenAPI document reads as if written by hand (STYLE.md habit 12)."""

import re

from app.main import create_app
from tests.conftest import make_settings


def test_operation_ids_are_unique_and_readable():
    schema = create_app(make_settings("sqlite:///:memory:")).openapi()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z_]+-[a-z_]+", i) for i in ids), ids
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


def test_every_field_and_parameter_is_described():
    """A generated client's docs come from here: no field left for the reader to guess."""
    schema = create_app(make_settings("sqlite:///:memory:")).openapi()
    bare = [
        f"{name}.{field}"
        for name, component in schema["components"]["schemas"].items()
        for field, spec in component.get("properties", {}).items()
        if not spec.get("description")
    ]
    bare += [
        f"{method.upper()} {path} ?{parameter['name']}"
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
        for parameter in op.get("parameters", [])
        if not parameter.get("description")
    ]
    assert bare == []


def test_errors_are_documented_as_problem_details_everywhere():
    schema = create_app(make_settings("sqlite:///:memory:")).openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_the_contract_example_works_on_a_fresh_database(api):
    """The example refers to nothing that a fresh database lacks (its customer aside)."""
    schema = create_app(make_settings("sqlite:///:memory:")).openapi()
    example = dict(schema["components"]["schemas"]["ContractCreate"]["example"])
    customer = api.admin.post("/api/v1/customers", json={"name": "Rossi"}).json()
    example["customer_id"] = customer["id"]

    response = api.admin.post("/api/v1/contracts", json=example)
    assert response.status_code == 201, response.text


def test_the_mail_routes_document_the_bodies_they_take():
    """A caller (or a request generator) reads what to send: the mail providers' routes read
    their bodies by hand, and said nothing of them."""
    schema = create_app(make_settings("sqlite:///:memory:")).openapi()
    inbound = {
        "mailgun": ["application/x-www-form-urlencoded", "multipart/form-data"],
        "sendgrid": ["multipart/form-data"],
        "postmark": ["application/json"],
        "mime": ["message/rfc822"],
    }
    for provider, media_types in inbound.items():
        body = schema["paths"][f"/api/v1/inbound/email/{provider}"]["post"]["requestBody"]
        assert list(body["content"]) == media_types and body["required"] is True, provider
