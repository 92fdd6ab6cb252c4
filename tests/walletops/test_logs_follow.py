"""Live follow and the merged view, over real HTTP, on the private Docker engines.

An env of its own (``follow``) spans both engines: a ticker container on each writes a line every
0.2 s. A third "engine" is the staging engine seen through a Unix-socket relay the test can cut,
which is what a host that goes away looks like from the portal. The portal runs in pytest-django's
live server (a real HTTP server thread), so a stream is read as a client reads it, line by line
with a read timeout: nothing here can hang.

The tests must pass on a busy machine (``make test-stress`` runs this file beside a CPU hog): they
wait for events with a generous deadline (``WAIT``) and assert order and counts, never a rate or a
duration. What "live" means is said as an order: a line arrives before a later one is written.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from contextlib import ExitStack, closing, suppress
from dataclasses import dataclass

import httpx
import pytest
import yaml

from tests.walletops.conftest import _run
from tests.walletops.helpers import WAIT, tickers_wrote
from walletops import logs

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

API = "/api/v1/admin/ops"
SHORT = "echo one; echo two; sleep 1.5; echo three; exit 0"


@dataclass
class Event:
    event: str = "message"
    id: str | None = None
    data: dict | None = None
    comment: str | None = None
    at: float = 0.0  # time.monotonic() at arrival
    wall_ns: int = 0  # time.time_ns() at arrival: comparable with a line's id (Docker's clock, the same host's)


class EventReader:
    """Server-Sent Events off an httpx stream, one at a time, each with its arrival time."""

    def __init__(self, response: httpx.Response):
        self.response = response
        self.lines = response.iter_lines()

    def next(self) -> Event | None:
        event = Event()
        seen = False
        for line in self.lines:
            if line == "":
                if seen:
                    event.at, event.wall_ns = time.monotonic(), time.time_ns()
                    if event.data is None and event.event == "message":
                        event.event = "comment"  # retry: and comments only
                    return event
                continue
            seen = True
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "":
                event.comment = value
            elif field == "event":
                event.event = value
            elif field == "id":
                event.id = value
            elif field == "data":
                event.data = json.loads(value)
        return None

    def until(self, predicate, *, seconds: float = WAIT) -> list[Event]:
        """Events until one satisfies ``predicate`` (included), or fail after ``seconds``."""
        events, limit = [], time.monotonic() + seconds
        while time.monotonic() < limit:
            event = self.next()
            if event is None:
                break
            events.append(event)
            if predicate(event):
                return events
        raise AssertionError(f"not within {seconds} s: {[(e.event, e.data, e.comment) for e in events][-10:]}")

    def messages(self, count: int) -> list[Event]:
        """The next ``count`` lines (``message`` events), in the order they came; fails if another event ends them."""
        lines: list[Event] = []

        def enough(event: Event) -> bool:
            assert event.event in ("message", "comment"), event  # a source_end or end: the stream stopped short
            if event.event == "message":
                lines.append(event)
            return len(lines) == count

        self.until(enough)
        return lines


class Relay:
    """A Unix socket that forwards to a Docker engine's, until ``cut()``: the engine "goes away"."""

    def __init__(self, target: str):
        self.target = target
        self.path = os.path.join(tempfile.mkdtemp(prefix="opsrl-", dir="/tmp"), "docker.sock")
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen(64)
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self):
        with suppress(OSError):
            self.listener.close()
        with suppress(OSError):
            os.unlink(self.path)
        with self.lock:
            for sock in self.sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


@pytest.fixture
def token(token_for):
    return token_for("read")


@pytest.fixture
def http(live_server, token):
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(WAIT)
    ) as client:
        yield client


def _follow(http, path: str, **params):
    return http.stream("GET", f"{API}/{path}", params={"follow": "true", **params})


