"""A 104-team org for the dashboard's browser tests and the docs' big-map screenshot: 8 departments
of 12 teams with real-looking names of uneven length (a few too long for the map's labels), a
head and a manager per team, 3 members each, and twelve weeks of requests between teams (most
within a department, some across), so the chain map has every team as a node and hundreds of links.

``ceo`` heads the org (no team), ``head0``..``head7`` the departments, ``m<d>x<t>`` the teams.
Usage: ``python -m tests.dashboard.big_org DB`` seeds a fresh store at DB.
"""

from __future__ import annotations

import random
import sys
from datetime import timedelta

from bot.models import Event, EventKind, Person, Rating, Request, Status, Team
from bot.ports import Store
from tests.dashboard.seed import NOW, WORKSPACE

DEPARTMENTS = {
    "Engineering": [
        "Platform",
        "Payments API",
        "Mobile",
        "Web",
        "Data Pipeline",
        "Search",
        "Identity",
        "Reliability",
        "Developer Experience",
        "Security Engineering",
        "QA Automation",
        "Infrastructure Networking and Edge",
    ],
    "Finance": [
        "Accounts Payable",
        "Accounts Receivable",
        "Payroll",
        "Treasury",
        "Tax",
        "Audit",
        "Procurement",
        "Expenses",
        "Billing",
        "Revenue Assurance",
        "Financial Planning",
        "Controlling",
    ],
    "People": [
        "Recruiting",
        "Onboarding",
        "Learning",
        "Benefits",
        "HR Business Partners",
        "Compensation",
        "Employee Relations",
        "HR Systems",
        "Wellbeing",
        "Talent Reviews",
        "Mobility",
        "Workplace",
    ],
    "Sales": [
        "Sales EMEA",
        "Sales Americas",
        "Sales APAC",
        "Inside Sales",
        "Partnerships",
        "Sales Operations",
        "Deal Desk",
        "Solutions Consulting",
        "Enterprise Accounts",
        "Channel",
        "Renewals",
        "Public Sector",
    ],
    "Marketing": [
        "Brand",
        "Content",
        "Events",
        "Growth",
        "Product Marketing",
        "Web Marketing",
        "Design",
        "Communications",
        "Analytics",
        "Community",
        "Social",
        "Field Marketing",
    ],
    "Customer Success": [
        "Support Tier 1",
        "Support Tier 2",
        "Onboarding Services",
        "Customer Training",
        "Escalations",
        "Account Management",
        "Technical Account Managers",
        "Support Operations",
        "Knowledge Base",
        "Customer Advocacy",
        "Professional Services",
        "Implementation",
    ],
    "Operations": [
        "Facilities",
        "IT Helpdesk",
        "IT Procurement",
        "Travel",
        "Legal",
        "Compliance",
        "Risk",
        "Privacy",
        "Business Systems",
        "Vendor Management",
        "Security Operations",
        "Office Services",
    ],
    "Product": [
        "Product Core",
        "Product Growth",
        "Product Platform",
        "Research",
        "Product Design",
        "Product Ops",
        "Pricing",
        "Roadmapping",
        "Localisation",
        "Accessibility",
        "Documentation",
        "Release Management",
    ],
}
MEMBERS_PER_TEAM = 3


