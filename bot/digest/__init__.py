"""The weekly manager digest: morale, service to staff, the team's service to other teams,
overdue items and one suggested action, with an 8-week chart.

Every manager gets it by DM on Monday at 09:00 in their own time zone (or, after an outage,
during their working hours in the next two days), about the ISO week that just ended there; the scheduler
claims ``digest:<manager id>:<week>`` with the message, so it goes out once per manager and
week across replicas and restarts. The outbox and the notifiers decide whether it reaches
them in Slack or Teams; the chart travels as data (:class:`bot.models.Chart`) and is drawn
when it is sent, and the text reads the same without it.

Who is what (``docs/metrics.md`` has the request figures' definitions):

- A manager's **team** is everyone in the teams they manage (``Team.manager_id``, exact
  teams) plus everyone whose nearest manager they are (``Directory.managers_of``), without
  the manager themselves. Anyone with a team is a manager.
- **Department heads** (someone below them manages a team, or a team they manage has
  sub-teams) also get a roll-up: one line per team one level down, each counting everything
  below it (a CEO sees departments, a department head sees its teams).
- Weeks are the manager's local ISO weeks; a request belongs to the week it was created in.

Everything is computed from one :class:`OrgSnapshot` (one read of people, teams, the weeks'
requests, kudos and pulse answers), sliced per manager, so a scheduler pass that sends a
thousand people's digests reads the store a handful of times, not once per manager.

The package, one concern per module: :mod:`~bot.digest.settings` (timing and trend length),
:mod:`~bot.digest.snapshot` (the one read), :mod:`~bot.digest.model` (the figures and the
suggested action), :mod:`~bot.digest.text` (the words), :mod:`~bot.digest.chart` (the trends as a
neutral chart), :mod:`~bot.digest.preview` (``/digest``) and :mod:`~bot.digest.job` (the scheduled
send). Week arithmetic is :mod:`bot.weeks`; the command line is ``handlers/cli/digest.py``.
"""

from bot.digest.chart import digest_chart
from bot.digest.job import DigestJob, digest_key, send_at
from bot.digest.model import Digest, Link, OverdueItem, RollupRow, build_digest, manager_digest
from bot.digest.preview import DIGEST_USAGE, digest_preview
from bot.digest.settings import DEFAULT_DIGEST, FORMATS, DigestFormat, DigestSettings
from bot.digest.snapshot import OrgSnapshot, SnapshotDirectory, snapshot_for
from bot.digest.text import digest_markdown, digest_message, render

__all__ = [
    "DEFAULT_DIGEST",
    "DIGEST_USAGE",
    "FORMATS",
    "Digest",
    "DigestFormat",
    "DigestJob",
    "DigestSettings",
    "Link",
    "OrgSnapshot",
    "OverdueItem",
    "RollupRow",
    "SnapshotDirectory",
    "build_digest",
    "digest_chart",
    "digest_key",
    "digest_markdown",
    "digest_message",
    "digest_preview",
    "manager_digest",
    "render",
    "send_at",
    "snapshot_for",
]