def test_a_container_writing_on_a_timer_is_followed_live_and_in_order(http, follow_env):
    with _follow(http, "containers/wallet-core-follow-ticker-a/logs", env="follow", tail="3") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        lines = EventReader(response).messages(3 + 20)  # the 3 of backlog (the fixture waited for them), 20 live
    numbers = [int(e.data["text"].split()[1]) for e in lines]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers  # in order, none missing
    assert [e.id for e in lines] == sorted(e.id for e in lines)
    assert all(e.data["container"] == "wallet-core-follow-ticker-a" for e in lines)
    # Live lines are sent as they are written, not held back in a buffer or until the stream ends: the
    # first live line has arrived before the 20th was even written (19 ticks later: 3.8 s on a quiet
    # machine, and on a loaded one the ticker slows down with everything else). An order, not a rate.
    live = lines[3:]
    assert live[0].wall_ns < logs.stamp_ns(live[-1].id), (live[0].wall_ns, live[-1].id)
    # Each id is the line's exact time (nanoseconds), and its ts the same to the millisecond.
    assert all(e.id[:23] == e.data["ts"][:23] and len(e.id) == 30 for e in lines)


def test_last_event_id_resumes_right_after_the_last_line_seen(http, follow_env):
    path = "containers/wallet-core-follow-ticker-a/logs"
    with _follow(http, path, env="follow", tail="5") as response:
        first = [e for e in EventReader(response).until(lambda e: e.event == "message")]
    seen = first[-1]
    time.sleep(0.7)  # lines written while "disconnected"
    with http.stream(
        "GET", f"{API}/{path}", params={"follow": "true", "env": "follow"}, headers={"Last-Event-ID": seen.id}
    ) as response:
        events = EventReader(response).until(lambda e: e.event == "message")
    resumed = events[-1]
    assert resumed.id > seen.id
    assert int(resumed.data["text"].split()[1]) == int(seen.data["text"].split()[1]) + 1  # the very next line


def test_ansi_colours_are_stripped_and_long_lines_cut_as_today(http, follow_env, fleet_settings):
    with _follow(http, "containers/wallet-core-follow-colour-1/logs", env="follow") as response:
        event = EventReader(response).until(lambda e: e.event == "message")[-1]
    assert event.data["text"] == "green plain"
    # The runner ticks every second from the session's start: its first lines must stay within the tail
    # however long the suite ran before this test (200 was not enough in a full run).
    with _follow(http, "containers/wallet-core-staging-runner-abc1234/logs", env="staging", tail="5000") as response:
        events = EventReader(response).until(lambda e: e.data and e.data["text"].startswith("xxx"))
    assert [e for e in events if e.event == "message"][0].data["text"] == "red started"
    assert len(events[-1].data["text"]) == 16 * 1024  # the 20,000-character line, cut at 16 KiB


def test_foreign_containers_are_refused_and_the_endpoint_needs_its_scope(http, follow_env, live_server, token_for):
    for name in ("unrelated-database", "other-app-staging-web-1"):
        response = http.get(f"{API}/containers/{name}/logs", params={"follow": "true", "env": "staging"})
        assert (response.status_code, response.json()["code"]) == (404, "container_not_found")
    response = http.get(f"{API}/logs", params={"follow": "true", "env": "staging", "containers": "unrelated-database"})
    assert response.status_code == 404
    anonymous = httpx.get(f"{live_server.url}{API}/containers/wallet-core-follow-ticker-a/logs?follow=true&env=follow")
    assert anonymous.status_code == 401
    other_scope = {"Authorization": f"Bearer {token_for('restart')}"}
    response = httpx.get(
        f"{live_server.url}{API}/containers/wallet-core-follow-ticker-a/logs?follow=true&env=follow",
        headers=other_scope,
    )
    assert response.status_code == 403
    assert _drained()


def _refusal(http, path: str, *, headers: dict) -> dict:
    """The 429 a follow must get, read as a stream: were it granted instead, the test fails here rather
    than wait for an endless body (its heartbeats keep any read timeout from firing)."""
    params = {"follow": "true", "env": "follow"}
    with http.stream("GET", f"{API}/{path}", params=params, headers=headers) as response:
        assert response.status_code == 429, response.status_code
        assert response.headers["content-type"] == "application/json"
        return json.loads(response.read())


