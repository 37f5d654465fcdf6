"""The real UDP socket: bind, receive buffer, ancillary data, kernel drop counters.

Reads only when asked (`read(max_n)` with max_n from the model's demand), so datagrams
nobody has asked for stay in the OS queue, as they would under WSK. On Linux a batch is one
recvmmsg call (`provider.mmsg`); elsewhere, or with WSKRECV_NO_RECVMMSG=1, a recvmsg loop.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct
import sys
import time
from typing import Any, Callable, Optional

from wskrecv.errors import InheritedSocketError, OsFailure, UsageError
from wskrecv.provider import mmsg
from wskrecv.provider.mmsg import (
    FIELD_VALUES,
    IP_PKTINFO,
    IP_RECVTOS,
    IP_RECVTTL,
    IPV6_RECVHOPLIMIT,
    IPV6_RECVTCLASS,
    SO_RXQ_OVFL,
    SO_TIMESTAMPNS,
    read_ancillary,
)
from wskrecv.provider.multicast import Membership
from wskrecv.wsk.datagram import Datagram, make_datagram

# Linux values; the socket module lacks some of them.
SO_MEMINFO = 55
SK_MEMINFO_DROPS = 8
IPV6_RECVPKTINFO = 49
SO_RCVBUFFORCE = 33

MAX_DATAGRAM = 65535  # more than any IPv4 (65507) or non-jumbo IPv6 (65527) UDP payload
DEFAULT_RCVBUF = 64 << 20  # asked for by default; the OS grants what it allows
ANCILLARY_SPACE = 256  # room for timestamp + pktinfo + drop counter

_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


def socket_drops(sock: socket.socket) -> Optional[int]:
    """The kernel's drop counter of `sock` (sk_drops: datagrams it could not queue, over
    the socket's whole life): SO_MEMINFO, else the socket's line of /proc/net/udp(6), else
    None (not Linux: there is no such counter)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * 9)
        return int(struct.unpack("@9I", raw)[SK_MEMINFO_DROPS])
    except (OSError, struct.error):
        pass
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            with open(table) as f:
                for line in f:
                    fields = line.split()
                    if len(fields) > 12 and fields[9] == inode:
                        return int(fields[-1])  # the last column: drops
    except (OSError, ValueError):
        pass
    return None


DUAL_STACK = "::"  # the default bind: IPv6 and, with IPV6_V6ONLY off, IPv4 (as iperf3)
IPV4_ANY = "0.0.0.0"


