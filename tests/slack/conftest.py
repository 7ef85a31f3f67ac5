"""The Slack harness: the real app on 127.0.0.1 (build_web_app + AppRunner on port 0), a fake
Web API behind ``SLACK_API_URL``, correctly signed requests built from payload fixtures, a
fixed clock, and delivery driven by hand (``settle``)."""

from __future__ import annotations

import copy
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.models import ActionId, Request
from bot.ports import Store
from bot.settings import Settings
from handlers.runtime import DeliveryWorker, Runtime
from handlers.server import RUNTIME_KEY, build_web_app
from handlers.slack import SLACK_KEY, SlackFrontEnd
from tests.conftest import NOW, small_org
from tests.fakes.slack_api import FakeSlackApi, ServerThread

DATA = Path(__file__).resolve().parents[1] / "data" / "slack"
SIGNING_SECRET = "test-signing-secret-not-real"
BOT_TOKEN = "xoxb-test-token-not-real"
TEAM = "T0ACME"

# Slack users of the small org (see tests.conftest.small_org); they link by email.
USERS = {
    "U0ALICE": ("Alice Archer", "alice@example.com", "America/New_York"),
    "U0BOB": ("Bob Baker", "bob@example.com", "Europe/London"),
    "U0CAROL": ("Carol Cole", "carol@example.com", "Asia/Tokyo"),
    "U0DAVE": ("Dave Dunn", "dave@example.com", "Europe/London"),
    "U0ERIN": ("Erin East", "erin@example.com", "Europe/London"),
    "U0NEWBIE": ("Nina Newbie", "nina@example.com", "Europe/Berlin"),
}


def fixture(name: str) -> dict[str, Any]:
    """A payload fixture from tests/data/slack, as a fresh dict."""
    return json.loads((DATA / f"{name}.json").read_text())


def sign(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    """Slack's v0 request signature."""
    return str(SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body))


