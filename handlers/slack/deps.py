"""What Slack listeners share: the store and clock, identity, App Home, a work pool that
runs everything after the ack, and a record of what the app listens to (checked against
``manifest.yml``)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.access import PersonFigures
from bot.delivery import private_reply
from bot.digest import DEFAULT_DIGEST, DigestSettings
from bot.inbox import InboxRunner
from bot.models import InboxItem, Message
from bot.nudges import DEFAULT_NUDGES, NudgeSettings
from bot.ports import Store
from bot.pulse import DEFAULT_PULSE, PulseSettings
from bot.requests import outbox_items
from bot.work import BackgroundWork
from bot.workhours import WorkingHours
from handlers.slack.clients import counted_calls, pool_of
from handlers.slack.errors import friendly
from handlers.slack.home import HomeRefresher
from handlers.slack.identity import SlackIdentity
from handlers.slack.render import escape
from handlers.slack.transport import PooledWebhookClient

log = logging.getLogger(__name__)


def actor_of(body: dict[str, Any]) -> str | None:
    """The Slack user who typed a command (``user_id``) or clicked (``user.id``): their work's lane."""
    user = body.get("user")
    found = body.get("user_id") or (user.get("id") if isinstance(user, dict) else None)
    return str(found) if found else None


def lane_of_item(item: InboxItem) -> str | None:
    """The lane of stored Slack work: its actor's, as when it was first submitted (:meth:`SlackDeps.take`)."""
    return actor_of(item.payload)