def org() -> tuple[list[Person], list[Team]]:
    """The CEO, a department team per department (its head), and 12 teams under each."""
    people = [Person(id="P-ceo", workspace=WORKSPACE, handle="ceo", name="Cass CEO", tz="Europe/London")]
    teams: list[Team] = []
    for d, (department, names) in enumerate(DEPARTMENTS.items()):
        head = Person(
            id=f"P-head{d}",
            workspace=WORKSPACE,
            handle=f"head{d}",
            name=f"Head of {department}",
            team_id=f"T-d{d}",
            manager_id="P-ceo",
            tz="Europe/London",
        )
        people.append(head)
        teams.append(Team(id=f"T-d{d}", workspace=WORKSPACE, name=department, manager_id=head.id))
        for t, name in enumerate(names):
            team_id, manager = f"T-d{d}t{t}", f"P-m{d}x{t}"
            teams.append(Team(id=team_id, workspace=WORKSPACE, name=name, manager_id=manager, parent_id=f"T-d{d}"))
            people.append(
                Person(
                    id=manager,
                    workspace=WORKSPACE,
                    handle=f"m{d}x{t}",
                    name=f"{name} Lead",
                    team_id=team_id,
                    manager_id=head.id,
                    tz="Europe/London",
                )
            )
            for m in range(MEMBERS_PER_TEAM):
                people.append(
                    Person(
                        id=f"P-u{d}x{t}x{m}",
                        workspace=WORKSPACE,
                        handle=f"u{d}x{t}x{m}",
                        name=f"{name} {m + 1}",
                        team_id=team_id,
                        manager_id=manager,
                        tz="Europe/London",
                    )
                )
    return people, teams


def requests(
    people: list[Person], teams: list[Team], rng: random.Random, count: int = 2400, weeks: int = 12
) -> list[Request]:
    """``count`` requests over ``weeks`` weeks before NOW: 60% within a department."""
    by_team: dict[str, list[Person]] = {}
    for person in people:
        if person.team_id:
            by_team.setdefault(person.team_id, []).append(person)
    team_ids = sorted(by_team)
    department_of = {team.id: team.parent_id or team.id for team in teams}
    by_department: dict[str, list[str]] = {}
    for team_id in team_ids:
        by_department.setdefault(department_of[team_id], []).append(team_id)
    speed = {team_id: rng.choice((0.5, 1.0, 1.0, 2.0, 6.0)) for team_id in team_ids}
    start = NOW - timedelta(weeks=weeks)
    found = []
    for number in range(1, count + 1):
        source = rng.choice(team_ids)
        pool = by_department[department_of[source]] if rng.random() < 0.6 else team_ids
        target = rng.choice([t for t in pool if t != source] or team_ids)
        requester, provider = rng.choice(by_team[source]), rng.choice(by_team[target])
        created = start + timedelta(days=rng.randrange(weeks * 7 - 1), hours=rng.uniform(9, 16))
        events = [Event(kind=EventKind.CREATED, at=created, actor_id=requester.id, to_id=provider.id)]
        status = Status.OPEN
        acked = created + timedelta(hours=rng.expovariate(1 / speed[target]))
        if acked < NOW and rng.random() < 0.95:
            events.append(Event(kind=EventKind.ACKNOWLEDGED, at=acked, actor_id=provider.id))
            status = Status.ACKNOWLEDGED
            closed = acked + timedelta(hours=rng.expovariate(1 / 10))
            if closed < NOW and rng.random() < 0.9:
                events.append(Event(kind=EventKind.DONE, at=closed, actor_id=provider.id, note="done"))
                status = Status.DONE
                if rng.random() < 0.4:
                    score = rng.choice((1, 2)) if speed[target] > 4 and rng.random() < 0.4 else rng.choice((4, 5))
                    rating = Rating(
                        score=score, needs={"information": score}, comment="too slow" if score < 3 else None
                    )
                    events.append(
                        Event(
                            kind=EventKind.RATED, at=closed + timedelta(hours=1), actor_id=requester.id, rating=rating
                        )
                    )
        found.append(
            Request(
                workspace=WORKSPACE,
                number=number,
                requester_id=requester.id,
                provider_id=provider.id,
                text=f"Request {number}: could you help with the quarterly review?",
                created_at=created,
                status=status,
                events=events,
            )
        )
    return found


def seed(store: Store, *, seed_value: int = 104) -> None:
    """Fill an empty store with the 104-team org and its requests."""
    rng = random.Random(seed_value)
    people, teams = org()
    store.save_org(people, teams)
    found = requests(people, teams, rng)
    store.import_records("requests", [r.model_dump(mode="json") for r in found])
    store.import_records("counters", [{"workspace": WORKSPACE, "last": len(found)}])


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
