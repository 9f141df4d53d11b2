"""The interactive API pages, served with their assets from a package (fastapi-offline's copy
of Swagger UI and ReDoc): they work without reaching any CDN. HTTP only.

They are the only pages with script, so they carry their own Content-Security-Policy instead
of the pages' strict one (app.middleware.SecurityHeaders): scripts from this server and the
page's own inline script (by hash), the OpenAPI document fetched from here, icons inlined by
the stylesheets (`data:`). ReDoc also writes its styles inline and runs a worker from a blob.
"""

import re
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from app.rendering import csp_hash

ASSETS = Path(str(files("fastapi_offline") / "static"))
ASSETS_URL = "/static/docs"
TITLE = "Sportello API"
SWAGGER_POLICY = (
    "default-src 'none'; script-src 'self' {scripts}; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
REDOC_POLICY = (
    "default-src 'none'; script-src 'self'; worker-src blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    """Swagger UI on /openapi.json."""
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=TITLE,
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
    )
    inline = re.findall(rb"<script>(.*?)</script>", bytes(page.body), re.S)
    scripts = " ".join(csp_hash(script) for script in inline)
    page.headers["Content-Security-Policy"] = SWAGGER_POLICY.format(scripts=scripts)
    return page


@router.get("/redoc")
def redoc() -> HTMLResponse:
    """ReDoc on /openapi.json."""
    page = get_redoc_html(
        openapi_url="/openapi.json",
        title=TITLE,
        redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = REDOC_POLICY
    return page
