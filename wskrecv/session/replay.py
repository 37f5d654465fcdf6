"""A session's run over a capture (`--replay`): the capture's UDP datagrams for the bound
port (or `--replay-filter`'s) fed to the WSK model in capture order, on the capture's
clock, with no socket (provider/replay.py, runner/replay.py). The client, the statistics,
the outputs (--pcap writes what the client took) and the judgement are a live run's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from wskrecv.config import ReceiveConfig
from wskrecv.errors import UsageError
from wskrecv.runner.replay import VirtualClock
from wskrecv.session.assembly import build_runner

if TYPE_CHECKING:
    from wskrecv.capture.select import Selection
    from wskrecv.core import Core
    from wskrecv.provider.replay import ReplayProvider
    from wskrecv.runner import RunResult
    from wskrecv.session.receive import ReceiveSession


def selection_of(config: ReceiveConfig) -> Selection:
    """--replay-filter, else the datagrams to the bound port (--port 0: every one)."""
    from wskrecv.capture import select

    if config.replay_filter is None:
        return select.to_port(config.port)
    try:
        return select.parse(config.replay_filter)
    except ValueError as exc:
        raise UsageError(f"--replay-filter {config.replay_filter!r}: {exc}") from None


class Replay:
    """The session's strategy with --replay: one model, one loop, no socket."""

    def __init__(self, config: ReceiveConfig) -> None:
        self.config = config
        self.clock = VirtualClock()
        self.provider: Optional[ReplayProvider] = None

    def fault_clock(self) -> tuple[Callable[[], int], float]:
        """Injected faults run on the capture's clock, and a stall counts at once (nothing
        else can happen in a replay but what its clock brings)."""
        return self.clock.now_ns, 0.0

    @property
    def problem(self) -> Optional[str]:
        """Why the capture was not replayed to its end (cut short, unreadable), or None."""
        return self.provider.problem if self.provider is not None else None

    def open(self, core: Core) -> list[ReplayProvider]:
        from wskrecv.provider.replay import ReplayProvider

        config = self.config
        assert config.replay is not None
        host = config.bind_host or "::"
        local = (host, config.port, 0, 0) if ":" in host else (host, config.port)
        self.provider = ReplayProvider.open(config.replay, selection_of(config), local,
                                            core.scan)
        first = self.provider.first_ns
        assert first is not None
        self.clock.advance_to(first)  # the run starts at the capture's first datagram
        return [self.provider]

    def describe(self, info: dict[str, Any]) -> None:
        provider = self.provider
        assert provider is not None
        info["replay"] = provider.name
        info["replay_filter"] = str(provider.selection)
        for key in ("rcvbuf", "rcvbuf_requested", "reader"):
            info.pop(key, None)

    def run(self, session: ReceiveSession, info: dict[str, Any]) -> RunResult:
        provider = self.provider
        assert provider is not None
        user = session.user
        reporter = session.reporter(recorder=lambda: runner.recorder)  # type: ignore[has-type]
        runner = build_runner(provider, self.config, reporter,
                              sinks=session.sinks(provider, reporter), core=session.core,
                              app=user.make_app if user is not None else None,
                              option_name=session.option_name,
                              registration=user.registration if user is not None else None,
                              faults=session.faults, clock=self.clock)
        session.announce(info)
        return runner.run(info)

    def close(self) -> None:
        if self.provider is not None:
            self.provider.close()


__all__ = ["Replay", "selection_of"]
