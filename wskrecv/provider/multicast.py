"""Multicast groups and the receiving interface: `--join`, `--join-source`, `--iface`,
`--bind-dev`.

A `Membership` is checked when the options are read (`Membership.parse`: each group a
multicast address, each source a unicast one of a group's family, the interface one that
exists) and applied to a bound socket (`apply`): SO_BINDTODEVICE for --bind-dev (only
datagrams that arrive on that device), then one protocol-independent join per group
(MCAST_JOIN_GROUP, RFC 3678), or per group and source for source-specific multicast
(MCAST_JOIN_SOURCE_GROUP), on the interface --iface names (0: the one the routing table
picks). IPv4 groups join at the IP level, also on a dual-stack IPv6 socket; IPv6 groups
need an IPv6 socket. IP_MULTICAST_ALL (IPV6_MULTICAST_ALL) is turned off, so that the
socket hears its own groups only, not those other sockets of the host joined.

What the kernel refuses is one line naming the option: a group on an interface that
cannot join it (no multicast, down, no address of the family) is a usage error (exit 2),
a missing privilege an OS error (exit 1).
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any, Optional, Union

from wskrecv.errors import OsFailure, UsageError

# Linux values (RFC 3678's protocol-independent API; the socket module lacks them).
MCAST_JOIN_GROUP = 42
MCAST_JOIN_SOURCE_GROUP = 46
IP_MULTICAST_ALL = 49
IPV6_MULTICAST_ALL = 29
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
IFNAMSIZ = 16

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class _Storage(ctypes.Structure):
    """struct sockaddr_storage: 128 bytes, aligned like the C one."""

    _fields_ = [("data", ctypes.c_ubyte * 120), ("_align", ctypes.c_ulong)]


class _GroupReq(ctypes.Structure):
    _fields_ = [("interface", ctypes.c_uint32), ("group", _Storage)]


class _GroupSourceReq(ctypes.Structure):
    _fields_ = [("interface", ctypes.c_uint32), ("group", _Storage), ("source", _Storage)]


def _sockaddr(address: Address) -> _Storage:
    """`address` as a struct sockaddr_in / sockaddr_in6 (port 0) in a sockaddr_storage."""
    out = _Storage()
    raw = bytearray(ctypes.sizeof(_Storage))
    if address.version == 4:  # sin_family (host order), sin_port 0, sin_addr
        raw[0:2] = struct.pack("=H", socket.AF_INET)
        raw[4:8] = address.packed
    else:  # sin6_family, sin6_port 0, sin6_flowinfo 0, sin6_addr
        raw[0:2] = struct.pack("=H", socket.AF_INET6)
        raw[8:24] = address.packed
    ctypes.memmove(ctypes.addressof(out), bytes(raw), len(raw))
    return out


def interface_index(text: str) -> tuple[int, str]:
    """(index, name) of the interface named or numbered `text`; UsageError naming --iface
    when there is none."""
    text = text.strip()
    try:
        if text.isdigit():
            index = int(text)
            return index, socket.if_indextoname(index)
        return socket.if_nametoindex(text), text
    except (OSError, OverflowError, ValueError):
        names = ", ".join(name for _, name in socket.if_nameindex())
        raise UsageError(f"--iface {text}: no such interface (here: {names})") from None


def _address(text: str, option: str) -> Address:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"{option} {text}: not an IPv4 or IPv6 address") from None


@dataclass(frozen=True)
class Membership:
    """What the receive socket joins and where it listens: multicast `groups`, the
    `sources` of a source-specific join (each applies to every group of its family), the
    interface index of the joins (`ifindex`; without --iface the --bind-dev device, else 0:
    the route's), and the device the socket is bound to (`bind_dev`)."""

    groups: tuple[Address, ...] = ()
    sources: tuple[Address, ...] = ()
    ifindex: int = 0
    iface: Optional[str] = None
    bind_dev: Optional[str] = None

    @classmethod
    def parse(cls, groups: tuple[str, ...] = (), sources: tuple[str, ...] = (),
              iface: Optional[str] = None, bind_dev: Optional[str] = None) -> Optional[Membership]:
        """The membership the options ask for (None: none); UsageError naming the option
        for a group that is no multicast address, a source of no group's family or a
        multicast one, an interface that does not exist."""
        if not (groups or sources or iface or bind_dev):
            return None
        if sources and not groups:
            raise UsageError("--join-source picks the senders of the --join groups: it needs --join")
        if iface is not None and not groups:
            raise UsageError("--iface picks the interface the --join groups are joined on: it needs --join")
        parsed = []
        for text in groups:
            group = _address(text, "--join")
            if not group.is_multicast:
                raise UsageError(f"--join {text}: not a multicast address "
                                 "(IPv4 224.0.0.0/4, IPv6 ff00::/8)")
            parsed.append(group)
        families = {g.version for g in parsed}
        checked = []
        for text in sources:
            source = _address(text, "--join-source")
            if source.is_multicast or source.is_unspecified:
                raise UsageError(f"--join-source {text}: a source is a sender's unicast address")
            if source.version not in families:
                raise UsageError(f"--join-source {text}: no --join group is IPv{source.version}")
            checked.append(source)
        ifindex, name = interface_index(iface) if iface is not None else (0, None)
        if bind_dev is not None:
            if not bind_dev or len(bind_dev.encode()) >= IFNAMSIZ or "/" in bind_dev:
                raise UsageError(f"--bind-dev {bind_dev!r}: not an interface name")
            device = interface_index_for_bind_dev(bind_dev)
            if iface is None and parsed:  # the groups are joined where the socket listens
                ifindex, name = device, bind_dev
        if name is not None and parsed:
            _check_can_join(name, "--iface" if iface is not None else "--bind-dev", parsed)
        return cls(tuple(dict.fromkeys(parsed)), tuple(dict.fromkeys(checked)), ifindex, name,
                   bind_dev)

    def joins(self) -> list[tuple[Address, Optional[Address]]]:
        """(group, source or None) for each join, in the order they are made."""
        out: list[tuple[Address, Optional[Address]]] = []
        for group in self.groups:
            sources = [s for s in self.sources if s.version == group.version]
            out += [(group, s) for s in sources] if sources else [(group, None)]
        return out

    def describe(self) -> tuple[str, dict[str, Any]]:
        """The start line's words and the start object's fields."""
        where = f" on {self.iface}" if self.iface else ""
        parts = []
        for group, source in self.joins():
            parts.append(f"{group}" + (f" from {source}" if source else ""))
        words = []
        if parts:
            words.append("joined " + ", ".join(parts) + where)
        if self.bind_dev:
            words.append(f"bound to device {self.bind_dev}")
        info: dict[str, Any] = {
            "joined": [{"group": str(g), "source": str(s) if s else None, "iface": self.iface}
                       for g, s in self.joins()],
            "bind_dev": self.bind_dev,
        }
        return ", ".join(words), info

    def apply(self, sock: socket.socket) -> None:
        """Bind `sock` to the device and join the groups (see the module docstring)."""
        if self.bind_dev is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.bind_dev.encode())
            except OSError as exc:
                if exc.errno in (errno.EPERM, errno.EACCES):
                    raise OsFailure(f"--bind-dev {self.bind_dev}: binding to a device needs root "
                                    "or CAP_NET_RAW") from None
                raise UsageError(f"--bind-dev {self.bind_dev}: "
                                 f"{os.strerror(exc.errno or 0)}") from None
        if not self.groups:
            return
        v6_socket = sock.family == socket.AF_INET6
        for group, source in self.joins():
            if group.version == 6 and not v6_socket:
                raise UsageError(f"--join {group}: an IPv6 group needs an IPv6 socket "
                                 "(--bind :: or an IPv6 address)")
            level = socket.IPPROTO_IPV6 if group.version == 6 else socket.IPPROTO_IP
            if source is None:
                req: ctypes.Structure = _GroupReq(self.ifindex, _sockaddr(group))
                option = MCAST_JOIN_GROUP
            else:
                req = _GroupSourceReq(self.ifindex, _sockaddr(group), _sockaddr(source))
                option = MCAST_JOIN_SOURCE_GROUP
            try:
                sock.setsockopt(level, option, bytes(req))
            except OSError as exc:
                raise _join_error(group, source, self.iface, exc) from None
        self._hear_own_groups_only(sock)

    def _hear_own_groups_only(self, sock: socket.socket) -> None:
        for version, level, option in ((4, socket.IPPROTO_IP, IP_MULTICAST_ALL),
                                       (6, socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL)):
            if any(g.version == version for g in self.groups):
                try:
                    sock.setsockopt(level, option, 0)
                except OSError:
                    pass  # older kernels (IPv6 before 4.20): other sockets' groups come too


