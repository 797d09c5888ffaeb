"""What to send: per channel, which entries of which incident; a dry run is the plan, rendered.

No network and no credentials here: :func:`preview` (the demo) and ``publish --dry-run`` only
render. Planning never relies on a delivery record existing: an entry with no record for a
channel is planned exactly like a ``pending`` one (see :func:`plan_entries`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..channels.base import Preview
from ..config import channel_enabled
from ..errors import UsageError
from ..vocabulary import FINISHED_STATUSES

if TYPE_CHECKING:
    from ..channels.base import Channel, Message
    from ..model import Incident
    from ..store import Repo
    from ..templating import Templates


def channel_view(incident: Incident) -> Incident:
    """The incident as channels see it: imported history is not theirs to send.

    Entries brought in by ``import`` (``imported: true``) were published by the old tool; sending them
    again would repeat old news on every channel (and open a second incident on a mirrored Statuspage
    page). They are made internal in this view, except the latest imported public entry of an incident
    that was still open when imported (its status not a finished one): it starts the incident's thread on
    each channel with the state it was in, so the updates that follow reply to it — also after the
    incident is resolved here. Timeline indexes are unchanged. The records themselves (and the status
    page) keep every entry public. No copy is made for other records.
    """
    imported = [index for index, entry in enumerate(incident.timeline) if entry.imported and entry.public]
    if not imported:
        return incident
    last = imported[-1]
    keep = last if incident.timeline[last].status not in FINISHED_STATUSES else None
    hidden = {index for index in imported if index != keep}
    if not hidden:  # only the kept entry (or this is already a channel view)
        return incident
    timeline = [
        entry.model_copy(update={"visibility": "internal"}) if index in hidden else entry
        for index, entry in enumerate(incident.timeline)
    ]
    return incident.model_copy(update={"timeline": timeline})


def public_timeline_indexes(incident: Incident) -> list[int]:
    """Timeline indexes of the public entries; position ``i`` in this list is public index ``i``."""
    return [timeline_index for timeline_index, entry in enumerate(incident.timeline) if entry.public]


def render_entry(
    channel: Channel, view: Incident, public_index: int, repo: Repo, templates: Templates, purpose: str = "entry"
) -> Message:
    """Render ``view.timeline[public_index]`` (``view`` is the public view) for ``channel``."""
    from ..channels.base import RenderContext

    context = RenderContext(
        incident=view,
        entry=view.timeline[public_index],
        public_index=public_index,
        config=repo.config,
        settings=repo.config.channel_settings(channel.name),
        templates=templates,
        purpose=purpose,
    )
    return channel.render(context)


def kind_of(public_index: int) -> str:
    return "post" if public_index == 0 else "reply"


def summary_preview(channel: Channel, view: Incident, repo: Repo, templates: Templates) -> Preview | None:
    """A channel that ``edits_root`` edits its first message to the incident's current state: show that too."""
    if not channel.edits_root or len(view.timeline) < 2:
        return None
    message = render_entry(channel, view, len(view.timeline) - 1, repo, templates, purpose="summary")
    return Preview(channel.name, view.id, view.timeline[-1].at, "edit", message.text, message.payload)


def preview(repo: Repo, incident: Incident, channels: Sequence[str] | None = None) -> list[Preview]:
    """What every configured channel receives for every public entry of ``incident``.

    Needs no credentials and makes no network call. ``demo`` uses this; ``publish --dry-run``
    shows the same messages for the entries it would send.
    """
    from ..channels.registry import get_channel
    from ..templating import templates_for

    templates = templates_for(repo.root, repo.config)
    view = incident.public_view()
    if not incident.public_entries:
        return []
    previews: list[Preview] = []
    for name in channels or repo.config.configured_channels():
        channel = get_channel(name)
        for public_index, entry in enumerate(view.timeline):
            message = render_entry(channel, view, public_index, repo, templates)
            previews.append(Preview(name, incident.id, entry.at, kind_of(public_index), message.text, message.payload))
        summary = summary_preview(channel, view, repo, templates)
        if summary is not None:
            previews.append(summary)
    return previews


def choose_channels(repo: Repo, requested: Sequence[str] | None, dry_run: bool) -> tuple[list[str], list[str]]:
    """The channels this run uses, and what makes each configured but unusable one unusable.

    The requested ones (each must be configured), else every configured one. Outside a dry run a
    channel whose secrets are missing is not used, and never skipped silently: it is returned in the
    second list as ``"<name>: <what is missing>"`` (the caller names it and exits 3; its entries stay
    ``pending``). ``--channel C`` narrows both to C.
    """
    from ..channels.registry import find_channel, missing_secrets_message

    configured = repo.config.configured_channels()
    if requested:
        for name in requested:
            if name not in configured:
                shown = ", ".join(configured) or "none"
                raise UsageError(f"--channel {name}: not configured in incidentctl.yaml (configured: {shown})")
        wanted = list(dict.fromkeys(requested))
    else:
        wanted = configured
    if dry_run:
        return wanted, []
    chosen: list[str] = []
    unusable: list[str] = []
    for name in wanted:
        if channel_enabled(repo.config, name):
            chosen.append(name)
            continue
        channel = find_channel(name)
        unusable.append(
            missing_secrets_message(channel)
            if channel is not None
            else f"{name}: no installed channel plugin provides it (entry-point group incidentctl.channels)"
        )
    return chosen, unusable


def plan_entries(incident: Incident, channel: str, explicit: bool, *, retry_built: bool = False) -> list[int]:
    """Timeline indexes to send on ``channel``, in order.

    An entry with no delivery record for the channel counts as not delivered (records need not carry
    ``pending`` placeholders). Such entries are added when the incident is open, named explicitly,
    or already partly published there; a resolved incident that never went to a newly enabled
    channel is left alone (no backfill of old history). A ``built`` entry (a status page built but not
    deployed) is planned again only with ``retry_built`` (the channel now has something that deploys it).
    """
    incident = channel_view(incident)
    timeline_indexes = public_timeline_indexes(incident)
    known = [incident.timeline[timeline_index].deliveries.get(channel) for timeline_index in timeline_indexes]
    if not any(known) and not incident.is_open and not explicit:
        return []
    return [
        timeline_index
        for timeline_index, delivery in zip(timeline_indexes, known, strict=True)
        if delivery is None or (delivery.state != "delivered" and (retry_built or delivery.state != "built"))
    ]


def dry_run_previews(
    repo: Repo, ids: list[str], channels: dict[str, Channel], explicit: bool, templates: Templates
) -> list[Preview]:
    """``publish --dry-run``: the plan, rendered."""
    previews: list[Preview] = []
    for incident_id in ids:
        incident = channel_view(repo.load(incident_id))
        view = incident.public_view()
        public_index_of = {full: public for public, full in enumerate(public_timeline_indexes(incident))}
        for name, channel in channels.items():
            plan = plan_entries(incident, name, explicit)
            for timeline_index in plan:
                public_index = public_index_of[timeline_index]
                message = render_entry(channel, view, public_index, repo, templates)
                previews.append(
                    Preview(
                        name, incident.id, incident.timeline[timeline_index].at, kind_of(public_index),
                        message.text, message.payload,
                    )
                )  # fmt: skip
            if plan:
                summary = summary_preview(channel, view, repo, templates)
                if summary is not None:
                    previews.append(summary)
    return previews