def test_the_caps_answer_429_and_a_client_that_goes_frees_its_stream(http, follow_env, live_server, token_for):
    assert _drained()  # the streams of the tests before are given back
    follow_env.WALLETOPS_LOG_STREAMS_PER_USER = 1
    follow_env.WALLETOPS_LOG_STREAMS_TOTAL = 2
    path = "containers/wallet-core-follow-ticker-a/logs"
    with _follow(http, path, env="follow") as response:
        first = EventReader(response)  # held: a reader dropped would close its connection
        first.until(lambda e: e.event == "message")
        # Asked as an event stream (as an EventSource asks), the refusal is still the JSON error shape.
        second = _refusal(http, path, headers={"Accept": "text/event-stream"})
        assert second == {"code": "too_many_streams", "detail": second["detail"]}
        assert "WALLETOPS_LOG_STREAMS_PER_USER" in second["detail"]
        other = {"Authorization": f"Bearer {token_for('read')}"}
        client = httpx.Client(base_url=live_server.url, headers=other, timeout=httpx.Timeout(WAIT))
        with client, _follow(client, path, env="follow") as response_2:
            assert response_2.status_code == 200
            other_reader = EventReader(response_2)
            other_reader.until(lambda e: e.event == "message")
            third = _refusal(http, path, headers={"Authorization": f"Bearer {token_for('read')}"})
            assert third["code"] == "too_many_streams" and "WALLETOPS_LOG_STREAMS_TOTAL" in third["detail"]
    # Both clients went away: their streams are given back within a heartbeat or two (1 s here).
    assert _drained()


def test_a_quiet_stream_ends_after_the_idle_timeout_and_any_after_the_max_duration(http, follow_env):
    # Ends within WAIT, where the defaults (600 s idle, 3600 s at most) would outlast the deadline: the
    # settings are what ended them. Not before them, however fast the machine.
    follow_env.WALLETOPS_LOG_STREAM_IDLE_SECONDS = 2
    started = time.monotonic()
    with _follow(http, "containers/wallet-core-staging-worker-abc1234/logs", env="staging") as response:
        events = EventReader(response).until(lambda e: e.event == "end")
    assert events[-1].data["reason"] == "idle"
    assert any(e.comment and e.comment.startswith("heartbeat") for e in events)
    assert time.monotonic() - started >= 2
    # The ticker writes every 0.2 s, but a starved one could pause 2 s: idle is out of this one's way.
    follow_env.WALLETOPS_LOG_STREAM_IDLE_SECONDS = 600
    follow_env.WALLETOPS_LOG_STREAM_MAX_SECONDS = 2
    started = time.monotonic()
    with _follow(http, "containers/wallet-core-follow-ticker-a/logs", env="follow") as response:
        events = EventReader(response).until(lambda e: e.event == "end")
    assert events[-1].data["reason"] == "max_duration"
    assert any(e.event == "message" for e in events) and time.monotonic() - started >= 2
    assert _drained()


def _drained() -> bool:
    """Every stream's slot given back (a stream's client gone is noticed at its next write: a line or a heartbeat)."""
    limit = time.monotonic() + WAIT
    while logs.streams_open() and time.monotonic() < limit:
        time.sleep(0.1)
    return logs.streams_open() == 0


def test_a_container_that_stops_ends_its_stream_with_a_final_event(http, follow_env, tickers):
    _run(tickers["a"], "wallet-core-follow-short-1", ["/bin/sh", "-c", SHORT],
         labels={"service": "wallet-core-follow", "role": "short"}, hostname="short")  # fmt: skip
    with _follow(http, "containers/wallet-core-follow-short-1/logs", env="follow") as response:
        events = EventReader(response).until(lambda e: e.event == "end")
    texts = [e.data["text"] for e in events if e.event == "message"]
    assert texts == ["one", "two", "three"]
    assert events[-1].data["reason"] == "stopped"
    assert any(e.event == "source_end" and e.data["container"] == "wallet-core-follow-short-1" for e in events)


