"""The staff console under /console/: server-rendered pages on the API's own services and
role checks (see docs/architecture.md)."""
