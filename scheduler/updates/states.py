"""An update's status (Aurora's ``JobUpdateStatus``), each instance's phase in it, and which
changes are allowed, as data.

::

                   pulse due                    pause
    AWAITING_PULSE <--------- ROLLING_FORWARD ---------> ROLL_FORWARD_PAUSED
    (ROLL_FORWARD_)  ------->       |   ^  <---------       (resume)
                      pulse         |   |
                                    |   +-- every changed instance updated --> ROLLED_FORWARD
       failures over the limit,     |
       the progress deadline,       v             pause
       or the user's rollback   ROLLING_BACK -----------> ROLL_BACK_PAUSED (and _AWAITING_PULSE)
                                    |
                                    +-- every changed instance restored --> ROLLED_BACK

    too many failures without rollback_on_failure, or a rollback that fails: FAILED
    the user's abort (any active state): ABORTED; the job killed under it: ERROR

Standard library only.
"""

from __future__ import annotations

import enum


class UpdateStatus(enum.Enum):
    ROLLING_FORWARD = "ROLLING_FORWARD"
    ROLLING_BACK = "ROLLING_BACK"
    ROLL_FORWARD_PAUSED = "ROLL_FORWARD_PAUSED"
    ROLL_BACK_PAUSED = "ROLL_BACK_PAUSED"
    ROLL_FORWARD_AWAITING_PULSE = "ROLL_FORWARD_AWAITING_PULSE"
    ROLL_BACK_AWAITING_PULSE = "ROLL_BACK_AWAITING_PULSE"
    ROLLED_FORWARD = "ROLLED_FORWARD"
    ROLLED_BACK = "ROLLED_BACK"
    ABORTED = "ABORTED"
    ERROR = "ERROR"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def forward(self) -> bool:
        """Whether it moves instances to the new config (else back to the old one)."""
        return self in FORWARD

    @property
    def moving(self) -> bool:
        """Whether it may start changing instances now (not paused, not awaiting a pulse)."""
        return self in (U.ROLLING_FORWARD, U.ROLLING_BACK)


U = UpdateStatus
TERMINAL = frozenset({U.ROLLED_FORWARD, U.ROLLED_BACK, U.ABORTED, U.ERROR, U.FAILED})
FORWARD = frozenset({U.ROLLING_FORWARD, U.ROLL_FORWARD_PAUSED, U.ROLL_FORWARD_AWAITING_PULSE})
BACK = frozenset({U.ROLLING_BACK, U.ROLL_BACK_PAUSED, U.ROLL_BACK_AWAITING_PULSE})
ENDS = frozenset({U.ABORTED, U.ERROR})

ALLOWED: dict[UpdateStatus, frozenset[UpdateStatus]] = {
    U.ROLLING_FORWARD: frozenset(
        {U.ROLL_FORWARD_PAUSED, U.ROLL_FORWARD_AWAITING_PULSE, U.ROLLING_BACK, U.ROLLED_FORWARD}
        | {U.FAILED}
        | ENDS
    ),
    U.ROLL_FORWARD_PAUSED: frozenset(
        {U.ROLLING_FORWARD, U.ROLLING_BACK, U.ROLLED_FORWARD, U.FAILED} | ENDS
    ),
    U.ROLL_FORWARD_AWAITING_PULSE: frozenset(
        {U.ROLLING_FORWARD, U.ROLL_FORWARD_PAUSED, U.ROLLING_BACK, U.ROLLED_FORWARD, U.FAILED}
        | ENDS
    ),
    U.ROLLING_BACK: frozenset(
        {U.ROLL_BACK_PAUSED, U.ROLL_BACK_AWAITING_PULSE, U.ROLLED_BACK, U.FAILED} | ENDS
    ),
    U.ROLL_BACK_PAUSED: frozenset({U.ROLLING_BACK, U.ROLLED_BACK, U.FAILED} | ENDS),
    U.ROLL_BACK_AWAITING_PULSE: frozenset(
        {U.ROLLING_BACK, U.ROLL_BACK_PAUSED, U.ROLLED_BACK, U.FAILED} | ENDS
    ),
    **{status: frozenset() for status in TERMINAL},
}

# what the user's verbs do, from each state they apply to
PAUSE = {
    U.ROLLING_FORWARD: U.ROLL_FORWARD_PAUSED,
    U.ROLL_FORWARD_AWAITING_PULSE: U.ROLL_FORWARD_PAUSED,
    U.ROLLING_BACK: U.ROLL_BACK_PAUSED,
    U.ROLL_BACK_AWAITING_PULSE: U.ROLL_BACK_PAUSED,
}
RESUME = {U.ROLL_FORWARD_PAUSED: U.ROLLING_FORWARD, U.ROLL_BACK_PAUSED: U.ROLLING_BACK}
AWAIT_PULSE = {
    U.ROLLING_FORWARD: U.ROLL_FORWARD_AWAITING_PULSE,
    U.ROLLING_BACK: U.ROLL_BACK_AWAITING_PULSE,
}
PULSED = {v: k for k, v in AWAIT_PULSE.items()}


def allowed(old: UpdateStatus, new: UpdateStatus) -> bool:
    return new in ALLOWED[old]


class Phase(enum.Enum):
    """Where one instance is in an update."""

    WAITING = "WAITING"  # not changed yet
    # chosen for a batch of an sla_aware update, held until the job's SLA policy lets its
    # run go down (scheduler/sla.py)
    SLA_WAITING = "SLA_WAITING"
    UPDATING = "UPDATING"  # moved to the new config, watched for watch_secs
    UPDATED = "UPDATED"
    FAILED = "FAILED"  # failed more than max_per_shard_failures times on the new config
    ROLLBACK_WAITING = "ROLLBACK_WAITING"  # changed by the update, to be restored
    ROLLING_BACK = "ROLLING_BACK"  # moved back to the old config, watched
    ROLLED_BACK = "ROLLED_BACK"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"

    @property
    def watched(self) -> bool:
        return self in (Phase.UPDATING, Phase.ROLLING_BACK)

    @property
    def changed(self) -> bool:
        """Whether the forward update acted on the instance (so a rollback must restore it)."""
        return self in (Phase.UPDATING, Phase.UPDATED, Phase.FAILED)