def test_an_engine_that_goes_away_mid_stream_is_named_in_an_event_not_a_hang(http, follow_env, fleet_settings):
    relay = Relay(fleet_settings.staging_url.removeprefix("unix://"))
    follow_env.WALLETOPS_ENVS = [*follow_env.WALLETOPS_ENVS, "relayed"]
    follow_env.WALLETOPS_DOCKER_HOSTS = {**follow_env.WALLETOPS_DOCKER_HOSTS, "relayed": [relay.url]}
    try:
        with _follow(http, "containers/wallet-core-relayed-ticker-1/logs", env="relayed") as response:
            reader = EventReader(response)
            reader.until(lambda e: e.event == "message")
            relay.cut()
            # Within WAIT: a stream that did not notice would run on to the idle timeout (600 s).
            events = reader.until(lambda e: e.event == "end")
    finally:
        relay.cut()
    down = next(e for e in events if e.event == "engine_down")
    assert down.data["engine"] == relay.url and down.data["containers"] == ["wallet-core-relayed-ticker-1"]
    assert events[-1].data == {
        "reason": "engine_down",
        "detail": f"Docker engine {relay.url} went away",
        "engines": [relay.url],
    }


def test_the_merged_view_interleaves_two_engines_by_time_with_counts(http, follow_env, tickers):
    tickers_wrote(tickers, 25)  # 40 lines to show, and a "b …7" to grep, however early this test runs
    response = http.get(f"{API}/logs", params={"env": "follow", "role": "ticker", "tail": "40"})
    assert response.status_code == 200, response.text
    body = response.json()
    lines = body["lines"]
    assert {(line["container"], line["host"]) for line in lines} == {
        ("wallet-core-follow-ticker-a", follow_env.WALLETOPS_DOCKER_HOSTS["staging"][0]),
        ("wallet-core-follow-ticker-b", follow_env.WALLETOPS_DOCKER_HOSTS["production"][0]),
    }
    assert [line["ts"] for line in lines] == sorted(line["ts"] for line in lines) and len(lines) == 40
    runs = sum(1 for a, b in zip(lines, lines[1:], strict=False) if a["container"] != b["container"])
    assert runs >= 10  # interleaved, not one container's block after the other's
    counts = {c["name"]: (c["matched"], c["shown"]) for c in body["containers"]}
    assert sum(shown for _, shown in counts.values()) == 40
    # grep (RE2) over the merged view, with counts per container.
    response = http.get(f"{API}/logs", params={"env": "follow", "role": "ticker", "grep": "/^b \\d*7$/"})
    body = response.json()
    assert body["lines"] and all(line["text"].startswith("b ") for line in body["lines"])
    counts = {c["name"]: c["matched"] for c in body["containers"]}
    assert counts["wallet-core-follow-ticker-a"] == 0 and counts["wallet-core-follow-ticker-b"] == len(body["lines"])
    # since/until pick a window; text is labelled with container and host.
    until = lines[20]["ts"]
    response = http.get(
        f"{API}/logs",
        params={"env": "follow", "containers": "wallet-core-follow-ticker-a", "until": until, "format": "txt"},
    )
    text_lines = response.text.splitlines()
    assert response.headers["content-type"].startswith("text/plain")
    assert text_lines and all("[wallet-core-follow-ticker-a@" in row for row in text_lines)
    assert max(row.split()[0] for row in text_lines) <= until


def test_the_merged_view_follows_live_in_time_order(http, follow_env):
    with _follow(http, "logs", env="follow", role="ticker", tail="4") as response:
        seen = EventReader(response).messages(4 + 17)
    # The 4 lines of backlog are merged by merged_read; what follows is the live merge under test.
    live = seen[4:]
    assert len(live) >= 16
    assert {e.data["container"] for e in live} == {"wallet-core-follow-ticker-a", "wallet-core-follow-ticker-b"}
    assert [e.id for e in live] == sorted(e.id for e in live)
    assert live[0].id > seen[3].id  # and after the backlog, none repeated


def test_follow_is_documented_as_an_event_stream_in_the_openapi_schema(admin_client):
    paths = yaml.safe_load(admin_client.get("/api/schema/").content)["paths"]
    for path in ("/api/v1/admin/ops/containers/{name}/logs", "/api/v1/admin/ops/logs"):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert "text/event-stream" in content and "application/json" in content
        assert "follow" in {p["name"] for p in paths[path]["get"]["parameters"]}
        assert "429" in paths[path]["get"]["responses"]


