"""The directory sync on every backend: people, countries and leavers round-trip, and a second
sync changes nothing."""

from __future__ import annotations

from typing import Literal

from bot.orgsync import DirectoryUser, sync_org
from bot.ports import Store

WS = "default"


class _Directory:
    kind: Literal["graph"] = "graph"
    label = "Directory"

    def __init__(self, users: list[DirectoryUser]) -> None:
        self.users = users

    def fetch_users(self) -> list[DirectoryUser]:
        return list(self.users)


def test_sync_round_trips_and_is_idempotent(store: Store) -> None:
    users = [
        DirectoryUser(key="o1", name="Olga Ivanova", email="olga@x.example", country="US", department="Ops"),
        DirectoryUser(key="o2", name="Pat Kim", email="pat@x.example", manager_key="o1", department="Ops"),
    ]
    directory = _Directory(users)
    first = sync_org(store=store, workspace=WS, directory=directory)
    assert len(first.created) == 2 and first.teams == ["+ team Ops"]
    olga = store.find_person(WS, teams_id="o1")
    pat = store.find_person(WS, teams_id="o2")
    assert olga is not None and pat is not None
    assert olga.country == "US" and pat.manager_id == olga.id and pat.team_id == olga.team_id
    assert not sync_org(store=store, workspace=WS, directory=directory).changed
    directory.users = users[:1]
    gone = sync_org(store=store, workspace=WS, directory=directory)
    assert gone.deactivated == ["- pat: left; marked inactive (their history stays)"]
    kept = store.get_person(WS, pat.id)
    assert kept is not None and not kept.active and kept.manager_id == olga.id
