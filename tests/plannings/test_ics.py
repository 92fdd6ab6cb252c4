"""Differential tests: the lean iCalendar reader gives exactly the reference parser's events."""

import re
from zoneinfo import ZoneInfo

import pytest

from plannings import ics
from scripts.servers.feeds import ics_calendar

PARIS = ZoneInfo("Europe/Paris")

VTIMEZONE_PARIS = [
    "BEGIN:VTIMEZONE", "TZID:Europe/Paris",
    "BEGIN:STANDARD", "DTSTART:19701025T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD",
    "BEGIN:DAYLIGHT", "DTSTART:19700329T020000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT", "END:VTIMEZONE",
]  # fmt: skip


def _calendar(*event_lines: list[str], header: list[str] = (), newline: str = "\r\n") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *header]
    for event in event_lines:
        lines += ["BEGIN:VEVENT", *event, "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return newline.join(lines) + newline


UTC_EVENT = ["UID:u1", "DTSTART:20260310T080000Z", "DTEND:20260310T093000Z", "SUMMARY:Cours"]

# (name, calendar text, the lean reader handles it itself)
CORPUS = [
    ("ade 0 events", ics_calendar("ade0", 0), True),
    ("ade 1 event", ics_calendar("ade1", 1), True),
    ("ade 40 events", ics_calendar("ade40", 40), True),
    ("ade 400 events", ics_calendar("ade400", 400), True),
    ("lf line endings", ics_calendar("lf", 12).replace("\r\n", "\n"), True),
    ("tab folding", _calendar([*UTC_EVENT[:3], "SUMMARY:Long sum", "\tmary folded with a tab",
                               "DESCRIPTION:Long descr", "\tiption"]), True),
    ("escapes", _calendar([*UTC_EVENT[:3], "SUMMARY:a\\, b\\; c\\n d\\N e\\: f\\x g",
                           "LOCATION:Salle \\\\ 12\\\\n", "DESCRIPTION:x\\\\\\ny"]), True),
    ("tzid with vtimezone", _calendar(["UID:tz", "DTSTART;TZID=Europe/Paris:20260710T100000",
                                       "DTEND;TZID=Europe/Paris:20260710T120000"], header=VTIMEZONE_PARIS), True),
    ("tzid without vtimezone", _calendar(["UID:tz", "DTSTART;TZID=America/New_York:20260115T100000",
                                          "DTEND;TZID=America/New_York:20260115T110000"]), True),
    ("dst change day", _calendar(["UID:dst", "DTSTART;TZID=Europe/Paris:20260329T013000",
                                  "DTEND;TZID=Europe/Paris:20260329T033000"], header=VTIMEZONE_PARIS), True),
    ("floating times", _calendar(["UID:f", "DTSTART:20260115T080000", "DTEND:20260115T090000"]), True),
    ("all-day, no end", _calendar(["UID:d", "DTSTART;VALUE=DATE:20260116", "SUMMARY:All day"]), True),
    ("all-day with end", _calendar(["UID:d", "DTSTART;VALUE=DATE:20260116", "DTEND;VALUE=DATE:20260118"]), True),
    ("no end", _calendar(["UID:n", "DTSTART:20260117T080000Z"]), True),
    ("no start is skipped", _calendar(["UID:skip", "SUMMARY:nowhere"], UTC_EVENT), True),
    ("parameters on text", _calendar([*UTC_EVENT[:3], "SUMMARY;LANGUAGE=fr:Réunion",
                                      "LOCATION;ALTREP=cid:room1:Amphi A"]), True),
    ("nested alarm", _calendar([*UTC_EVENT, "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:alarm text",
                                "TRIGGER:-PT15M", "END:VALARM", "LOCATION:B12"]), True),
    ("lower-case property names", _calendar(["uid:lc", "dtstart:20260310T080000Z", "summary:lower"]), True),
    ("unicode", _calendar([*UTC_EVENT[:3], "SUMMARY:Cours d'été 🎓 中文", "LOCATION:Bâtiment « B »"]), True),
    ("empty values", _calendar([*UTC_EVENT[:3], "SUMMARY:", "LOCATION:", "DESCRIPTION:"]), True),
    ("milliseconds never appear", _calendar(["UID:s", "DTSTART:20261231T235959Z", "DTEND:20270101T000000Z"]), True),
    # UTC times are read from their digits, other times through datetimes: every pairing.
    ("utc start, tzid end", _calendar(["UID:m", "DTSTART:20260310T080000Z",
                                       "DTEND;TZID=Europe/Paris:20260310T100000"]), True),
    ("tzid start, utc end", _calendar(["UID:m", "DTSTART;TZID=America/New_York:20260310T080000",
                                       "DTEND:20260310T200000Z"]), True),
    ("leap day", _calendar(["UID:l", "DTSTART:20280229T235959Z", "DTEND:20280301T000000Z"]), True),
    ("fold inside a date", _calendar(["UID:f", "DTSTART:2026031", " 0T080000Z", "DTEND:20260310T0", "\t90000Z"]), True),
    ("a lf line among crlf", _calendar([*UTC_EVENT[:3], "SUMMARY:one\n two"]).replace("UID:u1\r\n", "UID:u1\n"), True),
    # Outside the lean subset: handed to the reference parser.
    ("duration", _calendar(["UID:du", "DTSTART:20260115T080000Z", "DURATION:PT1H30M"]), False),
    ("quoted tzid", _calendar(['UID:q', 'DTSTART;TZID="Europe/Paris":20260115T080000']), False),
    ("custom tz name", _calendar(["UID:c", "DTSTART;TZID=Romance Standard Time:20260115T080000"], header=[
        "BEGIN:VTIMEZONE", "TZID:Romance Standard Time", "BEGIN:STANDARD", "DTSTART:16010101T030000",
        "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "END:STANDARD", "END:VTIMEZONE"]), False),
]  # fmt: skip


def _without_generated_uids(events: list[dict], source: str) -> list[dict]:
    # A missing UID becomes a random UUID on both sides; compare everything else.
    return [{**e, "uid": "generated"} if f"UID:{e['uid']}" not in source.upper() and len(e["uid"]) == 36 else e
            for e in events]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "lean"), CORPUS, ids=[case[0] for case in CORPUS])
def test_the_lean_reader_equals_the_reference(name, text, lean):
    reference = ics.parse_events_reference(text, PARIS)
    if lean:
        assert ics.parse_events_lean(text, PARIS) == reference
    else:
        with pytest.raises(ics.NeedsReference):
            ics.parse_events_lean(text, PARIS)
    assert ics.parse_events(text, PARIS) == reference


def test_a_missing_uid_becomes_a_random_uuid_on_both_paths():
    text = _calendar(["DTSTART:20260310T080000Z", "SUMMARY:no uid"])
    lean, reference = ics.parse_events_lean(text, PARIS), ics.parse_events_reference(text, PARIS)
    assert len(lean[0]["uid"]) == len(reference[0]["uid"]) == 36
    assert {**lean[0], "uid": ""} == {**reference[0], "uid": ""}


@pytest.mark.parametrize(
    "value", ["20261315T080000Z", "2026031T080000Z", "20260310T250000Z", "20260115T080000+0100", "garbage"]
)
def test_a_malformed_date_is_left_to_the_reference_which_rejects_it(value):
    text = _calendar(["UID:bad", f"DTSTART:{value}"])
    with pytest.raises(ics.NeedsReference):
        ics.parse_events_lean(text, PARIS)
    with pytest.raises((ValueError, KeyError, TypeError, AttributeError)):
        ics.parse_events(text, PARIS)


@pytest.mark.parametrize("value", ["20260231T080000Z", "20260310T080060Z", "00000310T080000Z", "20260310T080000z"])
@pytest.mark.parametrize("field", ["DTSTART", "DTEND"])
def test_a_malformed_utc_time_beside_a_good_one_is_left_to_the_reference(field, value):
    good = {"DTSTART": "20260310T080000Z", "DTEND": "20260310T090000Z"}
    text = _calendar(["UID:bad", *(f"{name}:{value if name == field else good[name]}" for name in good)])
    with pytest.raises(ics.NeedsReference):
        ics.parse_events_lean(text, PARIS)


def test_non_ascii_digits_in_a_utc_time_read_as_the_reference_reads_them():
    text = _calendar(["UID:d", "DTSTART:2026031\u0663T080000Z", "DTEND:20260313T090000Z"])
    assert ics.parse_events_lean(text, PARIS)[0]["startDate"] == "2026-03-13T08:00:00.000Z"
    assert ics.parse_events_lean(text, PARIS) == ics.parse_events_reference(text, PARIS)


@pytest.mark.parametrize(
    ("text", "unfolded"),
    [
        ("A\r\n B\r\n\tC\n D\nE", "ABCD\nE"),
        ("A\r\n\r\n \tB", "A\r\n\tB"),  # one pass: a fold's removal does not make another
        ("A\r\r\n B", "A\rB"),  # only the CR right before the LF
        ("no folds\r\n", "no folds\r\n"),
        (" \n  \n", "  \n"),
    ],
)
def test_unfolding_removes_each_newline_and_blank_once(text, unfolded):
    assert ics._unfold(text) == unfolded
    assert ics._unfold(text) == re.sub(r"\r?\n[ \t]", "", text)  # the RFC 5545 rule as one regex


def test_text_on_the_begin_line_is_read_as_a_line():
    text = _calendar(UTC_EVENT).replace("BEGIN:VEVENT\r\n", "BEGIN:VEVENTLOCATION:x\r\n")
    assert ics.parse_events_lean(text, PARIS)[0]["location"] == "x"
    text = _calendar(UTC_EVENT).replace("BEGIN:VEVENT\r\nUID:u1", "BEGIN:VEVENTUID:u1")
    assert ics.parse_events_lean(text, PARIS)[0]["uid"] == "u1"


@pytest.mark.parametrize("marker", ["begin:vevent", "Begin:VEvent", "\u0000BEGIN:VEVENT"])
def test_a_vevent_marker_not_in_capitals_at_a_line_start_is_left_to_the_reference(marker):
    text = _calendar(UTC_EVENT, UTC_EVENT).replace("BEGIN:VEVENT", marker, 1)
    with pytest.raises(ics.NeedsReference):
        ics.parse_events_lean(text, PARIS)


def test_random_text_escapes_agree():
    import random

    pieces = ["a", " ", "\\", "n", "N", ",", ";", ":", "é", "\\n", "\\,", "\\;", "\\\\", "\\:", "x", "\t"]
    rng = random.Random(7)
    for _ in range(500):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        text = _calendar(["UID:r", "DTSTART:20260101T100000Z", f"SUMMARY:{value}", f"DESCRIPTION:{value}"])
        assert ics.parse_events_lean(text, PARIS) == ics.parse_events_reference(text, PARIS), repr(value)