def test_the_portal_streams_need_a_staff_login_and_refuse_foreign_containers(client, django_user_model, follow_env):
    stream = "/admin/ops/containers/unrelated-database/logs/stream/?env=staging"
    assert client.get(stream).status_code == 302  # to the login page
    django_user_model.objects.create_user("looker", password="pw", is_staff=True)
    client.login(username="looker", password="pw")
    response = client.get(stream)
    assert (response.status_code, response.json()["code"]) == (404, "container_not_found")
    response = client.get("/admin/ops/logs/stream/?env=staging&containers=unrelated-database")
    assert response.status_code == 404
    response = client.get("/admin/ops/logs/?env=follow&role=ticker&format=text&tail=4")
    assert response["Content-Disposition"] == 'attachment; filename="follow-ticker.log"'
    assert len(response.content.decode().splitlines()) == 4


@pytest.mark.parametrize(
    "last_event_id",
    ["9999-12-31T23:59:59.999999999Z", "9999-12-31T23:30:00.000000000-01:00", "0001-01-01T00:00:00+01:00", "garbage"],
)
def test_a_bad_last_event_id_is_refused_with_400_before_any_stream_starts(client, follow_env, token_for, last_event_id):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_for('read')}", "HTTP_LAST_EVENT_ID": last_event_id}
    response = client.get(f"{API}/containers/wallet-core-follow-ticker-a/logs?follow=true&env=follow", **auth)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_param"), response
    response = client.get(
        "/admin/ops/logs/stream/", {"env": "follow", "role": "ticker", "last_event_id": last_event_id}
    )
    assert response.status_code in (302, 400)  # anonymous: to the login page, never a stream
    assert logs.streams_open() == 0


def test_a_bad_last_event_id_on_the_portal_stream_is_a_400(client, django_user_model, follow_env):
    django_user_model.objects.create_user("looker", password="pw", is_staff=True)
    client.login(username="looker", password="pw")
    url = "/admin/ops/logs/stream/?env=follow&role=ticker&last_event_id=9999-12-31T23:59:59.999999999Z"
    response = client.get(url)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_param")
    assert logs.streams_open() == 0


def test_head_answers_at_once_and_holds_no_stream_slot(client, django_user_model, follow_env, token_for):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_for('read')}"}
    response = client.head(f"{API}/containers/wallet-core-follow-ticker-a/logs?follow=true&env=follow", **auth)
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    assert not response.streaming and logs.streams_open() == 0  # not closed yet, and still no slot taken
    django_user_model.objects.create_user("looker", password="pw", is_staff=True)
    client.login(username="looker", password="pw")
    response = client.head("/admin/ops/logs/stream/?env=follow&role=ticker")
    assert response.status_code == 200 and not response.streaming and logs.streams_open() == 0
    response = client.post("/admin/ops/logs/stream/?env=follow&role=ticker")
    assert response.status_code in (403, 405) and logs.streams_open() == 0  # CSRF or not allowed: never a stream
    response = client.put("/admin/ops/containers/wallet-core-follow-ticker-a/logs/stream/?env=follow")
    assert response.status_code == 405 and logs.streams_open() == 0


class _StuckFollow:
    """A follow whose close blocks, as urllib3 closing an ssh:// engine's pipe under a blocked reader."""

    url = "ssh://stuck"

    def __init__(self):
        self.release = threading.Event()

    def close(self):
        self.release.wait(WAIT)  # the test lets it go at its end


def test_a_follow_that_blocks_on_close_still_gives_its_stream_slot_back_at_once(settings):
    assert logs.streams_open() == 0
    stream = logs.LogFollowStream([], tail=0, since=None, grep=None, after_ns=None, lease=logs.stream_lease(key="t"))
    stuck = _StuckFollow()
    stream.follows.append(stuck)
    closing = threading.Thread(target=stream.close, daemon=True)
    closing.start()
    try:
        # Given back while close is still stuck (for WAIT s, longer than this wait): the slot comes first.
        limit = time.monotonic() + WAIT / 2
        while logs.streams_open() and time.monotonic() < limit:
            time.sleep(0.05)
        assert logs.streams_open() == 0 and closing.is_alive()
    finally:
        stuck.release.set()
        closing.join(5)


