"""Org import: people and teams from a YAML or CSV file, validated whole and saved in one write.

A file is checked completely before anything is stored: every problem is reported with
the file, line and field, and an invalid file imports nothing. Re-importing is
idempotent: people keep their stable ids and platform identities (matched by handle,
then email) and teams keep theirs (matched by name).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.errors import InvalidCommand
from bot.models import Person, Team
from bot.people import new_person_id
from bot.ports import Store
from bot.workhours import check_place

HANDLE_PATTERN = re.compile(r"[a-z0-9_](?:[a-z0-9._-]*[a-z0-9_])?")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_HANDLE = 64
MAX_NAME = 200

YAML_SUFFIXES = frozenset({".yml", ".yaml"})
CSV_SUFFIXES = frozenset({".csv"})

_PERSON_FIELDS = ("handle", "name", "email", "team", "manager", "tz", "time_zone", "timezone", "country", "region")
_TEAM_FIELDS = ("name", "manager", "parent")
_TZ_FIELDS = ("tz", "time_zone", "timezone")
_YAML_NULL = "tag:yaml.org,2002:null"


class OrgImportError(InvalidCommand):
    """An org file failed validation; ``errors`` holds one ``file:line: ...`` line per problem."""

    def __init__(self, path: Path | str, errors: Sequence[str]) -> None:
        self.path = str(path)
        self.errors = list(errors)
        count = len(self.errors)
        header = f"{self.path}: {count} error{'' if count == 1 else 's'}; nothing was imported."
        super().__init__("\n".join([header, *self.errors]))


@dataclass
class OrgFile:
    """A validated org file: people and teams with fresh ids, linked to each other by those ids."""

    path: Path
    people: list[Person]
    teams: list[Team]
    workspace: str = "default"
    lines: dict[str, int] = field(default_factory=dict)
    """Line in the file where each person or team (by id) is defined."""


@dataclass
class ImportReport:
    """What an import changed in the store."""

    path: Path
    people_created: int = 0
    people_updated: int = 0
    teams_created: int = 0
    teams_updated: int = 0

    @property
    def people(self) -> int:
        """People in the file (created or updated)."""
        return self.people_created + self.people_updated

    @property
    def teams(self) -> int:
        """Teams in the file (created or updated)."""
        return self.teams_created + self.teams_updated


def new_team_id() -> str:
    """A fresh stable team id."""
    return "T-" + uuid.uuid4().hex[:12]


# --------------------------------------------------------------------------- raw rows


@dataclass
class _Value:
    text: str | None
    line: int


@dataclass
class _Row:
    """One person or team as written in the file: field name -> value with its line."""

    line: int
    values: dict[str, _Value] = field(default_factory=dict)
    malformed: set[str] = field(default_factory=set)
    """Fields present but unusable (already reported), so they are not also reported as missing."""

    def missing(self, name: str) -> bool:
        return self.get(name) is None and name not in self.malformed

    def get(self, *names: str) -> str | None:
        for name in names:
            if name in self.values:
                return self.values[name].text
        return None

    def line_of(self, *names: str) -> int:
        for name in names:
            if name in self.values:
                return self.values[name].line
        return self.line

    def name_of(self, *names: str) -> str:
        """The spelling of a field the row actually uses (for aliases such as tz/time_zone)."""
        for name in names:
            if name in self.values:
                return name
        return names[0]


class _Errors:
    """Collects ``file:line: field 'x': problem`` lines; reported together, sorted by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._items: list[tuple[int, str]] = []

    def add(self, line: int, field_name: str | None, problem: str) -> None:
        where = f"field '{field_name}': " if field_name else ""
        self._items.append((line, f"{self.path}:{line}: {where}{problem}"))

    def __len__(self) -> int:
        return len(self._items)

    def raise_if_any(self) -> None:
        if self._items:
            ordered = sorted(self._items, key=lambda item: item[0])
            raise OrgImportError(self.path, [text for _line, text in ordered])


# --------------------------------------------------------------------------- YAML


