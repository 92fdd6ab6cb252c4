"""Where an alert channel's send may connect, for how long, and that it follows no redirect.

A channel's URL is typed by an Admin, and its receiver's answers come back as error texts shown to
Viewers, so a send must not become a way to reach or scan the portal's own network. The policy is
decided on the socket address actually being connected to (after every DNS lookup, whatever number
form the URL used), so neither a name that resolves differently between a check and the connection
(DNS rebinding) nor ``2130706433``, ``0``, ``0x7f.1`` or ``[::ffff:127.0.0.1]`` can pass it.

One mechanism covers every library a send uses (httpx for webhooks, ``requests`` and ``smtplib``
under Apprise, and whatever thread Apprise runs a plugin in): a Python audit hook sees each
``socket.connect`` / ``sendto`` / ``sendmsg`` before it happens and, inside :func:`send_guarded`,
refuses an address the policy refuses. The guard is a context variable, so it applies only to the
send that set it and to the threads Apprise starts for it (Apprise copies the context into them).

The same guard is the send's deadline: per-read timeouts let a receiver trickling a byte every few
seconds hold a send for minutes, so when the deadline passes every socket the send opened is shut
down, which ends any read or connect still waiting on it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

import requests

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# The IPv6 forms that carry an IPv4 address the packets end up at: mapped (::ffff:a.b.c.d), and the
# NAT64 well-known prefix a gateway translates to that IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class EgressRefused(OSError):
    """A connection the egress policy refused; an OSError so every library reports it as a failed connect."""


def address_refusal(address: str, *, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why a send may not connect to the IP ``address``, or None. Only a literal IP is judged: a name
    would be resolved again by the connect, after this check, so a name is refused."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the scope is no part
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip.version == network.version and ip in network for network in allowed):
        return None
    for kind, refused in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),  # what is left: shared address space (100.64/10) and the like
    ):
        if refused:
            return f"{ip} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
    return None


@dataclass(eq=False)
class SendGuard:
    """One send's view of the policy: what it refused, whether its deadline passed, the sockets it opened."""

    allowed: tuple[IPNetwork, ...]
    deadline_seconds: float
    refused: str | None = None
    expired: bool = False
    redirect_status: int | None = None
    _closed: bool = False
    _sockets: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, sock: socket.socket, address, *, connecting: bool) -> None:
        """Called before ``sock`` connects (or sends a datagram) to ``address``: raise to refuse."""
        with self._lock:
            if self.expired or self._closed:
                # A plugin thread still running past its send (Apprise can abandon one) opens nothing more.
                raise EgressRefused("the send is over (done, or past its deadline)")
            if not isinstance(address, tuple) or sock.family not in (socket.AF_INET, socket.AF_INET6):
                reason = "a local (non-IP) socket"
            else:
                reason = address_refusal(str(address[0]), allowed=self.allowed)
            if reason is not None:
                self.refused = self.refused or reason
                raise EgressRefused(f"refused by the egress policy: {reason}")
            if connecting:
                # A duplicate of the socket, not the socket: TLS wraps it into a new object and detaches
                # the first, and the duplicate keeps the connection itself reachable for the deadline.
                # (fromfd, not sock.dup(): an SSLSocket connected after wrapping refuses dup().)
                self._sockets.append(socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto))

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut_down()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._shut_down()
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def _shut_down(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):  # already closed by its library, or never connected
                sock.shutdown(socket.SHUT_RDWR)

    def outcome(self) -> str | None:
        """What the policy itself did to this send, if anything: it explains the send's error best."""
        if self.refused:
            return f"refused by the egress policy: {self.refused}"
        if self.expired:
            return f"timed out: not done within the {self.deadline_seconds:g} s deadline for the whole send"
        if self.redirect_status:
            return f"HTTP {self.redirect_status}: redirect not followed"
        return None


_current: ContextVar[SendGuard | None] = ContextVar("opsportal_alerts_send_guard", default=None)
_GUARDED_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})


def _audit(event: str, args: tuple) -> None:
    # Runs for every audited event of the process: the first test must stay this cheap.
    if event not in _GUARDED_EVENTS:
        return
    guard = _current.get()
    if guard is None:
        return
    sock, address = args[0], args[1]
    if event == "socket.sendmsg" and address is None:
        return  # on a connected socket, whose connect was checked
    guard.check(sock, address, connecting=event == "socket.connect")


_get_redirect_target = requests.Session.get_redirect_target


def _redirect_target_unless_guarded(self: requests.Session, resp: requests.Response) -> str | None:
    """Apprise's plugins call ``requests.post`` with its default of following redirects: inside a send,
    a redirect is answered as the 3xx it is."""
    target = _get_redirect_target(self, resp)
    guard = _current.get()
    if target and guard is not None:
        guard.redirect_status = resp.status_code
        return None
    return target


_installed = threading.Lock()
_hooked = False


def _install() -> None:
    """Once per process: an audit hook cannot be removed, so it is added once and does nothing unguarded."""
    global _hooked
    with _installed:
        if not _hooked:
            sys.addaudithook(_audit)
            requests.Session.get_redirect_target = _redirect_target_unless_guarded
            _hooked = True


@contextlib.contextmanager
def send_guarded(*, allowed: Iterable[IPNetwork], deadline_seconds: float) -> Iterator[SendGuard]:
    """Within the block (and the threads Apprise starts from it), connections obey the policy and
    every socket is shut down once ``deadline_seconds`` have passed."""
    _install()
    guard = SendGuard(allowed=tuple(allowed), deadline_seconds=deadline_seconds)
    token = _current.set(guard)
    timer = threading.Timer(deadline_seconds, guard.expire)
    timer.daemon = True
    timer.start()
    try:
        yield guard
    finally:
        timer.cancel()
        _current.reset(token)
        guard.close()
