"""A session's run in this process: one socket, one receive loop (runner.Runner). What
only one loop can carry rides on it: --dump, --pcap written as datagrams come, the
iperf3 server, `wskrecv run`'s client."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from wskrecv.config import ReceiveConfig
from wskrecv.session.assembly import build_runner

if TYPE_CHECKING:
    from wskrecv.core import Core
    from wskrecv.provider.udp import UdpProvider
    from wskrecv.runner import Runner, RunResult
    from wskrecv.session.receive import ReceiveSession


def open_provider(config: ReceiveConfig, core: Core) -> UdpProvider:
    """The socket `config` asks for: an inherited one (fd, socket activation) or a bound
    one, read by `core`'s batch reader."""
    from wskrecv.provider.activation import open_receive_socket
    from wskrecv.provider.multicast import Membership

    return open_receive_socket(config.bind_host, config.port, config.rcvbuf, fd=config.fd,
                               address_given=config.address_given, batch=config.batch,
                               reader=core.reader, reader_min=core.reader_min,
                               ip_fields=config.ip_fields,
                               membership=Membership.parse(config.join, config.join_source,
                                                           config.iface, config.bind_dev))


class OneProcess:
    """The session's strategy without --workers."""

    def __init__(self, config: ReceiveConfig) -> None:
        self.config = config
        self.provider: Optional[UdpProvider] = None

    def open(self, core: Core) -> list[UdpProvider]:
        self.provider = open_provider(self.config, core)
        return [self.provider]

    def describe(self, info: dict[str, Any]) -> None:
        pass  # one socket: the session's fields say it all

    def run(self, session: ReceiveSession, info: dict[str, Any]) -> RunResult:
        from wskrecv.provider.health import address_gone
        from wskrecv.stats.hostudp import HostUdp

        provider = self.provider
        assert provider is not None
        runner: Optional[Runner] = None
        reporter = session.reporter(recorder=lambda: runner.recorder)  # type: ignore[union-attr]
        user = session.user
        runner = build_runner(provider, self.config, reporter,
                              sinks=session.sinks(provider, reporter), host=HostUdp(),
                              health=lambda: address_gone(provider.local_address),
                              sidecar=session.sidecar(provider, reporter), core=session.core,
                              app=user.make_app if user is not None else None,
                              option_name=session.option_name,
                              registration=user.registration if user is not None else None,
                              faults=session.faults)
        session.announce(info)
        session.stopping = lambda: runner.stop_reason is not None  # type: ignore[union-attr]
        return runner.run(info)

    def fault_clock(self) -> tuple[Callable[[], int], float]:
        """Injected faults run on the monotonic clock; a stall counts after --grace."""
        return time.monotonic_ns, self.config.grace

    def close(self) -> None:
        if self.provider is not None:
            self.provider.close()


__all__ = ["OneProcess", "open_provider"]
