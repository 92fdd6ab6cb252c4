"""Logs under hostile input: regular expressions that backtrack, huge tails, times out of range.

A container of its own (env ``limits``, on the staging engine) writes what the tests need:
a line that makes a backtracking engine explode on ``(a+)+$``, 1,000 lines of 20,000 zeros
(``0+1`` is quadratic per line with Python's ``re``; 20 MB of log), a 20,000-byte line of
``é`` (Docker splits it into 16 KiB partial messages), and a line with JSON's awkward
characters.
"""

from __future__ import annotations

import json
import random
import socketserver
import struct
import threading
import time
import tracemalloc
from contextlib import suppress
from http import HTTPStatus

import pytest

from tests.deadlines import deadline
from tests.walletops.conftest import IMAGE, _run
from walletops import containers, fleet
from walletops.clients import docker as docker_client
from walletops.exceptions import DockerUnavailable
from walletops.web import params

URL = "/api/v1/admin/ops/containers"
PAGES = "/admin/ops/containers/"
NAME = "wallet-core-limits-noisy-v1"
ZERO_LINES = 1000
AWKWARD = 'q"\\ \t é \u2028 end'
NOISY_SCRIPT = (
    "printf 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\\n'; "
    "z=$(printf '%020000d' 0); i=0; while [ $i -lt " + str(ZERO_LINES) + ' ]; do echo "$z"; i=$((i+1)); done; '
    "e='\\303\\251\\303\\251\\303\\251\\303\\251\\303\\251\\303\\251\\303\\251\\303\\251\\303\\251\\303\\251'; "
    'e=$(printf "$e"); e="$e$e$e$e$e$e$e$e$e$e"; e="$e$e$e$e$e$e$e$e$e$e"; e="$e$e$e$e$e$e$e$e$e$e"; echo "$e"; '
    "printf 'q\"\\\\ \\t \\303\\251 \\342\\200\\250 end\\n'; "
    "echo done; exec sleep 100000"
)
TTY_NAME = "wallet-core-limits-tty-v1"
TTY_SCRIPT = "echo one; z=$(printf '%020000d' 0); echo \"$z\"; echo two; echo done; exec sleep 100000"

pytestmark = pytest.mark.django_db


@pytest.fixture
def looker(client, django_user_model):
    django_user_model.objects.create_user("looker", password="pw", is_staff=True)
    client.login(username="looker", password="pw")
    return client


@pytest.fixture(scope="module")
def noisy(fleet):
    import docker

    client = docker.DockerClient(base_url=fleet.staging_url, version="1.41")
    container = _run(client, NAME, ["/bin/sh", "-c", NOISY_SCRIPT],
                     labels={"service": "wallet-core-limits", "role": "noisy"}, hostname="limits")  # fmt: skip
    try:
        limit = time.monotonic() + 60
        while b"done" not in container.logs(tail=1) and time.monotonic() < limit:
            time.sleep(0.2)
        assert b"done" in container.logs(tail=1), container.logs(tail=5)[-300:]
        tty = client.containers.run(IMAGE, ["/bin/sh", "-c", TTY_SCRIPT], name=TTY_NAME, tty=True, detach=True,
                                    init=True, network_mode="host", hostname="limits-tty",
                                    labels={"service": "wallet-core-limits", "role": "tty"})  # fmt: skip
        while b"done" not in tty.logs(tail=1) and time.monotonic() < limit:
            time.sleep(0.2)
        yield container
    finally:
        for name in (NAME, TTY_NAME):
            with suppress(docker.errors.NotFound):
                client.containers.get(name).remove(force=True)
        client.close()


@pytest.fixture
def limits(settings, fleet_settings, noisy):
    settings.WALLETOPS_ENVS = [*settings.WALLETOPS_ENVS, "limits"]
    settings.WALLETOPS_DOCKER_HOSTS = {**settings.WALLETOPS_DOCKER_HOSTS, "limits": [fleet_settings.staging_url]}
    return settings


def _logs(client, *, accept: str = "application/json", **query):
    return client.get(f"{URL}/{NAME}/logs", {"env": "limits", **query}, HTTP_ACCEPT=accept)


