"""Schemas shared by every router."""

from typing import Annotated, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel

MAX_ID = 2**31 - 1

ResourceId = Annotated[int, Path(ge=1, le=MAX_ID, description="The resource's id.")]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list: the items, how many there are in all, and where this page starts."""

    items: list[T]
    total: int
    limit: int
    offset: int
