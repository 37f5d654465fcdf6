"""Which receive core runs: the compiled one (wskrecv._core) or its pure-Python twins.

Decided once, here, in the manner of multidict's `_compat.py`: the native core is used
when WSKRECV_NO_EXTENSIONS is unset (or empty), the platform has it (Linux: recvmmsg), and
the extension imports (`pip install .` builds it when a C compiler is present). The
receive stack's assembly asks `current()` and passes the chosen parts into the provider
(`reader`: the recvmmsg batch reader), the recorder (`counter`: the counting kernel) and
the model's event dispatcher (`chain`: what builds each indication list); nothing else
looks at the environment. `wskrecv --version` and the JSON start object
name the core (`name`).

The pure-Python twins are the specification: provider/mmsg.py (MmsgReader),
stats/counting.py (Counter, which owns a stats/sources.py SourceTable and a
stats/sequence.py StreamTable of StreamTrackers), wsk/indication.py (PythonIndication,
make_chain and walk) with wsk/_state.py's settle, and capture/scan.py (scan: the capture
reader's batch scanner, for `wskrecv analyze`). Each compiled type has its twin's
constructor and API and owns its data; the native indication is the model's
WskDatagramIndication on the compiled storage (`native_indication`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, Callable, Optional

NATIVE = "native"
PURE = "pure-Python"
ENV_VAR = "WSKRECV_NO_EXTENSIONS"


@dataclass(frozen=True)
class Core:
    """One implementation of the receive core.

    `reader(sock, batch, buffer_size)` reads recvmmsg batches (None where the platform has
    no recvmmsg); `reader_min` is the smallest read worth a recvmmsg call (smaller ones use
    the provider's recvmsg loop); `counter(seq_format, window, max_streams, max_sources)`
    makes the counting kernel; `chain(datagrams, source)` builds an indication list,
    `settle(indications, row, hide)` moves each to its next state in a row of the table
    (wsk/_state.py), `walk(head)` follows one through Next and `census(indications,
    source, state)` is WskRelease's look at a walked list (what the socket is given to
    build, settle, walk and release its indication lists: an IndicationCore); `scan` is the
    capture reader's batch scanner (wskrecv.capture.scan); `completer` the native twin of
    the built-in IRP client's steady state (`_core.IrpCompleter`, built by
    wskrecv.hosting.native), None where every completion runs the Python code."""

    name: str
    reader: Optional[Callable[..., Any]]
    reader_min: int
    counter: Callable[[str, int, int, int], Any]
    chain: Callable[[list, Any], list]
    settle: Callable[[list, Any, bool], None]
    walk: Callable[[Any], tuple[list, int]]
    census: Callable[[list, Any, Any], int]
    scan: Callable[..., tuple[int, int]]
    completer: Optional[type] = None


def native_module() -> Optional[Any]:
    """The compiled extension, or None when it is not built here (or cannot load)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from wskrecv import _core
    except ImportError:
        return None
    return _core


def pure() -> Core:
    """The pure-Python core."""
    from wskrecv.capture.scan import scan
    from wskrecv.provider import mmsg
    from wskrecv.stats.counting import Counter
    from wskrecv.wsk._state import settle
    from wskrecv.wsk.indication import census, make_chain, walk

    return Core(PURE, mmsg.MmsgReader if mmsg.available() else None, mmsg.MMSG_MIN, Counter,
                make_chain, settle, walk, census, scan)


@cache
def native_indication(module: Any) -> type:
    """The native core's indication class: the model's WskDatagramIndication (its API) on
    the compiled storage (`IndicationFields`, which owns the fields in C), as the
    pure-Python `PythonIndication` is the same API on __slots__. One class per module."""
    from wskrecv.wsk.indication import WskDatagramIndication

    return type("NativeIndication", (module.IndicationFields, WskDatagramIndication),
                {"__slots__": (), "__module__": __name__, "__doc__": native_indication.__doc__})


def native() -> Optional[Core]:
    """The compiled core, or None when it is not available."""
    module = native_module()
    if module is None:
        return None
    from wskrecv.provider import mmsg
    from wskrecv.wsk._state import IndicationState
    from wskrecv.wsk.indication import census, make_chain

    # Reading one datagram costs a recvmmsg call no more than a recvmsg here.
    reader = module.MmsgReader if mmsg.available() else None
    cls = native_indication(module)
    chain = module.ChainMaker(cls, IndicationState.INDICATED, partial(make_chain, cls=cls),
                              census=census)
    return Core(NATIVE, reader, 1, module.Counter, chain, chain.settle, chain.walk, chain.census,
                module.scan_capture, module.IrpCompleter)


def choose(environ: Mapping[str, str] = os.environ) -> Core:
    """The core to use: native unless WSKRECV_NO_EXTENSIONS is set or it is unavailable."""
    if not environ.get(ENV_VAR):
        core = native()
        if core is not None:
            return core
    return pure()


@cache
def current() -> Core:
    """The core of this process, chosen once."""
    return choose()


def current_completions() -> str:
    """Who completes listen's steady requests in this process ("native": the compiled
    twin, csrc/completer.c; "Python"), without building the core (for --version)."""
    if current_name() == NATIVE and hasattr(native_module(), "IrpCompleter"):
        return "native"
    return "Python"


def current_name() -> str:
    """The active core's name without building it (for --version: cheap at start-up)."""
    if not os.environ.get(ENV_VAR) and native_module() is not None:
        return NATIVE
    return PURE


__all__ = ["Core", "ENV_VAR", "NATIVE", "PURE", "choose", "current", "current_completions", "current_name",
           "native", "pure"]
