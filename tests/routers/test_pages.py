"""What the customer's pages load from us: one stylesheet and the agency's logo, each at a
versioned URL, cached for a year, served with its own type and nothing else."""

import re
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.rendering import stylesheet
from app.settings import LOGO_MAX_BYTES
from tests.conftest import Api, make_settings
from tests.routers.test_page_headers import STYLESHEET_LINK

YEAR = "public, max-age=31536000, immutable"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain PNG of one colour (a stand-in for the agency's logo)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def test_the_stylesheet_is_served_as_css_cached_for_a_year(api: Api):
    page = api.anonymous.get("/api/v1/contact/thanks")
    link = re.search(STYLESHEET_LINK, page.text)
    assert link is not None
    href = re.search(r'href="([^"]+)"', link.group(0)).group(1)  # type: ignore[union-attr]

    css = api.anonymous.get(href)

    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.headers["cache-control"] == YEAR
    assert css.headers["x-content-type-options"] == "nosniff"
    assert css.content == stylesheet().data
    assert "overflow-wrap: anywhere" in css.text
    assert "@import" not in css.text and "url(" not in css.text  # nothing from elsewhere


def test_an_old_version_gets_todays_stylesheet_not_to_be_kept(api: Api):
    css = api.anonymous.get("/pages/sportello.0123456789abcdef.css")
    assert css.status_code == 200
    assert css.headers["cache-control"] == "no-cache"
    assert css.content == stylesheet().data


@pytest.mark.parametrize(
    "path", ["/pages/sportello.NOTHEX.css", "/pages/sportello." + "a" * 65 + ".css"]
)
def test_a_malformed_version_is_refused(api: Api, path: str):
    assert api.anonymous.get(path).status_code == 422


def test_without_a_logo_the_pages_show_the_agency_name_and_there_is_no_logo(api: Api):
    page = api.anonymous.get("/api/v1/contact/thanks")
    assert '<span class="agency">MB Services &amp; Consulting</span>' in page.text
    assert "<img" not in page.text
    assert api.anonymous.get("/pages/logo.0123456789abcdef").status_code == 404


def test_the_logo_is_served_as_the_image_it_is(serve, tmp_path: Path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(png(8, 4, (0, 0, 0)))
    server = serve(logo_file=str(logo), company_name='Studio "Rossi" <b>')
    with httpx.Client(base_url=server.base_url) as client:
        page = client.get("/api/v1/contact/thanks")
        found = re.search(r'<img src="(/pages/logo\.[0-9a-f]{16})" alt="([^"]*)"', page.text)
        assert found is not None
        assert found.group(2) == "Studio &#34;Rossi&#34; &lt;b&gt;"  # escaped, as text
        served = client.get(found.group(1))
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == YEAR
    assert served.content == logo.read_bytes()


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "PNG, JPEG"),
        (b"GIF89a" + b"\0" * 20, "PNG, JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * LOGO_MAX_BYTES, "larger than 256 KiB"),
        (None, "cannot read the logo file"),
    ],
    ids=["svg", "gif", "too large", "missing"],
)
def test_a_logo_that_is_not_a_small_png_jpeg_or_webp_stops_the_start(
    tmp_path: Path, content: bytes | None, said: str
):
    logo = tmp_path / "logo"
    if content is not None:
        logo.write_bytes(content)
    with pytest.raises(ValidationError, match=said):
        make_settings("sqlite://", logo_file=str(logo))


@pytest.mark.parametrize(
    ("head", "kind"),
    [(b"\xff\xd8\xff\xe0", "image/jpeg"), (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp")],
)
def test_jpeg_and_webp_logos_are_accepted(tmp_path: Path, head: bytes, kind: str):
    logo = tmp_path / "logo"
    logo.write_bytes(head + b"\0" * 64)
    assert make_settings("sqlite://", logo_file=str(logo)).logo_file == str(logo)