def _yaml_rows(text: str, errors: _Errors) -> tuple[list[_Row], list[_Row]]:
    """Parse the YAML node tree (not plain data) so every value keeps its line number."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        errors.add(mark.line + 1 if mark else 1, None, f"not valid YAML: {error.problem or error}")
        return [], []
    except yaml.YAMLError as error:
        errors.add(1, None, f"not valid YAML: {error}")
        return [], []
    if root is None:
        errors.add(1, None, "the file is empty; expected 'teams:' and 'people:' lists")
        return [], []
    if not isinstance(root, yaml.MappingNode):
        errors.add(_line(root), None, "expected a mapping with 'teams:' and 'people:' lists")
        return [], []
    sections: dict[str, yaml.Node] = {}
    for key, value in root.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else str(key)
        if name not in ("teams", "people"):
            errors.add(_line(key), None, f"unknown section '{name}'; expected 'teams' and 'people'")
        elif name in sections:
            errors.add(_line(key), None, f"section '{name}' appears twice")
        else:
            sections[name] = value
    if "people" not in sections:
        errors.add(_line(root), None, "no 'people:' list")
    teams = _yaml_list(sections.get("teams"), "teams", _TEAM_FIELDS, errors)
    people = _yaml_list(sections.get("people"), "people", _PERSON_FIELDS, errors)
    return teams, people


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _yaml_list(node: yaml.Node | None, section: str, allowed: tuple[str, ...], errors: _Errors) -> list[_Row]:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _YAML_NULL):
        return []
    if not isinstance(node, yaml.SequenceNode):
        errors.add(_line(node), None, f"'{section}' must be a list")
        return []
    rows: list[_Row] = []
    for item in node.value:
        if not isinstance(item, yaml.MappingNode):
            errors.add(_line(item), None, f"each entry of '{section}' must be a mapping of fields")
            continue
        row = _Row(line=_line(item))
        for key, value in item.value:
            name = str(key.value).strip().lower() if isinstance(key, yaml.ScalarNode) else "?"
            if name not in allowed:
                errors.add(_line(key), name, f"unknown field; expected one of {', '.join(allowed)}")
                continue
            if name in row.values:
                errors.add(_line(key), name, "appears twice")
                continue
            if not isinstance(value, yaml.ScalarNode):
                errors.add(_line(value), name, "expected a single value, not a list or mapping")
                row.malformed.add(name)
                continue
            text = None if value.tag == _YAML_NULL else str(value.value).strip() or None
            row.values[name] = _Value(text, _line(value))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- CSV

_CSV_ALIASES = {"timezone": "time_zone", "time zone": "time_zone"}
_CSV_COLUMNS = ("handle", "name", "email", "team", "manager", "tz", "time_zone", "country", "region")


def _csv_rows(text: str, errors: _Errors) -> list[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[_Row] = []
    previous_end = 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            cells = [cell.strip() for cell in record]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if header is None:
                header = _csv_header(cells, start, errors)
                if header is None:
                    return []
                continue
            if len(cells) > len(header):
                errors.add(start, None, f"{len(cells)} values but the header has {len(header)} columns")
                continue
            row = _Row(line=start)
            for name, cell in zip(header, cells, strict=False):
                row.values[name] = _Value(cell or None, start)
            rows.append(row)
    except csv.Error as error:
        errors.add(reader.line_num or 1, None, f"not valid CSV: {error}")
        return []
    if header is None:
        errors.add(1, None, "the file is empty; expected the header handle,name,email,team,manager,time_zone")
    return rows


def _csv_header(cells: list[str], line: int, errors: _Errors) -> list[str] | None:
    names = [_CSV_ALIASES.get(cell.lower(), cell.lower().replace(" ", "_")) for cell in cells]
    ok = True
    for name in names:
        if name not in _CSV_COLUMNS:
            errors.add(line, name, f"unknown column; expected {','.join(_CSV_COLUMNS)}")
            ok = False
    for name, count in Counter(names).items():
        if count > 1:
            errors.add(line, name, "column appears twice")
            ok = False
    for required in ("handle", "name"):
        if required not in names:
            errors.add(line, required, "missing column")
            ok = False
    return names if ok else None


# --------------------------------------------------------------------------- validation


def _clean_handle(raw: str | None) -> str | None:
    return raw.strip().lstrip("@").strip().lower() if raw else None


def _upper(raw: str | None) -> str | None:
    return raw.strip().upper() or None if raw else None


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


class _Builder:
    """Checks rows one by one, then their references to each other, into linked models."""

    def __init__(self, errors: _Errors, workspace: str) -> None:
        self.errors = errors
        self.workspace = workspace
        self.lines: dict[str, int] = {}  # model id -> line
        self.people: dict[str, Person] = {}  # handle -> valid person
        self.person_rows: dict[str, _Row] = {}  # handle -> first row using it (valid or not)
        self.teams: dict[str, Team] = {}  # lower-case name -> team
        self.team_rows: dict[str, _Row] = {}  # lower-case name -> row (YAML teams only)
        self._email_lines: dict[str, int] = {}

    def add_person(self, row: _Row) -> None:
        """Check a person's own fields; references wait for :meth:`link_people`."""
        handle, name, email = _clean_handle(row.get("handle")), row.get("name"), row.get("email")
        tz = row.get(*_TZ_FIELDS) or "UTC"
        country, region = _upper(row.get("country")), _upper(row.get("region"))
        problems = len(self.errors)
        if not handle:
            if row.missing("handle"):
                self.errors.add(row.line_of("handle"), "handle", "required")
        elif len(handle) > MAX_HANDLE or not HANDLE_PATTERN.fullmatch(handle):
            rule = f"use up to {MAX_HANDLE} of a-z, 0-9, '.', '_' and '-', starting and ending with a letter or digit"
            self.errors.add(row.line_of("handle"), "handle", f"'{row.get('handle')}' is not a valid handle; {rule}")
        elif handle in self.person_rows:
            first = self.person_rows[handle].line
            self.errors.add(row.line_of("handle"), "handle", f"duplicate handle '{handle}' (first on line {first})")
        if not name:
            if row.missing("name"):
                self.errors.add(row.line_of("name"), "name", "required")
        elif len(name) > MAX_NAME:
            self.errors.add(row.line_of("name"), "name", f"longer than {MAX_NAME} characters")
        if email is not None:
            if not EMAIL_PATTERN.fullmatch(email):
                self.errors.add(row.line_of("email"), "email", f"'{email}' is not an email address")
            elif email.lower() in self._email_lines:
                first = self._email_lines[email.lower()]
                self.errors.add(row.line_of("email"), "email", f"duplicate email '{email}' (first on line {first})")
            else:
                self._email_lines[email.lower()] = row.line_of("email")
        if not _valid_zone(tz):
            problem = f"unknown time zone '{tz}'; use an IANA name like Europe/London"
            self.errors.add(row.line_of(*_TZ_FIELDS), row.name_of(*_TZ_FIELDS), problem)
        place_problem = check_place(country, region)
        if place_problem:
            field_name = "region" if "region" in place_problem else "country"
            self.errors.add(row.line_of(field_name), field_name, place_problem)
        if handle and handle not in self.person_rows:
            self.person_rows[handle] = row
        if handle and name and len(self.errors) == problems and not row.malformed:
            person = Person(
                id=new_person_id(),
                workspace=self.workspace,
                handle=handle,
                name=name,
                email=email,
                tz=tz,
                country=country,
                region=region,
            )
            self.people[handle] = person
            self.lines[person.id] = row.line

    def add_team(self, row: _Row) -> None:
        """Check a YAML team's own fields; manager and parent wait for :meth:`link_teams`."""
        name = row.get("name")
        if not name:
            if row.missing("name"):
                self.errors.add(row.line_of("name"), "name", "required")
            return
        key = name.lower()
        if key in self.team_rows:
            first = self.team_rows[key].line
            self.errors.add(row.line_of("name"), "name", f"duplicate team '{name}' (first on line {first})")
            return
        self.team_rows[key] = row
        self.teams[key] = Team(id=new_team_id(), workspace=self.workspace, name=name)
        self.lines[self.teams[key].id] = row.line

    def teams_from_members(self, rows: list[_Row]) -> None:
        """CSV teams: one per team name; its manager is the manager most of its members share
        (ties go to a candidate who is in the team, then to the first one seen)."""
        members: dict[str, list[str]] = {}
        managers: dict[str, list[str]] = {}
        for row in rows:
            team_name, handle = row.get("team"), _clean_handle(row.get("handle"))
            if not team_name:
                continue
            key = team_name.lower()
            if key not in self.teams:
                self.teams[key] = Team(id=new_team_id(), workspace=self.workspace, name=team_name)
                self.lines[self.teams[key].id] = row.line
                members[key], managers[key] = [], []
            if handle:
                members[key].append(handle)
            manager = _clean_handle(row.get("manager"))
            if manager and manager != handle:
                managers[key].append(manager)
        for key, team in self.teams.items():
            counts = Counter(managers[key])
            if not counts:
                continue
            first_seen = {handle: index for index, handle in reversed(list(enumerate(managers[key])))}
            best = min(counts, key=lambda h: (-counts[h], h not in members[key], first_seen[h]))
            if best in self.people:
                team.manager_id = self.people[best].id

    def link_teams(self) -> None:
        """Resolve YAML teams' managers and parents; report unknown names and parent cycles."""
        parent_of: dict[str, str] = {}
        for key, row in self.team_rows.items():
            team = self.teams[key]
            manager = _clean_handle(row.get("manager"))
            if manager:
                if manager not in self.person_rows:
                    self.errors.add(row.line_of("manager"), "manager", f"unknown handle '{manager}'")
                elif manager in self.people:
                    team.manager_id = self.people[manager].id
            parent = row.get("parent")
            if parent:
                if parent.lower() not in self.teams:
                    self.errors.add(row.line_of("parent"), "parent", f"unknown team '{parent}'")
                else:
                    team.parent_id = self.teams[parent.lower()].id
                    parent_of[key] = parent.lower()
        lines = {key: row.line_of("parent") for key, row in self.team_rows.items()}
        labels = {key: team.name for key, team in self.teams.items()}
        for line, cycle in _cycles(parent_of, lines):
            if len(cycle) == 1:
                problem = f"team '{labels[cycle[0]]}' can't be its own parent"
            else:
                problem = "team cycle: " + " -> ".join(labels[key] for key in [*cycle, cycle[0]])
            self.errors.add(line, "parent", problem)

    def link_people(self) -> None:
        """Resolve people's managers and teams; report unknown handles, teams and manager cycles."""
        manager_of: dict[str, str] = {}
        for handle, row in self.person_rows.items():
            manager = _clean_handle(row.get("manager"))
            if manager:
                if manager not in self.person_rows:
                    self.errors.add(row.line_of("manager"), "manager", f"unknown handle '{manager}'")
                else:
                    manager_of[handle] = manager
                    if handle in self.people and manager in self.people:
                        self.people[handle].manager_id = self.people[manager].id
            team_name = row.get("team")
            if team_name:
                if team_name.lower() not in self.teams:
                    self.errors.add(row.line_of("team"), "team", f"unknown team '{team_name}'")
                elif handle in self.people:
                    self.people[handle].team_id = self.teams[team_name.lower()].id
        lines = {handle: row.line_of("manager") for handle, row in self.person_rows.items()}
        for line, cycle in _cycles(manager_of, lines):
            if len(cycle) == 1:
                problem = f"{cycle[0]} can't be their own manager"
            else:
                problem = "manager cycle: " + " -> ".join([*cycle, cycle[0]])
            self.errors.add(line, "manager", problem)