def resolve_bind(host: str, port: int) -> tuple[int, tuple]:
    """Turn --bind/--port into (family, sockaddr); unknown names are a usage error.
    `[::1]` (the way wskrecv prints IPv6 addresses) is taken as ::1."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
        )
    except socket.gaierror as exc:
        raise UsageError(f"unknown address {host!r}: {exc.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _rmem_max() -> Optional[int]:
    try:
        with open("/proc/sys/net/core/rmem_max") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _set_rcvbuf(sock: socket.socket, size: int) -> Optional[int]:
    """Ask for `size` bytes: SO_RCVBUFFORCE when privileged, else SO_RCVBUF (capped by
    net.core.rmem_max). Returns net.core.rmem_max when it capped the request, else None."""
    if sys.platform.startswith("linux"):
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
            return None
        except OSError:
            pass
    limit = _rmem_max()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, min(size, limit) if limit else size)
    return limit if limit is not None and limit < size else None


def rmem_max_hint(asked: int, cap: int) -> str:
    """Why the receive buffer is smaller than asked, and how to raise it (the way `bench`
    explains it)."""
    return (f"net.core.rmem_max ({cap} bytes) caps an unprivileged receive buffer; raise it "
            f"with `sudo sysctl -w net.core.rmem_max={asked}`, or run as root")


def _enable_ancillary(sock: socket.socket, family: int, ip_fields: bool = False) -> None:
    """Ask the kernel for receive timestamps, destination address and drop counts; with
    `ip_fields`, also each packet's TOS byte (DSCP and ECN) and TTL, and on an IPv6 socket
    its traffic class and hop limit (an IPv4 datagram on a dual-stack socket brings the
    IPv4 ones). Only then: they cost every datagram two control messages."""
    options = [(socket.SOL_SOCKET, SO_TIMESTAMPNS), (socket.SOL_SOCKET, SO_RXQ_OVFL),
               (socket.IPPROTO_IP, IP_PKTINFO)]
    if ip_fields:
        options += [(socket.IPPROTO_IP, IP_RECVTOS), (socket.IPPROTO_IP, IP_RECVTTL)]
    if family == _AF_INET6:
        options.append((socket.IPPROTO_IPV6, IPV6_RECVPKTINFO))
        if ip_fields:
            options += [(socket.IPPROTO_IPV6, IPV6_RECVTCLASS),
                        (socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT)]
    for level, opt in options:
        try:
            sock.setsockopt(level, opt, 1)
        except OSError:
            pass  # best effort: an IPv6-only socket has no IP_PKTINFO, other OSes differ


DEFAULT_BATCH = 64


class UdpProvider:
    """A bound UDP socket that reads datagrams with their ancillary data on request.

    `batch` is the most datagrams one read returns. `reader` is the recvmmsg batch
    reader class (the receive core's, wskrecv.core; default the pure-Python one when the
    platform has recvmmsg) and `reader_min` the smallest read it takes: smaller ones, and
    every read when `use_mmsg` is False, use the portable recvmsg loop (tests cover both).
    `ip_fields` asks for each packet's TOS and TTL, counted per value (`tos_counts`,
    `ttl_counts`) and carried in its packet info. `membership` binds the socket to a
    device and joins multicast groups (provider/multicast.py).
    """

    inherited_fd: Optional[int] = None  # the descriptor number when adopted (--fd, LISTEN_FDS)
    # An inherited socket's drop counter when it was adopted: drops from before this run,
    # left out of kernel_drops (None: a socket of our own, bound for this run).
    drops_before_run: Optional[int] = None
    note: Optional[str] = None  # what the user should know about the bind (IPv4 fallback)
    rcvbuf_cap: Optional[int] = None  # net.core.rmem_max, when it capped the buffer asked for

    def __init__(
        self,
        sock: socket.socket,
        rcvbuf_requested: Optional[int] = None,
        batch: int = DEFAULT_BATCH,
        use_mmsg: Optional[bool] = None,
        reader: Optional[Callable[..., Any]] = None,
        reader_min: int = mmsg.MMSG_MIN,
        ip_fields: bool = False,
        membership: Optional[Membership] = None,
    ) -> None:
        if membership is not None:  # the device and the groups, before anything is read
            membership.apply(sock)
        self.membership = membership
        self.sock = sock
        self.ip_fields = ip_fields
        self._tos = [0] * FIELD_VALUES  # the recvmsg loop's counts (the reader has its own)
        self._ttl = [0] * FIELD_VALUES
        self.family = sock.family
        self.local_address: tuple = sock.getsockname()
        self.rcvbuf_requested = rcvbuf_requested
        self.rcvbuf: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.batch = batch
        self._drops_seen = 0  # latest SO_RXQ_OVFL counter from a control message
        sock.setblocking(False)
        _enable_ancillary(sock, self.family, ip_fields)
        self._recvmsg = sock.recvmsg
        if reader is None and mmsg.available():
            reader = mmsg.MmsgReader
        self._mmsg = reader(sock, batch, MAX_DATAGRAM) if reader and use_mmsg is not False else None
        self._mmsg_min = reader_min
        self.reader = "recvmmsg" if self._mmsg is not None else "recvmsg"

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self, max_n: int) -> list[Datagram]:
        """Read up to min(`max_n`, batch) datagrams already queued (never blocks)."""
        if max_n > self.batch:
            max_n = self.batch
        if self._mmsg is not None and max_n >= self._mmsg_min:
            return self._mmsg.read(max_n)
        out: list[Datagram] = []
        recvmsg = self._recvmsg
        for _ in range(max_n):
            try:
                data, anc, _flags, addr = recvmsg(MAX_DATAGRAM, ANCILLARY_SPACE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno == errno.ECONNREFUSED:  # an ICMP error queued on the socket
                    continue
                raise
            local, drops, stamp = read_ancillary(anc)
            if drops is not None:
                self._drops_seen = drops
            if local is not None and len(local) > 2:
                if local[2] is not None:
                    self._tos[local[2]] += 1
                if local[3] is not None:
                    self._ttl[local[3]] += 1
            out.append(make_datagram(Datagram, (data, addr, local, stamp)))
        return out

    @property
    def tos_counts(self) -> list[int]:
        """Datagrams read per TOS byte (IPv6: traffic class), both read paths together."""
        return self._with_reader(self._tos, "tos_counts")

    @property
    def ttl_counts(self) -> list[int]:
        """Datagrams read per TTL (IPv6: hop limit), both read paths together."""
        return self._with_reader(self._ttl, "ttl_counts")

    def _with_reader(self, mine: list[int], name: str) -> list[int]:
        if self._mmsg is None:
            return list(mine)
        return [a + b for a, b in zip(mine, getattr(self._mmsg, name))]

    @property
    def kernel_drops(self) -> int:
        """Datagrams the kernel dropped for this socket (queue full) during this run:
        SO_MEMINFO when the OS has it (it counts drops after the last datagram too), else
        SO_RXQ_OVFL. Both count over the socket's life, so an inherited socket's count at
        adoption (`drops_before_run`) is taken off."""
        try:
            raw = self.sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * 9)
            meminfo = struct.unpack("@9I", raw)
            drops = max(meminfo[SK_MEMINFO_DROPS], self.rxq_ovfl)
        except (OSError, struct.error):
            drops = self.rxq_ovfl
        return max(0, drops - (self.drops_before_run or 0))

    @property
    def drops_at_last_read(self) -> int:
        """The socket's drop counter, during this run, when the last datagram read was
        queued (SO_RXQ_OVFL): drops since then hit datagrams newer than anything read,
        which no sequence gap will ever show. (A datagram queued before the run carries a
        count from before it: none of this run's.)"""
        return max(0, self.rxq_ovfl - (self.drops_before_run or 0))

    def drain(self, seconds: float) -> tuple[int, bool]:
        """Read and discard what is still queued, for at most `seconds`: (datagrams, whether
        that was all of them). What is read here never reaches the model: it only counts
        what the run left unread."""
        recv_into = self.sock.recv_into
        scratch = bytearray(1)
        n = 0
        end = time.monotonic() + seconds
        while True:
            for _ in range(1024):
                try:
                    recv_into(scratch, 1)
                except BlockingIOError:
                    return n, True
                except ConnectionRefusedError:  # an ICMP error queued on the socket
                    continue
                n += 1
            if time.monotonic() >= end:
                return n, False

    @property
    def rxq_ovfl(self) -> int:
        """The latest SO_RXQ_OVFL drop counter a datagram's control data carried."""
        if self._mmsg is not None:
            return max(self._drops_seen, self._mmsg.drops_seen)
        return self._drops_seen

    def close(self) -> None:
        self.sock.close()


def open_udp(
    host: Optional[str],
    port: int,
    rcvbuf: Optional[int] = None,
    reuseport: bool = False,
    **options: Any,
) -> UdpProvider:
    """Create and bind the UDP socket for --bind/--port/--rcvbuf; `options` go to
    UdpProvider (its read batch, its reader).

    With no `host`, binds :: dual-stack (IPv4 senders arrive IPv4-mapped) where the host
    has IPv6, else 0.0.0.0, saying so in the provider's `note`. With no `rcvbuf`, asks for
    DEFAULT_RCVBUF: the OS grants up to net.core.rmem_max unprivileged, and the full
    amount to root (SO_RCVBUFFORCE). `reuseport` sets SO_REUSEPORT first, so that several
    sockets (--workers) share the address.
    """
    if not 0 <= port <= 65535:
        raise UsageError(f"port {port} is out of range 0-65535")
    if host is None:
        missing = _no_ipv6()
        if missing is None:
            return _open_udp(DUAL_STACK, port, rcvbuf, reuseport, options)
        provider = _open_udp(IPV4_ANY, port, rcvbuf, reuseport, options)
        provider.note = f"no IPv6 here ({missing}): receiving on IPv4 only"
        return provider
    return _open_udp(host, port, rcvbuf, reuseport, options)


def _no_ipv6() -> Optional[str]:
    """Why this host cannot take a dual-stack socket, or None when it can."""
    try:
        with socket.socket(_AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    except (OSError, AttributeError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    return None


def _open_udp(
    host: str, port: int, rcvbuf: Optional[int], reuseport: bool, options: dict[str, Any]
) -> UdpProvider:
    family, sockaddr = resolve_bind(host, port)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == _AF_INET6 and sockaddr[0] == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual-stack
        asked = DEFAULT_RCVBUF if rcvbuf is None else rcvbuf
        cap = _set_rcvbuf(sock, asked)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            where = f"[{sockaddr[0]}]:{port}" if family == _AF_INET6 else f"{sockaddr[0]}:{port}"
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            hint = ""
            if exc.errno == errno.EADDRNOTAVAIL:
                hint = " (not an address of this host)"
            elif exc.errno == errno.EACCES:
                hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            raise OsFailure(f"cannot bind {where}: {reason}{hint}") from None
        provider = UdpProvider(sock, asked, **options)
        provider.rcvbuf_cap = cap
        return provider
    except BaseException:
        sock.close()
        raise


_TYPE_NAMES = {socket.SOCK_STREAM: "TCP (SOCK_STREAM)"}


def _socket_kind(sock: socket.socket) -> Optional[str]:
    """What `sock` is when it is not a UDP socket ("AF_NETLINK", "TCP (SOCK_STREAM)"),
    or None when it is one."""
    if sock.family not in (_AF_INET, _AF_INET6):
        try:
            return socket.AddressFamily(sock.family).name
        except ValueError:
            return f"address family {int(sock.family)}"
    if sock.type == socket.SOCK_DGRAM:
        return None if sock.proto in (0, socket.IPPROTO_UDP) else f"SOCK_DGRAM protocol {sock.proto}"
    try:
        return _TYPE_NAMES.get(sock.type) or socket.SocketKind(sock.type).name
    except ValueError:
        return f"socket type {int(sock.type)}"


def adopt_fd(fd: int, rcvbuf: Optional[int] = None, **options: Any) -> UdpProvider:
    """Receive on an inherited, already bound UDP socket (`--fd N`, systemd socket
    activation), the way `open_udp` receives on one it binds itself.

    The descriptor becomes ours: closing the provider closes it, and it is no longer
    inherited by children. The receive buffer is left as the parent set it unless
    `rcvbuf` asks for a size; `options` go to UdpProvider. A closed descriptor, anything
    but a UDP socket, or an unbound UDP socket is an InheritedSocketError naming the descriptor.
    """
    try:
        st = os.fstat(fd)
    except OSError:
        raise InheritedSocketError(fd, f"descriptor {fd} is not open") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise InheritedSocketError(fd, f"descriptor {fd} is not a socket") from None
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise InheritedSocketError(fd, f"descriptor {fd}: {os.strerror(exc.errno or 0)}") from None
    try:
        kind = _socket_kind(sock)
        if kind is not None:
            raise InheritedSocketError(fd, f"descriptor {fd} is not a UDP socket: {kind}")
        if sock.getsockname()[1] == 0:
            raise InheritedSocketError(fd, f"descriptor {fd} is a UDP socket that is not bound to a port")
        os.set_inheritable(fd, False)
        cap = _set_rcvbuf(sock, rcvbuf) if rcvbuf is not None else None
        provider = UdpProvider(sock, rcvbuf, **options)
        provider.rcvbuf_cap = cap
        provider.inherited_fd = fd
        # The baseline of both drop counters (SO_MEMINFO and each datagram's SO_RXQ_OVFL
        # count the same sk_drops): what the socket dropped before this run.
        provider.drops_before_run = socket_drops(sock) or 0
        return provider
    except BaseException:
        sock.detach()  # the descriptor stays as it was: a failed adoption must not close it
        raise
