"""Tickets, by job: `intake` opens them, `lifecycle` moves them, `queue` reads them.

`owners` gives them to staff, `conversation` adds messages to them. `rows` reads a ticket
locked and writes it back; `snapshot` holds what they share: the SLA snapshot a ticket carries
and the queue columns derived from it.
"""
