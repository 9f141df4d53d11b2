"""What our pages load from us: the customer's pages' stylesheet, the agency's logo, and the
staff console's one script (its keyboard shortcuts).

Each is served at a URL carrying its version (a hash of its bytes), cached for a year; an old
version's URL (a page from before a deploy) gets today's file, not to be kept.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.deps import SettingsDep
from app.errors import NotFound
from app.rendering import Asset, console_script, logo, stylesheet

router = APIRouter(prefix="/pages", include_in_schema=False)
FOREVER = "public, max-age=31536000, immutable"
Version = Annotated[str, Path(max_length=64, pattern="^[0-9a-f]+$")]


def _served(asset: Asset, version: str) -> Response:
    cache = FOREVER if version == asset.version else "no-cache"
    return Response(asset.data, media_type=asset.media_type, headers={"Cache-Control": cache})


@router.get("/sportello.{version}.css")
def css(version: Version) -> Response:
    """The pages' stylesheet."""
    return _served(stylesheet(), version)


@router.get("/console.{version}.js")
def script(version: Version) -> Response:
    """The staff console's keyboard shortcuts (app/static/console.js)."""
    return _served(console_script(), version)


@router.get("/logo.{version}")
def agency_logo(version: Version, settings: SettingsDep) -> Response:
    """The agency's logo (SPORTELLO_LOGO_FILE); 404 when none is set."""
    if settings.logo_file is None:
        raise NotFound("No logo is set.")
    return _served(logo(settings.logo_file), version)
