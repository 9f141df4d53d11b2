"""Helpers shared by the inbound-email tests: fixture loading and form-data decoding."""

import json
from pathlib import Path
from typing import Any

from app.services.intake.parsing import UploadedFile

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "inbound"
MAILGUN_TEST_KEY = "sportello-test-signing-key"


def fixture_bytes(name: str) -> bytes:
    """The raw bytes of a fixture file."""
    return (FIXTURES / name).read_bytes()


def provider_fixture(name: str) -> tuple[dict[str, Any], list[UploadedFile]]:
    """(fields, files) of a JSON fixture holding a provider's form POST."""
    document = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    files = [
        UploadedFile(
            field_name=item["field_name"],
            filename=item["filename"],
            content_type=item["content_type"],
            data=fixture_bytes(item["path"]),
        )
        for item in document["files"]
    ]
    return document["fields"], files


def decode_form_data(body: bytes, boundary: str) -> tuple[dict[str, bytes], list[UploadedFile]]:
    """A multipart/form-data body as a web framework would hand it over, fields left as bytes."""
    from email import policy
    from email.parser import BytesParser

    head = f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n".encode()
    message = BytesParser(policy=policy.default).parsebytes(head + body)
    fields: dict[str, bytes] = {}
    files: list[UploadedFile] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        filename = part.get_filename()
        if filename is None:
            fields[name] = data
        else:
            files.append(UploadedFile(name, filename, part.get_content_type(), data))
    return fields, files
