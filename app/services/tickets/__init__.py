"""Tickets, by job: `intake` opens them, `lifecycle` moves them, `queue` reads them.

`conversation` adds messages to them. `snapshot` holds what they share: the SLA snapshot a
ticket carries and the queue columns derived from it.
"""
