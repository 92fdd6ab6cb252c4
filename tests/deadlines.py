"""A test's deadline: fail instead of hanging, where what a test tells apart is seconds from minutes or hours."""

from __future__ import annotations

import signal
from contextlib import contextmanager


class TooSlow(Exception):
    pass


@contextmanager
def deadline(seconds: int):
    """Raise ``TooSlow`` in the main thread after ``seconds`` (SIGALRM: checked between Python bytecodes, so
    a scan of many lines, or Python's ``re`` backtracking, is interrupted; a C call that never returns is not)."""

    def expired(*_):
        raise TooSlow(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
