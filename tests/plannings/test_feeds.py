"""Fetching and parsing feeds: every failure kind from a real local server, and the parser's output."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from plannings import feeds, policy
from plannings.feeds import FeedFailure, FeedSettings
from scripts.servers.feeds import ics_calendar
from scripts.servers.postgres import free_port

PARIS = ZoneInfo("Europe/Paris")
CONFIG = FeedSettings(timeout=timedelta(seconds=1), max_bytes=1024 * 1024, verify_tls=True, zone=PARIS)


def _fetch(url: str, config: FeedSettings = CONFIG) -> bytes:
    with feeds.feed_client(config) as client:
        return feeds.feed_fetch(client, url, config=config)


def _failure(url: str, config: FeedSettings = CONFIG) -> FeedFailure:
    with pytest.raises(FeedFailure) as info:
        body = _fetch(url, config)
        feeds.feed_parse(body, zone=PARIS)
    return info.value


def test_a_good_feed_is_fetched_and_parsed(feed_host):
    body = _fetch(f"{feed_host.url}/ok/group-a.ics?events=3")
    events = feeds.feed_parse(body, zone=PARIS)
    assert len(events) == 3
    assert events[0]["summary"] == "Cours 0 - module " + events[0]["summary"].rsplit(" ", 1)[1]
    assert events[0]["startDate"] == "2026-09-01T08:00:00.000Z"
    assert events[0]["endDate"] == "2026-09-01T09:30:00.000Z"
    assert events[0]["location"].startswith("Bâtiment ")
    assert "(Exporté le:01/09/2026 08:00)" in events[0]["description"]


@pytest.mark.parametrize(
    ("path", "kind", "last_error"),
    [
        ("/status/404/x", policy.HTTP_4XX, "http_404"),
        ("/status/403/x", policy.HTTP_4XX, "http_403"),
        ("/status/500/x", policy.HTTP_5XX, "http_5xx"),
        ("/status/503/x", policy.HTTP_5XX, "http_5xx"),
        ("/429/x?retry-after=7", policy.HTTP_429, "http_429"),
        ("/slow/x.ics?delay=3", policy.TIMEOUT, "timeout"),
        ("/drip/x.ics?delay=0.2", policy.TIMEOUT, "timeout"),  # answers at once, but too slowly in all
        ("/empty/x", policy.INVALID_BODY, "invalid_body"),
        ("/html/x", policy.INVALID_BODY, "invalid_body"),
        ("/garbage/x", policy.PARSE_ERROR, "parse_error"),
        ("/huge/x?mb=3", policy.INVALID_BODY, "invalid_body"),  # over the 1 MiB limit of CONFIG
        ("/drop/x", policy.NETWORK_ERROR, "network_error"),  # the server dies mid-body
    ],
)
def test_each_failure_kind_comes_from_real_server_behaviour(feed_host, path, kind, last_error):
    failure = _failure(f"{feed_host.url}{path}")
    assert failure.kind == kind
    assert failure.last_error == last_error


def test_a_refused_connection_is_its_own_kind():
    failure = _failure(f"http://127.0.0.1:{free_port()}/feed.ics")
    assert failure.kind == policy.CONNECTION_REFUSED


def test_an_unresolvable_host_is_a_network_error():
    failure = _failure("http://no-such-host.invalid/feed.ics")
    assert failure.kind == policy.NETWORK_ERROR


def test_retry_after_is_read_in_seconds_and_as_an_http_date(feed_host):
    assert _failure(f"{feed_host.url}/429/x?retry-after=120").retry_after == timedelta(seconds=120)
    now = datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("UTC"))
    assert feeds.parse_retry_after("Tue, 10 Mar 2026 12:05:00 GMT", now=now) == timedelta(minutes=5)
    assert feeds.parse_retry_after("soon", now=now) is None
    assert feeds.parse_retry_after("Tue, 10 Mar 2026 11:00:00 GMT", now=now) == timedelta(0)


def test_a_retry_after_that_is_no_ascii_number_or_too_large_never_raises():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert feeds.parse_retry_after("²", now=now) is None  # a Unicode digit: isdigit() is true, int() refuses it
    assert feeds.parse_retry_after("9" * 400, now=now) == feeds.RETRY_AFTER_MAX
    assert feeds.parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=now) == feeds.RETRY_AFTER_MAX
    assert feeds.parse_retry_after("Tue, 10 Mar 2026 12:05:00 GMT", now=now) == timedelta(minutes=5)


def test_a_huge_body_is_refused_without_reading_it_all(feed_host):
    config = FeedSettings(timeout=timedelta(seconds=5), max_bytes=2 * 1024 * 1024, verify_tls=True, zone=PARIS)
    failure = _failure(f"{feed_host.url}/huge/x?mb=200", config)
    assert failure.kind == policy.INVALID_BODY
    assert "over" in failure.detail
    assert failure.status == 200  # the answer's status, for the attempt history


def test_a_fetch_answers_its_final_status_with_the_body(feed_host):
    response = feeds.feed_get(httpx.Client(), f"{feed_host.url}/ok/a.ics?events=2", config=CONFIG)
    assert response.status == 200 and response.body.startswith(b"BEGIN:VCALENDAR")


def test_date_templates_become_a_month_back_and_two_years_ahead():
    url = "https://ade.test/feed?first={date-start}&last={date-end}"
    assert feeds.feed_url(url, today=date(2026, 3, 31)) == "https://ade.test/feed?first=2026-02-28&last=2028-03-31"
    assert feeds.feed_url("https://x.test/a.ics", today=date(2026, 3, 31)) == "https://x.test/a.ics"


def test_the_parser_reads_tzid_floating_all_day_folded_and_escaped_values():
    body = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:test",
            "BEGIN:VTIMEZONE",
            "TZID:Europe/Paris",
            "BEGIN:STANDARD",
            "DTSTART:19701025T030000",
            "TZOFFSETFROM:+0200",
            "TZOFFSETTO:+0100",
            "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
            "END:STANDARD",
            "BEGIN:DAYLIGHT",
            "DTSTART:19700329T020000",
            "TZOFFSETFROM:+0100",
            "TZOFFSETTO:+0200",
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
            "END:DAYLIGHT",
            "END:VTIMEZONE",
            "BEGIN:VEVENT",
            "UID:tz",
            "DTSTART;TZID=Europe/Paris:20260710T100000",
            "DTEND;TZID=Europe/Paris:20260710T120000",
            "SUMMARY:Summer\\, in Paris",
            "LOCATION:Salle 1\\; étage 2",
            "DESCRIPTION:Line one\\nLine two that is long enough to be fol",
            " ded by the exporter",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:floating",
            "DTSTART:20260115T080000",
            "DURATION:PT1H",
            "SUMMARY:Floating",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:allday",
            "DTSTART;VALUE=DATE:20260116",
            "SUMMARY:All day",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "DTSTART:20260117T080000Z",
            "DTEND:20260117T090000Z",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    ).encode()
    events = {e["uid"]: e for e in feeds.feed_parse(body, zone=PARIS)}
    assert events["tz"]["startDate"] == "2026-07-10T08:00:00.000Z"  # CEST is UTC+2
    assert events["tz"]["summary"] == "Summer, in Paris"
    assert events["tz"]["location"] == "Salle 1; étage 2"
    assert events["tz"]["description"] == "Line one\nLine two that is long enough to be folded by the exporter"
    assert events["floating"]["startDate"] == "2026-01-15T07:00:00.000Z"  # Paris wall clock, CET
    assert events["floating"]["endDate"] == "2026-01-15T08:00:00.000Z"
    assert events["allday"]["startDate"] == "2026-01-15T23:00:00.000Z"
    assert events["allday"]["endDate"] == "2026-01-16T23:00:00.000Z"
    generated = [e for uid, e in events.items() if uid not in {"tz", "floating", "allday"}]
    assert len(generated) == 1 and len(generated[0]["uid"]) == 36  # a random UUID when UID is missing
    assert generated[0]["summary"] == "" and generated[0]["location"] == ""


def test_a_calendar_with_no_events_parses_to_an_empty_list():
    assert feeds.feed_parse(ics_calendar("none", 0).encode(), zone=PARIS) == []


@pytest.fixture(scope="module")
def tls_feed_server(tmp_path_factory):
    """The feed server behind TLS with a self-signed certificate (made by openssl for this run)."""
    import shutil
    import ssl
    import subprocess

    from scripts.servers.feeds import FeedServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = FeedServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.start()
    yield server.url.replace("http://", "https://")
    server.stop()


def test_tls_certificates_are_verified_by_default(tls_feed_server):
    failure = _failure(f"{tls_feed_server}/ok/tls.ics")
    assert failure.kind == policy.NETWORK_ERROR
    assert "CERTIFICATE_VERIFY_FAILED" in failure.detail


def test_tls_verification_can_be_turned_off(tls_feed_server):
    config = FeedSettings(timeout=timedelta(seconds=2), max_bytes=1024 * 1024, verify_tls=False, zone=PARIS)
    body = _fetch(f"{tls_feed_server}/ok/tls.ics?events=2", config)
    assert len(feeds.feed_parse(body, zone=PARIS)) == 2


def test_feed_settings_come_from_the_environment_settings(settings):
    settings.CURL_TIMEOUT, settings.PLANNINGS_FEED_VERIFY_TLS = 2500, False
    settings.PLANNINGS_FEED_MAX_BYTES, settings.PLANNINGS_FEED_TIMEZONE = 1000, "UTC"
    config = FeedSettings.from_settings()
    assert (config.timeout, config.verify_tls, config.max_bytes, str(config.zone)) == (
        timedelta(milliseconds=2500),
        False,
        1000,
        "UTC",
    )