def test_a_catastrophic_regex_answers_at_once(reader, limits):
    # With Python's re (before RE2), the first request ran for hours: 2^40 ways to split 40 a's.
    with deadline(20):  # what the test tells apart is hours from seconds: no stopwatch, a generous deadline
        explosive = _logs(reader, grep="/(a+)+$/", tail="5000")
        quadratic = _logs(reader, grep="/0+1/", tail="5000")  # 5,000 lines of 20,000 zeros: minutes with re
        found = _logs(reader, grep="/^a{40}!$/")
    assert (explosive.status_code, explosive.json()["lines"]) == (200, [])
    assert (quadratic.status_code, quadratic.json()["lines"]) == (200, [])
    assert [line["text"] for line in found.json()["lines"]] == ["a" * 40 + "!"]


def test_the_portal_page_greps_with_re2_too(looker, limits):
    with deadline(20):
        page = looker.get(f"{PAGES}{NAME}/logs/", {"env": "limits", "tail": "5000", "grep": "/(0+)+1/"})
    assert page.status_code == 200
    assert "0 lines" in page.content.decode()


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("/(a)\\1/", "invalid escape sequence: \\1"),  # backreference
        ("/a(?=b)/", "invalid perl operator: (?="),  # lookahead
        ("/(?<!a)b/", "invalid perl operator: (?<!"),  # lookbehind
        ("/\\pL{1000}\\pL{1000}/", "pattern too large - compile failed"),  # past max_mem
        ("/a{1001}/", "invalid repetition size: {1001}"),
    ],
)  # fmt: skip
def test_what_re2_cannot_run_is_400_naming_grep(reader, pattern, problem):
    response = reader.get(f"{URL}/{NAME}/logs", {"grep": pattern})
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert response.json() == {
        "code": "invalid_param", "detail": f"grep: not a valid RE2 regular expression: {problem}",
    }  # fmt: skip


def test_grep_is_re2_on_text_and_a_plain_grep_is_a_substring():
    regex = params.validated(params.LogsQuery, {"grep": "/^(é|\\.)+$/"}).validated_data["grep"]
    assert type(regex).__module__ == "re2"  # google-re2, never Python's re behind it
    assert regex.search("é.é") and not regex.search("e.é")  # é is one character, . a literal dot
    assert params.validated(params.LogsQuery, {"grep": "/(?i)ÉTÉ/"}).validated_data["grep"].search("été")
    assert params.validated(params.LogsQuery, {"grep": "(a+)+$"}).validated_data["grep"] == "(a+)+$"
    assert params.validated(params.LogsQuery, {"grep": "/"}).validated_data["grep"] == "/"
    assert params.RE2_OPTIONS.max_mem == 8 << 20 and not params.RE2_OPTIONS.log_errors


def test_the_grep_parameter_documents_its_syntax():
    from tests.opsportal.helpers import openapi_schema

    operation = openapi_schema()["paths"]["/api/v1/admin/ops/containers/{name}/logs"]["get"]
    grep = next(p for p in operation["parameters"] if p["name"] == "grep")
    assert "RE2 syntax" in grep["description"] and "substring" in grep["description"]
    assert "WALLETOPS_LOGS_MAX_BYTES" in json.dumps(openapi_schema()["components"]["schemas"]["Logs"])


def test_a_line_docker_split_in_16_kib_pieces_is_whole_again(reader, limits):
    # Before: the second piece's own time stamp sat in the middle of the line.
    body = _logs(reader, grep="/^é+$/").json()
    assert [line["text"] for line in body["lines"]] == ["é" * 10_000]


def test_a_big_tail_keeps_the_newest_lines_within_the_byte_cap(reader, limits):
    # 2,000 Docker messages of 16 KiB: 33 MB of JSON before the cap.
    assert limits.WALLETOPS_LOGS_MAX_BYTES == 2 * 1024 * 1024  # the default
    response = _logs(reader, tail="5000")
    body = response.json()
    assert len(response.content) <= 2 * 1024 * 1024
    assert body["truncated"] is True
    texts = [line["text"] for line in body["lines"]]
    assert texts[-3:] == ["é" * 10_000, AWKWARD, "done"]  # the newest lines, in order
    assert 100 < len(texts) < 200 and texts[0] == "0" * 16 * 1024  # the 20,000 zeros, cut at 16 KiB
    text = _logs(reader, tail="5000", accept="text/plain")
    assert text["Content-Type"].startswith("text/plain") and len(text.content) <= 2 * 1024 * 1024
    assert text.content.decode().endswith("done\n")
    assert text.content.decode().count("\n") == len(texts)


