"""The lifecycle state machine: every move, allowed or refused, as one table."""

import pytest

from app.enums import Status
from app.errors import InvalidTransition
from app.services.tickets.lifecycle import TRANSITIONS, check_transition

S = Status
# Every (from, to) pair of the six states, and whether the move is allowed.
ALLOWED = {
    (S.NEW, S.TAKEN_IN_CHARGE),  # R9: the first move is always taking in charge
    (S.TAKEN_IN_CHARGE, S.IN_PROGRESS),
    (S.TAKEN_IN_CHARGE, S.RESOLVED),  # a quick fix
    (S.IN_PROGRESS, S.WAITING_THIRD_PARTY),  # R10: waiting on a provider
    (S.IN_PROGRESS, S.RESOLVED),
    (S.WAITING_THIRD_PARTY, S.IN_PROGRESS),
    (S.WAITING_THIRD_PARTY, S.RESOLVED),
    (S.RESOLVED, S.CLOSED),
    (S.RESOLVED, S.IN_PROGRESS),  # reopened
}
MOVES = [(current, target) for current in Status for target in Status]


def test_the_table_covers_every_state():
    assert set(TRANSITIONS) == set(Status)
    assert {(c, t) for c, targets in TRANSITIONS.items() for t in targets} == ALLOWED


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_moves_pass(current, target):
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [m for m in MOVES if m not in ALLOWED])
def test_refused_moves_say_where_the_ticket_can_go(current, target):
    with pytest.raises(InvalidTransition) as refused:
        check_transition(current, target)

    error = refused.value
    assert error.status == 409
    assert error.extra["current_status"] == current
    assert error.extra["requested_status"] == target
    assert error.extra["allowed"] == sorted(TRANSITIONS[current])
    if current == Status.CLOSED:
        assert "'closed' is final" in error.detail
    else:
        assert all(name in error.detail for name in TRANSITIONS[current])


def test_stored_strings_are_checked_like_members():
    """Rows read back as plain strings by older code still move by the same table."""
    check_transition("new", "taken_in_charge")  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition):
        check_transition("closed", "in_progress")  # type: ignore[arg-type]
