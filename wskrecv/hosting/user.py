"""One `wskrecv run`: the client loaded from its file and created, the application the
program builds on the socket (a ClientHost), and the client's report at the end: what it
broke where, what it leaked, its fault. Click-free: the receive session drives it
(wskrecv.session.receive)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from wskrecv.environment import Environment
from wskrecv.errors import ExitStatus, WskrecvError
from wskrecv.hosting.blame import ClientCode, describe_fault
from wskrecv.hosting.host import ClientHost
from wskrecv.hosting.loader import LoadedClient, load_client
from wskrecv.hosting.watchdog import ClientStuck, Watchdog
from wskrecv.shown import shown
from wskrecv.words import terminal_columns, wrap_words
from wskrecv.wsk.registration import WskRegistration, wsk_register
from wskrecv.wsk.verifier import Verifier

if TYPE_CHECKING:
    from wskrecv.config import ReceiveConfig
    from wskrecv.stats.recorder import Recorder
    from wskrecv.wsk import WskDatagramSocket
    from wskrecv.wsk.inject import Injector


class ClientFaultError(WskrecvError):
    """The client's own code raised before anything ran (its constructor)."""

    exit_status = ExitStatus.CLIENT_FAULT


def report_lines(host: ClientHost) -> list[str]:
    """The client's part of the human summary: rule breaks by place, leaks, the fault."""
    report = host.report()
    lines = [f"client       {report['class']} from {report['file']}"]
    # Rule breaks, then apart the cautions (the model's advice where the pages are silent).
    for kind, first in (("rule", "verifier    "), ("caution", "caution     ")):
        label = first
        for site in report["violation_sites"]:
            if site["kind"] != kind:
                continue
            where = site["where"] or "wskrecv's own call (not in the client)"
            detail = f" ({site['detail']})" if site["detail"] else ""
            lines.append(f"{label} {site['rule']} {site['count']} at {where}{detail}")
            label = " " * len(label)
    leaked = host.sock.counts.leaked
    if leaked:
        lines.append(f"leaked       {leaked} datagrams retained and never released")
    irps = host.sock.verifier.counts.get("IrpLeaked", 0)
    if irps:
        lines.append(f"leaked       {irps} IRP{'s' if irps > 1 else ''} allocated with "
                     f"IoAllocateIrp and never freed with IoFreeIrp")
    fault = host.fault
    if fault is not None:
        more = f" (+{fault.later} more while stopping)" if fault.later else ""
        lines.append(f"client fault {fault.exception} in {fault.kind} {fault.routine} "
                     f"({fault.where}){more}")
    return lines


def _limited(call: Callable[[], Any], code: ClientCode, config: ReceiveConfig) -> Any:
    """What `call` returns (the client's constructor, its attach hook), run as every hook
    runs: under the watchdog (code that loops gets the run's --duration/--timeout, then
    --grace: ClientStuck) and with the stop signals installed (the first gives it --grace
    to return, and the run does not start: Interrupted; the second exits at once)."""
    from wskrecv.errors import Interrupted
    from wskrecv.signals import StopSignals

    watchdog = Watchdog(code.owns, config.grace)
    stops = StopSignals(watchdog.stop_requested)
    ends = [t for t in (config.duration, config.timeout) if t is not None]
    with stops.installed():
        watchdog.start(min(ends) if ends else None)
        try:
            result = call()
        finally:
            watchdog.stop()
    if stops.signum is not None:
        raise Interrupted(stops.signum, "stopped while the client was being created")
    return result


