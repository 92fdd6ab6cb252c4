"""A local ICS feed server that serves good feeds and misbehaves on purpose, on loopback.

Used by the tests (each failure kind from a real server), the benchmarks and
``make run``'s demo. Paths:

    /ok/<name>.ics?events=N[&delay=S]  a valid calendar of N events (default 40)
    /slow/<name>.ics?delay=S           answers after S seconds
    /drip/<name>.ics?delay=S           sends headers, then the body one line per S seconds
    /status/<code>/<name>              that HTTP status
    /429/<name>?retry-after=V          429 with a Retry-After header (seconds or HTTP date)
    /empty/<name>                      200, empty body
    /html/<name>                       200, an HTML error page
    /garbage/<name>                    200, text that is not iCalendar
    /huge/<name>?mb=N                  200, N MiB of calendar (streamed)
    /drop/<name>                       promises 100 kB, sends a few bytes, closes
    /demo/<full_id>.ics                the demo mix: mostly good, some of each failure, by name
    /_peaks, /_reset                   the peak of concurrent requests per Host (JSON); clear the counters
    /_requests                         how many times each path was requested (JSON)

    python -m scripts.servers.feeds --port 8001    # serve until interrupted
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CRLF = "\r\n"


def _fold(line: str) -> str:
    """RFC 5545 folding at 75 octets (continuation lines start with a space)."""
    out, current = [], ""
    for char in line:
        if len((current + char).encode("utf-8")) > 75:
            out.append(current)
            current = " " + char
        else:
            current += char
    out.append(current)
    return CRLF.join(out)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def ics_calendar(name: str, events: int, *, start: datetime | None = None) -> str:
    """A deterministic calendar shaped like a university ADE export."""
    start = start or datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    lines = [
        "BEGIN:VCALENDAR",
        "METHOD:REQUEST",
        "PRODID:-//opsportal//demo feeds//FR",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
    ]
    seed = zlib.crc32(name.encode())
    for index in range(events):
        begin = start + timedelta(hours=2 * (index % 5), days=index // 5)
        end = begin + timedelta(hours=1, minutes=30)
        room = f"Bâtiment {chr(65 + (seed + index) % 6)}, salle {100 + (seed + index) % 40}"
        description = f"\nGroupe {name[-12:]}\nEnseignant {index % 17}\n(Exporté le:01/09/2026 08:00)\n"
        lines += [
            "BEGIN:VEVENT",
            f"DTSTAMP:{start:%Y%m%dT%H%M%SZ}",
            f"DTSTART:{begin:%Y%m%dT%H%M%SZ}",
            f"DTEND:{end:%Y%m%dT%H%M%SZ}",
            _fold(f"SUMMARY:{_escape(f'Cours {index % 23} - module {(seed + index) % 9}')}"),
            _fold(f"LOCATION:{_escape(room)}"),
            _fold(f"DESCRIPTION:{_escape(description)}"),
            f"UID:ADE{seed:x}{index:06d}",
            "CREATED:19700101T000000Z",
            f"LAST-MODIFIED:{start:%Y%m%dT%H%M%SZ}",
            "SEQUENCE:1",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return CRLF.join(lines) + CRLF


# The demo mix, by share of plannings (the rest are good feeds).
DEMO_MIX = [("status/404", 4), ("slow", 3), ("html", 3), ("garbage", 2), ("status/500", 3), ("empty", 1)]


def demo_behaviour(full_id: str) -> str:
    bucket = zlib.crc32(full_id.encode()) % 100
    for behaviour, share in DEMO_MIX:
        if bucket < share:
            return behaviour
        bucket -= share
    return "ok"


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address=("127.0.0.1", 0)):
        super().__init__(address, FeedHandler)
        self.lock = threading.Lock()
        self.requests: Counter = Counter()
        self.in_flight: Counter = Counter()
        self.max_in_flight_per_path: Counter = Counter()
        self.max_in_flight = 0
        # Per Host header (a URL host): the peak a polite fleet of workers must keep under its limit.
        self.in_flight_per_host: Counter = Counter()
        self.max_in_flight_per_host: Counter = Counter()
        # Requests are counted per generation, so requests still hanging from before a
        # reset (a timeout test's slow feed) do not count in the next test's figures.
        self.generation = 0
        self._in_flight_by_generation: Counter = Counter()
        self.cache: dict[tuple[str, int], bytes] = {}

    def handle_error(self, request, client_address):
        # Clients that time out or stop reading are what some tests are about: not errors.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FeedServer:
        threading.Thread(target=self.serve_forever, name="feed-server", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self.requests.clear()
            self.max_in_flight_per_path.clear()
            self.max_in_flight = 0
            self.max_in_flight_per_host.clear()

    def calendar(self, name: str, events: int) -> bytes:
        key = (name, events)
        if key not in self.cache:
            self.cache[key] = ics_calendar(name, events).encode("utf-8")
        return self.cache[key]


class FeedHandler(BaseHTTPRequestHandler):
    server: FeedServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format, *args):  # quiet: tests and demos read the counters instead
        pass

    def _release(self) -> None:
        """The request stops counting as in flight once the answer starts (clients may finish first)."""
        if getattr(self, "_counted", False):
            self._counted = False
            with self.server.lock:
                self.server.in_flight[self._path] -= 1
                self.server._in_flight_by_generation[self._generation] -= 1
                self.server.in_flight_per_host[self._generation, self._host] -= 1

    def _send(self, status: int, body: bytes = b"", content_type="text/calendar; charset=utf-8", **headers):
        self._release()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = urlsplit(self.path)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        host = urlsplit(f"//{self.headers.get('Host', '')}").hostname or ""
        with self.server.lock:
            self.server.requests[path] += 1
            self._path, self._generation, self._counted, self._host = path, self.server.generation, True, host
            self.server.in_flight_per_host[self._generation, host] += 1
            self.server.max_in_flight_per_host[host] = max(
                self.server.max_in_flight_per_host[host], self.server.in_flight_per_host[self._generation, host]
            )
            self.server.in_flight[path] += 1
            self.server._in_flight_by_generation[self._generation] += 1
            self.server.max_in_flight_per_path[path] = max(
                self.server.max_in_flight_per_path[path], self.server.in_flight[path]
            )
            self.server.max_in_flight = max(
                self.server.max_in_flight, self.server._in_flight_by_generation[self._generation]
            )
        try:
            self._route(path, query)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer
        finally:
            self._release()

    def _route(self, path: str, query: dict) -> None:
        segments = path.strip("/").split("/")
        kind, name = segments[0], segments[-1]
        if kind == "_peaks":  # for a benchmark running the server in its own process
            with self.server.lock:
                peaks = dict(self.server.max_in_flight_per_host)
            self._send(200, json.dumps(peaks).encode(), content_type="application/json")
            return
        if kind == "_requests":  # per path: a test running the server in its own process counts re-fetches
            with self.server.lock:
                requests = dict(self.server.requests)
            self._send(200, json.dumps(requests).encode(), content_type="application/json")
            return
        if kind == "_reset":
            self.server.reset()
            self._send(204)
            return
        if kind == "demo":
            behaviour = demo_behaviour(name.removesuffix(".ics"))
            kind = behaviour.split("/")[0]
            segments = [*behaviour.split("/"), name]
            if kind == "slow":
                query.setdefault("delay", "30")  # well past any sane feed timeout
        delay = float(query.get("delay", "0"))
        if kind == "ok":
            if delay:
                time.sleep(delay)
            self._send(200, self.server.calendar(name, int(query.get("events", "40"))))
        elif kind == "slow":
            time.sleep(delay)
            self._send(200, self.server.calendar(name, 5))
        elif kind == "drip":
            body = self.server.calendar(name, 20)
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for line in body.splitlines(keepends=True):
                self.wfile.write(line)
                self.wfile.flush()
                time.sleep(delay)
        elif kind == "status":
            self._send(int(segments[1]), b"error", content_type="text/plain")
        elif kind == "429":
            self._send(429, b"slow down", content_type="text/plain", Retry_After=query.get("retry-after", "120"))
        elif kind == "empty":
            self._send(200, b"")
        elif kind == "html":
            page = b"<!DOCTYPE html><html><body><h1>500 Internal Server Error</h1></body></html>"
            self._send(200, page, content_type="text/html")
        elif kind == "garbage":
            self._send(200, b"this is not a calendar\x00\x01 at all", content_type="text/plain")
        elif kind == "bad-date":  # a calendar whose parse error quotes a NUL back (icalendar names the value)
            event = b"BEGIN:VEVENT\r\nUID:x\r\nDTSTART:2024\x00bad\r\nDTEND:20240101T100000Z\r\nEND:VEVENT\r\n"
            self._send(200, b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + event + b"END:VCALENDAR\r\n")
        elif kind == "huge":
            size = int(float(query.get("mb", "25")) * 1024 * 1024)
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()  # no Content-Length: the client must count as it reads
            self.close_connection = True
            chunk = b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"x" * 8000 + b"\r\n"
            sent = 0
            while sent < size:
                self.wfile.write(chunk)
                sent += len(chunk)
        elif kind == "drop":
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"BEGIN:VCALENDAR\r\n")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
        else:
            self._send(404, b"no such feed", content_type="text/plain")


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve demo and test ICS feeds on loopback.")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--bind", default="127.0.0.1", help="a loopback address (127.0.0.2 … stand for more hosts)")
    args = parser.parse_args()
    server = FeedServer((args.bind, args.port))
    print(f"feed server on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
