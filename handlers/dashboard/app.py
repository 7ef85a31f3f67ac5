"""The dashboard's routes: pages (HTML shells the front end fills), data (``/dashboard/api/...``,
JSON) and the one state-changing action (ask for an update on my request).

Every page and data route asks the :class:`~handlers.dashboard.viewer.Authenticator` who is
looking: nobody → a page redirects (302) to sign-in, data answers 401; a POST also needs the
session's CSRF token from the same origin, else 403. The figures and who may see which come from
:mod:`bot.dashboard` (the chat's rules, :mod:`bot.access`). Static files (script, style) carry no
data and are served to anyone, so the sign-in page can use them.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot import dashboard
from bot.cards import provider_card_key, requester_card_key
from bot.clicks import Click, run_click
from bot.digest.snapshot import SnapshotDirectory
from bot.errors import DomainError, InvalidCommand, NotAllowed, NotFound
from bot.metrics import parse_window
from bot.models import ActionId, Person, Request
from bot.ports import Clock, Store
from bot.pulse import DEFAULT_PULSE, PulseSettings
from bot.workhours import WorkingHours
from handlers.dashboard.viewer import Authenticator

log = logging.getLogger(__name__)

PREFIX = "/dashboard"
DEFAULT_WINDOW = "90d"
MAX_WINDOW = timedelta(days=366)
CSRF_HEADER = "X-CSRF-Token"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

DASHBOARD_KEY = web.AppKey("servechain_dashboard", object)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Dashboard:
    """Everything the dashboard's routes share: the store, who is looking, the clock, settings."""

    def __init__(
        self,
        *,
        store: Store,
        workspace: str,
        auth: Authenticator,
        clock: Clock,
        hours: WorkingHours,
        pulse_settings: PulseSettings = DEFAULT_PULSE,
        cache_seconds: float = 300.0,
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.auth = auth
        self.clock = clock
        self.hours = hours
        self.pulse_settings = pulse_settings
        self.cache = dashboard.MetricsCache(store, workspace, ttl=cache_seconds, hours=hours)

    # ------------------------------------------------------------------ guards

    def page(self, handler: Callable[[web.Request, Person], Awaitable[web.StreamResponse]]) -> Handler:
        """A page: redirect to sign-in when nobody is signed in."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            viewer = await self.auth.viewer(request)
            if viewer is None:
                raise web.HTTPFound(self.auth.sign_in_url(request))
            return await handler(request, viewer)

        return guarded

    def data(self, handler: Callable[[web.Request, Person], Awaitable[Any]], *, changes_state: bool = False) -> Handler:
        """A data route: 401 when nobody is signed in, 403 for a POST without this session's CSRF
        token from the same origin; domain errors become JSON with a message a person can read."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            viewer = await self.auth.viewer(request)
            if viewer is None:
                return web.json_response({"error": "Sign in to see the dashboard."}, status=401)
            if changes_state and not self.auth.csrf_ok(request, request.headers.get(CSRF_HEADER)):
                return web.json_response(
                    {"error": "This page is out of date or came from another site: reload it and try again."},
                    status=403,
                )
            try:
                body = await handler(request, viewer)
            except NotFound as error:
                return web.json_response({"error": error.message}, status=404)
            except NotAllowed as error:
                return web.json_response({"error": error.message}, status=403)
            except DomainError as error:
                return web.json_response({"error": error.message}, status=400)
            except Exception:  # a store fault: say so, with an id the person can quote
                incident = uuid.uuid4().hex[:8]
                log.exception("dashboard: %s %s failed (incident %s)", request.method, request.path, incident)
                return web.json_response(
                    {"error": f"Something went wrong on our side (incident {incident}); try again in a minute."},
                    status=500,
                )
            return web.json_response(body, dumps=_dumps)

        return guarded

    # ------------------------------------------------------------------ data

    def _window(self, request: web.Request) -> timedelta:
        length = parse_window(request.query.get("window", DEFAULT_WINDOW))
        if length > MAX_WINDOW:
            raise InvalidCommand("The dashboard looks back a year at most; try 365d or less.")
        return length

    async def map_json(self, request: web.Request, viewer: Person) -> Any:
        length = self._window(request)
        tag = request.query.get("tag", "").strip().lower() or None
        team = request.query.get("team", "").strip() or None

        def build() -> Any:
            org = self.cache.org(self.clock(), length)
            return self.cache.derived(("map", length, tag, team), lambda: dashboard.map_data(org, tag=tag, focus=team))

        return await asyncio.to_thread(build)

    async def link_json(self, request: web.Request, viewer: Person) -> Any:
        length = self._window(request)
        source, target = request.match_info["source"], request.match_info["target"]

        def build() -> Any:
            org = self.cache.org(self.clock(), length)
            directory = SnapshotDirectory(self.store, viewer.workspace, org.people, org.teams)
            return dashboard.link_data(org, source, target, store=self.store, viewer=viewer, directory=directory)

        return await asyncio.to_thread(build)

    async def team_json(self, request: web.Request, viewer: Person) -> Any:
        length = self._window(request)
        team = request.match_info["team"]

        def build() -> Any:
            now = self.clock()
            current = self.cache.org(now, length)
            previous = self.cache.org(now, length, previous=True)
            # who manages whom as of the cached facts: no store round trip while a reload reads it
            directory = SnapshotDirectory(self.store, viewer.workspace, current.people, current.teams)
            return dashboard.team_data(
                current,
                previous,
                team,
                store=self.store,
                viewer=viewer,
                directory=directory,
                now=now,
                pulse_settings=self.pulse_settings,
                hours=self.hours,
                cache=self.cache,
            )

        return await asyncio.to_thread(build)

    async def me_json(self, request: web.Request, viewer: Person) -> Any:
        return await asyncio.to_thread(
            dashboard.personal_data,
            store=self.store,
            viewer=viewer,
            now=self.clock(),
            chat_links=self.chat_links,
            hours=self.hours,
        )

    async def ask_update(self, request: web.Request, viewer: Person) -> Any:
        """The requester asks the provider for an update (the chat's "Ask for an update")."""
        try:
            number = int(request.match_info["number"])
        except ValueError:
            raise NotFound("I can't find that request.") from None
        now = self.clock()
        click = Click(
            platform="dashboard",
            actor=viewer,
            action=ActionId.ASK_UPDATE.value,
            request=number,
            key=request.headers.get("Idempotency-Key") or None,
        )
        result = await asyncio.to_thread(run_click, store=self.store, click=click, now=now, hours=self.hours)
        return {"reply": result.reply}

    def chat_links(self, request: Request, viewer: Person, side: str) -> list[dict[str, str]]:
        """Links back to the viewer's own card for ``request`` in Slack and Teams, where it was posted."""
        key = requester_card_key(request) if side == "requester" else provider_card_key(request, viewer.id)
        links = []
        slack = self.store.get_card_ref(request.workspace, key, "slack")
        if slack is not None and ":" in slack.ref:
            channel = slack.ref.split(":", 1)[0]
            team = next(iter(viewer.slack_ids), None)
            url = f"https://slack.com/app_redirect?channel={quote(channel)}" + (f"&team={quote(team)}" if team else "")
            links.append({"platform": "Slack", "url": url})
        teams = self.store.get_card_ref(request.workspace, key, "teams")
        if teams is not None:
            try:
                target = json.loads(teams.ref)
                conversation, activity = str(target["conversation_id"]), str(target["activity_id"])
            except (ValueError, KeyError, TypeError):
                conversation = activity = ""
            if conversation and activity:
                url = (
                    f"https://teams.microsoft.com/l/message/{quote(conversation, safe='')}/{quote(activity, safe='')}"
                    "?context=%7B%22contextType%22%3A%22chat%22%7D"
                )
                links.append({"platform": "Teams", "url": url})
        return links

    # ------------------------------------------------------------------ pages

    def shell(
        self, name: str, title: str, **attributes: str
    ) -> Callable[[web.Request, Person], Awaitable[web.Response]]:
        """A page: the same HTML shell, told which page to draw; the front end fetches the data."""

        async def render(request: web.Request, viewer: Person) -> web.Response:
            values = {key: request.match_info.get(value, "") for key, value in attributes.items()}
            return web.Response(
                text=page_html(
                    name,
                    title,
                    viewer=viewer,
                    csrf=self.auth.csrf_token(request),
                    values=values,
                    sign_out=self.auth.sign_out_path,
                ),
                content_type="text/html",
                headers=SECURITY_HEADERS,
            )

        return render

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PREFIX}", _to_slash),
            web.get(f"{PREFIX}/", self.page(self.shell("map", "Chain map"))),
            web.get(f"{PREFIX}/me", self.page(self.shell("me", "My page"))),
            web.get(f"{PREFIX}/team/{{team}}", self.page(self.shell("team", "Team", team="team"))),
            web.get(
                f"{PREFIX}/link/{{source}}/{{target}}",
                self.page(self.shell("link", "Link", source="source", target="target")),
            ),
            web.get(f"{PREFIX}/api/map", self.data(self.map_json)),
            web.get(f"{PREFIX}/api/link/{{source}}/{{target}}", self.data(self.link_json)),
            web.get(f"{PREFIX}/api/team/{{team}}", self.data(self.team_json)),
            web.get(f"{PREFIX}/api/me", self.data(self.me_json)),
            web.post(f"{PREFIX}/api/requests/{{number}}/ask-update", self.data(self.ask_update, changes_state=True)),
            web.get(f"{PREFIX}/static/{{name}}", static_file),
        ]


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Pages load only our own files (nothing from the network) and can't be framed by another site."""


