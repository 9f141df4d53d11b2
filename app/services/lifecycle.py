"""The ticket lifecycle as a small explicit state machine (pure)."""

from app.errors import InvalidTransition

# new -> taken_in_charge -> in_progress <-> waiting_third_party -> resolved -> closed,
# a quick fix may be resolved straight after taking charge, and a resolved ticket may reopen.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"taken_in_charge"}),
    "taken_in_charge": frozenset({"in_progress", "resolved"}),
    "in_progress": frozenset({"waiting_third_party", "resolved"}),
    "waiting_third_party": frozenset({"in_progress", "resolved"}),  # R10: waiting on a provider
    "resolved": frozenset({"closed", "in_progress"}),
    "closed": frozenset(),
}
OPEN_STATUSES = ("new", "taken_in_charge", "in_progress", "waiting_third_party")
CLOSED_STATUSES = ("resolved", "closed")


def check_transition(current: str, target: str) -> None:
    """Raise InvalidTransition (409) unless `current -> target` is allowed."""
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = sorted(TRANSITIONS.get(current, frozenset()))
        raise InvalidTransition(
            f"A ticket cannot go from '{current}' to '{target}'"
            + (
                f"; from '{current}' it can go to: {', '.join(allowed)}."
                if allowed
                else f"; '{current}' is final."
            ),
            current_status=current,
            requested_status=target,
            allowed=allowed,
        )
