"""Standard output with one clear failure: a write that fails is an OutputFailed.

`wskrecv ... >/dev/full` (a full disk, a dead terminal, an I/O error) must end with one
line on stderr and exit 1 in every command, `--help` included, not with a traceback from
wherever the write happened to be (click printing help, a reporter, a dump line, the
final flush at exit). `cli.main` puts a `GuardedOutput` in place of `sys.stdout` before
anything is written, so every writer (click, the Environment, the reporters) goes through
it. A reader that went away stays a BrokenPipeError: that ends a run quietly, with
success (`| head -1`).
"""

from __future__ import annotations

from typing import Any

from wskrecv.errors import OutputFailed


class GuardedOutput:
    """A text (or, as `.buffer`, binary) stream whose failed writes raise OutputFailed.
    Everything else is the wrapped stream's own (encoding, isatty, fileno...)."""

    def __init__(self, stream: Any, name: str = "standard output") -> None:
        self._stream = stream
        self._name = name
        self.failed = False  # a write failed: what is left in the stream's buffer is lost

    def _failure(self, exc: OSError) -> OutputFailed:
        self.failed = True
        return OutputFailed(f"cannot write {self._name}: {exc.strerror or exc}")

    def failure(self, exc: OSError) -> BaseException:
        """What a failed write of this stream raises, for a writer that wrote its bytes by
        other means (output/queued.py): BrokenPipeError stays itself."""
        return exc if isinstance(exc, BrokenPipeError) else self._failure(exc)

    def write(self, data: Any) -> int:
        try:
            return self._stream.write(data)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failure(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failure(exc) from None

    @property
    def buffer(self) -> GuardedOutput:
        """The byte stream underneath (`--pcap -`), guarded alike."""
        return GuardedOutput(self._stream.buffer, self._name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


__all__ = ["GuardedOutput"]