async def _to_slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"{PREFIX}/")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _static_names() -> dict[str, bytes]:
    folder = resources.files("handlers.dashboard") / "static"
    return {item.name: item.read_bytes() for item in folder.iterdir() if item.is_file()}


_STATIC: dict[str, bytes] = {}


async def static_file(request: web.Request) -> web.StreamResponse:
    """A file the pages load (shipped in the package: no network at run time)."""
    if not _STATIC:
        _STATIC.update(_static_names())
    name = request.match_info["name"]
    body = _STATIC.get(name)
    suffix = name[name.rfind(".") :] if "." in name else ""
    if body is None or suffix not in STATIC_TYPES:
        raise web.HTTPNotFound()
    return web.Response(
        body=body,
        headers={
            "Content-Type": STATIC_TYPES[suffix],
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


CURRENT = ' aria-current="page"'
NAV = (("map", "Chain map", "/dashboard/"), ("me", "My page", "/dashboard/me"))


def page_html(name: str, title: str, *, viewer: Person, csrf: str, values: dict[str, str], sign_out: str = "") -> str:
    """The page shell: header with navigation, a main region the script fills, and the data it
    needs (which page, which team or link, the CSRF token) in attributes, never inline script.
    With ``sign_out`` (a path), the header has a "Sign out" button posting there with the token."""
    esc = html.escape
    nav = "".join(f'<a href="{href}"{CURRENT if key == name else ""}>{esc(label)}</a>' for key, label, href in NAV)
    team_link = (
        f'<a href="/dashboard/team/{esc(quote(viewer.team_id, safe=""))}"'
        f"{CURRENT if name == 'team' and values.get('team') == viewer.team_id else ''}>My team</a>"
        if viewer.team_id
        else ""
    )
    data = " ".join(f'data-{esc(key)}="{esc(value)}"' for key, value in values.items())
    sign_out_form = (
        f'<form class="sign-out" method="post" action="{esc(sign_out)}">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}"><button type="submit">Sign out</button></form>'
        if sign_out
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{esc(csrf)}">
<title>{esc(title)} · servechain</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/static/dashboard.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<span class="brand">servechain</span>
<nav aria-label="Dashboard">{nav}{team_link}</nav>
<span class="who">Signed in as {esc(viewer.name)} (@{esc(viewer.handle)})</span>{sign_out_form}
</header>
<main id="main" data-page="{esc(name)}" {data} tabindex="-1">
<h1>{esc(title)}</h1>
<p class="loading" role="status">Loading…</p>
</main>
<script src="/dashboard/static/dashboard.js" defer></script>
</body>
</html>
"""