def _cycles(edges: dict[str, str], lines: dict[str, int]) -> list[tuple[int, list[str]]]:
    """Each cycle of a child -> parent graph once, starting from its member that comes first in
    the file, with that member's line."""
    order = {key: index for index, key in enumerate(lines)}
    found: list[tuple[int, list[str]]] = []
    done: set[str] = set()
    for start in lines:
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in done and node not in path:
            path.append(node)
            node = edges.get(node)
        if node is not None and node in path:
            cycle = path[path.index(node) :]
            at = cycle.index(min(cycle, key=lambda key: order.get(key, len(order))))
            cycle = cycle[at:] + cycle[:at]
            found.append((lines.get(cycle[0], 1), cycle))
        done.update(path)
    return found


def _build(
    path: Path,
    team_rows: list[_Row],
    person_rows: list[_Row],
    errors: _Errors,
    *,
    workspace: str,
    teams_from_people: bool,
) -> OrgFile:
    """Check every row and every cross-reference; raise all problems at once or return the org."""
    builder = _Builder(errors, workspace)
    for row in person_rows:
        builder.add_person(row)
    if teams_from_people:
        builder.teams_from_members(person_rows)
    for row in team_rows:
        builder.add_team(row)
    builder.link_teams()
    builder.link_people()
    if not person_rows and not errors:
        errors.add(1, None, "no people in the file")
    errors.raise_if_any()
    return OrgFile(
        path=path,
        people=list(builder.people.values()),
        teams=list(builder.teams.values()),
        workspace=workspace,
        lines=builder.lines,
    )


