"""Who may do what with a request, and which platform organisation may reach a workspace:
the one place these rules live.

A person stands in one or more :class:`Role` s towards a request (requester, current
provider, a previous provider, someone in the current provider's manager chain, or none
of these). Each :class:`Permission` is granted to a fixed set of roles; the lifecycle
(``bot.requests``) adds *when*: which states an action may start from.

Someone who may not view a request is told it does not exist (``NotFound``), never that
they may not see it, so request numbers reveal nothing. Someone who may view it but not
act is told who can (``NotAllowed``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from enum import StrEnum
from typing import Literal

from bot.errors import NotAllowed, NotFound
from bot.models import ActionId, Person, Request
from bot.people import Directory
from bot.ports import Store

log = logging.getLogger(__name__)


class Role(StrEnum):
    """How a person stands towards one request."""

    REQUESTER = "requester"
    PROVIDER = "provider"
    PREVIOUS_PROVIDER = "previous_provider"
    MANAGER = "manager"
    """Anyone in the *current* provider's manager chain."""
    OTHER = "other"


class Permission(StrEnum):
    """What a person may do with a request."""

    VIEW = "view"
    """See it: ``/request show``, its card, its status."""
    HISTORY = "history"
    """See its full event log (notes, hand-offs, ratings)."""
    COMMENT = "comment"
    """Add a comment to its log."""
    ACT = "act"
    """Serve it: acknowledge, start, finish, decline, hand off, answer a poor rating."""
    REASSIGN = "reassign"
    """Give it to someone else over the provider's head."""
    RATE = "rate"
    """Rate the service once it is closed."""
    STEER = "steer"
    """The requester's own moves: cancel, reopen, answer a follow-up."""
    NEGOTIATE = "negotiate"
    """Propose a due date, or answer the other side's proposal (whose turn it is: ``bot.promises``)."""
    MANAGE = "manage"
    """A manager's moves on a stuck request (``/request team``): nudge the provider, propose a
    later date to the requester."""
    CLOSE_RECOVERY = "close_recovery"
    """Close a service recovery the requester is still not satisfied with (``bot.recovery``)."""


_INVOLVED = frozenset({Role.REQUESTER, Role.PROVIDER, Role.PREVIOUS_PROVIDER, Role.MANAGER})

GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.VIEW: _INVOLVED,
    Permission.HISTORY: _INVOLVED,
    Permission.COMMENT: _INVOLVED,
    Permission.ACT: frozenset({Role.PROVIDER}),
    Permission.REASSIGN: frozenset({Role.MANAGER}),
    Permission.RATE: frozenset({Role.REQUESTER}),
    Permission.STEER: frozenset({Role.REQUESTER}),
    Permission.NEGOTIATE: frozenset({Role.REQUESTER, Role.PROVIDER}),
    Permission.MANAGE: frozenset({Role.MANAGER}),
    Permission.CLOSE_RECOVERY: frozenset({Role.MANAGER}),
}
"""Which roles hold each permission; :data:`Role.OTHER` holds none."""

ACTION_PERMISSIONS: dict[ActionId, Permission] = {
    ActionId.ACKNOWLEDGE: Permission.ACT,
    ActionId.START: Permission.ACT,
    ActionId.DONE: Permission.ACT,
    ActionId.DECLINE: Permission.ACT,
    ActionId.HANDOFF: Permission.ACT,
    ActionId.RECOVER: Permission.ACT,
    ActionId.REASSIGN: Permission.REASSIGN,
    ActionId.RATE: Permission.RATE,
    ActionId.CANCEL: Permission.STEER,
    ActionId.REOPEN: Permission.STEER,
    ActionId.FOLLOW_UP: Permission.STEER,
    ActionId.COMMENT: Permission.COMMENT,
    ActionId.SET_DUE: Permission.STEER,
    ActionId.PROPOSE_DUE: Permission.NEGOTIATE,
    ActionId.ACCEPT_DUE: Permission.NEGOTIATE,
    ActionId.DECLINE_DUE: Permission.NEGOTIATE,
    ActionId.ASK_UPDATE: Permission.STEER,
    ActionId.NUDGE: Permission.MANAGE,
    ActionId.EXTEND_DUE: Permission.MANAGE,
    ActionId.PROGRESS: Permission.ACT,
    ActionId.THANK: Permission.RATE,
    ActionId.ASK_INSTEAD: Permission.STEER,
    ActionId.ACCEPT_ALTERNATIVE: Permission.STEER,
    ActionId.ASK_AGAIN: Permission.STEER,
    ActionId.CLOSE_RECOVERY: Permission.CLOSE_RECOVERY,
}
"""The permission each request action needs (thanking the provider is the requester's, like rating)."""


