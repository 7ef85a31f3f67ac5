"""Install and uninstall (``installationUpdate``, and ``conversationUpdate`` when the bot itself is
added or removed): keep or drop the conversation reference, and welcome once on install.

Teams sends both activities for one install; whichever comes first stores the reference and
welcomes, the other finds it stored and stays quiet.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from botbuilder.core import MessageFactory, TurnContext

from handlers.teams import identity, references
from handlers.teams.chat import HELP

if TYPE_CHECKING:
    from handlers.runtime import Runtime


async def on_installed(context: TurnContext, runtime: Runtime) -> None:
    """The bot was added to a 1:1 chat, a team or a group chat."""
    activity = context.activity
    store, workspace = runtime.store, runtime.settings.servechain_workspace
    await asyncio.to_thread(references.remember_service, store, workspace, activity)
    if references.is_personal(activity):
        person = await identity.sender(context, store, workspace)
        new = await asyncio.to_thread(references.save_personal, store, workspace, person.id, activity)
    else:
        new = await asyncio.to_thread(references.save_team, store, workspace, activity)
    if new:
        await context.send_activity(MessageFactory.text(HELP))


async def on_uninstalled(context: TurnContext, runtime: Runtime) -> None:
    """The bot was removed: forget the conversation so nothing is sent there any more."""
    activity = context.activity
    store, workspace = runtime.store, runtime.settings.servechain_workspace
    if references.is_personal(activity):
        account = activity.from_property
        person = await asyncio.to_thread(identity.known_person, store, workspace, account.id, account.aad_object_id)
        if person is not None:
            await asyncio.to_thread(references.forget_personal, store, workspace, person.id)
    elif activity.conversation is not None:
        await asyncio.to_thread(references.forget_team, store, workspace, activity.conversation.id)
