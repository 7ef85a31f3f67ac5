"""Where the bot can reach people in Teams: conversation references kept as small store documents.

- ``teams_conversation`` / person id: the 1:1 chat with that person (saved on install and on
  first contact, removed on uninstall); proactive messages go there.
- ``teams_team`` / conversation id: a team or group chat the bot was added to.
- ``teams_service`` / ``bot``: the service URL, tenant and bot account last seen, so the bot can
  open a 1:1 chat with someone who never wrote to it.
- ``teams_user`` / Teams user id (``29:...``): the person behind that id, so mentions resolve
  without asking the Bot Connector every time.
"""

from __future__ import annotations

from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ConversationReference

from bot.ports import Store

CONVERSATION_KIND = "teams_conversation"
TEAM_KIND = "teams_team"
SERVICE_KIND = "teams_service"
SERVICE_KEY = "bot"
USER_KIND = "teams_user"


def is_personal(activity: Activity) -> bool:
    """True for a 1:1 chat (Teams says ``personal``; the emulator and tests say nothing)."""
    conversation = activity.conversation
    kind = conversation.conversation_type if conversation else None
    return kind in (None, "", "personal")


def reference_doc(activity: Activity) -> dict[str, Any]:
    """The conversation reference of an incoming activity, as a JSON document without the
    activity id (proactive messages start new messages rather than reply to an old one)."""
    reference = TurnContext.get_conversation_reference(activity)
    reference.activity_id = None
    return reference.serialize()


def to_reference(doc: dict[str, Any]) -> ConversationReference:
    """A stored document back to a ConversationReference."""
    return ConversationReference().deserialize(doc)


def save_personal(store: Store, workspace: str, person_id: str, activity: Activity) -> bool:
    """Remember the 1:1 chat with ``person_id``; True when it was not known (or changed)."""
    doc = reference_doc(activity)
    if store.get_doc(CONVERSATION_KIND, workspace, person_id) == doc:
        return False
    store.put_doc(CONVERSATION_KIND, workspace, person_id, doc)
    return True


def save_team(store: Store, workspace: str, activity: Activity) -> bool:
    """Remember a team or group chat the bot is in; True when it was not known."""
    doc = reference_doc(activity)
    key = doc.get("conversation", {}).get("id") or ""
    if not key or store.get_doc(TEAM_KIND, workspace, key) == doc:
        return False
    store.put_doc(TEAM_KIND, workspace, key, doc)
    return True


def personal(store: Store, workspace: str, person_id: str) -> ConversationReference | None:
    """The stored 1:1 chat with ``person_id``, if any."""
    doc = store.get_doc(CONVERSATION_KIND, workspace, person_id)
    return to_reference(doc) if doc else None


def forget_personal(store: Store, workspace: str, person_id: str) -> bool:
    """Drop the 1:1 chat (the person uninstalled the bot); True if there was one."""
    return store.delete_doc(CONVERSATION_KIND, workspace, person_id)


def forget_team(store: Store, workspace: str, conversation_id: str) -> bool:
    """Drop a team or group chat the bot was removed from."""
    return store.delete_doc(TEAM_KIND, workspace, conversation_id)


def remember_service(store: Store, workspace: str, activity: Activity) -> None:
    """Keep the service URL, tenant and bot account of the latest activity (written only on change)."""
    conversation = activity.conversation
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = (conversation.tenant_id if conversation else None) or (channel_data.get("tenant") or {}).get("id")
    doc = {
        "service_url": activity.service_url,
        "channel_id": activity.channel_id,
        "tenant_id": tenant,
        "bot_id": activity.recipient.id if activity.recipient else None,
        "bot_name": activity.recipient.name if activity.recipient else None,
    }
    known = store.get_doc(SERVICE_KIND, workspace, SERVICE_KEY)
    if known:  # an activity that leaves something out doesn't erase what we knew
        doc = {name: value or known.get(name) for name, value in doc.items()}
    if not doc["service_url"] or known == doc:
        return
    store.put_doc(SERVICE_KIND, workspace, SERVICE_KEY, doc)


def service(store: Store, workspace: str) -> dict[str, Any] | None:
    """The service URL, tenant and bot account last seen, if any."""
    return store.get_doc(SERVICE_KIND, workspace, SERVICE_KEY)


def person_for_user(store: Store, workspace: str, user_id: str) -> str | None:
    """The person id recorded for a Teams user id, if any."""
    doc = store.get_doc(USER_KIND, workspace, user_id)
    return str(doc["person_id"]) if doc and doc.get("person_id") else None


def remember_user(store: Store, workspace: str, user_id: str, person_id: str) -> None:
    """Record which person a Teams user id belongs to."""
    if person_for_user(store, workspace, user_id) != person_id:
        store.put_doc(USER_KIND, workspace, user_id, {"person_id": person_id})
