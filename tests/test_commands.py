"""The /request and /kudos command parser shared by all front ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.commands import (
    KUDOS_USAGE,
    MAX_KUDOS_CHARS,
    MAX_REQUEST_CHARS,
    REQUEST_USAGE,
    Chain,
    CreateRequest,
    GiveKudos,
    Help,
    KudosTop,
    ListMine,
    Mention,
    OpenForm,
    Priority,
    Queue,
    Show,
    Stats,
    Usage,
    format_request_id,
    parse_kudos,
    parse_request,
    parse_request_id,
)
from bot.workhours import DEFAULT_HOURS

# Tuesday 2026-11-24, 10:00 UTC.
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
FRIDAY_5PM_UTC = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)

ALICE = Mention(kind="handle", value="alice")


def request(text: str, tz: str = "UTC") -> object:
    return parse_request(text, now=NOW, tz=tz, hours=DEFAULT_HOURS)


def create(text: str, tz: str = "UTC") -> CreateRequest:
    result = request(text, tz)
    assert isinstance(result, CreateRequest), result
    return result


def usage(text: str) -> Usage:
    result = request(text)
    assert isinstance(result, Usage), result
    return result


def kudos_usage(text: str) -> Usage:
    result = parse_kudos(text)
    assert isinstance(result, Usage), result
    return result


# --------------------------------------------------------------------------- request ids


@pytest.mark.parametrize(("token", "number"), [("R-7", 7), ("r-7", 7), ("7", 7), ("#R-7", 7), (" R-12 ", 12)])
def test_parse_request_id_accepts_the_usual_spellings(token: str, number: int) -> None:
    assert parse_request_id(token) == number


@pytest.mark.parametrize("token", ["R-x", "", "R-", "abc", "R-0", "-7", "R--7", "7.5", "R-1234567890", "٣"])
def test_parse_request_id_rejects_everything_else(token: str) -> None:
    assert parse_request_id(token) is None


def test_format_request_id_round_trips() -> None:
    assert format_request_id(7) == "R-7"
    assert parse_request_id(format_request_id(123)) == 123


# --------------------------------------------------------------------------- subcommands


@pytest.mark.parametrize("text", ["", "   ", "/request", "request", "Request  ", "\n"])
def test_bare_request_opens_the_form(text: str) -> None:
    assert request(text) == OpenForm()


@pytest.mark.parametrize("text", ["list", "LIST", " List ", "/request list", "request list"])
def test_list_is_case_insensitive_and_tolerates_the_command_word(text: str) -> None:
    assert request(text) == ListMine()


def test_queue() -> None:
    assert request("queue") == Queue()
    assert request("Queue") == Queue()


def test_list_with_arguments_explains_the_form() -> None:
    assert "/request list" in usage("list everything").error


@pytest.mark.parametrize(("text", "number"), [("show R-7", 7), ("show 7", 7), ("SHOW r-7", 7), ("show #R-7", 7)])
def test_show_takes_a_request_id(text: str, number: int) -> None:
    assert request(text) == Show(number=number)


def test_chain_takes_a_request_id() -> None:
    assert request("chain R-12") == Chain(number=12)


def test_show_with_a_bad_id_says_it_is_not_a_request_id() -> None:
    result = usage("show R-x")
    assert result.error.startswith("R-x is not a request id")
    assert result.usage == REQUEST_USAGE


def test_show_without_an_id_asks_which_request() -> None:
    assert "Which request" in usage("show").error
    assert "Which request" in usage("chain ").error


def test_show_with_two_ids_asks_for_one() -> None:
    assert "one request id" in usage("show R-1 R-2").error


def test_stats_forms() -> None:
    assert request("stats") == Stats()
    assert request("stats @bob") == Stats(target=Mention(kind="handle", value="bob"))
    assert request("stats <@U42|bob>") == Stats(target=Mention(kind="platform", value="U42", label="bob"))
    assert request("Stats finance") == Stats(team="finance")
    assert request("stats #finance") == Stats(team="finance")


def test_stats_for_two_people_is_usage() -> None:
    assert "one person or one team" in usage("stats @bob @carol").error


def test_help_with_and_without_topic() -> None:
    assert request("help") == Help()
    assert request("HELP Due Dates") == Help(topic="due dates")


def test_subcommand_words_only_count_as_the_first_word() -> None:
    result = create("@bob list the open invoices")
    assert result.text == "list the open invoices"
    assert "show" in create("@bob show me the queue").text


# --------------------------------------------------------------------------- create: mentions


def test_create_with_handle_and_due_date() -> None:
    result = create("@alice need the Q3 numbers by friday")
    assert result == CreateRequest(
        provider=ALICE,
        text="need the Q3 numbers",
        due=FRIDAY_5PM_UTC,
        due_text="by friday",
        parent=None,
    )
    assert result.priority is Priority.NORMAL
    assert result.tags == []
    assert result.external is False


def test_slack_escaped_mention_with_label() -> None:
    result = create("<@U123ABC|alice> need the Q3 numbers")
    assert result.provider == Mention(kind="platform", value="U123ABC", label="alice")


def test_slack_escaped_mention_without_label() -> None:
    result = create("<@U123ABC> need the Q3 numbers")
    assert result.provider == Mention(kind="platform", value="U123ABC", label=None)


def test_teams_mention_rewritten_to_platform_form_keeps_id_and_display_name() -> None:
    result = create("<@29:1AbC-dEf_9|Alice Smith> please review the contract")
    assert result.provider == Mention(kind="platform", value="29:1AbC-dEf_9", label="Alice Smith")
    assert result.text == "please review the contract"


@pytest.mark.parametrize(
    ("text", "handle"),
    [
        ("@alice.smith x", "alice.smith"),
        ("@bob_2 x", "bob_2"),
        ("@mary-jane x", "mary-jane"),
        ("@alice: x", "alice"),
        ("@alice, x", "alice"),
        ("@alice. x", "alice"),
    ],
)
def test_handle_mentions_exclude_trailing_punctuation(text: str, handle: str) -> None:
    result = create(text)
    assert result.provider == Mention(kind="handle", value=handle)
    assert result.text == "x"


def test_teams_users_typing_request_word_are_understood() -> None:
    assert create("request @bob send the slides").provider.value == "bob"
    assert create("/request @bob send the slides").text == "send the slides"


def test_only_the_leading_mention_is_the_provider() -> None:
    result = create("@alice @bob review the deck with <@U9|carol>")
    assert result.provider == ALICE
    assert result.text == "@bob review the deck with <@U9|carol>"


@pytest.mark.parametrize("text", ["need the Q3 numbers", "please @alice send it", "alice@example.com send it", "@"])
def test_create_without_a_leading_mention_asks_for_someone(text: str) -> None:
    result = usage(text)
    assert result.error == (
        "I need someone to ask: start with @name, e.g. /request @alice need the Q3 numbers by friday"
    )
    assert result.usage == REQUEST_USAGE


@pytest.mark.parametrize("text", ["@alice", "@alice   ", "@alice by friday", "@alice !high", "@alice for R-3"])
def test_create_without_text_asks_what_is_needed(text: str) -> None:
    assert usage(text).error.startswith("Tell @alice what you need after the mention.")


def test_missing_text_names_a_platform_mention_by_its_label() -> None:
    assert usage("<@U1|Alice Smith>").error.startswith("Tell @Alice Smith what you need")
    assert usage("<@U1>").error.startswith("Tell <@U1> what you need")


# --------------------------------------------------------------------------- create: due dates


def test_due_clause_is_removed_from_the_text() -> None:
    result = create("@alice deliver the deck in 3 days")
    assert result.text == "deliver the deck"
    assert result.due_text == "in 3 days"
    assert result.due == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def test_due_is_evaluated_in_the_requesters_time_zone() -> None:
    tokyo = create("@alice numbers by friday", tz="Asia/Tokyo")
    los_angeles = create("@alice numbers by friday", tz="America/Los_Angeles")
    assert tokyo.due == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert los_angeles.due == datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def test_by_the_way_is_not_a_due_date() -> None:
    result = create("@alice need help by the way")
    assert result.text == "need help by the way"
    assert result.due is None
    assert result.due_text is None


def test_no_due_clause_means_no_due_date() -> None:
    result = create("@alice need the Q3 numbers")
    assert (result.due, result.due_text) == (None, None)


def test_past_due_date_is_usage_with_the_date_error() -> None:
    result = usage("@alice numbers by 2026-01-01")
    assert result.error == "The due date 2026-01-01 17:00 is in the past."
    assert result.text() == result.error + "\n" + REQUEST_USAGE


def test_impossible_due_date_is_usage() -> None:
    assert "not a valid date" in usage("@alice numbers by feb 30").error


def test_unknown_time_zone_with_a_due_date_is_usage() -> None:
    result = request("@alice numbers by friday", tz="Mars/Base")
    assert isinstance(result, Usage)
    assert "time zone" in result.error


def test_due_clause_before_trailing_tags_is_still_found() -> None:
    result = create("@alice numbers by friday #finance #Q4")
    assert result.text == "numbers #finance #Q4"
    assert result.due_text == "by friday"
    assert result.tags == ["finance", "q4"]


# --------------------------------------------------------------------------- create: parent, priority, flags, tags


@pytest.mark.parametrize(
    "text",
    [
        "@bob pull the invoices for R-12 by friday",
        "@bob pull the invoices by friday for R-12",
        "@bob pull the invoices by friday for r-12",
        "@bob pull the invoices by friday FOR #R-12.",
    ],
)
def test_parent_clause_before_or_after_the_due_clause(text: str) -> None:
    result = create(text)
    assert result.parent == 12
    assert result.text == "pull the invoices"
    assert result.due == FRIDAY_5PM_UTC


def test_parent_clause_without_due_date() -> None:
    result = create("@bob pull the invoices for R-3")
    assert (result.parent, result.text, result.due) == (3, "pull the invoices", None)


def test_for_something_else_is_text() -> None:
    result = create("@bob book a room for 12")
    assert result.parent is None
    assert result.text == "book a room for 12"
    assert create("@bob for R-12 the numbers please").parent is None


@pytest.mark.parametrize(
    ("flag", "priority"),
    [("!low", Priority.LOW), ("!high", Priority.HIGH), ("!urgent", Priority.URGENT), ("!URGENT", Priority.URGENT)],
)
def test_priority_tokens_anywhere_set_priority_and_leave_the_text(flag: str, priority: Priority) -> None:
    for text in (f"@alice {flag} numbers please", f"@alice numbers {flag} please", f"@alice numbers please {flag}"):
        result = create(text)
        assert result.priority is priority
        assert result.text == "numbers please"


def test_priority_token_after_the_due_clause() -> None:
    result = create("@alice numbers by friday !high")
    assert (result.text, result.due_text, result.priority) == ("numbers", "by friday", Priority.HIGH)


def test_several_priority_tokens_take_the_most_urgent() -> None:
    assert create("@alice !low numbers !urgent !high").priority is Priority.URGENT


def test_unknown_bang_words_stay_in_the_text() -> None:
    result = create("@alice numbers !important wow!high")
    assert result.text == "numbers !important wow!high"
    assert result.priority is Priority.NORMAL


@pytest.mark.parametrize("flag", ["!customer", "!external", "!Customer"])
def test_customer_flag_marks_external_work(flag: str) -> None:
    result = create(f"@alice renewal quote {flag} by friday")
    assert result.external is True
    assert result.text == "renewal quote"


def test_flag_removal_keeps_line_breaks() -> None:
    assert create("@alice line one\n!high\nline two").text == "line one\nline two"


def test_tags_are_lowercased_deduplicated_and_kept_in_the_text() -> None:
    result = create("@alice #Finance close the books #q4 #finance")
    assert result.tags == ["finance", "q4"]
    assert result.text == "#Finance close the books #q4 #finance"


def test_things_that_are_not_tags() -> None:
    result = create("@alice see http://wiki/page#section and issue #42 and #R-7, also (#ops) and x#y")
    assert result.tags == ["ops"]


def test_request_text_at_the_limit_is_accepted_and_over_it_is_usage() -> None:
    assert len(create("@alice " + "x" * MAX_REQUEST_CHARS).text) == MAX_REQUEST_CHARS
    result = usage("@alice " + "x" * (MAX_REQUEST_CHARS + 1))
    assert "3000" in result.error
    assert "3001" in result.error


def test_huge_input_is_usage_not_a_crash() -> None:
    assert isinstance(request("@alice " + "by in #x !high " * 200_000), Usage)


# --------------------------------------------------------------------------- unicode


@pytest.mark.parametrize(
    "body",
    [
        "请把报告发给我 🙏🏽",
        "👩‍💻 deploy the café app ✅",
        "مرحبا، أرسل الأرقام",
        "Zürich Ångström naïve e\u0301",
        "tab\tseparated\u200bzero width",
        "🇩🇪 flags and ❤️ variation selectors",
    ],
)
def test_unicode_and_emoji_survive_exactly(body: str) -> None:
    result = create(f"@alice {body} by friday")
    assert result.text == body
    assert result.due == FRIDAY_5PM_UTC


def test_control_characters_and_lone_surrogates_do_not_crash() -> None:
    for text in ("@alice \x00\x07 beep", "@alice \ud800 broken", "\x1b[31m@alice red", "@alice \x85 nel by friday"):
        result = request(text)
        assert isinstance(result, CreateRequest | Usage)


# --------------------------------------------------------------------------- usage texts


def test_usage_text_is_error_then_usage() -> None:
    assert Usage(error="Oops.", usage="Usage: x").text() == "Oops.\nUsage: x"


@pytest.mark.parametrize(
    "form",
    ["/request @", "by friday", "in 3 days", "for R-12", "!high", "!customer", "#", "list", "queue", "show R-7"],
)
def test_request_usage_lists_every_form(form: str) -> None:
    assert form in REQUEST_USAGE
    for word in ("chain R-12", "stats", "help", "e.g."):
        assert word in REQUEST_USAGE


def test_kudos_usage_lists_every_form() -> None:
    for form in ("/kudos @", "#", "top", "week|month|all", "help", "e.g."):
        assert form in KUDOS_USAGE


# --------------------------------------------------------------------------- kudos


def test_kudos_to_one_person_with_values() -> None:
    result = parse_kudos("@alice thanks for covering my on-call shift #Teamwork #teamwork")
    assert result == GiveKudos(
        recipients=[ALICE],
        message="thanks for covering my on-call shift #Teamwork #teamwork",
        values=["teamwork"],
    )


def test_kudos_to_several_people() -> None:
    result = parse_kudos("/kudos @alice @bob, <@U1|carol> and @dave: great launch! 🚀")
    assert isinstance(result, GiveKudos)
    assert [m.value for m in result.recipients] == ["alice", "bob", "U1", "dave"]
    assert result.message == "great launch! 🚀"


def test_kudos_recipients_are_deduplicated() -> None:
    result = parse_kudos("@alice @alice nice")
    assert isinstance(result, GiveKudos)
    assert result.recipients == [ALICE]


def test_kudos_mentions_later_in_the_message_stay_in_the_message() -> None:
    result = parse_kudos("@alice and the team did great, thanks @bob too")
    assert isinstance(result, GiveKudos)
    assert result.recipients == [ALICE]
    assert result.message == "and the team did great, thanks @bob too"


@pytest.mark.parametrize("text", ["", "kudos", "thanks @alice", "great job"])
def test_kudos_without_a_recipient_is_usage(text: str) -> None:
    result = kudos_usage(text)
    assert result.error.startswith("Who should get the kudos?")
    assert result.usage == KUDOS_USAGE


def test_kudos_without_a_message_is_usage() -> None:
    assert kudos_usage("@alice @bob").error.startswith("Say what @alice @bob did")


def test_kudos_message_length_limit() -> None:
    assert isinstance(parse_kudos("@alice " + "y" * MAX_KUDOS_CHARS), GiveKudos)
    assert "1000" in kudos_usage("@alice " + "y" * (MAX_KUDOS_CHARS + 1)).error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("top", KudosTop()),
        ("TOP week", KudosTop(period="week")),
        ("top month", KudosTop(period="month")),
        ("top all", KudosTop(period="all")),
        ("top month finance", KudosTop(period="month", team="finance")),
        ("top finance", KudosTop(team="finance")),
        ("/kudos top all customer success", KudosTop(period="all", team="customer success")),
    ],
)
def test_kudos_top(text: str, expected: KudosTop) -> None:
    assert parse_kudos(text) == expected


def test_kudos_top_for_a_person_is_usage() -> None:
    assert "team" in kudos_usage("top @bob").error


def test_kudos_help() -> None:
    assert parse_kudos("help") == Help(topic="kudos")


# --------------------------------------------------------------------------- properties

FRAGMENTS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "@alice",
            "@",
            "<@U1|bob>",
            "<@U2>",
            "<@",
            "<@|>",
            "by",
            "in",
            "by friday",
            "in 3 days",
            "by the way",
            "by 2026-01-01",
            "by feb 30",
            "in 999999 weeks",
            "for R-12",
            "for",
            "R-",
            "!high",
            "!urgent",
            "!customer",
            "#tag",
            "#",
            "list",
            "queue",
            "show",
            "chain",
            "stats",
            "help",
            "top",
            "month",
            "request",
            "/request",
            "kudos",
            ":",
            ",",
            ".",
            "\n",
            "\x00",
            "🙏🏽",
            "👩‍💻",
        ]
    ),
)
COMMAND_TEXT = st.tuples(st.lists(FRAGMENTS, max_size=12), st.sampled_from([" ", "", "\n", "  "])).map(
    lambda parts: parts[1].join(parts[0])
)
TZS = st.sampled_from(["UTC", "America/Los_Angeles", "Asia/Tokyo", "Europe/Berlin", "Mars/Base", ""])
NOWS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))

REQUEST_RESULTS = (CreateRequest, ListMine, Queue, Show, Chain, Stats, Help, OpenForm, Usage)


@given(COMMAND_TEXT, NOWS, TZS)
@settings(max_examples=200, deadline=None)
def test_parse_request_never_raises(text: str, now: datetime, tz: str) -> None:
    result = parse_request(text, now=now, tz=tz, hours=DEFAULT_HOURS)
    assert isinstance(result, REQUEST_RESULTS)
    if isinstance(result, CreateRequest):
        assert result.text.strip() == result.text != ""
        assert len(result.text) <= MAX_REQUEST_CHARS
        assert result.due is None or result.due > now


@given(st.text())
@settings(max_examples=200, deadline=None)
def test_parse_request_never_raises_on_arbitrary_text(text: str) -> None:
    assert isinstance(parse_request(text, now=NOW, tz="UTC", hours=DEFAULT_HOURS), REQUEST_RESULTS)


@given(COMMAND_TEXT)
@settings(max_examples=200, deadline=None)
def test_parse_kudos_never_raises(text: str) -> None:
    result = parse_kudos(text)
    assert isinstance(result, GiveKudos | KudosTop | Help | Usage)
    if isinstance(result, GiveKudos):
        assert result.recipients
        assert result.message.strip() == result.message != ""
        assert len(result.message) <= MAX_KUDOS_CHARS


@given(st.text())
@settings(max_examples=200, deadline=None)
def test_parse_kudos_never_raises_on_arbitrary_text(text: str) -> None:
    assert isinstance(parse_kudos(text), GiveKudos | KudosTop | Help | Usage)


# Letters, digits, symbols (emoji), marks, format characters and spaces: no command punctuation.
PLAIN_TEXT = st.text(
    st.one_of(st.characters(categories=["L", "N", "So", "Sk", "Mn", "Cf"]), st.just(" ")),
    min_size=1,
    max_size=60,
)
FUTURE_CLAUSES = st.sampled_from(
    [
        "by friday",
        "in 3 days",
        "by tomorrow 3pm",
        "BY Dec 3",
        "in 2 hours",
        "by next week",
        "by 2027-01-15",
        "in an hour",
    ]
)


@given(PLAIN_TEXT, FUTURE_CLAUSES)
@settings(max_examples=200, deadline=None)
def test_created_request_text_never_contains_the_due_clause(body: str, clause: str) -> None:
    assume(body.strip())
    assume(clause.lower() not in body.lower())
    result = parse_request(f"@alice {body} {clause}", now=NOW, tz="Europe/Berlin", hours=DEFAULT_HOURS)
    assert isinstance(result, CreateRequest)
    assert result.due_text == clause
    assert clause not in result.text
    assert result.due is not None and result.due > NOW


@given(PLAIN_TEXT)
@settings(max_examples=200, deadline=None)
def test_unicode_text_round_trips_exactly(body: str) -> None:
    assume(body.strip())
    result = parse_request(f"<@U1|alice> {body}", now=NOW, tz="UTC", hours=DEFAULT_HOURS)
    assert isinstance(result, CreateRequest)
    if result.due_text is None:
        assert result.text == body.strip()
    kudos = parse_kudos(f"@alice {body}")
    assert isinstance(kudos, GiveKudos)
    assert kudos.message == body.strip()


@given(st.integers(1, 10_000_000))
@settings(max_examples=100, deadline=None)
def test_request_ids_round_trip(number: int) -> None:
    assert parse_request_id(format_request_id(number)) == number
    assert request(f"show {format_request_id(number)}") == Show(number=number)


def test_parsing_does_not_depend_on_the_clock() -> None:
    later = NOW + timedelta(days=1)
    assert parse_request("@alice x by friday", now=NOW, tz="UTC", hours=DEFAULT_HOURS) == create("@alice x by friday")
    result = parse_request("@alice x in 1 hour", now=later, tz="UTC", hours=DEFAULT_HOURS)
    assert isinstance(result, CreateRequest)
    assert result.due == later + timedelta(hours=1)