class _FailingGrep:
    """A reader's unexpected failure (here in matching a line): any exception, not only the engine's."""

    def search(self, text):
        raise RuntimeError("matcher broke")


def test_a_reader_that_fails_unexpectedly_ends_its_container_with_an_event_naming_it(follow_env):
    [source] = logs.sources_find(env="follow", role="ticker", names=["wallet-core-follow-ticker-a"],
                                 include_accessories=False)  # fmt: skip
    stream = logs.LogFollowStream([source], tail=0, since=None, grep=_FailingGrep(), after_ns=None,
                                  lease=logs.stream_lease(key="t"))  # fmt: skip
    try:
        reader = threading.Thread(target=stream._read, args=(source, None), daemon=True)
        reader.start()
        reader.join(WAIT)
        kind, failed, detail = stream.queue.get(timeout=WAIT)
        assert (kind, failed) == ("error", source) and "RuntimeError: matcher broke" in detail
        [event] = list(stream._ended(source, kind, detail))
        data = json.loads(event.decode().split("data: ", 1)[1])
        assert data["container"] == "wallet-core-follow-ticker-a" and data["reason"] == "error"
        assert "matcher broke" in data["detail"] and "error" in stream._end().decode()
    finally:
        stream.close()


def test_an_open_api_stream_ends_when_its_token_is_revoked(live_server, follow_env, token):
    from opsportal.api.tokens import api_token_authenticate, api_token_revoke

    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=live_server.url, headers=headers, timeout=httpx.Timeout(WAIT)) as client,
        _follow(client, "containers/wallet-core-follow-ticker-a/logs", env="follow") as response,
    ):
        reader = EventReader(response)
        reader.until(lambda e: e.event == "message")
        api_token_revoke(token=api_token_authenticate(token))
        events = reader.until(lambda e: e.event == "end")
    assert events[-1].data == {"reason": "access_revoked", "detail": "the token was revoked or expired"}
    assert _drained()


def test_an_open_portal_stream_ends_when_its_user_is_no_longer_staff(client, django_user_model, follow_env):
    user = django_user_model.objects.create_user("looker", password="pw", is_staff=True)
    client.login(username="looker", password="pw")
    response = client.get("/admin/ops/containers/wallet-core-follow-ticker-a/logs/stream/?env=follow")
    assert response.status_code == 200
    try:
        chunks = iter(response.streaming_content)
        next(chunks)  # the stream has begun
        django_user_model.objects.filter(pk=user.pk).update(is_staff=False)
        limit, body = time.monotonic() + WAIT, b""
        while b"event: end" not in body and time.monotonic() < limit:
            body += next(chunks)
    finally:
        response.close()
    assert b'"reason":"access_revoked"' in body and b"no longer staff" in body


def test_a_persons_tokens_and_portal_session_share_one_stream_cap(http, live_server, follow_env, django_user_model):
    from opsportal.api.tokens import api_token_create

    follow_env.WALLETOPS_LOG_STREAMS_PER_USER = 1
    owner = django_user_model.objects.create_superuser("owner", password="pw")
    tokens = [api_token_create(name=f"t{n}", scopes=["read"], owner=owner).secret for n in (1, 2)]
    path = f"{API}/containers/wallet-core-follow-ticker-a/logs?follow=true&env=follow"
    with (
        httpx.Client(base_url=live_server.url, timeout=httpx.Timeout(WAIT)) as client,
        client.stream("GET", path, headers={"Authorization": f"Bearer {tokens[0]}"}) as first,
    ):
        # Held to the end of the block: a reader dropped closes its connection (httpcore closes the stream
        # of a generator that is let go), the portal notices at its next write and frees the slot, and on a
        # busy machine that came before the second request: 200 where the cap says 429.
        first_reader = EventReader(first)
        first_reader.until(lambda e: e.event == "message")
        with client.stream("GET", path, headers={"Authorization": f"Bearer {tokens[1]}"}) as second:
            assert second.status_code == 429  # (read only when refused: a stream would never end)
            assert second.read() and second.json()["code"] == "too_many_streams"
        portal = httpx.Client(base_url=live_server.url, timeout=httpx.Timeout(WAIT))
        with portal:
            login = portal.get("/admin/login/")
            csrf = portal.cookies["csrftoken"]
            portal.post("/admin/login/", data={"username": "owner", "password": "pw", "csrfmiddlewaretoken": csrf},
                        headers={"Referer": f"{live_server.url}/admin/login/"})  # fmt: skip
            assert login.status_code == 200 and "sessionid" in portal.cookies
            with portal.stream(
                "GET", "/admin/ops/containers/wallet-core-follow-ticker-a/logs/stream/?env=follow"
            ) as third:
                assert third.status_code == 429
                assert third.read() and third.json()["code"] == "too_many_streams"
    assert _drained()


