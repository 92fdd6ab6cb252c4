"""No grep can hold a worker: parse-time bounds, a budget per request (and per live batch), and a
client that went away stops the work.

An env of its own (``grepbudget``, on the staging engine) holds three containers:

- ``hostile`` writes ``found-me``, then 600 lines of 16 KiB of random ``0``/``1``: RE2's DFA gives
  up on ``[01]{100}0[01]{100}1[01]{100}2`` over such a line (each character is a new state) and its
  fallback costs tens of milliseconds a line, so searching them all takes well over ten seconds;
- ``mixed`` writes 4,000 short lines then three 16 KiB lines (the merged view's byte cap);
- ``chatty`` writes a short line every 0.1 s, for ever (live follow).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from rest_framework.test import APIRequestFactory

from opsportal.api.errors import InvalidParam
from tests.deadlines import deadline
from tests.walletops.conftest import _run
from walletops import containers, logs
from walletops.web import api, params

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/admin/ops/containers"
ENV = "grepbudget"
HOSTILE = "wallet-core-grepbudget-hostile-1"
MIXED = "wallet-core-grepbudget-mixed-1"
CHATTY = "wallet-core-grepbudget-chatty-1"
HOSTILE_LINES = 600
WIDTH = 16 * 1024
# Accepted at parse time (each count within {100}, none nested, a small program), yet slow on random 0/1.
SLOW = "/found-me|[01]{100}0[01]{100}1[01]{100}2/"
HOSTILE_SCRIPT = (
    "echo found-me; "
    f"l=$(awk 'BEGIN {{ srand(7); for (j = 0; j < {WIDTH}; j++) printf \"%d\", int(rand() * 2) }}'); "
    f'i=0; while [ $i -lt {HOSTILE_LINES} ]; do echo "$l"; i=$((i+1)); done; '
    "echo done; exec sleep 100000"
)
MIXED_SCRIPT = (
    'i=0; while [ $i -lt 4000 ]; do echo "short line $i"; i=$((i+1)); done; '
    f'z=$(printf \'%0{WIDTH}d\' 0); echo "$z"; echo "$z"; echo "$z"; '
    "echo done; exec sleep 100000"
)
CHATTY_SCRIPT = 'n=0; while true; do echo "tick $n"; n=$((n+1)); sleep 0.1; done'

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def written(fleet):
    import docker

    client = docker.DockerClient(base_url=fleet.staging_url, version="1.41")
    made = {}
    try:
        for name, script, role in ((HOSTILE, HOSTILE_SCRIPT, "hostile"), (MIXED, MIXED_SCRIPT, "mixed"),
                                   (CHATTY, CHATTY_SCRIPT, "chatty")):  # fmt: skip
            made[name] = _run(client, name, ["/bin/sh", "-c", script],
                              labels={"service": f"wallet-core-{ENV}", "role": role}, hostname=role)  # fmt: skip
        limit = time.monotonic() + 120
        for name in (HOSTILE, MIXED):
            while b"done" not in made[name].logs(tail=1) and time.monotonic() < limit:
                time.sleep(0.2)
            assert b"done" in made[name].logs(tail=1), made[name].logs(tail=2)[-300:]
        yield made
    finally:
        for name in made:
            with suppress(docker.errors.NotFound):
                client.containers.get(name).remove(force=True)
        client.close()


@pytest.fixture
def grep_env(settings, fleet_settings, written):
    settings.WALLETOPS_ENVS = [*settings.WALLETOPS_ENVS, ENV]
    settings.WALLETOPS_DOCKER_HOSTS = {**settings.WALLETOPS_DOCKER_HOSTS, ENV: [fleet_settings.staging_url]}
    return settings


def _logs(client, name: str, **query):
    return client.get(f"{URL}/{name}/logs", {"env": ENV, **query}, HTTP_ACCEPT="application/json")


# --- refused when parsed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("/[\\s\\S]{1000}0{1000}1/", "the counted repetition {1000} is over {100}"),  # the probe
        ("/.{1000}1/", "the counted repetition {1000} is over {100}"),
        ("/a{101}/", "the counted repetition {101} is over {100}"),
        ("/x{3,150}/", "the counted repetition {3,150} is over {100}"),
        ("/(a{10}){10}/", "the counted repetition {10} repeats a group that holds one"),
        ("/(?:(ab){5}c|d){3}/", "the counted repetition {3} repeats a group that holds one"),
        ("/\\pL{10}/", "compiles to 11964 RE2 instructions, over 4000"),
        ("/[\\s\\S]{100}1[\\s\\S]{100}1[\\s\\S]{100}1[\\s\\S]{100}1[\\s\\S]{100}1[\\s\\S]{100}1/",
         "compiles to 4210 RE2 instructions, over 4000"),
    ],
)  # fmt: skip
def test_what_no_budget_needs_to_meet_is_refused_when_parsed(reader, pattern, problem):
    with pytest.raises(InvalidParam) as refused:
        params.validated(params.LogsQuery, {"grep": pattern})
    assert str(refused.value.detail).startswith("grep: refused, too costly to search: ")
    assert problem in str(refused.value.detail), refused.value.detail
    # The API says so as 400 invalid_param, before any container is looked up.
    response = reader.get(f"{URL}/any-container/logs", {"grep": pattern})
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert response.json()["code"] == "invalid_param" and problem in response.json()["detail"]


def test_a_pattern_over_the_length_is_refused_when_parsed():
    with pytest.raises(InvalidParam, match="no more than 200 characters"):
        params.validated(params.LogsQuery, {"grep": "/" + "a|" * 100 + "b/"})  # 1,000 branches cannot fit


@pytest.mark.parametrize(
    "pattern",
    ["/a{100}/", "/(a{10})+b/", "/(a{3}|b)c{2}/", "/\\x{100}/", "/[{]{100}/", "/\\Q{1000}\\E/", "/(?i)[a-z]{100}Q/"],
)
def test_what_stays_within_the_bounds_is_accepted(pattern):
    assert params.validated(params.LogsQuery, {"grep": pattern}).validated_data["grep"].search is not None


# --- the budget of one request -------------------------------------------------------------------


def test_a_slow_pattern_over_the_api_answers_within_the_time_budget_marked_cut_short(reader, grep_env):
    # Before: every line was searched, well over ten seconds (19 minutes for the probe).
    assert grep_env.WALLETOPS_LOGS_GREP_MAX_MS == 500  # the default
    started = time.monotonic()
    with deadline(60):
        response = _logs(reader, HOSTILE, grep=SLOW, tail="1")
    elapsed = time.monotonic() - started
    assert response.status_code == HTTPStatus.OK, response.content
    body = response.json()
    assert [line["text"] for line in body["lines"]] == ["found-me"]  # what it had found
    assert body["truncated"] is True
    cut_short = body["cut_short"]
    assert cut_short["reason"] == "grep_time_budget"
    assert "WALLETOPS_LOGS_GREP_MAX_MS" in cut_short["detail"] and cut_short["searched_until"] in cut_short["detail"]
    assert elapsed < 5, elapsed  # the budget, one line, and reading from the engine


def test_the_byte_budget_stops_at_the_line_that_passes_it(reader, grep_env, written):
    grep_env.WALLETOPS_LOGS_GREP_MAX_CHARS = 100_000  # found-me and 6 lines of 16 KiB; the 7th passes it
    body = _logs(reader, HOSTILE, grep="found-me", tail="5").json()
    assert [line["text"] for line in body["lines"]] == ["found-me"]
    assert body["cut_short"]["reason"] == "grep_byte_budget"
    assert "WALLETOPS_LOGS_GREP_MAX_CHARS" in body["cut_short"]["detail"]
    stamps = written[HOSTILE].logs(timestamps=True, tail="all").split(b"\n")[:8]
    assert body["cut_short"]["searched_until"] == stamps[6].split(b" ")[0].decode()  # the 6th long line
    # Resumed from there, the search goes on; without grep nothing is budgeted.
    resumed = _logs(reader, HOSTILE, grep="done", since=body["cut_short"]["searched_until"], tail="5").json()
    assert resumed["cut_short"]["reason"] == "grep_byte_budget" and resumed["lines"] == []
    whole = _logs(reader, HOSTILE, tail="5").json()
    assert whole["cut_short"] is None and whole["lines"][-1]["text"] == "done"


def test_the_merged_view_and_the_portal_page_have_the_same_budget(reader, grep_env, client, django_user_model):
    with deadline(60):
        merged = reader.get(f"{URL.rsplit('/', 1)[0]}/logs", {"env": ENV, "containers": f"{HOSTILE},{MIXED}",
                                                              "grep": SLOW, "tail": "5"}).json()  # fmt: skip
        django_user_model.objects.create_user("looker", password="pw", is_staff=True)
        client.login(username="looker", password="pw")
        page = client.get(f"/admin/ops/containers/{HOSTILE}/logs/", {"env": ENV, "grep": SLOW, "tail": "5"})
    assert merged["cut_short"]["reason"] == "grep_time_budget" and merged["truncated"] is True
    assert "found-me" in [line["text"] for line in merged["lines"]]
    assert page.status_code == 200
    said = "search cut short: grep stopped after 500 ms of searching (WALLETOPS_LOGS_GREP_MAX_MS)"
    assert said in page.content.decode()


# --- a client that goes away -----------------------------------------------------------------------


def test_a_plain_request_stops_its_scan_when_the_client_hangs_up(grep_env, token_for):
    # gunicorn hands the app the client's socket; a real socket pair stands for the connection here.
    grep_env.WALLETOPS_LOGS_GREP_MAX_MS = 600_000  # only the hang-up can stop it
    server_side, client_side = socket.socketpair()
    request = APIRequestFactory().get(
        f"{URL}/{HOSTILE}/logs", {"env": ENV, "grep": SLOW, "tail": "1"},
        HTTP_AUTHORIZATION=f"Bearer {token_for('read')}",
    )  # fmt: skip
    request.META["gunicorn.socket"] = server_side
    client_side.close()
    started = time.monotonic()
    try:
        with deadline(60):
            response = api.ContainerLogsApi.as_view()(request, name=HOSTILE)
            response.render()
    finally:
        server_side.close()
    assert response.data["cut_short"]["reason"] == "client_gone"
    assert time.monotonic() - started < 5


def test_a_client_still_connected_is_not_taken_for_gone():
    from walletops.web import streams

    def gone_check(sock):
        request = APIRequestFactory().get("/")
        request.META["gunicorn.socket"] = sock
        return streams.client_gone_check(request)

    server_side, client_side = socket.socketpair()
    with server_side, client_side:
        gone = gone_check(server_side)
        assert gone() is False
        client_side.close()
        assert gone() is True
    server_side, client_side = socket.socketpair()
    with server_side, client_side:
        client_side.sendall(b"GET / HTTP/1.1\r\n")  # a pipelined next request: still there
        assert gone_check(server_side)() is False
    assert streams.client_gone_check(APIRequestFactory().get("/")) is None  # no socket given: never asked


# --- the merged view's byte cap holds its JSON --------------------------------------------------------


@pytest.mark.parametrize("tail", ["5000", "4002"])  # with the three 16 KiB lines among the newest, and with 2
def test_the_merged_view_stays_within_the_byte_cap(reader, grep_env, tail):
    # Before: 66,081 bytes under a cap of 65,536 (76,858 with 16 KiB lines among the newest).
    grep_env.WALLETOPS_LOGS_MAX_BYTES = 65_536
    response = reader.get(f"{URL.rsplit('/', 1)[0]}/logs", {"env": ENV, "containers": f"{MIXED},{CHATTY}",
                                                            "tail": tail})  # fmt: skip
    assert response.status_code == HTTPStatus.OK
    assert len(response.content) <= 65_536, len(response.content)
    body = response.json()
    assert body["truncated"] is True and len(response.content) > 65_536 - 17_000  # filled, not emptied
    assert sum(c["shown"] for c in body["containers"]) == len(body["lines"])


def test_the_merged_view_counts_each_line_as_its_json(grep_env):
    sources = logs.sources_find(env=ENV, role=None, names=[MIXED], include_accessories=False)
    lines, _ = logs.merged_read(sources, tail=10, since=None, until=None, grep=None)
    import json

    for line in lines:
        for timestamps in (True, False):
            encoded = json.dumps(logs.line_json(line, timestamps=timestamps), ensure_ascii=False,
                                 separators=(",", ":")).encode()  # fmt: skip
            assert logs._line_bytes(line, timestamps=timestamps) == len(encoded) + 1  # and its comma


# --- live follow -----------------------------------------------------------------------------------


def _stream(sources, *, grep, client_gone=None, tail=0) -> logs.LogFollowStream:
    return logs.LogFollowStream(sources, tail=tail, since=None, grep=grep, after_ns=None,
                                lease=logs.stream_lease(key="test:grep-budget"), client_gone=client_gone)  # fmt: skip


def test_each_live_batch_has_the_budget_and_says_what_it_did_not_search(grep_env):
    grep_env.WALLETOPS_LOGS_GREP_MAX_CHARS = 1  # any line passes it: every batch is cut short
    grep_env.WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS = 1
    sources = logs.sources_find(env=ENV, role=None, names=[CHATTY], include_accessories=False)
    stream = _stream(sources, grep=params.grep_pattern("tick"))
    seen = []
    try:
        with deadline(60):
            for event in stream:  # as gunicorn does: in this thread, then close()
                seen.append(event)
                if b"event: cut_short" in event and b'"backlog":false' in event:
                    break
            else:
                pytest.fail(f"the stream ended without a cut_short event: {seen}")
    finally:
        stream.close()
    assert b'"reason":"grep_byte_budget"' in event and b'"skipped":' in event
    assert b"WALLETOPS_LOGS_GREP_MAX_CHARS" in event
    assert not any(b"data: {" in e and b"cut_short" not in e for e in seen)  # no line was searched, none shown


def test_a_follow_whose_client_hangs_up_ends_and_stops_its_readers(grep_env):
    grep_env.WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS = 600  # not the heartbeat's failed write: the peek
    server_side, client_side = socket.socketpair()

    def gone() -> bool:
        try:
            return server_side.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False

    sources = logs.sources_find(env=ENV, role=None, names=[CHATTY], include_accessories=False)
    stream = _stream(sources, grep="tick", client_gone=gone, tail=1)
    try:
        with deadline(60):
            events = iter(stream)
            while b"data: {" not in next(events):  # the backlog's line
                pass
            while b"data: {" not in next(events):  # a live one
                pass
            assert stream.threads and all(thread.is_alive() for thread in stream.threads)  # following now
            client_side.close()
            hung_up = time.monotonic()
            for _ in events:  # what was ready, then the end
                pass
        assert time.monotonic() - hung_up < 5  # well before the 600 s heartbeat
        for thread in stream.threads:  # stopped by the stream itself, before the server closes it
            thread.join(timeout=15)
            assert not thread.is_alive(), thread.name
    finally:
        stream.close()
        server_side.close()


def test_collect_log_lines_stops_where_the_budget_runs_out_and_makes_room_for_saying_so():
    stamps = [f"2026-12-01T03:02:3{i}.123456789Z".encode() for i in range(6)]
    raw = [stamp + b" " + b"x" * 1000 + b" match" for stamp in stamps]
    budget = containers.GrepBudget(max_chars=3 * 1006, max_seconds=600)  # three lines, not four
    lines, truncated, searched_until = containers.collect_log_lines(
        iter(raw), tail=10, grep="match", max_bytes=10**6, budget=budget
    )
    assert len(lines) == 3 and truncated is False and budget.reason == "grep_byte_budget"
    assert searched_until == stamps[2].decode()
    one_line = containers.LINE_JSON_OVERHEAD[True] + 1008
    budget = containers.GrepBudget(max_chars=3 * 1006, max_seconds=600)
    lines, truncated, _ = containers.collect_log_lines(
        iter(raw), tail=10, grep="match", max_bytes=3 * one_line, budget=budget, cut_room=one_line
    )
    assert len(lines) == 2 and truncated is True  # the oldest made room for cut_short
    unbudgeted = containers.collect_log_lines(iter(raw), tail=10, grep="match", max_bytes=10**6)
    assert len(unbudgeted[0]) == 6 and unbudgeted[2] is None


class _PriorityProbe:
    """A grep that notes the CPU priority (nice) of each thread that searches with it, and finds nothing."""

    def __init__(self):
        self.nices: set[int] = set()

    def search(self, text):
        import os

        self.nices.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))


def test_searches_run_at_the_lowest_cpu_priority_and_the_request_thread_keeps_its_own(grep_env):
    import os

    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    found = containers.container_find(name=MIXED, envs=[ENV], include_accessories=False)
    single, merged = _PriorityProbe(), _PriorityProbe()
    containers.container_logs(found, tail=5, since=None, until=None, grep=single)
    logs.merged_logs(logs.sources_find(env=ENV, role=None, names=[MIXED, HOSTILE], include_accessories=False),
                     env=ENV, tail=5, since=None, until=None, grep=merged)  # fmt: skip
    assert single.nices == {containers.SCAN_NICE} and merged.nices == {containers.SCAN_NICE}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # the web thread is not lowered


class _OneThreadGunicorn:
    """The portal under gunicorn gthread with one worker of one thread: a request that keeps working after
    its client went would keep every next request waiting."""

    def __init__(self, env: dict[str, str]):
        from scripts.servers.postgres import free_port

        self.env, self.port = env, free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=180)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start(self) -> None:
        from scripts.servers.postgres import ServerUnavailable

        command = [sys.executable, "-m", "gunicorn", "opsportal.wsgi", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", "1", "--threads", "1", "--worker-class", "gthread", "--timeout", "600"]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        limit = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/up", timeout=2)
                return
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > limit:
                    raise ServerUnavailable("gunicorn did not answer within 60 s") from None
                time.sleep(0.2)


@pytest.fixture
def one_thread_gunicorn(fleet, written, tmp_path):
    from scripts.servers.process import process_stop
    from tests.conftest import _server_or_skip

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPS_", "WALLETOPS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="opsportal.settings", DJANGO_ENV="test", OPSPORTAL_VAR_DIR=str(tmp_path),
        CELERY_BROKER_URL=f"filesystem://{tmp_path}", DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        WALLETOPS_ENVS=ENV, WALLETOPS_DOCKER_HOSTS=f"{ENV}={fleet.staging_url}",
        WALLETOPS_LOGS_GREP_MAX_MS="600000",  # only the hang-up can stop the search
        WEB_THREADS="2", WALLETOPS_LOG_STREAMS_TOTAL="1",
    )  # fmt: skip
    server = _OneThreadGunicorn(env)
    server.manage("migrate", "--noinput")
    _server_or_skip(server.start)
    yield server
    process_stop(server.process, timeout=20)


def test_under_gunicorn_a_client_that_hangs_up_frees_the_thread_at_once(one_thread_gunicorn):
    # Before: the thread searched on (tens of seconds here, 19 minutes for the probe), and the
    # next request waited for it.
    secret = one_thread_gunicorn.manage("create_api_token", "--name", "prober", "--scopes", "read").strip()
    query = urlencode({"env": ENV, "grep": SLOW, "tail": "1"})
    with socket.create_connection(("127.0.0.1", one_thread_gunicorn.port), timeout=10) as probe:
        probe.sendall(f"GET {URL}/{HOSTILE}/logs?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Authorization: Bearer {secret}\r\nConnection: close\r\n\r\n".encode())  # fmt: skip
        probe.settimeout(1)
        with pytest.raises(TimeoutError):  # no answer yet: the search is under way
            probe.recv(1)
    hung_up = time.monotonic()
    up = httpx.get(f"{one_thread_gunicorn.url}/up", timeout=60)  # served by the one thread, once it is free
    assert up.status_code == HTTPStatus.OK
    assert time.monotonic() - hung_up < 8, time.monotonic() - hung_up
