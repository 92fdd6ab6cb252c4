"""Validation of the wallet ops API's query and body parameters (400 ``invalid_param`` naming it); the generic
fields and ``validated`` are the kit's (``opsportal.api.params``)."""

from __future__ import annotations

import re

import re2
from django.conf import settings
from rest_framework import serializers

from opsportal.api.errors import InvalidParam
from opsportal.api.params import FlagField, MomentField, validated  # noqa: F401  (this app's queries use them)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
MAX_TAIL = 5000
GREP_MAX_LENGTH = 200
GREP_MAX_REPEAT = 100  # the largest n of a counted repetition {n}, {n,}, {n,m}
GREP_MAX_PROGRAM = 4000  # RE2's compiled program, in instructions
GREP_SYNTAX = (
    "A plain text is a case-sensitive substring match. Written /…/ it is a regular expression in RE2 syntax "
    "(https://github.com/google/re2/wiki/Syntax), matched in time linear in the line's length: Perl-like classes, "
    "(?i) and the like, but no backreferences and no lookahead or lookbehind (400). "
    f"At most {GREP_MAX_LENGTH} characters, counted repetitions up to {{{GREP_MAX_REPEAT}}} and not nested in another "
    f"counted repetition, and at most {GREP_MAX_PROGRAM} RE2 instructions compiled (400 otherwise: what one line "
    "can cost). Lines are searched as shown (ANSI escapes stripped, cut at 16 KiB); a search that spends "
    "WALLETOPS_LOGS_GREP_MAX_MS or WALLETOPS_LOGS_GREP_MAX_CHARS stops and the answer says so in cut_short."
)
_COUNTED = re.compile(r"\{(\d+)(?:,(\d*))?\}")


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.UTF8  # patterns and lines are text: a class or . matches a character
    options.max_mem = 8 << 20  # the compiled program and its DFA cache; past it RE2 runs its NFA (still linear)
    options.log_errors = False  # a bad pattern is the client's 400, not a line on the server's stderr
    return options


RE2_OPTIONS = _re2_options()


class GrepTooCostly(ValueError):
    """Valid RE2, but past a bound that keeps one line's search cheap."""


def grep_pattern(source: str):
    """``source`` compiled by RE2, or ``ValueError`` with RE2's own message, or saying which bound it passes.

    Never Python's ``re``: google-re2 has no fallback (a backreference or a lookaround is an error, not a
    slow path), and no flags are passed (inline ``(?i)`` is RE2's). Compiled outside ``re2.compile``'s
    module-wide cache of 128 patterns, so a request's pattern and its DFA memory go with the request.

    RE2 is linear in the line's length, but its factor is the pattern's: when a pattern's DFA outgrows
    its memory (``[\\s\\S]{1000}0{1000}1``), RE2 falls back to a matcher whose cost a character is the
    program's size, 250 ms for a 16 KiB line. The bounds here (counted repetitions, their nesting, the
    program's size) keep one line to tens of milliseconds, so the per-request budget can stop between lines.
    """
    try:
        pattern = re2._Regexp(source, RE2_OPTIONS)
    except re2.error as exc:
        message = exc.args[0] if exc.args else "invalid"
        raise ValueError(message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)) from None
    except UnicodeEncodeError:
        raise ValueError("not valid UTF-8 text") from None
    counted_repetitions_check(source)
    if pattern.programsize > GREP_MAX_PROGRAM:
        raise GrepTooCostly(
            f"compiles to {pattern.programsize} RE2 instructions, over {GREP_MAX_PROGRAM}: a line would cost too "
            "much to search (fewer or smaller repetitions, or narrower classes than . or \\pL)"
        )
    return pattern


def counted_repetitions_check(source: str) -> None:
    """``GrepTooCostly`` for a counted repetition over ``GREP_MAX_REPEAT`` or one inside another.

    A small scanner of RE2's syntax, run after RE2 accepted the pattern: it skips escapes (with
    ``\\x{…}`` and ``\\p{…}``), ``\\Q…\\E`` and classes, and keeps, for each open group, whether a counted
    repetition is inside it, so ``(a{10}){10}`` (what RE2 expands to 100 copies) is seen.
    """
    groups = [False]  # for each open group: does it hold a counted repetition?
    last_group_counted = False  # the atom just before: a group holding one
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        atom_is_group = False
        if char == "\\":
            if source.startswith("Q", i + 1):
                end = source.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            if i + 2 < n and source[i + 1] in "xpP" and source[i + 2] == "{":
                end = source.find("}", i + 2)
                i = n if end < 0 else end + 1
                continue
            i += 2
        elif char == "[":
            i += 1
            if source.startswith("^", i):
                i += 1
            if source.startswith("]", i):  # a ] first in a class is itself
                i += 1
            while i < n and source[i] != "]":
                i += 2 if source[i] == "\\" else 1
            i += 1
        elif char == "(":
            groups.append(False)
            i += 1
        elif char == ")" and len(groups) > 1:
            inner = groups.pop()
            groups[-1] = groups[-1] or inner
            atom_is_group, last_group_counted = True, inner
            i += 1
        elif char == "{" and (counted := _COUNTED.match(source, i)):
            largest = max(int(counted.group(1)), int(counted.group(2) or 0))
            if largest > GREP_MAX_REPEAT:
                raise GrepTooCostly(
                    f"the counted repetition {counted.group(0)} is over {{{GREP_MAX_REPEAT}}}: a line would cost too "
                    "much to search"
                )
            if last_group_counted:
                raise GrepTooCostly(
                    f"the counted repetition {counted.group(0)} repeats a group that holds one: nested counted "
                    "repetitions multiply (use one)"
                )
            groups[-1] = True
            i = counted.end()
        else:
            i += 1
        if not atom_is_group:
            last_group_counted = False


