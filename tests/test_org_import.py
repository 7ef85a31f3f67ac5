"""Org import from YAML and CSV: validation with file/line/field, all-or-nothing, idempotent re-import."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import Person, Team
from bot.org import OrgFile, OrgImportError, import_org, load_org
from bot.people import Directory
from bot.ports import Store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_YAML = ROOT / "handlers" / "samples" / "org.yml"
EXAMPLE_CSV = ROOT / "handlers" / "samples" / "org.csv"
DATA = Path(__file__).resolve().parent / "data" / "org"


def _shape(store: Store) -> set[tuple[str, str, str | None, str, str | None, str | None]]:
    """Everything an org file says about each person, with references as names, not ids."""
    people = {p.id: p for p in store.list_people("default")}
    teams = {t.id: t for t in store.list_teams("default")}
    return {
        (
            p.handle,
            p.name,
            p.email,
            p.tz,
            teams[p.team_id].name if p.team_id else None,
            people[p.manager_id].handle if p.manager_id else None,
        )
        for p in people.values()
    }


def _by_handle(store: Store) -> dict[str, Person]:
    return {p.handle: p for p in store.list_people("default")}


def _errors(path: Path) -> list[str]:
    with pytest.raises(OrgImportError) as caught:
        load_org(path)
    return caught.value.errors


# --------------------------------------------------------------------------- examples


def test_yaml_example_imports_nineteen_people_in_three_teams(store: Store) -> None:
    report = import_org(store=store, path=EXAMPLE_YAML)

    assert (report.people, report.teams) == (19, 3)
    assert (report.people_created, report.teams_created) == (19, 3)
    teams = {t.name: t for t in store.list_teams("default")}
    assert set(teams) == {"Sales", "Finance", "Data Engineering"}
    people = _by_handle(store)
    assert teams["Sales"].manager_id == people["dana"].id
    alice = people["alice"]
    assert (alice.name, alice.email, alice.tz) == ("Alice Adams", "alice.adams@example.com", "Europe/London")
    assert alice.team_id == teams["Sales"].id
    assert {p.tz for p in people.values()} >= {"Europe/London", "America/New_York", "Asia/Tokyo"}


def test_every_example_team_is_big_enough_for_the_pulse_to_show_figures(store: Store) -> None:
    """The sample org exists to show every feature: a team's pulse figures appear only when it
    has ``MIN_TEAM_SIZE`` people who answer for it (its manager answers for the team above)."""
    from bot.pulse import MIN_TEAM_SIZE, team_sizes

    import_org(store=store, path=EXAMPLE_YAML)
    teams = {t.id: t for t in store.list_teams("default")}
    sizes = team_sizes(store.list_people("default"), teams)

    assert {teams[team].name: size for team, size in sizes.items()} == {
        "Sales": 5,
        "Finance": 5,
        "Data Engineering": 5,
    }
    assert min(sizes.values()) >= MIN_TEAM_SIZE


def test_csv_example_describes_the_same_org_as_the_yaml_example(store: Store, tmp_path: Path) -> None:
    from storage.tinydb_store import TinyDBStore

    import_org(store=store, path=EXAMPLE_YAML)
    from_csv = TinyDBStore(tmp_path / "from-csv.json")
    try:
        report = import_org(store=from_csv, path=EXAMPLE_CSV)
        assert (report.people, report.teams) == (19, 3)
        assert _shape(from_csv) == _shape(store)
        csv_teams = {t.name: t.manager_id for t in from_csv.list_teams("default")}
        assert csv_teams["Finance"] == _by_handle(from_csv)["hana"].id
    finally:
        from_csv.close()


def test_every_team_manager_reports_to_the_ceo_in_the_example(store: Store) -> None:
    import_org(store=store, path=EXAMPLE_YAML)
    people = _by_handle(store)
    directory = Directory(store, "default")

    for team in store.list_teams("default"):
        assert team.manager_id is not None
        assert directory.managers_of(team.manager_id) == [people["morgan"].id]
    assert directory.managers_of(people["alice"].id) == [people["dana"].id, people["morgan"].id]
    assert directory.managers_of(people["carol"].id) == [people["kofi"].id, people["morgan"].id]


def test_team_manager_without_own_manager_reports_to_the_parent_team_manager(store: Store) -> None:
    import_org(store=store, path=DATA / "departments.yml")
    people = _by_handle(store)
    teams = {t.name: t for t in store.list_teams("default")}

    assert teams["Sales"].parent_id == teams["Revenue"].id
    assert Directory(store, "default").managers_of(people["tia"].id) == [people["sam"].id, people["vic"].id]
    assert people["sam"].tz == "Asia/Tokyo"


def test_handles_are_lowercased_and_lose_their_at_sign() -> None:
    org = load_org(DATA / "departments.yml")
    assert "tia" in {p.handle for p in org.people}


def test_csv_team_manager_is_the_one_most_members_share_preferring_a_member_on_ties() -> None:
    org = load_org(DATA / "tie.csv")
    legal = next(t for t in org.teams if t.name == "Legal")
    una = next(p for p in org.people if p.handle == "una")
    assert legal.manager_id == una.id


# --------------------------------------------------------------------------- validation


def test_every_csv_error_names_file_line_and_field() -> None:
    path = DATA / "bad.csv"
    assert _errors(path) == [
        f"{path}:3: field 'email': 'bob@example' is not an email address",
        f"{path}:3: field 'time_zone': unknown time zone 'Mars/Base'; use an IANA name like Europe/London",
        f"{path}:4: field 'manager': unknown handle 'zed'",
        f"{path}:5: field 'handle': 'Al Ice' is not a valid handle; use up to 64 of a-z, 0-9, '.', '_' and '-', "
        "starting and ending with a letter or digit",
        f"{path}:5: field 'name': required",
        f"{path}:5: field 'email': duplicate email 'alice@example.com' (first on line 2)",
        f"{path}:6: field 'manager': carl can't be their own manager",
        f"{path}:7: field 'handle': duplicate handle 'alice' (first on line 2)",
    ]


def test_yaml_errors_point_at_the_line_of_the_offending_value() -> None:
    path = DATA / "bad.yml"
    assert _errors(path) == [
        f"{path}:4: field 'manager': unknown handle 'dana'",
        f"{path}:6: field 'parent': unknown team 'Nowhere'",
        f"{path}:7: field 'name': duplicate team 'Sales' (first on line 3)",
        f"{path}:11: field 'team': unknown team 'Salse'",
        f"{path}:12: field 'name': required",
        f"{path}:13: field 'tz': unknown time zone 'Nope/Nowhere'; use an IANA name like Europe/London",
        f"{path}:15: field 'name': expected a single value, not a list or mapping",
        f"{path}:16: field 'colour': unknown field; expected one of handle, name, email, team, manager, tz, "
        "time_zone, timezone, country, region",
    ]


def test_yaml_syntax_error_names_the_line() -> None:
    path = DATA / "broken.yml"
    [error] = _errors(path)
    assert error.startswith(f"{path}:4: not valid YAML")


def test_manager_cycle_is_reported_once_with_the_whole_loop() -> None:
    path = DATA / "cycle.csv"
    assert _errors(path) == [f"{path}:2: field 'manager': manager cycle: ann -> cid -> ben -> ann"]


def test_team_parent_cycle_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "loop.yml"
    path.write_text(
        "teams:\n  - name: A\n    parent: B\n  - name: B\n    parent: A\npeople:\n  - handle: x\n    name: X\n"
    )
    assert _errors(path) == [f"{path}:3: field 'parent': team cycle: A -> B -> A"]


def test_csv_header_must_name_known_columns(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("handle,full name,email\nann,Ann,ann@example.com\n")
    assert _errors(path) == [
        f"{path}:1: field 'full_name': unknown column; expected "
        "handle,name,email,team,manager,tz,time_zone,country,region",
        f"{path}:1: field 'name': missing column",
    ]


def test_unsupported_or_missing_files_are_reported(tmp_path: Path) -> None:
    assert _errors(tmp_path / "org.txt") == [
        f"{tmp_path / 'org.txt'}: unsupported file type '.txt'; use .yml, .yaml or .csv"
    ]
    assert _errors(tmp_path / "missing.yml") == [f"{tmp_path / 'missing.yml'}: no such file"]
    (tmp_path / "latin1.csv").write_bytes("handle,name\nzoe,Zoë\n".encode("latin-1"))
    assert _errors(tmp_path / "latin1.csv") == [f"{tmp_path / 'latin1.csv'}: not UTF-8 text"]


def test_error_message_lists_every_problem_for_chat_users() -> None:
    with pytest.raises(OrgImportError) as caught:
        load_org(DATA / "bad.csv")
    lines = caught.value.message.splitlines()
    assert lines[0] == f"{DATA / 'bad.csv'}: 8 errors; nothing was imported."
    assert lines[1:] == caught.value.errors


# --------------------------------------------------------------------------- properties

_names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30).filter(
    lambda name: name == name.strip() and bool(name)
)


@st.composite
def _orgs(draw: st.DrawFn) -> list[dict[str, str | None]]:
    """Valid orgs: unique handles, managers earlier in the list (so no cycles), a few teams and zones."""
    handle_syntax = st.from_regex(r"[a-z0-9](?:[a-z0-9._-]{0,10}[a-z0-9])?", fullmatch=True)
    handles = draw(st.lists(handle_syntax, min_size=1, max_size=8, unique=True))
    people: list[dict[str, str | None]] = []
    for index, handle in enumerate(handles):
        manager = draw(st.none() | st.sampled_from(handles[:index])) if index else None
        people.append(
            {
                "handle": handle,
                "name": draw(_names),
                "email": draw(st.sampled_from([None, f"{handle}@example.com"])),
                "team": draw(st.sampled_from([None, "Ops", "Data & Analytics"])),
                "manager": manager,
                "time_zone": draw(st.sampled_from(["UTC", "Europe/London", "Asia/Tokyo"])),
            }
        )
    return people


def _org_shape(org: OrgFile) -> set[tuple[str | None, ...]]:
    handles = {p.id: p.handle for p in org.people}
    teams = {t.id: t.name for t in org.teams}
    return {
        (p.handle, p.name, p.email, teams.get(p.team_id or ""), handles.get(p.manager_id or ""), p.tz)
        for p in org.people
    }


@settings(max_examples=40, deadline=None)
@given(_orgs())
def test_any_valid_org_loads_the_same_from_csv_and_yaml(people: list[dict[str, str | None]]) -> None:
    columns = ["handle", "name", "email", "team", "manager", "time_zone"]
    as_csv = io.StringIO()
    writer = csv.writer(as_csv)
    writer.writerow(columns)
    writer.writerows([[person[c] or "" for c in columns] for person in people])
    team_names = sorted({person["team"] for person in people if person["team"]})
    document = {
        "teams": [{"name": name} for name in team_names],
        "people": [{key: value for key, value in person.items() if value is not None} for person in people],
    }
    as_yaml = yaml.safe_dump(document, allow_unicode=True)
    expected = {tuple(person[c] for c in columns) for person in people}
    with tempfile.TemporaryDirectory() as folder:
        csv_path, yaml_path = Path(folder) / "org.csv", Path(folder) / "org.yml"
        csv_path.write_text(as_csv.getvalue(), encoding="utf-8")
        yaml_path.write_text(as_yaml, encoding="utf-8")
        from_csv, from_yaml = load_org(csv_path), load_org(yaml_path)
    assert _org_shape(from_csv) == expected
    assert _org_shape(from_yaml) == expected


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200), st.sampled_from([".csv", ".yml"]))
def test_any_text_is_either_an_org_or_a_list_of_located_errors(text: str, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"org{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            load_org(path)
        except OrgImportError as error:
            assert error.errors
            assert all(line.startswith(f"{path}:") for line in error.errors)


# --------------------------------------------------------------------------- all or nothing, idempotence


def test_invalid_file_imports_nothing(org_store: Store) -> None:
    before = (org_store.list_people("default"), org_store.list_teams("default"))

    with pytest.raises(OrgImportError):
        import_org(store=org_store, path=DATA / "bad.csv")

    assert (org_store.list_people("default"), org_store.list_teams("default")) == before


def test_email_already_used_by_someone_outside_the_file_is_rejected(store: Store, tmp_path: Path) -> None:
    stored = [
        Person(id="P-olga", handle="olga", name="Olga", email="olga@example.com"),
        Person(id="P-ann", handle="ann", name="Ann", email="ann@example.com"),
    ]
    store.save_org(stored)
    path = tmp_path / "org.csv"
    path.write_text("handle,name,email\nbea,Bea,bea@example.com\nann,Ann,OLGA@example.com\n")

    with pytest.raises(OrgImportError) as caught:
        import_org(store=store, path=path)

    assert caught.value.errors == [
        f"{path}:3: field 'email': 'OLGA@example.com' already belongs to olga, who is not in this file"
    ]
    assert store.list_people("default") == sorted(stored, key=lambda p: p.handle)


def test_reimport_keeps_ids_and_platform_identities(store: Store) -> None:
    import_org(store=store, path=EXAMPLE_YAML)
    first_people = {p.handle: p.id for p in store.list_people("default")}
    first_teams = {t.name: t.id for t in store.list_teams("default")}
    alice = _by_handle(store)["alice"]
    store.save_org([alice.model_copy(update={"slack_ids": {"T1": "U-ALICE"}, "teams_id": "aad-alice"})])

    report = import_org(store=store, path=EXAMPLE_CSV)

    assert (report.people_created, report.people_updated, report.teams_created, report.teams_updated) == (0, 19, 0, 3)
    assert {p.handle: p.id for p in store.list_people("default")} == first_people
    assert {t.name: t.id for t in store.list_teams("default")} == first_teams
    again = _by_handle(store)["alice"]
    assert (again.slack_ids, again.teams_id) == ({"T1": "U-ALICE"}, "aad-alice")
    assert len(store.list_people("default")) == 19


def test_reimport_matches_by_email_when_the_handle_changed(store: Store, tmp_path: Path) -> None:
    import_org(store=store, path=EXAMPLE_YAML)
    alice_id = _by_handle(store)["alice"].id
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(EXAMPLE_CSV.read_text().replace("\nalice,", "\nalice.adams,"))

    import_org(store=store, path=renamed)

    people = _by_handle(store)
    assert "alice" not in people
    assert people["alice.adams"].id == alice_id
    assert len(people) == 19


def test_reimport_keeps_people_who_are_not_in_the_file(store: Store) -> None:
    bot = Person(id="P-bot", handle="servechain", name="servechain", is_bot=True)
    store.save_org([bot], [Team(id="T-x", name="X")])
    import_org(store=store, path=EXAMPLE_YAML)
    assert "servechain" in _by_handle(store)
    assert "X" in {t.name for t in store.list_teams("default")}


def test_import_into_another_workspace_stays_there(store: Store) -> None:
    import_org(store=store, path=EXAMPLE_YAML, workspace="acme")
    assert store.list_people("default") == []
    assert {p.workspace for p in store.list_people("acme")} == {"acme"}
    assert {t.workspace for t in store.list_teams("acme")} == {"acme"}


# --------------------------------------------------------------------------- the CLI


def _servechain(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVECHAIN_")}
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_org_import_reports_what_it_imported(tmp_path: Path) -> None:
    result = _servechain("org", "import", str(EXAMPLE_YAML), "--db", "org.json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Imported 19 people and 3 teams into org.json."
    assert (tmp_path / "org.json").exists()


def test_cli_org_import_prints_every_error_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "bad.csv").write_bytes((DATA / "bad.csv").read_bytes())

    result = _servechain("org", "import", "examples/bad.csv", "--db", "org.json", cwd=tmp_path)

    assert result.returncode == 2
    assert "examples/bad.csv:4: field 'manager': unknown handle 'zed'" in result.stderr.splitlines()
    assert len([line for line in result.stderr.splitlines() if line.startswith("examples/bad.csv:")]) == 8
    assert not (tmp_path / "org.json").exists()
