"""Who is to blame: which source files are the client's (`ClientCode`: the verifier's
locator, the watchdog's test), and an exception out of them as the report shows it
(`ClientFault`): raised in the client's code (`describe_fault`), or a client thread stuck
while it holds the socket's lock (`describe_holder`)."""

from __future__ import annotations

import os
import sys
import threading
import traceback
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Callable, Optional

from wskrecv.hosting import watchdog
from wskrecv.hosting.watchdog import ClientStuck
from wskrecv.wsk.dispatch import WskArgumentError
from wskrecv.wsk.verifier import WskApiViolation, WskrecvBug

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # wskrecv/
_BUILTIN = os.path.join(_PACKAGE, "builtin")
BUILTIN_CLIENTS = _BUILTIN  # a ClientCode of this path: wskrecv's own clients
_WATCHDOG = os.path.realpath(watchdog.__file__)
# Where a frame sits just above the client's code says what wskrecv was calling.
_ENTRY_KINDS = {
    "io_complete_request": "completion routine",
    "_indicate": "receive callback",
    "_indicate_null": "receive callback",
    "start": "start hook",
    "stop": "stop hook",
}


def _code_of(routine: Any) -> Any:
    """The code object behind a function, bound method, partial or callable object."""
    for _ in range(4):
        code = getattr(routine, "__code__", None)
        if code is not None:
            return code
        routine = (
            getattr(routine, "__func__", None)
            or getattr(routine, "func", None)
            or vars(type(routine)).get("__call__")
        )
        if routine is None:
            return None
    return None


class ClientCode:
    """Which source files are the client's, and how to show a place in them.

    A file is the client's when it lies under the client's folder and is not part of
    wskrecv or of the Python installation; wskrecv's own applications (wskrecv/builtin)
    are clients too, when those are what runs.
    """

    def __init__(self, path: str, shown_as: Optional[str] = None) -> None:
        real = os.path.realpath(path)
        self.builtin = real.startswith(_BUILTIN + os.sep) or real == _BUILTIN
        self.root = _BUILTIN if self.builtin else os.path.dirname(real)
        self.file = real
        self.shown_as = shown_as or path
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix}
        self._foreign = tuple(p + os.sep for p in prefixes if p) + (_PACKAGE + os.sep,)
        self._cache: dict[str, bool] = {}
        self._places: dict[tuple[str, int], str] = {}  # (file, line) -> as `show` says it

    def owns(self, filename: str) -> bool:
        """Whether `filename` (a code object's) is client code."""
        known = self._cache.get(filename)
        if known is not None:
            return known
        real = os.path.realpath(filename)
        mine = real.startswith(self.root + os.sep) and (
            self.builtin or not real.startswith(self._foreign)
        )
        self._cache[filename] = mine
        return mine

    def show(self, filename: str, line: int) -> str:
        """`file:line` as the user knows the file."""
        real = os.path.realpath(filename)
        if real == self.file:
            name = self.shown_as
        elif self.builtin:
            name = os.path.relpath(real, os.path.dirname(_PACKAGE))
        else:
            name = os.path.relpath(real) if real.startswith(os.getcwd() + os.sep) else real
        return f"{name}:{line}"

    def locate(self, culprit: Optional[Callable[..., Any]] = None) -> Optional[str]:
        """The verifier's locator: the routine whose return value broke a rule (where it
        is defined), else the innermost client frame on the stack (the call)."""
        if culprit is not None:
            code = _code_of(culprit)
            if code is not None and self.owns(code.co_filename):
                return self._place(code.co_filename, code.co_firstlineno)
        frame: Optional[FrameType] = sys._getframe(1)
        while frame is not None:
            if self.owns(frame.f_code.co_filename):
                return self._place(frame.f_code.co_filename, frame.f_lineno)
            frame = frame.f_back
        return None

    def _place(self, filename: str, line: int) -> str:
        """`show`, remembered: fault injection asks where every WSK call comes from, and
        a client has few lines that call."""
        key = (filename, line)
        place = self._places.get(key)
        if place is None:
            if len(self._places) >= 4096:
                self._places.clear()
            place = self._places[key] = self.show(filename, line)
        return place

    def client_frames(self, tb: Optional[TracebackType]) -> list[TracebackType]:
        """The traceback entries in client code, outermost first."""
        out = []
        while tb is not None:
            if self.owns(tb.tb_frame.f_code.co_filename):
                out.append(tb)
            tb = tb.tb_next
        return out