def roles(request: Request, person: Person, directory: Directory) -> frozenset[Role]:
    """Every role ``person`` holds towards ``request`` (``{OTHER}`` when none)."""
    found: set[Role] = set()
    if person.workspace != request.workspace:
        return frozenset({Role.OTHER})
    if person.id == request.requester_id:
        found.add(Role.REQUESTER)
    if person.id == request.provider_id:
        found.add(Role.PROVIDER)
    elif person.id in request.provider_history():
        found.add(Role.PREVIOUS_PROVIDER)
    if directory.manages(person.id, request.provider_id):
        found.add(Role.MANAGER)
    return frozenset(found or {Role.OTHER})


def may(permission: Permission, request: Request, person: Person, directory: Directory) -> bool:
    """True when one of ``person``'s roles holds ``permission`` on ``request`` (states aside)."""
    return bool(GRANTS[permission] & roles(request, person, directory))


def can_view(request: Request, person: Person, directory: Directory) -> bool:
    """Requester, current and previous providers, and the provider's manager chain may see it."""
    return may(Permission.VIEW, request, person, directory)


_VERBS: dict[ActionId, str] = {
    ActionId.ACKNOWLEDGE: "acknowledge",
    ActionId.START: "start",
    ActionId.DONE: "finish",
    ActionId.DECLINE: "decline",
    ActionId.HANDOFF: "hand off",
    ActionId.REASSIGN: "reassign",
    ActionId.CANCEL: "cancel",
    ActionId.REOPEN: "reopen",
    ActionId.RATE: "rate",
    ActionId.RECOVER: "answer the poor rating of",
    ActionId.FOLLOW_UP: "answer the follow-up of",
    ActionId.COMMENT: "comment on",
    ActionId.SET_DUE: "set the due date of",
    ActionId.PROPOSE_DUE: "propose a due date for",
    ActionId.ACCEPT_DUE: "accept a due date for",
    ActionId.DECLINE_DUE: "decline a due date for",
    ActionId.ASK_UPDATE: "ask for an update on",
    ActionId.NUDGE: "nudge the provider of",
    ActionId.EXTEND_DUE: "propose a later due date for",
    ActionId.PROGRESS: "post progress on",
    ActionId.THANK: "say thanks for",
    ActionId.ASK_INSTEAD: "ask someone else instead for",
    ActionId.ACCEPT_ALTERNATIVE: "accept the alternative to",
    ActionId.ASK_AGAIN: "ask again for",
    ActionId.CLOSE_RECOVERY: "close the service recovery of",
}


PersonFigures = Literal["private", "everyone"]
"""Who may see one person's responsiveness figures (``PERSON_FIGURES``): ``private`` (the
default) lets the person and their management chain see them; ``everyone`` lets anyone in the
workspace. Team and team-link figures are aggregates and visible to everyone either way."""


def can_see_person_figures(
    viewer: Person, person: Person, directory: Directory, policy: PersonFigures = "private"
) -> bool:
    """Whether ``viewer`` may see ``person``'s own figures (see :data:`PersonFigures`)."""
    if policy == "everyone" or viewer.id == person.id:
        return True
    return directory.manages(viewer.id, person.id)


def verb(action: ActionId) -> str:
    """How a sentence names ``action``: ``Only bob can <verb> R-7``."""
    return _VERBS.get(action, action.value.replace("_", " "))


def check_action(request: Request, action: ActionId, actor: Person, directory: Directory) -> None:
    """Raise ``NotFound`` when ``actor`` may not even see ``request``, ``NotAllowed`` (naming who
    can) when they see it but ``action`` is not theirs; states are the lifecycle's business."""
    if not can_view(request, actor, directory):
        raise NotFound(f"I can't find {request.ref}.")
    permission = ACTION_PERMISSIONS.get(action)
    if permission is None:
        raise NotAllowed(f"That button ({action.value}) doesn't change a request.")
    if may(permission, request, actor, directory):
        return
    who = {
        Permission.ACT: directory.handle(request.provider_id),
        Permission.RATE: directory.handle(request.requester_id),
        Permission.STEER: directory.handle(request.requester_id),
        Permission.REASSIGN: f"{directory.handle(request.provider_id)}'s manager",
        Permission.MANAGE: f"{directory.handle(request.provider_id)}'s manager",
        Permission.NEGOTIATE: f"{directory.handle(request.requester_id)} and {directory.handle(request.provider_id)}",
        Permission.CLOSE_RECOVERY: f"{directory.handle(request.provider_id)}'s manager",
    }.get(permission, "the people on it")
    raise NotAllowed(f"Only {who} can {verb(action)} {request.ref}.")


HOME_DOC = "home_org"
"""Document kind (key: platform) recording the Slack team or Teams tenant a workspace serves."""


