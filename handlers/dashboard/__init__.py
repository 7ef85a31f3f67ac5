"""The web dashboard at ``/dashboard``: the chain map, links, team pages and everyone's own page,
served by the same aiohttp process, on the same store, under the same access rules as chat.

:func:`dashboard_app` builds the sub-application; :func:`mount` adds it (and the sign-in routes of
whichever :class:`Authenticator` is given) to the process's app. ``servechain serve`` mounts it
with OpenID Connect sign-in (``oidc.py``) when its settings are present; ``servechain dashboard
--as <handle>`` (:func:`serve_local`) serves it on 127.0.0.1 with :class:`LocalAs` instead.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from bot.ports import Clock, Store
from bot.pulse import DEFAULT_PULSE, PulseSettings
from bot.workhours import WorkingHours
from handlers.dashboard.app import DASHBOARD_KEY, PREFIX, Dashboard
from handlers.dashboard.viewer import Authenticator, LocalAs

log = logging.getLogger(__name__)

LOCAL_HOST = "127.0.0.1"
"""``servechain dashboard --as`` listens here only: it signs nobody in."""


def mount(
    app: web.Application,
    *,
    store: Store,
    workspace: str,
    auth: Authenticator,
    clock: Clock,
    hours: WorkingHours,
    pulse_settings: PulseSettings = DEFAULT_PULSE,
    cache_seconds: float = 300.0,
) -> Dashboard:
    """Add the dashboard's routes under ``/dashboard`` and the authenticator's sign-in routes
    (their paths as given, e.g. ``/dashboard/auth/slack/start``) to ``app``."""
    dashboard = Dashboard(
        store=store,
        workspace=workspace,
        auth=auth,
        clock=clock,
        hours=hours,
        pulse_settings=pulse_settings,
        cache_seconds=cache_seconds,
    )
    app[DASHBOARD_KEY] = dashboard
    app.add_routes(auth.routes())
    app.add_routes(dashboard.routes())
    return dashboard


def local_app(
    *, store: Store, workspace: str, auth: Authenticator, clock: Clock, hours: WorkingHours, **options: object
) -> web.Application:
    """An app with only the dashboard (``servechain dashboard --as``, and tests)."""
    app = web.Application(client_max_size=64 * 1024)
    mount(app, store=store, workspace=workspace, auth=auth, clock=clock, hours=hours, **options)  # type: ignore[arg-type]
    return app


async def _run(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, LOCAL_HOST, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        print(f"servechain dashboard: http://{LOCAL_HOST}:{bound}{PREFIX}/ (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve_local(app: web.Application, *, port: int) -> int:
    """Serve ``app`` on 127.0.0.1:``port`` until Ctrl-C; the exit code."""
    try:
        asyncio.run(_run(app, port))
    except KeyboardInterrupt:
        pass
    except OSError as error:  # the port is taken
        print(f"servechain dashboard: can't listen on {LOCAL_HOST}:{port}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


__all__ = ["PREFIX", "Authenticator", "Dashboard", "LocalAs", "local_app", "mount", "serve_local"]