class RecentKeys:
    """Idempotency keys this process handled lately, so a redelivered command or click is
    acknowledged and dropped silently (the store's idempotency keys guard the writes; this
    spares the person a second "already done" reply)."""

    def __init__(self, size: int = 10_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is seen (then remembered), False after."""
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return False
            self._keys[key] = None
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)
            return True


@dataclass
class Subscriptions:
    """Everything the listeners registered, by kind, for the manifest check."""

    commands: set[str] = field(default_factory=set)
    shortcuts: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    views: set[str] = field(default_factory=set)


@dataclass(kw_only=True)
class SlackDeps:
    """Dependencies passed to every listener group's ``register``."""

    store: Store
    workspace: str
    clock: Callable[[], datetime]
    kick: Callable[[], None]
    identity: SlackIdentity
    homes: HomeRefresher
    work: BackgroundWork
    kudos_allowance: int = 5
    hours: WorkingHours
    nudges: NudgeSettings = DEFAULT_NUDGES
    digest: DigestSettings = DEFAULT_DIGEST
    pulse: PulseSettings = DEFAULT_PULSE
    person_figures: PersonFigures = "private"
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    recent: RecentKeys = field(default_factory=RecentKeys)
    team_ids: set[str] = field(default_factory=set)
    inbox: InboxRunner | None = None
    """Where acknowledged commands and clicks are stored before the ack (see :meth:`take`)."""

    def take(
        self, ack: Ack, *, kind: str, key: str, body: dict[str, Any], doing: str, replier: Replier | None = None
    ) -> None:
        """Store a command or click in the inbox, *then* acknowledge it, then run it in the work
        pool. A process that dies after the ack leaves it in the store, where a restart or another
        replica runs it (:mod:`bot.inbox`). A redelivery this process has seen is acknowledged and
        dropped; one another process took is answered as a repeat. When the
        store can't take it, the person is told at once (in the ack of a command, else through
        ``replier``) that nothing was done."""
        if not self.recent.first_time(key):
            ack()  # Slack redelivered something this process already has
            return
        assert self.inbox is not None, "the Slack front end sets the inbox"
        try:
            item = self.inbox.accept(workspace=self.workspace, key=key, platform="slack", kind=kind, payload=body)
        except Exception as error:
            text = friendly(error, doing=doing) + " Nothing was done."
            if replier is None:
                ack(text=text)
            else:
                ack()
                self.work.submit(lambda: replier.say(text), what=f"telling that {doing} failed")
            return
        runner = self.inbox
        lane = actor_of(body)
        if item is not None:
            self.work.submit(lambda: runner.run(item), what=doing, lane=lane)
        else:  # taken before, by another replica: answer it as the repeat it is
            workspace = self.workspace
            self.work.submit(
                lambda: runner.repeat(workspace=workspace, key=key, platform="slack", kind=kind, payload=body),
                what=f"{doing} (again)",
                lane=lane,
            )
        ack()

    def seen_team(self, team_id: str) -> None:
        """Remember the Slack team we serve (the notifier picks user ids from it)."""
        if team_id and team_id not in self.team_ids:
            self.team_ids.add(team_id)

    def team_id(self) -> str | None:
        """The Slack team seen so far (one org per deployment), if any."""
        return next(iter(self.team_ids), None)

    def replier(self, client: WebClient, team_id: str, user_id: str, response_url: str | None) -> Replier:
        """A :class:`Replier` for ``user_id`` whose DM fallback goes through the outbox."""

        def through_outbox(text: str, card: Message | None) -> bool:
            return self.reply_later(team_id, user_id, text, card)

        return Replier(client, user_id, response_url, fallback=through_outbox)

    def reply_later(self, team_id: str, user_id: str, text: str, card: Message | None = None) -> bool:
        """Queue a reply as a DM in the outbox (durable, retried); False when the user is not
        linked to a person yet (then there is nobody to queue it for)."""
        person = self.store.find_person(self.workspace, slack_id=(team_id, user_id))
        if person is None:
            return False
        self.store.enqueue(outbox_items([private_reply(person, text, card=card)], self.clock()))
        self.kick()
        return True

    def after_change(self, client: WebClient, team_id: str, people_ids: set[str]) -> None:
        """Deliver what a change queued and refresh the App Home of the people it touched who
        have opened theirs (one read for all of them; nobody is loaded on the command's path)."""
        self.kick()
        self.homes.changed(client, people_ids, team_id)


Fallback = Callable[[str, Message | None], bool]
"""Queues a reply for later delivery (text, optional card); False when it can't."""


class Replier:
    """Answers the person who typed or clicked, and only them: ephemerally through
    ``response_url`` when Slack gave one and it works, else as a DM from the bot, queued in the
    outbox (``fallback``) so a Slack outage delays the answer instead of losing it."""

    def __init__(
        self, client: WebClient, user_id: str, response_url: str | None, *, fallback: Fallback | None = None
    ) -> None:
        self.client = client
        self.user_id = user_id
        self.response_url = response_url
        self.fallback = fallback

    def say(self, text: str, blocks: list[dict[str, Any]] | None = None, *, card: Message | None = None) -> None:
        """Send ``text`` (and optional blocks, rendered from ``card`` when there is one) to the
        person only; ``text`` is escaped for mrkdwn (usage texts say ``<when>``, which Slack
        would otherwise take for a link)."""
        raw, text = text, escape(text)
        if self.response_url:
            counter = counted_calls(self.client)
            try:
                response = PooledWebhookClient(self.response_url, pool=pool_of(self.client)).send(
                    text=text, blocks=blocks, response_type="ephemeral", replace_original=False
                )
            except OSError as error:
                if counter is not None:
                    counter.count("response_url", "failed")
                log.warning("response_url failed (%s); sending a DM instead", error)
            else:
                status = response.status_code
                if counter is not None:
                    outcome = "ok" if status == 200 else "rate_limited" if status == 429 else "failed"
                    counter.count("response_url", outcome)
                if status == 200:
                    return
                log.warning("response_url answered %s; sending a DM instead", status)
        if self.fallback is not None and self.fallback(raw, card):
            return
        self.client.chat_postMessage(channel=self.user_id, text=text, blocks=blocks)

    def fail(self, error: BaseException, *, doing: str) -> None:
        """Tell the person what went wrong (see :func:`handlers.slack.errors.friendly`)."""
        text = friendly(error, doing=doing)
        try:
            self.say(text)
        except (SlackApiError, OSError):
            log.exception("could not tell %s that %s failed", self.user_id, doing)


def guarded(replier: Replier, doing: str, job: Callable[[], None]) -> Callable[[], None]:
    """``job`` wrapped so any failure is answered to the person instead of only logged."""

    def run() -> None:
        try:
            job()
        except Exception as error:
            replier.fail(error, doing=doing)

    return run