def test_more_containers_than_are_read_at_once_is_a_400_not_a_404(http, follow_env, monkeypatch):
    monkeypatch.setattr(logs, "MAX_SOURCES", 1)  # two tickers match: as 33 containers would against 32
    for params in ({"env": "follow", "role": "ticker"}, {"env": "follow", "role": "ticker", "follow": "true"}):
        response = http.get(f"{API}/logs", params=params)
        assert (response.status_code, response.json()["code"]) == (400, "invalid_param"), response.text
        assert "at most 1 are read at once" in response.json()["detail"]
    assert logs.streams_open() == 0


def test_same_named_containers_on_two_hosts_get_their_own_colour_and_labels(client, django_user_model, follow_env,
                                                                            tickers):  # fmt: skip
    import re

    for client_ in tickers.values():  # Kamal names a role's container alike on every host
        _run(client_, "wallet-core-follow-twin-1", ["/bin/sh", "-c", "echo hello; exec sleep 100000"],
             labels={"service": "wallet-core-follow", "role": "twin"}, hostname="twin")  # fmt: skip
    try:
        django_user_model.objects.create_user("looker", password="pw", is_staff=True)
        client.login(username="looker", password="pw")
        page = client.get("/admin/ops/logs/?env=follow&role=twin").content.decode()
        rows = re.findall(r'<tr data-container="wallet-core-follow-twin-1" data-host="([^"]+)" data-src="(\d)">', page)
        assert len(rows) == 2 and len({src for _, src in rows}) == 2, rows
        lines = re.findall(r'ops-src-(\d)" data-id="[^"]+" data-container="[^"]+" data-host="([^"]+)">', page)
        assert {(host, src) for src, host in lines} == set(rows)
    finally:
        for client_ in tickers.values():
            client_.containers.get("wallet-core-follow-twin-1").remove(force=True)


def test_a_merged_read_keeps_one_byte_budget_across_all_its_containers(follow_env):
    follow_env.WALLETOPS_LOGS_MAX_BYTES = 1024 + 600  # a few ~140-byte lines: less than both tickers wrote
    sources = logs.sources_find(env="follow", role="ticker", names=None, include_accessories=False)
    lines, reads = logs.merged_read(sources, tail=5000, since=None, until=None, grep=None)
    held = sum(read.bytes for read in reads.values())
    assert len(sources) == 2 and 400 < held <= 600  # not 600 for each container
    assert all(read.bytes for read in reads.values())  # both busy: each keeps its newest lines
    newest_kept = max(line.ns for read in reads.values() for line in read.kept)
    assert lines and lines[-1].ns == newest_kept


