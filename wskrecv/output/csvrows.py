"""`--csv`: interval rows on standard output in iperf2's `-y C` layout, for the scripts
written against iperf2's UDP server reports.

iperf2 (ReportCSV.c, Locale.c's reportCSV_peer and reportCSV_bw_jitter_loss_format) writes
one line per report, no header, fourteen fields:

    timestamp,local_address,local_port,remote_address,remote_port,id,interval,bytes,
    bits_per_second,jitter_ms,lost,total,lost_percent,out_of_order

`timestamp` is the local time as YYYYMMDDHHMMSS, `interval` "START-END" in seconds since
the start (one decimal), and the counts cover that interval. wskrecv writes one row per
interval for all the traffic (id -1, the remote fields empty: iperf2's [SUM] id), and with
--per-stream one more per stream (the remote is the stream's source, the id its stream
id); at the end, the same rows for the whole run (interval 0.0-END). `lost` and `total` are
the interval's lost and expected sequences (iperf2's "datagrams": received + lost), `jitter_ms`
the RFC 3550 estimate at the end of the interval (empty without send times).
"""

from __future__ import annotations

import time
from typing import IO, Any, Optional

from wskrecv.addresses import plain_host
from wskrecv.stats.snapshot import Snapshot

SUM_ID = -1  # the id of the row for all the traffic (iperf2's [SUM] rows)


def _stamp(ns: Optional[int]) -> str:
    seconds = ns / 1e9 if ns is not None else time.time()
    return time.strftime("%Y%m%d%H%M%S", time.localtime(seconds))


def _jitter(ns: Optional[float]) -> str:
    return f"{ns / 1e6:.3f}" if ns is not None else ""


def _pct(lost: int, total: int) -> str:
    return f"{100.0 * lost / total:.3f}" if total > 0 else "0.000"


def csv_row(stamp: str, local: tuple[str, int], remote: tuple[str, str], ident: int,
            start: float, end: float, nbytes: int, jitter_ns: Optional[float], lost: int,
            total: int, out_of_order: int) -> str:
    """One line in iperf2's -y C layout (see the module's docstring)."""
    seconds = end - start
    rate = round(nbytes * 8 / seconds) if seconds > 0 else 0
    return (f"{stamp},{local[0]},{local[1]},{remote[0]},{remote[1]},{ident},"
            f"{start:.1f}-{end:.1f},{nbytes},{rate},{_jitter(jitter_ns)},{lost},{total},"
            f"{_pct(lost, total)},{out_of_order}")


class CsvReporter:
    """Wraps the run's reporter (human lines or the dashboard on stderr): every interval
    and the summary also write CSV rows to `stream` (standard output). Everything else
    goes to the wrapped reporter."""

    def __init__(self, inner: Any, stream: IO[str], per_stream: bool = False) -> None:
        self.inner = inner
        self.stream = stream
        self.per_stream = per_stream  # the summary's rows per stream too
        self.local = ("", 0)
        self._reordered = 0  # the run's reordered count at the previous interval

    @property
    def frame_interval(self) -> Optional[float]:
        return self.inner.frame_interval

    def start(self, info: dict[str, Any]) -> None:
        self.local = (plain_host(str(info.get("address", ""))), int(info.get("port", 0)))
        self.inner.start(info)

    def _write(self, rows: list[str]) -> None:
        self.stream.write("".join(row + "\n" for row in rows))
        self.stream.flush()

    def interval(self, snap: Snapshot) -> None:
        stamp = _stamp(snap.time_ns)
        start = snap.elapsed_s - snap.interval_s
        rows = [csv_row(stamp, self.local, ("", ""), SUM_ID, start, snap.elapsed_s,
                        snap.interval_bytes, snap.jitter_ns, snap.interval_lost,
                        snap.interval_expected, snap.reordered - self._reordered)]
        self._reordered = snap.reordered
        for r in snap.stream_rows:
            rows.append(csv_row(stamp, self.local, (r.address, str(r.port)), r.stream, start,
                                snap.elapsed_s, r.interval_bytes, r.jitter_ns, r.interval_lost,
                                r.interval_expected, r.interval_reordered))
        self._write(rows)
        self.inner.interval(snap)

    def summary(self, snap: Snapshot, status: Any, reason: str, **kwargs: Any) -> None:
        stamp = _stamp(snap.time_ns)
        end = snap.elapsed_s
        rows = [csv_row(stamp, self.local, ("", ""), SUM_ID, 0.0, end, snap.bytes, snap.jitter_ns,
                        snap.lost, snap.expected, snap.reordered)]
        if self.per_stream:
            rows += [csv_row(stamp, self.local, (r.address, str(r.port)), r.stream, 0.0, end,
                             r.bytes, r.jitter_ns, r.lost, r.expected, r.reordered)
                     for r in snap.stream_rows]
        self._write(rows)
        self.inner.summary(snap, status, reason, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


__all__ = ["CsvReporter", "SUM_ID", "csv_row"]
