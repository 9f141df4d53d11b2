"""HTML form bodies to raw field bytes and files (pure).

Field values stay bytes so that a provider's declared charsets (SendGrid `charsets`) can be
applied by the adapter. A multipart/form-data body is read by python-multipart's streaming
parser, the one FastAPI's `Form` and `UploadFile` use: `FormReader` is fed the body as it
arrives, so a request is never held twice (the size limit itself is the body's, enforced as it
is received). Field and file names are text, read as `decode_bytes` reads any bytes.
"""

import binascii
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from app.services.intake.parsing.headers import decode_bytes
from app.services.intake.parsing.model import MalformedEmail, UploadedFile

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_FIELDS = 1000
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"

Form = tuple[dict[str, bytes], list[UploadedFile]]
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(byte for byte in range(256) if byte not in _BASE64)


def parse_form(body: bytes, content_type: str) -> Form:
    """Fields (first value wins) and files of an urlencoded or multipart/form-data body."""
    reader = FormReader(content_type)
    reader.feed(body)
    return reader.close()


class FormReader:
    """A form body read as it arrives: `feed` each chunk, `close` for its fields and files.

    Raises MalformedEmail for a body that is not a form: another type, a multipart body
    without a boundary, or one that breaks its framing or ends before its closing boundary.
    """

    def __init__(self, content_type: str) -> None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        self._parts: _Parts | None = None
        self._urlencoded = bytearray()
        if media_type == MULTIPART:
            self._parts = _Parts(content_type)
        elif media_type != URLENCODED:
            raise MalformedEmail(f"expected a form body, got {media_type or 'no content type'}")

    def feed(self, chunk: bytes) -> None:
        """Read one more piece of the body."""
        if self._parts is None:
            self._urlencoded += chunk
        else:
            self._parts.feed(chunk)

    def close(self) -> Form:
        """The fields and files of the whole body."""
        if self._parts is None:
            return _urlencoded(bytes(self._urlencoded)), []
        return self._parts.close()


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


class _Parts:
    """The parts of a multipart/form-data body, collected from the parser's callbacks."""

    def __init__(self, content_type: str) -> None:
        boundary = parse_options_header(content_type)[1].get(b"boundary")
        if not boundary:
            raise MalformedEmail("multipart/form-data without a boundary")
        self.fields: dict[str, bytes] = {}
        self.files: list[UploadedFile] = []
        self.count = 0
        self.ended = False
        self.headers: dict[bytes, bytes] = {}
        self.name, self.value = bytearray(), bytearray()
        self.data = bytearray()
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self.name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self.value.extend(data[start:end]),
            "on_header_end": self._header,
            "on_part_data": lambda data, start, end: self.data.extend(data[start:end]),
            "on_part_end": self._part,
            "on_end": self._end,
        }
        try:
            self.parser = MultipartParser(boundary, callbacks)
        except FormParserError as exc:  # a boundary longer than the standard allows
            raise MalformedEmail(f"multipart/form-data: {exc}") from exc

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except FormParserError as exc:
            raise MalformedEmail(f"multipart/form-data: {exc}") from exc

    def close(self) -> Form:
        if not self.ended:
            raise MalformedEmail("multipart/form-data body without its closing boundary")
        return self.fields, self.files

    def _begin(self) -> None:
        self.headers = {}
        self.data = bytearray()

    def _header(self) -> None:
        # The first of a repeated header wins, as it does for the fields.
        self.headers.setdefault(bytes(self.name).strip().lower(), bytes(self.value).strip())
        self.name, self.value = bytearray(), bytearray()

    def _part(self) -> None:
        self.count += 1
        if self.count > MAX_FIELDS:
            raise MalformedEmail(f"more than {MAX_FIELDS} form fields")
        _, params = parse_options_header(self.headers.get(b"content-disposition"))
        name = decode_bytes(params.get(b"name", b""))
        if not name:
            return
        data = _decoded(bytes(self.data), self.headers.get(b"content-transfer-encoding", b""))
        filename = params.get(b"filename")
        if filename is None:
            self.fields.setdefault(name, data)
            return
        media_type = parse_options_header(self.headers.get(b"content-type"))[0]
        if media_type.count(b"/") != 1:  # as a MIME reader reads a part without a valid type
            media_type = b"text/plain"
        self.files.append(
            UploadedFile(
                field_name=name,
                filename=decode_bytes(filename),
                content_type=media_type.decode("latin-1"),
                data=data,
            )
        )

    def _end(self) -> None:
        self.ended = True


def _decoded(data: bytes, encoding: bytes) -> bytes:
    """A part's content under its Content-Transfer-Encoding (which RFC 7578 retires, but an
    old client may still send), read as leniently as a mail reader reads it."""
    encoding = encoding.lower()
    if encoding == b"base64":
        alphabet = data.translate(None, _NOT_BASE64)
        try:
            return binascii.a2b_base64(alphabet + b"=" * (-len(alphabet) % 4))
        except binascii.Error:  # a lone trailing character: what precedes it
            return binascii.a2b_base64(alphabet[: len(alphabet) // 4 * 4])
    if encoding == b"quoted-printable":
        return binascii.a2b_qp(data)
    return data
