"""One date format everywhere: relative, with the exact UTC time on hover (``time_html`` and ``|ago``)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import time_machine
from django.template import Context, Template

from opsportal.lib.timefmt import time_html, time_parse, time_relative

NOW = datetime(2026, 12, 1, 5, 43, 0, tzinfo=UTC)


def test_a_time_is_relative_with_the_exact_utc_time_on_hover():
    html = time_html(datetime(2026, 12, 1, 5, 40, tzinfo=UTC), NOW)
    assert html == '<time datetime="2026-12-01T05:40:00Z" title="2026-12-01 05:40:00 UTC">3 min ago</time>'


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=3), "just now"),
        (timedelta(seconds=42), "42 s ago"),
        (timedelta(minutes=59, seconds=59), "59 min ago"),
        (timedelta(hours=5), "5 h ago"),
        (timedelta(hours=47), "47 h ago"),
        (timedelta(days=12, hours=3), "12 d ago"),
        (-timedelta(minutes=3), "in 3 min"),
        (-timedelta(hours=24), "in 24 h"),
    ],
)
def test_the_relative_part_picks_one_unit(delta, text):
    assert time_relative(NOW - delta, NOW) == text


def test_other_zones_and_naive_times_are_shown_in_utc():
    paris = datetime(2026, 12, 1, 6, 40, tzinfo=timezone(timedelta(hours=1)))
    assert 'datetime="2026-12-01T05:40:00Z"' in time_html(paris, NOW)
    assert 'title="2026-12-01 05:40:00 UTC"' in time_html(datetime(2026, 12, 1, 5, 40), NOW)


@pytest.mark.parametrize(
    "text", ["2026-12-01T05:40:00Z", "2026-12-01T05:40:00.123456789Z", "2026-12-01T06:40:00.5+01:00"]
)
def test_iso_strings_from_the_apis_and_docker_are_read(text):
    assert time_parse(text).replace(microsecond=0) == datetime(2026, 12, 1, 5, 40, tzinfo=UTC)
    assert time_html(text, NOW).startswith('<time datetime="2026-12-01T05:40:00Z" title="2026-12-01 05:40:00 UTC">')


def test_no_time_is_a_dash_and_an_unreadable_one_is_shown_as_it_is():
    assert time_html(None, NOW) == time_html("", NOW) == "—"
    assert time_html("yesterday-ish", NOW) == "yesterday-ish"


def test_the_ago_filter_renders_the_helper_and_escapes_what_it_cannot_read():
    template = Template("{% load opstime %}{{ when|ago }} {{ odd|ago }}")
    with time_machine.travel(NOW, tick=False):
        html = template.render(Context({"when": NOW - timedelta(minutes=3), "odd": "<b>"}))
    assert html == ('<time datetime="2026-12-01T05:40:00Z" title="2026-12-01 05:40:00 UTC">3 min ago</time> &lt;b&gt;')