def signed_slash_command(
    fake: FakeSlackApi,
    *,
    user: str,
    text: str,
    trigger: str,
    reply_to: str,
    command: str = "/request",
    secret: str = SIGNING_SECRET,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a slash command signed now with ``secret``, answered at the fake's
    response_url named ``reply_to`` (for tests that POST to a real ``servechain serve``)."""
    form = {
        **fixture("slash_command"),
        "user_id": user,
        "text": text,
        "command": command,
        "trigger_id": trigger,
        "response_url": fake.response_url(reply_to),
    }
    body = urlencode(form)
    ts = int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(body, ts, secret),
    }
    return body.encode(), headers


@dataclass
class Answer:
    """An HTTP answer from the app."""

    status: int
    body: str
    seconds: float

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body) if self.body else None


class FixedClock:
    """The clock the app reads; tests move it by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


class SlackHarness:
    """The running app plus helpers that speak Slack to it."""

    def __init__(self, store: Store, fake: FakeSlackApi, *, workspace: str = "default", **more_settings: Any) -> None:
        self.store = store
        self.fake = fake
        self.clock = FixedClock(NOW)
        self.settings = Settings(
            slack_bot_token=BOT_TOKEN,  # type: ignore[arg-type]
            slack_signing_secret=SIGNING_SECRET,  # type: ignore[arg-type]
            slack_api_url=fake.url,
            servechain_workspace=workspace,
            servechain_db="unused-in-tests.json",
            **more_settings,
        )
        self.app = build_web_app(self.settings, store, clock=self.clock, deliver=False)
        self.runtime: Runtime = self.app[RUNTIME_KEY]
        self.worker = DeliveryWorker(self.runtime)
        self.runtime.worker = self.worker  # never started: tests deliver with settle()
        self.slack: SlackFrontEnd = self.app[SLACK_KEY]
        self.server = ServerThread(self.app).start()
        self._triggers = 0

    @property
    def url(self) -> str:
        """The Slack request URL."""
        return f"{self.server.base}/slack/events"

    # ------------------------------------------------------------------ raw HTTP

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """POST a signed body to /slack/events."""
        ts = int(time.time()) if timestamp is None else timestamp
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature if signature is not None else sign(body, ts, secret),
            **(headers or {}),
        }
        request = urllib.request.Request(self.url, data=body.encode(), headers=all_headers, method="POST")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read().decode()
                return Answer(response.status, text, time.perf_counter() - started)
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read().decode(), time.perf_counter() - started)

    def post_form(self, form: dict[str, Any], **kwargs: Any) -> Answer:
        """POST form fields."""
        return self.post(urlencode(form), "application/x-www-form-urlencoded", **kwargs)

    def post_payload(self, payload: dict[str, Any], **kwargs: Any) -> Answer:
        """POST an interactivity payload (``payload=<json>``)."""
        return self.post_form({"payload": json.dumps(payload)}, **kwargs)

    # ------------------------------------------------------------------ Slack shapes

    def trigger(self) -> str:
        """A fresh trigger id."""
        self._triggers += 1
        return f"{self._triggers}.738474920.{self._triggers:08x}"

    def command_form(
        self, user: str, text: str, *, command: str = "/request", trigger: str | None = None
    ) -> dict[str, Any]:
        """A slash command's form fields from the fixture."""
        form = fixture("slash_command")
        form.update(
            user_id=user,
            user_name=user.lower(),
            text=text,
            command=command,
            trigger_id=trigger or self.trigger(),
            response_url=self.fake.response_url(f"cmd-{user}"),
        )
        return form

    def command(self, user: str, text: str, *, command: str = "/request", **kwargs: Any) -> Answer:
        """Type a slash command."""
        return self.post_form(self.command_form(user, text, command=command), **kwargs)

    def click_payload(self, user: str, button: dict[str, Any], *, action_ts: str | None = None) -> dict[str, Any]:
        """A block_actions payload for clicking ``button`` (a button element the app sent)."""
        payload = fixture("block_actions")
        payload["user"].update(id=user, username=user.lower(), name=user.lower())
        payload["trigger_id"] = self.trigger()
        payload["response_url"] = self.fake.response_url(f"click-{user}")
        payload["actions"] = [
            {
                **payload["actions"][0],
                "action_id": button["action_id"],
                "text": button["text"],
                "value": button.get("value", ""),
                "action_ts": action_ts or f"{time.time():.6f}",
            }
        ]
        return payload

    def click(self, user: str, button: dict[str, Any], **kwargs: Any) -> Answer:
        """Click a button."""
        return self.post_payload(self.click_payload(user, button, **kwargs))

    def submission(
        self, user: str, view: dict[str, Any], values: dict[str, dict[str, Any]], *, view_id: str | None = None
    ) -> dict[str, Any]:
        """A view_submission payload of ``view`` (as the app opened it) with these field states."""
        payload = fixture("view_submission")
        payload["user"].update(id=user, username=user.lower(), name=user.lower())
        payload["view"].update(
            id=view_id or view.get("id") or "VFIXTURE1",
            callback_id=view["callback_id"],
            private_metadata=view.get("private_metadata", ""),
            blocks=view["blocks"],
            state={"values": {block: {"value": state} for block, state in values.items()}},
        )
        return payload

    def submit(self, user: str, view: dict[str, Any], values: dict[str, dict[str, Any]], **kwargs: Any) -> Answer:
        """Submit a modal."""
        return self.post_payload(self.submission(user, view, values, **kwargs))

    def open_home(self, user: str, **kwargs: Any) -> Answer:
        """Send app_home_opened."""
        event = fixture("app_home_opened")
        event["event"]["user"] = user
        return self.post(json.dumps(event), "application/json", **kwargs)

    def home_after_opening(self, user: str, wait: float = 10.0) -> dict[str, Any]:
        """Open ``user``'s App Home and return the view published for it. Bolt runs
        app_home_opened on its own thread after the HTTP ack, so the publish may be submitted after
        ``settle`` found the work pool idle: wait for the publish itself."""

        def published() -> list[Any]:
            return [c for c in self.fake.calls("views.publish") if c.params["user_id"] == user]

        before = len(published())
        assert self.open_home(user).status == 200
        deadline = time.monotonic() + wait
        while len(published()) <= before:
            assert time.monotonic() < deadline, f"no App Home published for {user}"
            time.sleep(0.02)
            self.settle()
        return published()[-1].params["view"]

    # ------------------------------------------------------------------ driving and reading

    def settle(self) -> None:
        """Finish background work, deliver the outbox, and finish what delivery caused (App Home
        publishes included)."""
        for _ in range(3):
            assert self.slack.work.wait_idle(10), "background work did not finish"
            self.worker.run_once()
        assert self.slack.work.wait_idle(10)
        assert self.slack.homes.wait_idle(10), "App Home publishes did not finish"

    def request(self, number: int) -> Request:
        """A stored request."""
        request = self.store.get_request("default", number)
        assert request is not None, f"R-{number} is not stored"
        return request

    def posted_to(self, user: str) -> list[dict[str, Any]]:
        """Every chat.postMessage params sent to ``user``'s DM, oldest first."""
        return [
            c.params
            for c in self.fake.calls("chat.postMessage")
            if c.params.get("channel") == f"D{user}" and c.status == 200
        ]

    def card(self, user: str, ref: str) -> dict[str, Any]:
        """The current state (after updates) of the top-level card about ``ref`` in ``user``'s DM."""
        for (channel, _ts), params in sorted(self.fake.messages.items(), key=lambda item: item[0][1]):
            if channel == f"D{user}" and not params.get("thread_ts") and ref in _header(params):
                return params
        raise AssertionError(f"no card about {ref} in D{user}")

    def replies(self, user: str) -> list[str]:
        """Texts of the ephemeral replies (response_url posts) to ``user``."""
        return [str(c.params.get("text")) for c in self.fake.calls("response_url") if c.params["_name"].endswith(user)]

    def last_view(self, method: str = "views.open") -> dict[str, Any]:
        """The view of the latest call of ``method``, with the id the fake gave it."""
        call = self.fake.calls(method)[-1]
        return {**call.params["view"], "id": call.answer.get("view", {}).get("id")}

    def stop(self) -> None:
        """Stop the app server."""
        self.server.stop()