@pytest.mark.parametrize("timestamps", ["true", "false"])
def test_the_cap_is_exact_bytes_of_json(reader, limits, timestamps):
    query = {"grep": "/^(a|é|q|d)/", "timestamps": timestamps}  # the four short-ish lines, and the é one
    whole = _logs(reader, **query)
    assert whole.json()["truncated"] is False and len(whole.json()["lines"]) == 4
    limits.WALLETOPS_LOGS_MAX_BYTES = len(whole.content)
    assert _logs(reader, **query).content == whole.content  # exactly enough: everything
    limits.WALLETOPS_LOGS_MAX_BYTES = len(whole.content) - 1
    short = _logs(reader, **query)
    assert len(short.content) <= len(whole.content) - 1
    assert short.json()["truncated"] is True
    assert short.json()["lines"] == whole.json()["lines"][1:]  # the oldest line went


def test_a_container_with_a_tty_gives_the_same_lines(reader, limits):
    # No frames on a TTY's stream: lines are split on newlines, and the terminal's \r\n is one line end.
    lines = reader.get(f"{URL}/{TTY_NAME}/logs", {"env": "limits", "tail": "10"}).json()["lines"]
    texts = [line["text"] for line in lines]
    assert texts[0] == "one" and texts[1].startswith("0" * 16 * 1024) and texts[-2:] == ["two", "done"]
    assert all(line["ts"].endswith("Z") for line in lines)


def _frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


@pytest.mark.parametrize("piece", [1, 5, 8, 64 * 1024])
def test_the_stream_is_parsed_whatever_its_chunks(piece):
    t1, t2, t3 = (f"2026-12-01T03:02:3{i}.123456789Z ".encode() for i in range(3))
    multiplexed = (
        _frame(1, t1 + b"hello\n") + _frame(1, t2 + b"a" * 10) + _frame(2, t3 + b"err\n")
        + _frame(1, t2 + b"b" * 5 + b"\n") + _frame(1, t3 + b"x" * 40 + b"\n") + _frame(1, t3 + b"last, no newline")
    )  # fmt: skip
    raw = t1 + b"one\r\n" + t2 + b"y" * 40 + b"\n" + t3 + b"end"

    def lines(data: bytes) -> list[bytes]:
        return list(docker_client._log_lines(iter([data[i : i + piece] for i in range(0, len(data), piece)]), 20))

    assert lines(multiplexed) == [
        t1 + b"hello", t3 + b"err", t2 + b"a" * 10 + b"b" * 5,  # a partial message joined, without its second time
        t3 + b"x" * 20, t3 + b"last, no newline",  # a line keeps 20 bytes of text here
    ]  # fmt: skip
    assert lines(raw) == [t1 + b"one\r", t2 + b"y" * 20, t3 + b"end"]
    assert lines(b"") == []


def test_a_stalled_engine_is_503_after_the_timeout(settings):
    # The SDK's own log streaming turns the socket timeout off: a stalled engine would hold the worker forever.
    release = threading.Event()

    class Stalling(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(65536)
            frame = _frame(1, b"2026-12-01T03:02:34.123456789Z first\n")
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nTransfer-Encoding: chunked"
            self.request.sendall(head + b"\r\n\r\n" + b"%x\r\n" % len(frame) + frame + b"\r\n")  # then nothing
            release.wait(30)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Stalling)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.WALLETOPS_DOCKER_TIMEOUT = 1
    found = containers.Found(url=f"tcp://127.0.0.1:{server.server_address[1]}", id="0123456789ab", name="stalled",
                             membership=fleet.Membership(env="staging", role="web", accessory=False))  # fmt: skip
    try:  # the stalled engine holds its answer 30 s: the 20 s deadline tells the 1 s timeout apart
        with deadline(20), pytest.raises(DockerUnavailable, match="ConnectionError"):
            containers.container_logs(found, tail=10, since=None, until=None, grep=None)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        docker_client._clients.pop(found.url).close()


