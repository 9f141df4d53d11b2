"""Who holds a lease: the outbox worker's on a row, the mailbox poller's on a mailbox."""

import os
import socket
import uuid


def lease_holder() -> str:
    """A lease holder's name: host, process and a random suffix, unique per worker or poller
    even when one process runs several."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:64]