class UserClient:
    """A loaded, created client and, once the run started, its host."""

    def __init__(
        self, loaded: LoadedClient, client: Any, config: ReceiveConfig, code: ClientCode,
        registration: WskRegistration,
    ) -> None:
        self.loaded = loaded
        self.client = client
        self.config = config
        self.code = code
        # The client's WskRegister: its verifier, its IRPs counted from its constructor on.
        self.registration = registration
        self.host: Optional[ClientHost] = None

    @classmethod
    def load(cls, config: ReceiveConfig, faults: Optional[Injector] = None) -> UserClient:
        """Import the file, register the client (WskRegister) and create it; then, if it
        has an `attach(npi)` hook, hand it the provider NPI (WskCaptureProviderNPI) before
        its socket exists, as DriverEntry gets it: the place for WskControlClient
        (WSK_SET_STATIC_EVENT_CALLBACKS). UsageError (exit 2) when the file is no client,
        ClientFaultError (exit 6) when its constructor or attach hook raised (after an
        injected fault, the error says which). `faults` are injected from its constructor
        on."""
        assert config.client is not None
        loaded = load_client(config.client, config.client_class)
        code = ClientCode(loaded.realpath, shown_as=loaded.path)
        registration = wsk_register(Verifier(locate=code.locate), faults)
        hook = "()"
        try:
            client = _limited(loaded.cls, code, config)
            if not isinstance(client, loaded.cls):  # __new__ or a metaclass gave another
                raise ClientFaultError(f"client fault in {loaded.name}(): it returned "
                                       f"{type(client).__name__} {shown(repr(client))}, not a "
                                       f"{loaded.name}")
            attach = getattr(client, "attach", None)
            if callable(attach):
                hook = ".attach(npi)"
                npi = registration.capture_provider_npi()
                _limited(lambda: attach(npi), code, config)
        except ClientFaultError:
            registration.deregister(check=False)
            raise
        except ClientStuck as exc:
            registration.deregister(check=False)
            raise ClientFaultError(f"client fault in {loaded.name}{hook}: {exc}") from None
        except Exception as exc:
            registration.deregister(check=False)
            fault = describe_fault(code, exc)
            text = fault.traceback if fault is not None else f"{type(exc).__name__}: {exc}"
            after = ""
            last = faults.ledger.last_fault if faults is not None else None
            if last is not None:
                after = (f" (after an injected fault: {last.kind} at {last.where or '?'}, "
                         f"seed {faults.plan.seed})")  # type: ignore[union-attr]
            raise ClientFaultError(f"client fault in {loaded.name}{hook}{after}: "
                                   f"{text.rstrip()}") from None
        except BaseException:
            registration.deregister(check=False)
            raise
        return cls(loaded, client, config, code, registration)

    def start_info(self) -> dict[str, Any]:
        """The start line's client fields."""
        c = self.config
        return {
            "client": self.loaded.name,
            "client_stdout": "stderr",  # hosting/confine.py: not the JSON lines, the capture
            "detail": f"client {self.loaded.name} from {self.loaded.path}, lists of up to "
                      f"{c.batch}, pool {c.pool}, its print() on stderr",
        }

    def make_app(self, sock: WskDatagramSocket, recorder: Recorder) -> ClientHost:
        """The application the program runs: the client, hosted on `sock`."""
        c = self.config
        ends = [t for t in (c.duration, c.timeout) if t is not None]
        self.host = ClientHost(self.client, sock, recorder, self.code, grace=c.grace,
                               deadline=min(ends) if ends else None,
                               registration=self.registration)
        return self.host

    def report(self, env: Environment) -> None:
        """After the summary: the client's report (human output; JSON carries it in the
        summary's `client` object) and, always, a fault's traceback on stderr."""
        host = self.host
        if host is None:
            return
        if not self.config.as_json:  # on a terminal, wrapped between words as the summary is
            width = terminal_columns(env.stderr)
            env.stderr.write("".join(part + "\n" for line in report_lines(host)
                                     for part in wrap_words(line, width)))
        if host.fault is not None:
            env.stderr.write(host.fault.traceback)
        stray = host.stray_threads()
        if stray:
            env.stderr.write(f"wskrecv: client thread(s) still running at exit, not waited "
                             f"for: {', '.join(stray)}\n")
            env.stray_threads.extend(stray)
        env.stderr.flush()


__all__ = ["ClientFaultError", "UserClient", "report_lines"]
