"""Slack Web API calls and response_url replies go over kept-alive connections
(:mod:`handlers.slack.transport`), and everything above the transport behaves as with
slack_sdk's one-connection-per-call ``urlopen``: rate limits, error statuses, refused
connections, timeouts, and connections the server drops."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import RemoteDisconnected
from typing import Literal
from urllib.error import URLError

import pytest
from slack_sdk.errors import SlackApiError

from handlers.slack.clients import delivery_client, interactive_client, pre_ack_client
from handlers.slack.deps import Replier
from handlers.slack.notifier import delivery_error
from handlers.slack.transport import PooledWebClient, http_pool
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import BOT_TOKEN, SlackHarness

Act = Literal["answer", "answer and close", "drop", "hang"]
"""What :class:`ScriptedServer` does with one request: answer ``{"ok": true}`` and keep the
connection alive, answer then close it (without saying so), close it without answering, or
never answer."""


class ScriptedServer:
    """A loopback HTTP/1.1 server (ephemeral port) that does with the n-th request of the k-th
    connection what ``script(k, n)`` says (both count from 0), and counts what it saw."""

    def __init__(self, script: Callable[[int, int], Act]) -> None:
        self.script = script
        self.connections = 0
        self.requests = 0
        self.closed = threading.Event()
        """Set whenever the server closed a connection after answering."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """The Web API base URL."""
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/api/"

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._stop.set()
        self._listener.close()
        for connection in self._open:
            connection.close()

    def _accept(self) -> None:
        index = 0
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(connection)
            threading.Thread(target=self._serve, args=(connection, index), daemon=True).start()
            index += 1

    def _serve(self, connection: socket.socket, index: int) -> None:
        reader = connection.makefile("rb")
        number = 0
        try:
            while True:
                head: list[bytes] = []
                while (line := reader.readline()) not in (b"\r\n", b""):
                    head.append(line)
                if line == b"":
                    return  # the client closed the connection
                length = next((int(h.split(b":")[1]) for h in head if h.lower().startswith(b"content-length")), 0)
                reader.read(length)
                self.requests += 1
                act = self.script(index, number)
                number += 1
                if act == "hang":
                    self._stop.wait()
                    return
                if act == "drop":
                    return
                body = b'{"ok": true}'
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                if act == "answer and close":
                    return
        except OSError:
            return
        finally:
            reader.close()
            connection.close()
            self.closed.set()


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[int, int], Act]], ScriptedServer]]:
    """Start :class:`ScriptedServer` instances; all are closed after the test."""
    servers: list[ScriptedServer] = []

    def start(script: Callable[[int, int], Act]) -> ScriptedServer:
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_fifty_posts_from_eight_threads_share_a_few_kept_alive_connections(fake: FakeSlackApi) -> None:
    fake.latency = 0.01  # long enough for the threads to overlap
    client = delivery_client(fake.url, BOT_TOKEN)

    def post(n: int) -> bool:
        return bool(client.chat_postMessage(channel="U0ALICE", text=f"message {n}")["ok"])

    with ThreadPoolExecutor(max_workers=8) as threads:
        assert all(threads.map(post, range(50)))

    assert len(fake.calls("chat.postMessage")) == 50
    assert fake.connections("chat.postMessage") <= 8  # urlopen: one connection per call, 50


def test_copies_of_a_client_reuse_its_connections(fake: FakeSlackApi) -> None:
    client = interactive_client(fake.url, token=BOT_TOKEN)
    client.auth_test()
    pre_ack_client(client).users_info(user="U0ALICE")
    client.copy(timeout=3).users_info(user="U0BOB")
    assert fake.connections() == 1


def test_the_listeners_and_their_response_url_replies_reuse_the_app_connections(harness: SlackHarness) -> None:
    """Bolt hands each listener its own plain WebClient; the app's middleware puts it back on our
    pool, and response_url replies use the same pool."""
    harness.fake.fail("views.open", "expired_trigger_id", times=5)  # each ends in a response_url reply
    for _ in range(5):
        harness.command("U0ALICE", "")
        harness.settle()
    assert len(harness.fake.calls("views.open")) == 5 and len(harness.replies("U0ALICE")) == 5
    assert harness.fake.connections("views.open") <= 2  # urlopen: 5
    assert harness.fake.connections("response_url") <= 2  # urlopen: 5


def test_response_url_replies_from_many_threads_share_the_pool(fake: FakeSlackApi) -> None:
    client = interactive_client(fake.url, token=BOT_TOKEN)

    def reply(n: int) -> None:
        Replier(client, "U0ALICE", fake.response_url(f"cmd-{n}")).say(f"reply {n}")

    with ThreadPoolExecutor(max_workers=4) as threads:
        list(threads.map(reply, range(20)))
    assert len(fake.calls("response_url")) == 20 and fake.calls("chat.postMessage") == []
    assert fake.connections("response_url") <= 4


def test_a_rate_limit_still_raises_with_its_retry_after_and_the_connection_stays_usable(fake: FakeSlackApi) -> None:
    client = delivery_client(fake.url, BOT_TOKEN)
    fake.fail("chat.postMessage", "ratelimited", status=429, retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="U0ALICE", text="hi")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert delivery_error(raised.value).retry_after == 7.0

    assert client.chat_postMessage(channel="U0ALICE", text="hi")["ok"]
    assert fake.connections() == 1


def test_a_server_error_still_raises_slack_api_error_with_its_status(fake: FakeSlackApi) -> None:
    client = delivery_client(fake.url, BOT_TOKEN)
    fake.fail("chat.postMessage", "internal_error", status=500)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="U0ALICE", text="hi")
    assert raised.value.response.status_code == 500
    assert delivery_error(raised.value).unconfirmed


def test_a_kept_alive_connection_the_server_closed_between_calls_is_replaced(
    scripted: Callable[[Callable[[int, int], Act]], ScriptedServer],
) -> None:
    server = scripted(lambda _connection, _request: "answer and close")
    client = PooledWebClient(base_url=server.url, token=BOT_TOKEN, retry_handlers=[])  # nothing retried

    assert client.auth_test()["ok"]
    assert server.closed.wait(5)
    assert client.auth_test()["ok"]
    assert (server.connections, server.requests) == (2, 2)


def test_a_request_dropped_on_a_reused_connection_is_retried_on_a_new_one(
    scripted: Callable[[Callable[[int, int], Act]], ScriptedServer],
) -> None:
    """The server drops the second request of the first connection unanswered: slack_sdk's
    ConnectionErrorRetryHandler sees the ``RemoteDisconnected`` urlopen would raise, and retries."""
    server = scripted(lambda connection, request: "drop" if (connection, request) == (0, 1) else "answer")
    client = delivery_client(server.url, BOT_TOKEN)

    assert client.chat_postMessage(channel="U0ALICE", text="one")["ok"]
    assert client.chat_postMessage(channel="U0ALICE", text="two")["ok"]
    assert (server.connections, server.requests) == (2, 3)


def test_a_dropped_connection_without_retries_surfaces_as_urlopen_would(
    scripted: Callable[[Callable[[int, int], Act]], ScriptedServer],
) -> None:
    server = scripted(lambda _connection, request: "drop" if request == 1 else "answer")
    client = PooledWebClient(base_url=server.url, token=BOT_TOKEN, retry_handlers=[])

    client.auth_test()
    with pytest.raises(RemoteDisconnected) as raised:
        client.auth_test()
    assert delivery_error(raised.value).unconfirmed  # the outbox looks before posting again


def test_a_refused_connection_is_an_url_error_that_says_nothing_was_posted() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = PooledWebClient(base_url=f"http://127.0.0.1:{port}/api/", token=BOT_TOKEN, retry_handlers=[])

    with pytest.raises(URLError) as raised:
        client.chat_postMessage(channel="U0ALICE", text="hi")
    assert isinstance(raised.value.reason, ConnectionRefusedError)
    assert not delivery_error(raised.value).unconfirmed


def test_a_slow_answer_is_a_timeout_error_that_may_have_posted(
    scripted: Callable[[Callable[[int, int], Act]], ScriptedServer],
) -> None:
    server = scripted(lambda _connection, _request: "hang")
    client = PooledWebClient(base_url=server.url, token=BOT_TOKEN, timeout=1, retry_handlers=[])

    with pytest.raises(TimeoutError) as raised:
        client.chat_postMessage(channel="U0ALICE", text="hi")
    assert delivery_error(raised.value).unconfirmed


def test_one_pool_serves_clients_of_different_hosts_and_clears(fake: FakeSlackApi) -> None:
    pool = http_pool(maxsize=2)
    with FakeSlackApi() as other:
        for api in (fake, other):
            PooledWebClient(base_url=api.url, token=BOT_TOKEN, pool=pool).auth_test()
            PooledWebClient(base_url=api.url, token=BOT_TOKEN, pool=pool).auth_test()
            assert api.connections() == 1
    pool.clear()
