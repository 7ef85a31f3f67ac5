"""Card clicks that are not request actions: "Thank <provider>" on a finished request's card,
and the weekly pulse's form. ``card_actions`` routes them here.

Pulse answers are written without an idempotency key (the activity's key would tie the
answer to a conversation); the core's "answered" marker keeps a retried click from counting twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot import cards
from bot.kudos import thank_for_request
from bot.models import ActionId, Person
from bot.people import Directory
from bot.pulse import answer_pulse, week_from_code
from handlers.teams import render

if TYPE_CHECKING:
    from handlers.runtime import Runtime

ACTIONS = frozenset({ActionId.THANK, ActionId.PULSE})


def handle(
    runtime: Runtime,
    actor: Person,
    action: ActionId,
    request: int,
    value: str | None,
    fields: Mapping[str, str],
    key: str | None,
    *,
    channel_id: str | None = render.TEAMS_CHANNEL,
) -> tuple[str, render.Card, bool]:
    """Run the click (blocking): the reply, the card that replaces the clicked one (with buttons
    for ``channel_id``), and whether messages were queued for others."""
    if action == ActionId.THANK:
        directory = Directory(runtime.store, actor.workspace)
        directory.remember(actor)
        outcome = thank_for_request(
            store=runtime.store,
            directory=directory,
            actor=actor,
            number=request,
            message=fields.get("message"),
            now=runtime.clock(),
            allowance=runtime.settings.kudos_daily_allowance,
            idempotency_key=key,
        )
        stored = runtime.store.get_request(actor.workspace, request)
        card = (
            render.render_card(cards.requester_card(stored, directory), channel_id=channel_id)
            if stored is not None
            else render.notice_card(f"R-{request}", outcome.text)
        )
        return outcome.text, card, bool(outcome.messages)
    week = value or week_from_code(request)
    reply = answer_pulse(
        store=runtime.store,
        person=actor,
        week=week,
        manager_support=fields.get("manager_support", ""),
        service=fields.get("service", ""),
        comment=fields.get("comment"),
        now=runtime.clock(),
    )
    return reply, render.notice_card(f"Weekly pulse · {week}", reply), False