def _header(params: dict[str, Any]) -> str:
    blocks = params.get("blocks") or []
    if blocks and blocks[0].get("type") == "header":
        return str(blocks[0]["text"]["text"])
    return str(params.get("text", ""))


def button(params: dict[str, Any], action: ActionId, label: str | None = None) -> dict[str, Any]:
    """The button for ``action`` (optionally with this label) in a posted message."""
    for block in params.get("blocks") or []:
        if block.get("type") != "actions":
            continue
        for element in block["elements"]:
            if element["action_id"].split(":")[0] == action.value and (
                label is None or element["text"]["text"] == label
            ):
                return dict(element)
    raise AssertionError(f"no {action.value} button in {json.dumps(params.get('blocks'))[:500]}")


def thread_texts(fake: FakeSlackApi, user: str) -> list[str]:
    """Texts posted in threads of ``user``'s DM."""
    return [
        str(c.params.get("text"))
        for c in fake.calls("chat.postMessage")
        if c.params.get("channel") == f"D{user}" and c.params.get("thread_ts")
    ]


def deep(payload: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (payload helpers mutate)."""
    return copy.deepcopy(payload)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Slack/servechain settings leak in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "SERVECHAIN_", "MICROSOFT_")) or name == "PORT":
            monkeypatch.delenv(name)


@pytest.fixture
def fake() -> Iterator[FakeSlackApi]:
    """The fake Web API, knowing the small org's Slack users."""
    with FakeSlackApi(team_id=TEAM) as api:
        for user_id, (name, email, tz) in USERS.items():
            api.add_user(user_id, name, email=email, tz=tz)
        api.add_user("U0ROBOT", "Robot", email="robot@example.com", is_bot=True)
        yield api


@pytest.fixture
def harness(store: Store, fake: FakeSlackApi) -> Iterator[SlackHarness]:
    """The app serving the small org."""
    people, teams = small_org()
    store.save_org(people, teams)
    running = SlackHarness(store, fake)
    try:
        yield running
    finally:
        running.stop()
    refused = [(c.method, c.answer) for c in fake.calls() if c.answer.get("error") in _REFUSED_PAYLOAD]
    assert not refused, f"Slack would have refused these payloads: {refused}"


_REFUSED_PAYLOAD = frozenset({"invalid_blocks", "invalid_arguments", "no_text"})
