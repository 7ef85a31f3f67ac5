"""One runtime, one front-end shape: Slack, Teams and the console all fit :class:`FrontEnd`, every
mode mounts them through it, and nothing but ``handlers/runtime.py`` assembles a worker or a
scheduler (and no front end imports the server)."""

from __future__ import annotations

import ast
import io
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr

from bot.models import Message, Person
from bot.ports import Store
from bot.settings import Settings
from handlers.console import Console
from handlers.frontend import FrontEnd
from handlers.runtime import Runtime
from handlers.server import RUNTIME_KEY, build_web_app
from handlers.slack import SLACK_KEY, SlackFrontEnd
from handlers.teams import MESSAGES_PATH, TeamsFrontEnd

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ROOT / "handlers"

BOTH = Settings(
    slack_bot_token="xoxb-test-token-not-real",  # type: ignore[arg-type]
    slack_signing_secret="test-signing-secret-not-real",  # type: ignore[arg-type]
    slack_api_url="http://127.0.0.1:9/api/",
    servechain_teams=True,
)
CARD = Message(key="k", workspace="default", recipient_id="P-bob", kind="provider_card", title="R-1 · Q3", text="hi")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def _calls(path: Path) -> set[str]:
    return {
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
    }


def test_no_front_end_imports_the_server() -> None:
    front_ends = [*(HANDLERS / "slack").rglob("*.py"), *(HANDLERS / "teams").rglob("*.py"), HANDLERS / "console.py"]
    offenders = [f"{p.relative_to(ROOT)}" for p in front_ends if "handlers.server" in _imports(p)]
    assert offenders == []


def test_the_runtime_and_the_shape_import_no_front_end() -> None:
    for module in ("runtime.py", "frontend.py"):
        imported = _imports(HANDLERS / module)
        assert not [n for n in imported if n.startswith(("handlers.slack", "handlers.teams", "handlers.console"))]
        assert "handlers.server" not in imported


def test_only_the_runtime_assembles_a_worker_or_a_scheduler() -> None:
    assembly = {"DeliveryWorker", "SchedulerThread", "Scheduler", "default_registry", "run_forever"}
    offenders = {
        f"{path.relative_to(ROOT)}: {sorted(found)}"
        for path in HANDLERS.rglob("*.py")
        if path.name != "runtime.py" and (found := _calls(path) & assembly)
    }
    assert offenders == set()


def test_slack_teams_and_the_console_share_the_front_end_shape(org_store: Store) -> None:
    app = build_web_app(BOTH, org_store, deliver=False)
    runtime = app[RUNTIME_KEY]
    console = Console(store=org_store, out=io.StringIO())
    slack, teams = runtime.frontends
    assert isinstance(slack, SlackFrontEnd) and isinstance(teams, TeamsFrontEnd)
    for frontend in (slack, teams, console):
        assert isinstance(frontend, FrontEnd), f"{frontend.name} lacks part of the FrontEnd shape"
    assert runtime.frontend_names == ["slack", "teams"]
    assert runtime.notifiers == [slack.notifier, teams.notifier], "every front end's notifier joins delivery"
    assert console.runtime.notifiers == [console.notifier]
    paths = {resource.canonical for resource in app.router.resources()}
    assert paths == {"/healthz", "/readyz", "/slack/events", MESSAGES_PATH}
    assert app[SLACK_KEY] is slack


def test_each_front_end_finds_a_linked_person_and_renders_a_card(org_store: Store) -> None:
    bob = org_store.get_person("default", "P-bob")
    assert bob is not None
    org_store.save_org([bob.model_copy(update={"slack_ids": {"T0ACME": "U0BOB"}, "teams_id": "aad-bob"})])
    app = build_web_app(BOTH, org_store, deliver=False)
    slack, teams = app[RUNTIME_KEY].frontends
    console = Console(store=org_store, out=io.StringIO())
    try:
        linked = {frontend.name: frontend.who(user) for frontend, user in ((slack, "U0BOB"), (teams, "aad-bob"))}
        linked["console"] = console.who("@bob")
        assert {name: person.id if isinstance(person, Person) else None for name, person in linked.items()} == {
            "slack": "P-bob",
            "teams": "P-bob",
            "console": "P-bob",
        }
        assert slack.who("U0NOBODY") is None and teams.who("stranger") is None and console.who("nobody") is None
        bob = org_store.get_person("default", "P-bob")
        assert bob is not None
        slack_card = slack.render(CARD, bob)
        assert slack_card["text"] and slack_card["blocks"][0]["type"] == "header"
        assert teams.render(CARD, bob)["type"] == "AdaptiveCard"
        assert console.render(CARD, bob).startswith("[to bob] R-1 · Q3")
    finally:
        slack.close()


def test_socket_mode_mounts_no_slack_route_but_keeps_health(org_store: Store) -> None:
    settings = BOTH.model_copy(update={"slack_app_token": SecretStr("xapp-1-not-real"), "servechain_teams": False})
    app = build_web_app(settings, org_store, deliver=False, socket=True)
    runtime = app[RUNTIME_KEY]
    try:
        assert runtime.frontend_names == ["slack"]
        assert {resource.canonical for resource in app.router.resources()} == {"/healthz"}
    finally:
        runtime.stop()


def test_the_console_drives_its_runtime_by_hand_at_its_own_clock(org_store: Store) -> None:
    out = io.StringIO()
    console = Console(store=org_store, out=out)
    runtime: Runtime = console.runtime
    assert runtime.background is False and runtime.clock == console.now
    runtime.start()
    try:
        assert runtime.scheduler_thread._thread is None and runtime.worker is not None
        assert runtime.worker._thread is None, "no background threads: output stays in order"
    finally:
        runtime.stop()


def test_mounting_is_all_a_server_needs_from_a_front_end(org_store: Store) -> None:
    """A new front end is one class of the shape; the app mounts it without knowing it."""

    class Echo:
        name = "echo"

        def __init__(self) -> None:
            self.notifier = Console(store=org_store, out=io.StringIO()).notifier
            self.closed = False

        def who(self, user_id: str) -> Person | None:
            return None

        def render(self, message: Message, recipient: Person) -> str:
            return message.title

        def mount(self, app: web.Application) -> None:
            async def echo(_request: web.Request) -> web.Response:
                return web.Response(text="echo")

            app.router.add_get("/echo", echo)

        def start(self) -> None:
            pass

        def close(self) -> None:
            self.closed = True

    runtime = Runtime(settings=Settings.model_construct(), store=org_store, background=False)
    echo = Echo()
    assert isinstance(echo, FrontEnd)
    runtime.attach(echo)
    app = web.Application()
    for frontend in runtime.frontends:
        frontend.mount(app)
    assert {resource.canonical for resource in app.router.resources()} == {"/echo"}
    runtime.start()
    runtime.stop()
    assert echo.closed