# --------------------------------------------------------------------------- public API


def load_org(path: Path, *, workspace: str = "default") -> OrgFile:
    """Read and validate an org file (``.yml``/``.yaml`` or ``.csv``); raise OrgImportError
    listing every problem found."""
    path = Path(path)
    errors = _Errors(path)
    suffix = path.suffix.lower()
    if suffix not in YAML_SUFFIXES | CSV_SUFFIXES:
        raise OrgImportError(path, [f"{path}: unsupported file type '{suffix or path.name}'; use .yml, .yaml or .csv"])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise OrgImportError(path, [f"{path}: no such file"]) from None
    except UnicodeDecodeError:
        raise OrgImportError(path, [f"{path}: not UTF-8 text"]) from None
    except OSError as error:
        raise OrgImportError(path, [f"{path}: can't read it ({error.strerror or error})"]) from None
    if suffix in YAML_SUFFIXES:
        team_rows, person_rows = _yaml_rows(text, errors)
        return _build(path, team_rows, person_rows, errors, workspace=workspace, teams_from_people=False)
    person_rows = _csv_rows(text, errors)
    return _build(path, [], person_rows, errors, workspace=workspace, teams_from_people=True)


def merge_org(
    org: OrgFile, *, existing_people: Sequence[Person], existing_teams: Sequence[Team]
) -> tuple[list[Person], list[Team], ImportReport]:
    """Match the file's people and teams to stored ones so they keep their ids and platform
    identities; return the records to save and what changes. Pure."""
    errors = _Errors(org.path)
    report = ImportReport(path=org.path)
    by_handle = {p.handle.lower(): p for p in existing_people}
    by_email = {p.email.lower(): p for p in existing_people if p.email}
    teams_by_name = {t.name.lower(): t for t in existing_teams}

    ids: dict[str, str] = {}  # file id -> stored id
    claimed: set[str] = set()
    stored_of: dict[str, Person] = {}
    for person in org.people:
        match = by_handle.get(person.handle)
        if match is None or match.id in claimed:
            match = by_email.get(person.email.lower()) if person.email else None
        if match is not None and match.id not in claimed:
            claimed.add(match.id)
            ids[person.id] = match.id
            stored_of[person.id] = match
        else:
            ids[person.id] = person.id
    team_ids: dict[str, str] = {}
    for team in org.teams:
        match_team = teams_by_name.get(team.name.lower())
        team_ids[team.id] = match_team.id if match_team else team.id

    others = [p for p in existing_people if p.id not in claimed]
    for person in org.people:
        if not person.email:
            continue
        for other in others:
            if other.email and other.email.lower() == person.email.lower():
                errors.add(
                    org.lines.get(person.id, 1),
                    "email",
                    f"'{person.email}' already belongs to {other.handle}, who is not in this file",
                )
    errors.raise_if_any()

    people: list[Person] = []
    for person in org.people:
        fields = {
            "id": ids[person.id],
            "handle": person.handle,
            "name": person.name,
            "email": person.email,
            "tz": person.tz,
            "country": person.country,
            "region": person.region,
            "manager_id": ids.get(person.manager_id) if person.manager_id else None,
            "team_id": team_ids.get(person.team_id) if person.team_id else None,
        }
        stored = stored_of.get(person.id)
        if stored is not None:
            people.append(stored.model_copy(update={**fields, "active": True}))
            report.people_updated += 1
        else:
            people.append(person.model_copy(update=fields))
            report.people_created += 1
    teams: list[Team] = []
    for team in org.teams:
        team_fields = {
            "id": team_ids[team.id],
            "manager_id": ids.get(team.manager_id) if team.manager_id else None,
            "parent_id": team_ids.get(team.parent_id) if team.parent_id else None,
        }
        existing_team = teams_by_name.get(team.name.lower())
        if existing_team is not None:
            teams.append(existing_team.model_copy(update={**team_fields, "name": team.name}))
            report.teams_updated += 1
        else:
            teams.append(team.model_copy(update=team_fields))
            report.teams_created += 1
    return people, teams, report


def save_org_file(*, store: Store, org: OrgFile) -> ImportReport:
    """Save an already validated org file in one atomic write, keeping stored ids."""
    people, teams, report = merge_org(
        org, existing_people=store.list_people(org.workspace), existing_teams=store.list_teams(org.workspace)
    )
    store.save_org(people, teams)
    return report


def import_org(*, store: Store, path: Path, workspace: str = "default") -> ImportReport:
    """Validate an org file and save its people and teams in one atomic write (all or nothing)."""
    return save_org_file(store=store, org=load_org(path, workspace=workspace))
