"""A feed server that costs the bench little CPU: pre-built answers from one asyncio process.

The throughput bench's drains and PostgreSQL share two cores with whatever serves the feeds.
``scripts.servers.feeds`` (a thread per connection, headers parsed by ``http.server``, every
request counted under a lock) costs about as much CPU per feed as the drain's own fetch, so
"two drains / one" measured the server as much as the drains. This one answers from a dict of
whole responses (status line, headers and body built once per feed) over keep-alive
connections, with no thread per connection:

    /ok/<name>.ics?events=N[&delay=S]   the same calendar as scripts.servers.feeds (S: asyncio sleep)
    /_peaks, /_reset                    the peak of concurrent requests per Host (JSON); clear it

    python -m bench.lean_feeds --port 8001 [--bind 127.0.0.1 --bind 127.0.0.2 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from scripts.servers.feeds import ics_calendar


def _response(status: str, body: bytes, content_type: str = "text/calendar; charset=utf-8") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("ascii") + body


class Feeds:
    """The answers, built once per (path, query), and the per-Host peaks of concurrent requests."""

    def __init__(self) -> None:
        self.answers: dict[bytes, tuple[bytes, float]] = {}
        self.in_flight: Counter = Counter()
        self.peaks: Counter = Counter()

    def answer(self, target: bytes) -> tuple[bytes, float]:
        cached = self.answers.get(target)
        if cached is not None:
            return cached
        parts = urlsplit(target.decode("latin-1"))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = parts.path.strip("/").split("/")
        if segments[0] == "ok":
            calendar = ics_calendar(segments[-1], int(query.get("events", "40"))).encode("utf-8")
            found = (_response("200 OK", calendar), float(query.get("delay", "0")))
            self.answers[target] = found
            return found
        return _response("404 Not Found", b"no such feed", "text/plain"), 0.0

    def control(self, target: bytes) -> bytes | None:
        if target.startswith(b"/_peaks"):
            return _response("200 OK", json.dumps(dict(self.peaks)).encode(), "application/json")
        if target.startswith(b"/_reset"):
            self.peaks.clear()
            return _response("204 No Content", b"")
        return None


class FeedProtocol(asyncio.Protocol):
    def __init__(self, feeds: Feeds) -> None:
        self.feeds = feeds
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            target = lines[0].split(b" ")[1]
            host = b""
            for line in lines[1:]:
                if line[:5].lower() == b"host:":
                    host = line[5:].strip().rsplit(b":", 1)[0]
            self._serve(target, host.decode("latin-1"))

    def _serve(self, target: bytes, host: str) -> None:
        control = self.feeds.control(target)
        if control is not None:
            self.transport.write(control)
            return
        response, delay = self.feeds.answer(target)
        feeds = self.feeds
        feeds.in_flight[host] += 1
        feeds.peaks[host] = max(feeds.peaks[host], feeds.in_flight[host])

        def send() -> None:
            feeds.in_flight[host] -= 1
            if not self.transport.is_closing():
                self.transport.write(response)

        if delay:
            asyncio.get_running_loop().call_later(delay, send)
        else:
            send()


async def serve(binds: list[str], port: int) -> None:
    feeds = Feeds()
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(lambda: FeedProtocol(feeds), bind, port) for bind in binds]
    print(f"lean feed server on {', '.join(f'{b}:{port}' for b in binds)}", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", action="append", help="a loopback address; repeat for more hosts")
    args = parser.parse_args()
    asyncio.run(serve(args.bind or ["127.0.0.1"], args.port))


if __name__ == "__main__":
    main()
