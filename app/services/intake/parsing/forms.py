"""HTML form bodies to raw field bytes and files (pure).

Field values stay bytes so that a provider's declared charsets (SendGrid `charsets`) can be
applied by the adapter; multipart bodies are parsed with the standard library's MIME parser.
"""

from email import policy
from email.parser import BytesParser
from urllib.parse import unquote_to_bytes

from app.services.intake.parsing.model import MalformedEmail, UploadedFile

MAX_FIELDS = 1000


def parse_form(body: bytes, content_type: str) -> tuple[dict[str, bytes], list[UploadedFile]]:
    """Fields (first value wins) and files of an urlencoded or multipart/form-data body."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return _urlencoded(body), []
    if media_type == "multipart/form-data":
        return _multipart(body, content_type)
    raise MalformedEmail(f"expected a form body, got {media_type or 'no content type'}")


def _urlencoded(body: bytes) -> dict[str, bytes]:
    # Decoded as bytes (as parse_qsl would, minus its text round trips): values stay bytes.
    pairs = body.split(b"&")
    if len(pairs) > MAX_FIELDS:
        raise MalformedEmail(f"form: more than {MAX_FIELDS} fields")
    fields: dict[str, bytes] = {}
    for pair in pairs:
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        key = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
        fields.setdefault(key, unquote_to_bytes(value.replace(b"+", b" ")))
    return fields


def _multipart(body: bytes, content_type: str) -> tuple[dict[str, bytes], list[UploadedFile]]:
    if "boundary=" not in content_type.lower():
        raise MalformedEmail("multipart/form-data without a boundary")
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode(
        "latin-1", "replace"
    )
    message = BytesParser(policy=policy.HTTP).parsebytes(header + body)
    if not message.is_multipart():
        raise MalformedEmail("multipart/form-data body without parts")
    fields: dict[str, bytes] = {}
    files: list[UploadedFile] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            continue
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files.append(
                UploadedFile(
                    field_name=name,
                    filename=filename,
                    content_type=part.get_content_type(),
                    data=data,
                )
            )
        else:
            fields.setdefault(name, data)
        if len(fields) + len(files) > MAX_FIELDS:
            raise MalformedEmail(f"more than {MAX_FIELDS} form fields")
    return fields, files