IFF_MULTICAST = 0x1000


def _check_can_join(name: str, option: str, groups: list[Address]) -> None:
    """A UsageError when interface `name` cannot receive the groups, which the kernel would
    let us join in vain: it does not do multicast (no MULTICAST flag: loopback by default),
    or IPv6 is disabled on it for an IPv6 group. (Where /sys or /proc cannot say, the join
    goes ahead.)"""
    flags = _read(f"/sys/class/net/{name}/flags")
    if flags is not None and not int(flags, 16) & IFF_MULTICAST:
        raise UsageError(f"{option} {name}: the interface does not do multicast (no MULTICAST "
                         f"flag; `ip link set {name} multicast on` adds it)")
    if any(g.version == 6 for g in groups) and _read(
            f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6") == "1":
        raise UsageError(f"{option} {name}: IPv6 is disabled on the interface, so it cannot "
                         "join an IPv6 group")


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, ValueError):
        return None


def interface_index_for_bind_dev(name: str) -> int:
    """The index of the device --bind-dev names; UsageError naming it when there is none."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        names = ", ".join(n for _, n in socket.if_nameindex())
        raise UsageError(f"--bind-dev {name}: no such interface (here: {names})") from None


def _join_error(group: Address, source: Optional[Address], iface: Optional[str],
                exc: OSError) -> Exception:
    what = f"--join {group}" + (f" --join-source {source}" if source else "")
    where = f" on --iface {iface}" if iface else ""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in (errno.EPERM, errno.EACCES):
        return OsFailure(f"{what}{where}: {reason}")
    if exc.errno == errno.ENODEV and not iface:
        reason += " (no route for the group: give --iface)"
    elif exc.errno in (errno.ENODEV, errno.EADDRNOTAVAIL, errno.EINVAL):
        reason += " (the interface cannot join it: down, no multicast, or no address of the group's family)"
    return UsageError(f"{what}{where}: {reason}")


__all__ = ["Membership", "interface_index"]