class EnvField(serializers.Field):
    def to_internal_value(self, data):
        if data not in settings.WALLETOPS_ENVS:
            raise serializers.ValidationError(f"unknown env {data!r}; one of {settings.WALLETOPS_ENVS}")
        return data


class ContainersQuery(serializers.Serializer):
    env = EnvField(required=False)
    include_accessories = FlagField(required=False, default=False)
    include_stats = FlagField(required=False, default=False)

    def envs(self) -> list[str]:
        env = self.validated_data.get("env")
        return [env] if env else list(settings.WALLETOPS_ENVS)


class LogsQuery(ContainersQuery):
    # DRF's own ``?format=`` picks the renderer but ignores an empty value; an empty or unknown one is 400 here.
    format = serializers.ChoiceField(choices=["json", "txt"], required=False)
    tail = serializers.IntegerField(required=False, default=100, min_value=0, max_value=MAX_TAIL)
    since = MomentField(required=False)
    until = MomentField(required=False)
    grep = serializers.CharField(
        required=False, max_length=GREP_MAX_LENGTH, trim_whitespace=False, help_text=GREP_SYNTAX
    )
    timestamps = FlagField(required=False, default=True)

    def validate_grep(self, value: str):
        """A substring (``str``), or ``/…/``: a compiled RE2 pattern (only its ``search`` is used)."""
        if len(value) >= 2 and value.startswith("/") and value.endswith("/"):
            try:
                return grep_pattern(value[1:-1])
            except GrepTooCostly as exc:
                raise serializers.ValidationError(f"refused, too costly to search: {exc}") from None
            except ValueError as exc:
                raise serializers.ValidationError(f"not a valid RE2 regular expression: {exc}") from None
        return value

    follow = FlagField(
        required=False,
        default=False,
        help_text="true: a text/event-stream of the last `tail` lines, then each line as it is written",
    )

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since > until:
            raise serializers.ValidationError({"since": "is after until"})
        if attrs.get("follow") and until:
            raise serializers.ValidationError({"until": "a live follow has no end time: leave until out"})
        if attrs.get("follow") and attrs.get("format") == "txt":
            raise serializers.ValidationError({"format": "a live follow is text/event-stream: leave format out"})
        return attrs


class MergedLogsQuery(LogsQuery):
    """Several containers of one env at once: a role's, or a chosen set (``containers=a,b``)."""

    role = serializers.CharField(required=False, max_length=100, help_text="every container of this role")
    containers = serializers.CharField(
        required=False, max_length=4000, help_text="comma-separated container names (with or instead of role)"
    )

    def validate_containers(self, value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        for name in names:
            if not NAME.match(name):
                raise serializers.ValidationError(f"{name!r}: a container name is letters, digits, '_', '.', '-'")
        if not names:
            raise serializers.ValidationError("no container name")
        return names

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if not attrs.get("env"):
            if len(settings.WALLETOPS_ENVS) != 1:
                raise serializers.ValidationError({"env": f"required: one of {settings.WALLETOPS_ENVS}"})
            attrs["env"] = settings.WALLETOPS_ENVS[0]
        if not attrs.get("role") and not attrs.get("containers"):
            raise serializers.ValidationError({"role": "give a role, or containers=a,b"})
        return attrs


def logs_options(query: dict) -> dict:
    """A validated ``LogsQuery``'s keyword arguments for ``containers.container_logs`` (the API and the portal page)."""
    return {
        "tail": query["tail"],
        "since": query.get("since"),
        "until": query.get("until"),
        "grep": query.get("grep"),
        "timestamps": query["timestamps"],
    }


class RestartBody(serializers.Serializer):
    timeout = serializers.IntegerField(required=False, default=10, min_value=0, max_value=300)


def last_event_id(request) -> str | None:
    """Where a live follow resumes: the ``Last-Event-ID`` header (an EventSource reconnecting), or
    ``?last_event_id=`` (a page opening a new stream after the line it shows last)."""
    return request.META.get("HTTP_LAST_EVENT_ID") or request.GET.get("last_event_id") or None


def container_name(name: str) -> str:
    if not NAME.match(name):
        raise InvalidParam("name", "a container name is letters, digits, '_', '.', '-' (no paths)")
    return name
