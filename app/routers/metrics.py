"""Prometheus metrics: HTTP only. Guarded by a bearer token (SPORTELLO_METRICS_TOKEN) or the
caller's address (SPORTELLO_METRICS_ALLOW_IPS, loopback by default)."""

import hmac
import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.deps import Now, SessionDep, SettingsDep
from app.errors import Forbidden, Unauthorized
from app.metrics import CONTENT_TYPE, exposition
from app.services.reports.monitoring import figures

router = APIRouter(tags=["metrics"])


def metrics_access(request: Request, settings: SettingsDep) -> None:
    """The scraper's token, or an address on the allowlist."""
    token = settings.metrics_token
    header = request.headers.get("authorization", "")
    if token is not None and header.lower().startswith("bearer "):
        if hmac.compare_digest(header[7:].strip().encode(), token.get_secret_value().encode()):
            return
        raise Unauthorized("Wrong metrics token.")
    client = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        address = None
    if address is not None and any(address in network for network in settings.metrics_allow_ips):
        return
    if token is not None:
        raise Unauthorized("The metrics need a bearer token (SPORTELLO_METRICS_TOKEN).")
    raise Forbidden(f"Metrics are not served to {client or 'this client'}.")


@router.get("/metrics", include_in_schema=False)
def metrics(session: SessionDep, now: Now, _: Annotated[None, Depends(metrics_access)]) -> Response:
    """Prometheus text format: this process's counters and the desk's figures."""
    return Response(exposition(figures(session=session, now=now)), media_type=CONTENT_TYPE)