class WorkspaceGate:
    """Which Slack team or Teams tenant may reach one servechain workspace.

    One deployment serves one workspace, and its home organisation on a platform is an explicit
    choice, never whoever knocks first: ``allowed`` (configured Slack team ids, Teams tenant ids),
    else ``home``, a function that learns the one organisation our own credentials belong to
    (Slack's ``auth.test`` on the bot token), asked once, lazily, and cached (a failure is retried
    after ``retry_after`` seconds, and refused meanwhile). The learned home is recorded in the
    store, replacing whatever an older version pinned there. ``pin_first_seen`` keeps the old
    trust-on-first-use pinning, for local development only (no authentication, nothing to
    protect). With none of these, every organisation is refused and the log says what to set.

    A payload naming no organisation is refused unless ``orgless`` (Teams: Web Chat and the
    emulator name no tenant, yet authenticate as our own app). Anything refused is refused
    before it reads or writes a thing, so a second Slack workspace or Teams tenant that installs
    the same app can neither see nor touch this one's people and requests.
    """

    def __init__(
        self,
        store: Store,
        workspace: str,
        *,
        platform: str,
        allowed: Collection[str] = (),
        home: Callable[[], str | None] | None = None,
        pin_first_seen: bool = False,
        orgless: bool = False,
        retry_after: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.platform = platform
        self.allowed = frozenset(org for org in allowed if org)
        self.orgless = orgless
        self._learn = home
        self._pin_first_seen = pin_first_seen
        self._retry_after = retry_after
        self._monotonic = monotonic
        self._home: str | None = None
        self._failed_until = float("-inf")
        self._lock = threading.Lock()

    def admits(self, org_id: str | None) -> bool:
        """True when ``org_id`` (a Slack team id, a Teams tenant id) is this workspace's."""
        if not org_id:
            return self.orgless
        if self.allowed:
            return org_id in self.allowed
        if self._learn is not None:
            return org_id == self.learned_home()
        if self._pin_first_seen:
            return org_id == self.home(org_id)
        return False

    def admits_now(self, org_id: str | None) -> bool | None:
        """:meth:`admits` when it can be answered without a call or a store read (configured
        organisations, or the home already learned); None when it can't, so a front end on an
        event loop answers most requests without a thread hop and sends the rest to one."""
        if not org_id:
            return self.orgless
        if self.allowed:
            return org_id in self.allowed
        if self._learn is None and not self._pin_first_seen:
            return False
        return None if self._home is None else org_id == self._home

    @property
    def known_home(self) -> str | None:
        """The home organisation learned or pinned so far, without asking anyone."""
        return self._home

    def learned_home(self) -> str | None:
        """The organisation ``home`` names (asked once and cached; None while it can't say)."""
        assert self._learn is not None
        with self._lock:
            if self._home is not None or self._monotonic() < self._failed_until:
                return self._home
            try:
                learned = self._learn()
            except Exception as error:  # the platform is down or refuses: ask again a little later
                learned = None
                log.warning("couldn't learn which %s organisation this deployment serves: %s", self.platform, error)
            if not learned:
                self._failed_until = self._monotonic() + self._retry_after
                return None
            self._home = learned
        self._record(learned)
        return learned

    def _record(self, org_id: str) -> None:
        doc = self.store.get_doc(HOME_DOC, self.workspace, self.platform)
        if doc is not None and doc.get("org_id") == org_id:
            return
        self.store.put_doc(HOME_DOC, self.workspace, self.platform, {"org_id": org_id})
        if doc is not None and doc.get("org_id"):
            log.warning(
                "%s organisation %s replaces %s as the home of workspace %r (learned from our own credentials)",
                self.platform,
                org_id,
                doc["org_id"],
                self.workspace,
            )
        else:
            log.info("%s organisation %s is the home of workspace %r", self.platform, org_id, self.workspace)

    def home(self, candidate: str) -> str:
        """The pinned home organisation, pinning ``candidate`` when there is none yet
        (``pin_first_seen`` only: local development)."""
        with self._lock:
            if self._home is None:
                doc = self.store.get_doc(HOME_DOC, self.workspace, self.platform)
                if doc is None or not doc.get("org_id"):
                    doc = {"org_id": candidate}
                    self.store.put_doc(HOME_DOC, self.workspace, self.platform, doc)
                    log.warning(
                        "%s organisation %s is now the home of workspace %r; others will be refused",
                        self.platform,
                        candidate,
                        self.workspace,
                    )
                self._home = str(doc["org_id"])
            return self._home


def org_ids(setting: str | None) -> list[str]:
    """Organisation ids from a comma- or space-separated setting."""
    return [part for part in (setting or "").replace(",", " ").split() if part]
