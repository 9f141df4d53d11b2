"""A stamp that changes with every change to the terms: customers, contacts, domains, contracts,
calendars. Database triggers (migration 0004) write it, whoever writes the terms; a process
keeps the terms it read for as long as the stamp stays the same (app.services.terms)."""

from sqlmodel import Field, SQLModel

TERMS_TABLES = ("customer", "contact", "customer_domain", "contract", "calendar")


class TermsStamp(SQLModel, table=True):
    __tablename__ = "terms_stamp"

    id: int = Field(default=1, primary_key=True)  # a single row
    stamp: str = Field(max_length=64)