def test_the_live_queue_is_capped_in_bytes_so_a_slow_client_makes_readers_wait(monkeypatch, follow_env):
    monkeypatch.setattr(logs, "QUEUE_BYTES", 64 * 1024)
    [source] = logs.sources_find(env="follow", role="ticker", names=["wallet-core-follow-ticker-a"],
                                 include_accessories=False)  # fmt: skip
    stream = logs.LogFollowStream([source], tail=0, since=None, grep=None, after_ns=None,
                                  lease=logs.stream_lease(key="t"))  # fmt: skip
    long_line = logs.Line(ns=1, text="x" * 16 * 1024, cut=False, source=source)
    writer = threading.Thread(target=lambda: [stream._put(("line", source, long_line)) for _ in range(10)], daemon=True)

    def queued_then_stuck() -> int:
        """The queue's length once the writer has put what fits and still waits (it would end in a
        moment, ten lines put, were nothing capped)."""
        limit = time.monotonic() + WAIT
        while stream.queue.qsize() < 3 and time.monotonic() < limit:
            time.sleep(0.05)
        writer.join(1)
        assert writer.is_alive(), f"the writer put all ten lines: {stream.queue.qsize()} queued"
        return stream.queue.qsize()

    try:
        writer.start()
        assert queued_then_stuck() == 3  # 64 KiB: three 16 KiB lines and their labels
        stream._taken([stream.queue.get()])
        assert queued_then_stuck() == 3  # room made, one more line in
    finally:
        stream.close()
        writer.join(2)


def _portal_session(live_server, django_user_model, username: str) -> httpx.Client:
    django_user_model.objects.create_user(username, password="pw", is_staff=True)
    portal = httpx.Client(base_url=live_server.url, timeout=httpx.Timeout(WAIT))
    portal.get("/admin/login/")
    portal.post("/admin/login/", data={"username": username, "password": "pw",
                                       "csrfmiddlewaretoken": portal.cookies["csrftoken"]},
                headers={"Referer": f"{live_server.url}/admin/login/"})  # fmt: skip
    assert "sessionid" in portal.cookies
    return portal


QUIET = "/admin/ops/containers/wallet-core-follow-colour-1/logs/stream/?env=follow"  # one line, then nothing


def test_a_page_reloaded_five_times_at_once_is_never_refused_by_its_own_closed_streams(
    live_server, follow_env, django_user_model
):
    """Reload = the page's stream dropped and a new one opened, with the page's id (logs.js keeps it across a
    reload). The closed stream would be noticed only at its next write: a quiet container's next heartbeat,
    30 s here. Five reloads back to back under a cap of 4: each new stream takes its page's previous slot."""
    assert _drained()
    follow_env.WALLETOPS_LOG_STREAMS_PER_USER = 4
    follow_env.WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS = 30
    with closing(_portal_session(live_server, django_user_model, "reloader")) as portal:
        statuses = []
        started = time.monotonic()
        for _ in range(5):
            with portal.stream("GET", f"{QUIET}&page_id=tab-1") as response:  # closed at the block's end
                statuses.append(response.status_code)
                if response.status_code == 200:
                    next(response.iter_lines())  # the stream has started: its slot is taken
        took = time.monotonic() - started
        assert statuses == [200] * 5, statuses
        assert logs.streams_open() == 1  # the last one's, until it is noticed gone
        print(f"five reloads in {took:.2f} s")
        # Another page of the same person is a stream of its own: three more fit beside it, not four.
        with ExitStack() as others:
            for n in range(3):
                response = others.enter_context(portal.stream("GET", f"{QUIET}&page_id=tab-{n + 2}"))
                assert response.status_code == 200
                next(response.iter_lines())
            with portal.stream("GET", f"{QUIET}&page_id=tab-9") as refused:
                assert refused.status_code == 429


def test_a_pages_new_stream_ends_the_one_it_replaced_at_its_next_heartbeat(live_server, follow_env, django_user_model):
    with closing(_portal_session(live_server, django_user_model, "two-tabs")) as portal:
        with portal.stream("GET", f"{QUIET}&page_id=tab-1") as first:
            reader = EventReader(first)
            reader.next()
            with portal.stream("GET", f"{QUIET}&page_id=tab-1") as second:
                assert second.status_code == 200
                next(second.iter_lines())
                # The first learns at its next heartbeat (1 s here) that its slot went to the second.
                events = reader.until(lambda e: e.event == "end")
            assert events[-1].data["reason"] == "replaced"
        with portal.stream("GET", f"{QUIET}&page_id=no%20spaces") as bad:
            assert (bad.status_code, json.loads(bad.read())["code"]) == (400, "invalid_param")