def test_a_line_the_client_cut_is_truncated_even_when_its_shown_text_is_short():
    stamp = b"2026-12-01T03:02:34.789457756Z "
    kept = stamp + b"\x1b[31m" * (containers.LINE_BYTES // 5) + b"\x1b[31"  # LINE_BYTES + 1 bytes of colour codes
    assert containers.collect_log_lines([kept], tail=5, grep=None, max_bytes=10**6)[1] is True
    whole = stamp + b"\x1b[31m" * (containers.LINE_BYTES // 5)
    assert containers.collect_log_lines([whole], tail=5, grep=None, max_bytes=10**6) == (
        [{"ts": "2026-12-01T03:02:34.789Z", "text": ""}], False, None,
    )  # fmt: skip


def test_the_byte_count_is_drfs_json_exactly():
    from rest_framework.renderers import JSONRenderer

    rng = random.Random(7)
    alphabet = [chr(c) for c in range(0x80)] + ["é", "€", "😀", "\u2028", "\u2029", "\x7f", "\ufffd"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        assert containers._json_size(text) == len(JSONRenderer().render(text)), repr(text)


def test_lines_are_streamed_not_read_whole(limits):
    # 20 MB of log through the endpoint's code: only what can still be returned is held.
    found = containers.container_find(name=NAME, envs=["limits"], include_accessories=False)
    tracemalloc.start()
    try:
        logs = containers.container_logs(found, tail=5000, since=None, until=None, grep=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert logs["lines"][-1]["text"] == "done"
    assert peak < 8 * 1024 * 1024, f"{peak / 1e6:.1f} MB"  # before: the 40 MB log, then its decoded copy


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"since": "999999d"}, "since"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"until": "0001-01-01T00:00:00+14:00"}, "until"),
        ({"since": "9999-12-31T23:59:59-14:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-14:00"}, "until"),
    ],
)  # fmt: skip
def test_times_out_of_range_are_400_not_500(reader, limits, query, param):
    response = _logs(reader, **query)
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert response.json() == {
        "code": "invalid_param", "detail": f"{param}: out of range: in UTC, a time must fall within years 1 to 9999",
    }  # fmt: skip


def test_the_extreme_times_that_exist_still_work(reader, limits):
    def texts(**query):
        response = _logs(reader, grep="done", **query)
        assert response.status_code == 200, response.content
        return [line["text"] for line in response.json()["lines"]]

    assert texts(since="0001-01-01T00:00:00Z", until="9999-12-31T23:59:59Z") == ["done"]
    assert texts(since="0001-01-01T00:00:00+00:00", until="9999-12-31T23:59:59+14:00") == ["done"]
    assert texts(since="1d") == ["done"]
    assert texts(until="1969-12-31T23:59:59Z") == []  # Docker would read a time before 1970 as "no limit"
    assert texts(since="9999-12-31T23:59:59Z") == []


def test_the_portal_page_says_which_time_is_out_of_range(looker, limits):
    page = looker.get(f"{PAGES}{NAME}/logs/", {"env": "limits", "since": "999999d"})
    assert page.status_code == HTTPStatus.BAD_REQUEST
    assert "since: out of range: in UTC, a time must fall within years 1 to 9999" in page.content.decode()
    page = looker.get(f"{PAGES}{NAME}/logs/", {"env": "limits", "tail": "5000"})
    assert page.status_code == 200 and "truncated (" in page.content.decode()
    assert len(page.content) < 4 * 1024 * 1024


def test_a_merged_line_names_its_engine_as_engine_and_keeps_host_for_one_release():
    """``host`` in /containers is the container's host name (the wallet ops contract); the logs put the
    Docker engine there. The engine is ``engine`` now; ``host`` stays, deprecated, with the same value."""
    from walletops import logs
    from walletops.containers import Found
    from walletops.fleet import Membership

    found = Found(url="tcp://10.0.0.9:2375", id="abc", name="wallet-core-staging-web-1",
                  membership=Membership(env="staging", role="web", accessory=False))  # fmt: skip
    line = logs.Line(ns=1_760_000_000_123_456_789, text="hello", cut=False, source=logs.source_of(found))
    data = logs.line_json(line)
    assert data["engine"] == data["host"] == "tcp://10.0.0.9:2375"
    encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")) + ","
    assert logs._line_bytes(line) == len(encoded.encode())  # the byte budget counts the new field too
