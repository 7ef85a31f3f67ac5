"""A seeded org for the dashboard's tests, browser tests and screenshots: three departments, ten
teams, 40 people with names, twelve weeks of requests between teams (acknowledged, done, declined,
poorly rated with comments, overdue, still waiting), kudos and pulse answers.

The cast the access tests rely on: **alice** (Sales) asks **bob** (Finance) for things; **dana**
manages Finance (bob's manager) and reports to **grace**, head of Operations; **erin** (Legal) is
unrelated to both. Usage: ``python -m tests.dashboard.seed DB`` seeds a fresh store at DB.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta

from bot.models import Event, EventKind, Kudos, Person, Rating, Request, Status, Team
from bot.ports import Store
from bot.pulse import ANSWER_DOC, pulse_team
from bot.weeks import iso_week

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday afternoon
WORKSPACE = "default"

DEPARTMENTS = {
    "T-ops": ("Operations", "grace", ["T-fin", "T-it", "T-fac", "T-hr"]),
    "T-com": ("Commercial", "henry", ["T-sales", "T-mkt", "T-cs"]),
    "T-gov": ("Governance", "iris", ["T-legal", "T-risk"]),
}
TEAMS = {
    "T-fin": ("Finance", "dana"),
    "T-it": ("IT", "ivan"),
    "T-fac": ("Facilities", "fred"),
    "T-hr": ("People", "hana"),
    "T-sales": ("Sales", "sam"),
    "T-mkt": ("Marketing", "maya"),
    "T-cs": ("Customer Success", "cole"),
    "T-legal": ("Legal", "lena"),
    "T-risk": ("Risk", "rita"),
}
MEMBERS = {
    "T-fin": ["bob", "carol", "omar", "nina", "otto"],
    "T-it": ["pat", "quinn", "raj"],
    "T-fac": ["sven", "tara"],
    "T-hr": ["uma", "vic"],
    "T-sales": ["alice", "wes", "xena"],
    "T-mkt": ["yara", "zoe"],
    "T-cs": ["abel", "bea", "cruz"],
    "T-legal": ["erin", "dev"],
    "T-risk": ["eli", "fay"],
}
ZONES = ("Europe/London", "America/New_York", "Europe/Berlin")
ASKS = {
    "T-fin": ["approve the purchase order for", "send the budget figures for", "reimburse the travel for"],
    "T-it": ["set up a laptop for", "reset VPN access for", "add a license of the CRM for"],
    "T-fac": ["book the large room for", "fix the heating in the office of", "order a desk for"],
    "T-hr": ["draft the offer letter for", "update the leave balance of", "plan onboarding for"],
    "T-sales": ["share the pipeline numbers with", "join the customer call with", "send a quote to"],
    "T-mkt": ["review the launch copy for", "design a flyer for", "publish the case study of"],
    "T-cs": ["escalate the ticket of", "call back the customer of", "renew the contract of"],
    "T-legal": ["review the NDA for", "check the contract terms of", "sign off the privacy notice for"],
    "T-risk": ["assess the vendor risk of", "approve the exception for", "audit the access of"],
}
COMPLAINTS = [
    "took far too long, the deadline passed",
    "nobody answered for days, deadline missed",
    "the answer was wrong and late",
    "still waiting on the right figures",
    "had to chase three times, too slow",
]
TAGS = ["budget", "hiring", "customer", "security", "office"]
# Who asks whom most: requester team -> provider teams (a realistic, uneven chain)
FLOWS = {
    "T-sales": ["T-fin", "T-legal", "T-it", "T-mkt", "T-cs"],
    "T-cs": ["T-it", "T-fin", "T-sales", "T-legal"],
    "T-mkt": ["T-fin", "T-legal", "T-it", "T-fac"],
    "T-hr": ["T-fin", "T-it", "T-fac", "T-legal"],
    "T-fin": ["T-it", "T-hr", "T-risk", "T-sales"],
    "T-it": ["T-fin", "T-fac", "T-risk"],
    "T-fac": ["T-fin", "T-it"],
    "T-legal": ["T-risk", "T-fin", "T-sales"],
    "T-risk": ["T-it", "T-legal", "T-fin"],
}
SLOW_TEAMS = {"T-legal": 14.0, "T-fin": 5.0, "T-fac": 3.0}
"""Mean hours to acknowledge; others answer in about an hour."""


def org() -> tuple[list[Person], list[Team]]:
    teams: list[Team] = []
    people: list[Person] = []

    def person(handle: str, team: str, manager: str | None, n: int) -> Person:
        return Person(
            id=f"P-{handle}",
            workspace=WORKSPACE,
            handle=handle,
            name=handle.capitalize(),
            email=f"{handle}@example.com",
            tz=ZONES[n % len(ZONES)],
            team_id=team,
            manager_id=f"P-{manager}" if manager else None,
            slack_ids={"T0SEED": f"U{handle.upper()}"},
        )

    people.append(person("ceo", "T-ops", None, 0).model_copy(update={"name": "Olga CEO", "team_id": None}))
    n = 0
    for dept_id, (name, head, children) in DEPARTMENTS.items():
        teams.append(Team(id=dept_id, workspace=WORKSPACE, name=name, manager_id=f"P-{head}"))
        people.append(person(head, dept_id, "ceo", n))
        for team_id in children:
            team_name, manager = TEAMS[team_id]
            teams.append(
                Team(id=team_id, workspace=WORKSPACE, name=team_name, manager_id=f"P-{manager}", parent_id=dept_id)
            )
            people.append(person(manager, team_id, head, n))
            for member in MEMBERS[team_id]:
                n += 1
                people.append(person(member, team_id, manager, n))
    return people, teams


def _needs(score: int, number: int) -> dict[str, int]:
    """The six-needs scores of a rating: three always, the others now and then (needs are
    optional), options only with a poor rating; from the score and number, not the random stream."""
    needs = {"information": score, "friendliness": min(5, score + 1), "control": score}
    if number % 2 == 0:
        needs["empathy"] = max(1, min(5, score + (number // 2) % 3 - 1))
    if number % 3 == 0:
        needs["fairness"] = max(1, score - 1)
    if score <= 2:
        needs["options"] = 1 + number % 2
    return needs


def requests(people: list[Person], rng: random.Random, weeks: int = 12) -> list[Request]:
    by_team: dict[str, list[Person]] = {}
    for p in people:
        if p.team_id in TEAMS:
            by_team.setdefault(p.team_id, []).append(p)
    names = {p.id: p.name for p in people}
    found: list[Request] = []
    number = 0
    start = NOW - timedelta(weeks=weeks)

    def add(requester: Person, provider: Person, created: datetime, *, slow: float, force: str | None = None) -> None:
        nonlocal number
        number += 1
        ask = rng.choice(ASKS[provider.team_id or "T-fin"])
        text = f"Could you {ask} {rng.choice(list(names.values()))}?"
        events = [Event(kind=EventKind.CREATED, at=created, actor_id=requester.id, to_id=provider.id)]
        due = created + timedelta(days=rng.randint(1, 6)) if rng.random() < 0.5 or force else None
        status = Status.OPEN
        age = NOW - created
        still_open = force in ("open", "overdue") or rng.random() < (0.35 if age < timedelta(days=10) else 0.01)
        acked = created + timedelta(hours=rng.expovariate(1 / slow))
        if force != "overdue" and acked < NOW and rng.random() < 0.93:
            events.append(Event(kind=EventKind.ACKNOWLEDGED, at=acked, actor_id=provider.id))
            status = Status.ACKNOWLEDGED
            closed = acked + timedelta(hours=rng.expovariate(1 / (slow * 4)))
            if not still_open and closed < NOW:
                if rng.random() < 0.9:
                    events.append(Event(kind=EventKind.DONE, at=closed, actor_id=provider.id, note="done"))
                    status = Status.DONE
                    if rng.random() < 0.6:
                        poor = slow > 4 and rng.random() < 0.35
                        score = rng.choice((1, 2)) if poor else rng.choice((3, 4, 4, 5, 5))
                        comment = rng.choice(COMPLAINTS) if poor else "thanks, all good"
                        events.append(
                            Event(
                                kind=EventKind.RATED,
                                at=closed + timedelta(hours=2),
                                actor_id=requester.id,
                                rating=Rating(
                                    score=score,
                                    needs=_needs(score, number),
                                    comment=comment,
                                ),
                            )
                        )
                else:
                    events.append(Event(kind=EventKind.DECLINED, at=closed, actor_id=provider.id, note="not ours"))
                    status = Status.DECLINED
        found.append(
            Request(
                workspace=WORKSPACE,
                number=number,
                requester_id=requester.id,
                provider_id=provider.id,
                text=text,
                created_at=created,
                due_at=due if force != "overdue" else NOW - timedelta(days=2),
                tags=[rng.choice(TAGS)] if rng.random() < 0.6 else [],
                status=status,
                events=events,
            )
        )

    for _ in range(420):
        source = rng.choice(list(FLOWS))
        target = rng.choices(FLOWS[source], weights=range(len(FLOWS[source]), 0, -1))[0]
        requester = rng.choice(by_team[source])
        provider = rng.choice(by_team[target])
        created = start + timedelta(days=rng.randrange(weeks * 7 - 1), hours=rng.uniform(13.5, 16))
        if created.weekday() >= 5:
            created -= timedelta(days=2)
        add(requester, provider, created, slow=SLOW_TEAMS.get(target, 1.0))
    # the cast's own, certain requests: alice waits on bob (one overdue), bob waits on ivan
    cast = {p.handle: p for p in people}
    add(cast["alice"], cast["bob"], NOW - timedelta(days=5), slow=5, force="overdue")
    add(cast["alice"], cast["bob"], NOW - timedelta(hours=20), slow=5, force="open")
    add(cast["bob"], cast["pat"], NOW - timedelta(days=1), slow=1, force="open")
    add(cast["erin"], cast["eli"], NOW - timedelta(days=1), slow=1, force="open")
    return found


def kudos(people: list[Person], rng: random.Random) -> list[Kudos]:
    found = []
    cast = {p.handle: p for p in people}
    for n in range(120):
        giver, receiver = rng.sample(people[1:], 2)
        if n % 10 == 0:
            receiver = cast["bob"]
        found.append(
            Kudos(
                id=f"K-{n}",
                workspace=WORKSPACE,
                giver_id=giver.id,
                recipient_ids=[receiver.id],
                message=rng.choice(["thanks for the quick turnaround", "saved my demo", "great catch on the numbers"]),
                at=NOW - timedelta(days=rng.randrange(80), hours=rng.randrange(8)),
            )
        )
    return found


def seed(store: Store, *, seed_value: int = 14) -> None:
    """Fill an empty store with the org and its history."""
    rng = random.Random(seed_value)
    people, teams = org()
    store.save_org(people, teams)
    reqs = requests(people, rng)
    store.import_records("requests", [r.model_dump(mode="json") for r in reqs])
    store.import_records("counters", [{"workspace": WORKSPACE, "last": len(reqs)}])
    store.import_records("kudos", [k.model_dump(mode="json") for k in kudos(people, rng)])
    by_id = {t.id: t for t in teams}
    docs = []
    for offset in range(12):
        week = iso_week(NOW - timedelta(weeks=offset))
        for person in people:
            team = pulse_team(person, by_id)
            if team is None or rng.random() > 0.8:
                continue
            docs.append(
                {
                    "kind": ANSWER_DOC,
                    "workspace": WORKSPACE,
                    "key": f"{team}:{week}:{rng.getrandbits(128):032x}",
                    "doc": {
                        "team": team,
                        "week": week,
                        "manager_support": rng.choice((3, 4, 4, 5)),
                        "service": rng.choice((2, 3, 4, 4, 5)),
                        "comment": None,
                    },
                }
            )
    store.import_records("docs", docs)


def main(argv: list[str]) -> int:
    from storage import open_store

    store = open_store(argv[0])
    try:
        seed(store)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
