"""Loading a client from a file for `wskrecv run`: the module, the class, its hooks.

Every way a file can fail to be a client (missing, unreadable, a syntax error, an
exception while importing, no client class, several, a class without the hooks, a
constructor that wants arguments) is one `UsageError` (exit 2) that says which and where.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import stat
import sys
import traceback
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Optional

from wskrecv.errors import UsageError

HOOKS = ("start", "stop")
SHAPE = "a class with start(self, socket) and stop(self) methods"
MAX_SOURCE = 16 << 20  # bytes: a client file is Python source, not a device or a data file


@dataclass(frozen=True)
class LoadedClient:
    """A client class and where it came from (`path` as the user spelled it)."""

    cls: type
    module: ModuleType
    path: str
    realpath: str

    @property
    def name(self) -> str:
        return self.cls.__name__


def _syntax_error(path: str, exc: SyntaxError) -> UsageError:
    line = (exc.text or "").rstrip("\n")
    where = f"{path}:{exc.lineno}" if exc.lineno else path
    message = f"{where}: {type(exc).__name__}: {exc.msg}"
    if line.strip():
        indent = len(line) - len(line.lstrip())
        caret = " " * (4 + max(0, (exc.offset or 1) - 1 - indent)) + "^"
        message += f"\n    {line.strip()}\n{caret}"
    return UsageError(message)


def _import_error(path: str, realpath: str, exc: BaseException) -> UsageError:
    """An exception while the module body ran: the client file's innermost line."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == realpath:
            line = frame.lineno
    where = f"{path}:{line}" if line else path
    return UsageError(f"{where}: {type(exc).__name__}: {exc} (while importing the client)")


def _read_source(path: str, realpath: str) -> bytes:
    """The file's bytes, if it is a regular file of at most MAX_SOURCE bytes. Opened
    without blocking and looked at before anything is read: /dev/zero would be read until
    memory ran out, and a FIFO with no writer would block for ever."""
    try:
        fd = os.open(realpath, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device"
                    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket"
                    if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise UsageError(f"{path} is {kind}, not a Python file")
        if info.st_size > MAX_SOURCE:
            raise UsageError(f"{path} is {info.st_size} bytes: a client file is Python source "
                             f"of at most {MAX_SOURCE >> 20} MiB")
        try:
            source = f.read(MAX_SOURCE + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(source) > MAX_SOURCE:  # it grew meanwhile
        raise UsageError(f"{path}: a client file is Python source of at most "
                         f"{MAX_SOURCE >> 20} MiB")
    return source


def load_module(path: str) -> tuple[ModuleType, str]:
    """Import `path` as a fresh module (its directory first on sys.path, as for a script)."""
    if not os.path.exists(path):
        raise UsageError(f"client file not found: {path}")
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory, not a Python file")
    realpath = os.path.realpath(path)
    source = _read_source(path, realpath)
    stem = os.path.splitext(os.path.basename(realpath))[0]
    name = "wskrecv_client_" + "".join(c if c.isalnum() else "_" for c in stem)
    spec = importlib.util.spec_from_file_location(name, realpath)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path} is not a Python file")
    try:
        code = compile(source, realpath, "exec")
    except SyntaxError as exc:
        raise _syntax_error(path, exc) from None
    except ValueError as exc:  # NUL bytes
        raise UsageError(f"{path} is not Python source: {exc}") from None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up
    folder = os.path.dirname(realpath)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the client may import its neighbours
    try:
        exec(code, module.__dict__)
    except SyntaxError as exc:  # in a module the client imports
        raise _syntax_error(exc.filename or path, exc) from None
    except (Exception, SystemExit) as exc:
        raise _import_error(path, realpath, exc) from None
    return module, realpath


def _hooks_missing(cls: type) -> list[str]:
    return [h for h in HOOKS if not callable(getattr(cls, h, None))]


def _check_class(path: str, cls: type) -> None:
    missing = _hooks_missing(cls)
    if missing:
        lacks = " and ".join(f"{h}()" for h in missing)
        raise UsageError(f"class {cls.__name__} in {path} lacks {lacks} (a client is {SHAPE})")
    checks = (("start", (None,), "start(self, socket)"), ("stop", (), "stop(self)"))
    for hook, args, shape in checks:
        try:
            inspect.signature(getattr(cls, hook)).bind(None, *args)
        except TypeError:
            raise UsageError(f"{cls.__name__}.{hook} in {path} must be {shape}") from None
        except ValueError:
            pass  # no signature to read (a builtin): let it run
    try:
        inspect.signature(cls).bind()
    except TypeError:
        raise UsageError(
            f"{cls.__name__}() in {path} needs arguments: wskrecv creates the client with none"
        ) from None
    except ValueError:
        pass


def find_class(module: ModuleType, path: str, class_name: Optional[str]) -> type:
    """The client class: `class_name`, else the one class defined in the module with both
    hooks."""
    defined: list[type] = [
        v for v in vars(module).values()
        if isinstance(v, type) and v.__module__ == module.__name__
    ]
    clients = [c for c in defined if not _hooks_missing(c)]
    if class_name is not None:
        found: Any = getattr(module, class_name, None)
        if not isinstance(found, type):
            known = ", ".join(c.__name__ for c in clients) or "none"
            raise UsageError(f"{path} has no class {class_name} (client classes: {known})")
        _check_class(path, found)
        return found
    if len(clients) == 1:
        _check_class(path, clients[0])
        return clients[0]
    if len(clients) > 1:
        names = ", ".join(c.__name__ for c in clients)
        raise UsageError(f"{path} defines several client classes ({names}): choose one with --class")
    partial = [c for c in defined if len(_hooks_missing(c)) < len(HOOKS)]
    if len(partial) == 1:
        _check_class(path, partial[0])  # says what it lacks
    raise UsageError(f"{path} defines no client class ({SHAPE})")


def load_client(path: str, class_name: Optional[str] = None) -> LoadedClient:
    """Import `path` and pick its client class; UsageError (exit 2) when it cannot."""
    module, realpath = load_module(path)
    cls = find_class(module, path, class_name)
    return LoadedClient(cls, module, path, realpath)


__all__ = ["HOOKS", "LoadedClient", "find_class", "load_client", "load_module"]
