"""Maintenance records for the site tests, written through the model and a real transaction
(the ``maintenance`` CLI is built elsewhere; these are the records it writes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from incidentctl.model import Entry, Incident
from incidentctl.store import Repo


def schedule(
    repo: Repo,
    incident_id: str,
    title: str,
    *,
    start: datetime,
    end: datetime,
    components: Sequence[str],
    announced: datetime,
    message: str = "We will upgrade the database.",
    counts_as_downtime: bool = False,
) -> Incident:
    entry = Entry(
        at=announced,
        status="scheduled",
        message=message,
        components=dict.fromkeys(components, "operational"),
        scheduled_for=start,
        scheduled_until=end,
    )
    maintenance = Incident(
        id=incident_id,
        kind="maintenance",
        title=title,
        severity="maintenance",
        scheduled_for=start,
        scheduled_until=end,
        counts_as_downtime=counts_as_downtime,
        timeline=[entry],
    )
    with repo.transaction(f"{incident_id}: scheduled") as tx:
        tx.save(maintenance)
    return maintenance


def step(repo: Repo, incident_id: str, status: str, at: datetime, message: str = "", **extra: object) -> Incident:
    """Move a maintenance on: ``in_progress`` puts its components under maintenance, ``completed``
    back to operational, ``rescheduled`` (status ``scheduled``) moves the window (``start``/``end``)."""
    maintenance = repo.load(incident_id)
    names = list(maintenance.timeline[0].components)
    update: dict[str, object] = {}
    if status == "in_progress":
        entry = Entry(at=at, status=status, message=message, components=dict.fromkeys(names, "under_maintenance"))
    elif status == "completed":
        entry = Entry(at=at, status=status, message=message, components=dict.fromkeys(names, "operational"))
    elif status == "rescheduled":
        start, end = extra["start"], extra["end"]
        assert isinstance(start, datetime) and isinstance(end, datetime)
        entry = Entry(
            at=at, status="scheduled", message=message, notice="rescheduled", scheduled_for=start, scheduled_until=end
        )
        update = {"scheduled_for": start, "scheduled_until": end}
    else:
        entry = Entry(at=at, status=status, message=message)
    changed = maintenance.model_copy(update={"timeline": [*maintenance.timeline, entry], **update})
    changed = Incident.model_validate(changed.model_dump())
    with repo.transaction(f"{incident_id}: {status}") as tx:
        tx.save(changed)
    return changed


HOUR = timedelta(hours=1)
