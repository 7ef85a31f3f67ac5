"""The team page's weekly six-needs trends (docs/metrics.md, "Weekly trends"): each need's mean
score per week of creation with how many scored it, and no value (not zero) for a week where
nobody scored it. The history is built here by hand and the answers worked out beside it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from bot.models import NEEDS, Event, EventKind, Rating, Request, Status
from bot.ports import Store
from bot.workhours import DEFAULT_HOURS
from handlers.dashboard import local_app
from tests.conftest import NOW
from tests.dashboard.conftest import SESSION_COOKIE, CookieAuth, with_client


def _rated(store: Store, created: datetime, score: int | None, needs: dict[str, int]) -> None:
    """alice (Sales) asked bob (Finance); bob finished it an hour later; alice rated it (when
    ``score`` is given) a day later, so in the week after the request's when it was made on a Friday."""
    events = [Event(kind=EventKind.DONE, at=created + timedelta(hours=1), actor_id="P-bob")]
    if score is not None:
        rating = Rating(score=score, needs=needs)
        events.append(Event(kind=EventKind.RATED, at=created + timedelta(days=1), actor_id="P-alice", rating=rating))
    request = Request(
        requester_id="P-alice",
        provider_id="P-bob",
        text="send the budget figures",
        created_at=created,
        status=Status.DONE,
        events=events,
    )
    store.create_request(request)


def _team_page(store: Store, viewer: str = "dave") -> Any:
    app = local_app(store=store, workspace="default", auth=CookieAuth(store), clock=lambda: NOW, hours=DEFAULT_HOURS)

    async def body(client: TestClient) -> Any:
        response = await client.get(
            "/dashboard/api/team/T-fin?window=30d", cookies={SESSION_COOKIE: CookieAuth.cookie(viewer)}
        )
        assert response.status == 200, await response.text()
        return await response.json()

    return with_client(app, body)


def _none(**values: Any) -> dict[str, Any]:
    return {need: values.get(need) for need in NEEDS}


def _scored(**counts: int) -> dict[str, int]:
    return {need: counts.get(need, 0) for need in NEEDS}


def test_the_team_page_has_each_needs_mean_per_week_and_no_value_where_nobody_scored_it(org_store: Store) -> None:
    # NOW is Tuesday 2026-11-24 10:00 UTC; the 30-day window starts Sunday 2026-10-25 10:00, so
    # its weeks (dave is in London, UTC in November) are W43 (one day of it) to W48.
    _rated(org_store, datetime(2026, 11, 3, 10, tzinfo=NOW.tzinfo), 4, {"friendliness": 5, "information": 3})  # W45
    _rated(
        org_store, datetime(2026, 11, 6, 10, tzinfo=NOW.tzinfo), 2, {"friendliness": 4, "information": 2, "fairness": 1}
    )
    _rated(org_store, datetime(2026, 11, 10, 10, tzinfo=NOW.tzinfo), 5, {})  # W46: rated, no need scored
    _rated(
        org_store, datetime(2026, 11, 20, 10, tzinfo=NOW.tzinfo), 3, {"empathy": 4}
    )  # W47 (Friday), rated in W47's weekend
    _rated(org_store, datetime(2026, 11, 23, 9, tzinfo=NOW.tzinfo), None, {})  # W48: not rated
    before_window = datetime(2026, 10, 20, 10, tzinfo=NOW.tzinfo)
    _rated(org_store, before_window, 1, {"options": 1})  # outside the window: in no week

    weeks = _team_page(org_store)["weeks"]

    assert [w["week"] for w in weeks] == ["2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    assert [w["needs"] for w in weeks] == [
        _none(),
        _none(),
        # friendliness (5 + 4) / 2, information (3 + 2) / 2, fairness 1 / 1; the rest unscored
        _none(friendliness=4.5, information=2.5, fairness=1.0),
        _none(),  # a rating without needs scores none of them: no value, not zero
        _none(empathy=4.0),
        _none(),
    ]
    assert [w["needs_scored"] for w in weeks] == [
        _scored(),
        _scored(),
        _scored(friendliness=2, information=2, fairness=1),
        _scored(),
        _scored(empathy=1),
        _scored(),
    ]
    assert [w["average_rating"] for w in weeks] == [None, None, 3.0, 5.0, 3.0, None]


def test_the_needs_trends_are_aggregates_shown_to_everyone(org_store: Store) -> None:
    _rated(org_store, datetime(2026, 11, 3, 10, tzinfo=NOW.tzinfo), 4, {"control": 2})
    page = _team_page(org_store, viewer="erin")  # Sales, not a manager of Finance
    assert page["manages"] is False
    assert [w["needs"]["control"] for w in page["weeks"]] == [None, None, 2.0, None, None, None]
