"""Secrets never appear in logs, errors or file names: a full ``servechain serve`` at DEBUG with
Slack and Teams configured and PostgreSQL behind a password, driven with good and bad traffic,
then every log line, every command's output and every file it left behind is searched for each
secret value. Also: ``SERVECHAIN_DB`` accepts URLs and file paths only, and says so without
repeating the value."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.dburl import BadDatabaseLocation, check_db, mask_db, scrub
from storage.postgres import PostgresStore
from tests.drills import seed_linked_org
from tests.fakes.slack_api import FakeSlackApi
from tests.pgserve import Serve, clean_env, free_port, own_database, servechain
from tests.slack.conftest import TEAM, USERS

BOT_TOKEN = "xoxb-4711-BOTTOKEN-zq9Xv"
SIGNING_SECRET = "sigsecret-8c1f2e9d-QWERTY"
APP_TOKEN = "xapp-1-APPTOKEN-77kLmN"
APP_PASSWORD = "TeamsAppPw~3kd92JHHf"
DB_PASSWORD = "DbPw-Zx81-secret"
SECRETS = {
    "bot token": BOT_TOKEN,
    "signing secret": SIGNING_SECRET,
    "app token": APP_TOKEN,
    "app password": APP_PASSWORD,
    "db password": DB_PASSWORD,
}


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def _teams_activity() -> bytes:
    activity = json.loads((Path(__file__).parent / "data" / "teams" / "message_personal.json").read_text())
    return json.dumps(activity).encode()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_no_secret_reaches_a_log_an_error_or_a_file_in_a_full_debug_run(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    outputs: list[str] = []
    with own_database(DB_PASSWORD) as url:
        seeded = PostgresStore(url)
        seed_linked_org(seeded)
        seeded.close()
        fake = FakeSlackApi(team_id=TEAM).start()
        for user_id, (name, email, tz) in USERS.items():
            fake.add_user(user_id, name, email=email, tz=tz)
        env = clean_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=fake.url,
            MICROSOFT_APP_ID="00000000-0000-0000-0000-00000000beef",
            MICROSOFT_APP_PASSWORD=APP_PASSWORD,
            SERVECHAIN_DB=url,
            SERVECHAIN_LOG_LEVEL="DEBUG",
        )
        log = tmp_path / "serve.log"
        server = Serve(env, cwd=work, log=log)
        try:
            # signed Slack traffic that works, and some that fails
            assert server.command(fake, "U0ALICE", "<@U0BOB|bob> the Q3 numbers", "s.1", secret=SIGNING_SECRET) == 200
            assert server.command(fake, "U0ALICE", "list", "s.2", secret=SIGNING_SECRET) == 200
            assert server.command(fake, "U0ALICE", "<@U0NOBODY|x> what", "s.3", secret=SIGNING_SECRET) == 200
            fake.fail("chat.postMessage", "invalid_auth", times=3)
            assert server.command(fake, "U0CAROL", "<@U0DAVE|dave> budget", "s.4", secret=SIGNING_SECRET) == 200
            assert server.command(fake, "U0ALICE", "forged", "s.5", secret="not-the-secret") == 401
            # a Teams activity (no Bot Framework token: refused) and one with a forged header
            activity = _teams_activity()
            assert server.post("/api/messages", activity, {"Content-Type": "application/json"}) == 401
            deadline = time.monotonic() + 20
            while len({c.params["_name"] for c in fake.calls("response_url")}) < 4:
                assert time.monotonic() < deadline, "the commands were not answered"
                time.sleep(0.1)
            status, body, _took = server.health()
            outputs.append(json.dumps(body))
            assert status == 200
        finally:
            server.stop()
            fake.stop()
        # the store named by the CLI: migrations, a copy, a bad database, a keyword string
        outputs.append(str(servechain("db", "upgrade", env=env, cwd=work).__dict__))
        copy = servechain("db", "migrate", "--from", url, "--to", str(work / "copy.json"), env=env, cwd=work)
        outputs.append(copy.stdout + copy.stderr)
        assert copy.returncode == 0, copy.stderr
        assert "***@" in copy.stdout
        missing = {**env, "SERVECHAIN_DB": url.rsplit("/", 1)[0] + "/missing_db"}
        outputs.append(str(servechain("serve", "--port", str(free_port()), env=missing, cwd=work).__dict__))
        keywords = {**env, "SERVECHAIN_DB": f"host=127.0.0.1 user=postgres password={DB_PASSWORD} dbname=x"}
        bad = servechain("serve", "--port", str(free_port()), env=keywords, cwd=work)
        outputs.append(bad.stdout + bad.stderr)
        assert bad.returncode != 0 and "libpq keyword string" in bad.stderr

    logged = log.read_text()
    assert "DEBUG" in logged and "slack_sdk" in logged, "the run logged at DEBUG"
    assert "***@127.0.0.1" in logged, "the store is named, masked"
    for number, line in enumerate(logged.splitlines(), 1):
        assert not _leaks(line), f"serve.log line {number} leaks the {_leaks(line)}: {line[:200]}"
    for output in outputs:
        assert not _leaks(output), f"command output leaks the {_leaks(output)}: {output[:300]}"
    for path in tmp_path.rglob("*"):
        assert not _leaks(str(path.relative_to(tmp_path))), f"a file name leaks a secret: {path}"
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            assert not _leaks(text), f"{path.name} holds the {_leaks(text)}"
    assert sorted(p.name for p in work.iterdir() if not p.name.startswith("copy.json")) == []


@pytest.mark.parametrize(
    "location",
    [
        "host=db.internal user=app password=Hunter2-secret dbname=servechain",
        "dbname=servechain password='Hunter2-secret'",
        "mysql://app:Hunter2-secret@db/servechain",
        "redis://:Hunter2-secret@cache:6379/0",
        "  ",
    ],
)
def test_a_location_that_is_neither_a_database_url_nor_a_file_path_is_refused_without_echoing_it(
    location: str, tmp_path: Path
) -> None:
    with pytest.raises(BadDatabaseLocation) as refused:
        check_db(location)
    assert "Hunter2-secret" not in str(refused.value)
    assert "SERVECHAIN_DB" in str(refused.value)

    result = servechain("org", "import", "org.yml", env=clean_env(SERVECHAIN_DB=location), cwd=tmp_path)
    assert result.returncode != 0
    assert "Hunter2-secret" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "SERVECHAIN_DB" in result.stderr
    assert list(tmp_path.iterdir()) == [], "no file was created"


@pytest.mark.parametrize(
    "location",
    [
        "postgresql://app:pw@db:5432/servechain",
        "postgres://db/servechain",
        "servechain.json",
        "/var/lib/servechain/store.json",
        "data dir/servechain.json",
        "tinydb://servechain.json",
        "file:///tmp/servechain.json",
        "C:\\servechain\\store.json",
    ],
)
def test_database_urls_and_file_paths_are_accepted(location: str) -> None:
    assert check_db(location) == location


def test_mask_db_hides_every_form_of_the_password() -> None:
    assert mask_db("postgresql://app:Hunter2@db:5432/sc") == "postgresql://app:***@db:5432/sc"
    assert mask_db("postgres://app@db/sc") == "postgres://app@db/sc"
    assert mask_db("postgresql://db/sc?user=app&password=Hunter2&sslmode=require") == (
        "postgresql://db/sc?user=app&password=***&sslmode=require"
    )
    assert mask_db("postgresql://app:p%40ss%3Aword@db/sc") == "postgresql://app:***@db/sc"
    assert mask_db("servechain.json") == "servechain.json"
    assert "Hunter2" not in mask_db("host=db password=Hunter2 dbname=sc")
    assert scrub("failed for p@ss:word and p%40ss%3Aword", "postgresql://app:p%40ss%3Aword@db/sc") == (
        "failed for *** and ***"
    )