@dataclass
class ClientFault:
    """An exception out of the client's code, as the report shows it."""

    exception: str  # "ZeroDivisionError: division by zero"
    kind: str  # "completion routine", "receive callback", "start hook", "thread worker"...
    routine: str  # the client function wskrecv called
    where: str  # file:line of the innermost client line
    traceback: str  # from the first client frame down
    later: int = 0  # further exceptions while the run was torn down

    def as_dict(self) -> dict[str, Any]:
        return {"exception": self.exception, "in": self.kind, "routine": self.routine,
                "where": self.where, "traceback": self.traceback, "later": self.later}


def describe_fault(
    code: ClientCode, exc: BaseException, thread: Optional[str] = None
) -> Optional[ClientFault]:
    """A ClientFault for `exc` when its traceback runs through client code, else None."""
    tb = exc.__traceback__
    entries = code.client_frames(tb)
    if not entries:
        return None
    first = entries[0]
    kind = thread and f"thread {thread}"
    if kind is None:
        caller = None
        t = tb
        while t is not None and t is not first:
            caller = t.tb_frame.f_code.co_name
            t = t.tb_next
        kind = _ENTRY_KINDS.get(caller or "", caller or "client code")
    last = entries[-1]
    frames = traceback.extract_tb(first)
    if isinstance(exc, ClientStuck):  # raised from the watchdog's handler: not of interest
        frames = traceback.StackSummary.from_list(
            [f for f in frames if os.path.realpath(f.filename) != _WATCHDOG]
        )
        exception = f"stuck: {exc}"
    else:
        exception = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
    text += exception + "\n"
    return ClientFault(
        exception=exception,
        kind=kind,
        routine=first.tb_frame.f_code.co_name,
        where=code.show(last.tb_frame.f_code.co_filename, last.tb_lineno),
        traceback=text,
    )


def wskrecv_fault(exc: BaseException) -> bool:
    """Whether `exc` is wskrecv's own fault, not the client's: a WskrecvBug (raised where a
    client's call entered wskrecv), or any other exception raised inside wskrecv's own code
    (its innermost frame is wskrecv's: a property of a model object the client read, say).
    Not a rule the client broke, nor its argument of the wrong kind, nor the watchdog."""
    if isinstance(exc, WskrecvBug):
        return True
    if not isinstance(exc, Exception) or isinstance(exc, (WskApiViolation, WskArgumentError)):
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.realpath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE + os.sep)


RELEASED_VIEW = "operation forbidden on released memoryview object"


def describe_holder(code: ClientCode, exc: ClientStuck, ident: int) -> ClientFault:
    """The fault of a client thread stuck while it holds the socket's lock (`exc` was
    raised on the thread that waited for it): named from the holder's own stack, at the
    routine wskrecv called on that thread (a callback, a completion routine) or, for the
    client's own code, the thread's, and the innermost client line."""
    threads = {t.ident: t.name for t in threading.enumerate()}
    name = threads.get(ident, f"{ident}")
    exception = f"stuck: {exc}"
    frame = sys._current_frames().get(ident)
    stack: list[FrameType] = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    stack.reverse()  # outermost first
    mine = [i for i, f in enumerate(stack) if code.owns(f.f_code.co_filename)]
    if not mine:  # the thread ended holding the lock, or holds it outside client code
        text = f"thread {name} holds the socket lock and is gone or not in client code\n"
        return ClientFault(exception=exception, kind=f"thread {name}", routine="?",
                           where="?", traceback=text + exception + "\n")
    # The innermost place where wskrecv's code called into the client's.
    entry = next((i for i in reversed(mine) if i == 0 or i - 1 not in mine), mine[0])
    caller = stack[entry - 1].f_code.co_name if entry else ""
    kind = _ENTRY_KINDS.get(caller)
    kind = f"{kind} on thread {name}" if kind in ("completion routine", "receive callback") \
        else f"thread {name}"
    last = stack[mine[-1]]
    frames = traceback.StackSummary.extract(
        ((f, f.f_lineno) for f in stack[mine[0]:]), lookup_lines=True)
    text = (f"Thread {name}, holding the socket lock (most recent call last):\n"
            + "".join(frames.format()) + exception + "\n")
    return ClientFault(
        exception=exception,
        kind=kind,
        routine=stack[entry].f_code.co_name,
        where=code.show(last.f_code.co_filename, last.f_lineno),
        traceback=text,
    )


__all__ = ["BUILTIN_CLIENTS", "RELEASED_VIEW", "ClientCode", "ClientFault", "describe_fault",
           "describe_holder", "wskrecv_fault"]
