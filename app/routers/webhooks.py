"""Webhook subscriptions: HTTP only (admin). Events, signing and delivery: docs/webhooks.md."""

from fastapi import APIRouter

from app.deps import Admin, Now, SessionDep
from app.models.common import IdCursor, Items, Limit, ResourceId
from app.models.webhook import (
    RotateIn,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
)
from app.routers._responses import CREATE, READ, WRITE, CreatedDep
from app.services.webhooks import subscriptions as service

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("", response_model=WebhookCreated, status_code=201, responses=CREATE)
def create(
    data: WebhookCreate, session: SessionDep, now: Now, _: Admin, created: CreatedDep
) -> WebhookCreated:
    """Subscribe a receiver to events; its signing secret is in this answer and never again."""
    subscription = service.create(data, session=session, now=now)
    created.at(subscription.id)
    return subscription


@router.get("", response_model=Items[WebhookRead], status_code=200, responses=READ)
def list_(session: SessionDep, _: Admin) -> Items[WebhookRead]:
    """Every subscription, oldest first (secrets never shown)."""
    return Items(items=[service.read(s) for s in service.list_all(session=session)])


@router.get("/{webhook_id}", response_model=WebhookRead, status_code=200, responses=READ)
def get(webhook_id: ResourceId, session: SessionDep, _: Admin) -> WebhookRead:
    """One subscription."""
    return service.read(service.get(webhook_id, session=session))


@router.patch("/{webhook_id}", response_model=WebhookRead, status_code=200, responses=WRITE)
def update(
    webhook_id: ResourceId, data: WebhookUpdate, session: SessionDep, now: Now, _: Admin
) -> WebhookRead:
    """Change its URL, events, description; disable or enable it again."""
    return service.read(service.update_subscription(webhook_id, data, session=session, now=now))


@router.delete("/{webhook_id}", status_code=204, responses=WRITE)
def delete(webhook_id: ResourceId, session: SessionDep, _: Admin) -> None:
    """Remove a subscription and its deliveries."""
    service.delete(webhook_id, session=session)


@router.post(
    "/{webhook_id}/rotate-secret", response_model=WebhookSecret, status_code=200, responses=WRITE
)
def rotate_secret(
    webhook_id: ResourceId, data: RotateIn, session: SessionDep, now: Now, _: Admin
) -> WebhookSecret:
    """A new secret, shown once; the old one keeps signing next to it for `overlap_hours`."""
    return service.rotate(webhook_id, data, session=session, now=now)


@router.get(
    "/{webhook_id}/deliveries", response_model=WebhookDeliveryPage, status_code=200, responses=READ
)
def deliveries(
    webhook_id: ResourceId,
    session: SessionDep,
    _: Admin,
    limit: Limit = 50,
    cursor: IdCursor = None,
) -> WebhookDeliveryPage:
    """Its deliveries newest first, each with every attempt and how it ended."""
    return service.deliveries(webhook_id, session=session, limit=limit, cursor=cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=WebhookDelivery,
    status_code=200,
    responses=WRITE,
)
def redeliver(
    webhook_id: ResourceId,
    delivery_id: ResourceId,
    session: SessionDep,
    now: Now,
    _: Admin,
) -> WebhookDelivery:
    """Send one delivery again now, with the same `webhook-id`; a pending one is 409."""
    return service.redeliver(webhook_id, delivery_id, session=session, now=now)
