"""The selftest's cases: traffic through the real receive commands, checked exactly.

Each case starts a receiver, sends with the generator, and compares the receiver's
summary and --dump records (parsed with the wskrecv header) against the generator's
report: counts, bytes, sequence numbers, late and duplicate arrivals, sources, lengths.
Datagrams are paced where a receiver writing a JSON line per datagram must keep up even
with the small receive buffer an unprivileged user gets.
"""

from __future__ import annotations

from typing import Any

from wskrecv.generator import parse_pattern, parse_sizes
from wskrecv.generator.spec import Pattern
from wskrecv.selftest.analysis import Reception, analyse, first_difference
from wskrecv.selftest.engine import Case, CaseFailed, Context, expect
from wskrecv.selftest.host import snmp_counters
from wskrecv.selftest.receiver import Finished

V4, V6 = "127.0.0.1", "::1"
PACED = 10_000.0  # datagrams/s for cases whose receiver dumps every datagram


def _ended_cleanly(done: Finished, expected: int) -> dict[str, Any]:
    s = done.summary
    if done.status == 3:
        raise CaseFailed(f"deadline passed: received {s['received']} of {expected} "
                         f"(kernel drops {s['kernel_drops']})")
    expect(done.status == 0, f"receiver exited {done.status}: {done.stderr.strip()[-200:]}")
    expect(s["violations"] == 0, f"API violations: {s.get('violations_by_rule')}")
    return s


def _exchange(ctx: Context, case: Case, host: str, expected: int, *rx_args: str,
              **send: Any) -> tuple[Any, Any, dict[str, Any], Reception]:
    """Receiver with --count `expected` --dump, one send, the analysed result."""
    with ctx.receiver(case.style, "--count", str(expected), "--dump", *rx_args, bind=host) as rx:
        report, plan = ctx.send(host, rx.port, **send)
        done = rx.finish(ctx.timeout + 10)
    summary = _ended_cleanly(done, expected)
    return report, plan, summary, analyse(done.datagrams)


def _all_once(got: Reception, n: int) -> None:
    """Every stream carried sequence numbers 0 .. n-1, each once, intact."""
    missing = got.missing(n)
    expect(not missing, f"{len(missing)} sequence numbers missing (first {missing[:3]})")
    expect(got.duplicates == 0, f"{got.duplicates} unexpected duplicates")
    expect(got.corrupt == 0 and got.foreign == 0,
           f"{got.corrupt} corrupt and {got.foreign} foreign datagrams")


def _statistics_agree(s: dict[str, Any], late: int = 0, duplicates: int = 0) -> None:
    """The receiver's own sequence analysis in its summary must count exactly what was
    sent: nothing lost, `late` reordered, `duplicates` extra copies, every datagram
    sequenced (none late beyond the window, corrupt or without a header)."""
    want = {"lost": 0, "reordered": late, "duplicates": duplicates, "late": 0, "corrupt": 0,
            "unsequenced": 0}
    for key, value in want.items():
        expect(key in s, f"the receiver's summary has no {key} (no sequence analysis)")
        expect(s[key] == value, f"the receiver's summary says {key} {s[key]}, sent {value}")


def _implied_late(pattern: Pattern, n: int) -> int:
    """Datagrams a reorder pattern sends after a higher sequence number, over 0 .. n-1:
    every hit but the last sequence number (nothing follows it to overtake it)."""
    return sum(1 for seq in range(n - 1) if pattern.hits(seq))


def _implied_copies(pattern: Pattern, n: int) -> int:
    """Extra copies a duplicate pattern sends over 0 .. n-1."""
    return pattern.amount * sum(1 for seq in range(n) if pattern.hits(seq))


def basic(host: str, n: int = 1000) -> Any:
    def run(ctx: Context, case: Case) -> dict[str, Any]:
        report, _, s, got = _exchange(ctx, case, host, n, count=n, rate=PACED)
        expect(s["received"] == report.sent == n, f"sent {report.sent}, received {s['received']}")
        expect(s["bytes"] == report.bytes, f"sent {report.bytes} bytes, received {s['bytes']}")
        expect(s["kernel_drops"] == 0, f"kernel drops {s['kernel_drops']}")
        _all_once(got, n)
        _statistics_agree(s)
        if case.style != "event-pend":  # a worker may release lists in any order
            expect(got.in_order, f"out of order: {first_difference(got.sequences, list(range(n)))}")
        order = {"in order": True} if got.in_order else {"late": got.late}
        return {"sent": report.sent, "received": s["received"], **order}
    return run


def zero_length(ctx: Context, case: Case) -> dict[str, Any]:
    report, _, s, got = _exchange(ctx, case, V4, 3, count=3, sizes=parse_sizes("0"),
                                  seq_format="none")
    expect(s["received"] == 3 and s["bytes"] == 0, f"received {s['received']}, {s['bytes']} bytes")
    expect(got.lengths == {0: 3}, f"lengths {dict(got.lengths)}")
    return {"sent": report.sent, "received": s["received"], "bytes": s["bytes"]}


def largest(ctx: Context, case: Case) -> dict[str, Any]:
    size = 65507
    report, _, s, got = _exchange(ctx, case, V4, 3, count=3, sizes=parse_sizes(str(size)), rate=200)
    expect(s["received"] == 3, f"received {s['received']} of 3")
    expect(got.lengths == {size: 3} and s["truncated"] == 0, f"lengths {dict(got.lengths)}")
    _all_once(got, 3)
    return {"received": s["received"], "length": size, "crc": "valid"}


def truncation(ctx: Context, case: Case) -> dict[str, Any]:
    n, size, buf = 5, 1000, 100
    with ctx.receiver(case.style, "--count", str(n), "--dump", "--buffer-size", str(buf),
                      bind=V4) as rx:
        report, plan = ctx.send(V4, rx.port, count=n, sizes=parse_sizes(str(size)), rate=PACED)
        done = rx.finish(ctx.timeout + 10)
    s = _ended_cleanly(done, n)
    expect(s["truncated"] == n and s["bytes"] == n * buf,
           f"truncated {s['truncated']}, bytes {s['bytes']}; expected {n} and {n * buf}")
    for i, rec in enumerate(done.datagrams):
        data = bytes.fromhex(rec["data"])
        want = plan.expected(i)
        expect(rec["truncated"] and len(data) == buf, f"datagram {i}: {len(data)} bytes, "
               f"truncated={rec['truncated']}")
        # The first `buf` bytes as sent (the send time aside): header, then body.
        expect(data[:20] == want[:20] and data[28:] == want[28:buf],
               f"datagram {i}: the bytes kept are not the first {buf} sent")
    return {"sent": f"{n}x{size} B", "received": f"{n}x{buf} B", "MSG_TRUNC": s["truncated"]}


def fragments(host: str) -> Any:
    def run(ctx: Context, case: Case) -> dict[str, Any]:
        n, size, frag = 5, 3000, 1000
        key = "Ip6ReasmOKs" if host == V6 else "Ip.ReasmOKs"
        before = snmp_counters() or {}
        report, _, s, got = _exchange(ctx, case, host, n, count=n, sizes=parse_sizes(str(size)),
                                      fragment=frag, rate=PACED)
        after = snmp_counters() or {}
        expect(report.fragments == n * 4, f"sent {report.fragments} fragments, expected {n * 4}")
        expect(s["received"] == n and got.lengths == {size: n},
               f"received {s['received']}, lengths {dict(got.lengths)}")
        _all_once(got, n)
        reassembled = after.get(key, 0) - before.get(key, 0)
        expect(reassembled >= n, f"kernel {key} rose by {reassembled}, expected >= {n}")
        return {"fragments": report.fragments, "reassembled": s["received"],
                "length": size, "crc": "valid"}
    return run


def bad_checksum(ctx: Context, case: Case) -> dict[str, Any]:
    n = 20
    before = snmp_counters() or {}
    with ctx.receiver(case.style, "--count", "1", "--dump", bind=V4) as rx:
        bad, _ = ctx.send(V4, rx.port, count=n, bad_checksum=True)
        # A good datagram (stream 1) after the bad ones: the first thing delivered must be it.
        ctx.send(V4, rx.port, count=1, stream=1, raw=True)
        done = rx.finish(ctx.timeout + 10)
    after = snmp_counters() or {}
    s = _ended_cleanly(done, 1)
    got = analyse(done.datagrams)
    delivered = [key[2] for key in got.streams]
    expect(got.count == 1 and delivered == [1],
           f"delivered stream ids {delivered}: a bad checksum got through")
    errors = after.get("Udp.InCsumErrors", 0) - before.get("Udp.InCsumErrors", 0)
    expect(errors >= n, f"InCsumErrors rose by {errors}, expected >= {n}")
    return {"bad sent": bad.sent, "delivered": s["received"] - 1, "InCsumErrors": f"+{errors}"}


def reorder(ctx: Context, case: Case) -> dict[str, Any]:
    n = 1000
    pattern = parse_pattern("reorder", "10:3")
    report, _, s, got = _exchange(ctx, case, V4, n, count=n, rate=PACED, reorder=pattern)
    _all_once(got, n)
    implied = _implied_late(pattern, n)
    expect(report.reordered == implied, f"the pattern implies {implied} late, sent {report.reordered}")
    expect(got.late == report.reordered > 0,
           f"sent {report.reordered} late, receiver saw {got.late} late")
    _statistics_agree(s, late=implied)
    return {"sent": report.sent, "late sent": report.reordered, "late received": got.late}


def duplicate(ctx: Context, case: Case) -> dict[str, Any]:
    n = 700
    pattern = parse_pattern("duplicate", "7:2")
    wire = n + (n // 7) * 2
    report, _, s, got = _exchange(ctx, case, V4, wire, count=n, rate=PACED, duplicate=pattern)
    expect(report.sent == s["received"] == wire, f"sent {report.sent}, received {s['received']}")
    expect(got.duplicates == report.duplicated > 0,
           f"sent {report.duplicated} copies, receiver saw {got.duplicates}")
    expect(got.distinct == n and not got.missing(n), f"{got.distinct} distinct of {n}")
    implied = _implied_copies(pattern, n)
    expect(report.duplicated == implied, f"the pattern implies {implied} copies, sent {report.duplicated}")
    _statistics_agree(s, duplicates=implied)
    return {"sent": report.sent, "copies sent": report.duplicated, "copies received": got.duplicates}


def sources(raw: bool) -> Any:
    def run(ctx: Context, case: Case) -> dict[str, Any]:
        addrs = ["127.0.0.66", "127.0.0.67"] if raw else [f"127.0.0.{i}" for i in range(2, 6)]
        n = 100 * len(addrs)
        extra: dict[str, Any] = {"raw": True, "ttl": 1} if raw else {}
        report, _, s, got = _exchange(ctx, case, V4, n, count=n, rate=PACED,
                                      sources=tuple(addrs), **extra)
        want = {src: 100 for src in report.sources}
        expect(dict(got.sources) == want, f"per source {dict(got.sources)}, sent {want}")
        # Each source numbers its own datagrams: one complete stream per source.
        expect(len(got.streams) == len(addrs), f"{len(got.streams)} streams, {len(addrs)} sources")
        _all_once(got, 100)
        _statistics_agree(s)
        return {"sources": len(want), "each": 100, "received": s["received"]}
    return run


def cancel(ctx: Context, case: Case) -> dict[str, Any]:
    outstanding = 8
    with ctx.receiver(case.style, "--outstanding", str(outstanding), "--interval", "0.05",
                      bind=V4) as rx:
        ctx.send(V4, rx.port, count=3)
        seen = rx.wait(lambda objs: any(o.get("type") == "interval" and o["received"] >= 3
                                        for o in objs), ctx.timeout)
        expect(seen, "the 3 datagrams were not received")
        rx.interrupt()
        done = rx.finish(ctx.timeout)
    s = _ended_cleanly(done, 3)
    expect(s.get("reason") == "interrupted", f"ended by {s.get('reason')!r}")
    expect(s["cancellations"] == outstanding and s["outstanding"] == 0 and s["failures"] == 0,
           f"cancellations {s['cancellations']}, outstanding {s['outstanding']}, "
           f"failures {s['failures']}; expected {outstanding} STATUS_CANCELLED")
    return {"received": s["received"], "STATUS_CANCELLED": s["cancellations"], "exit": done.status}


def pool_burst(ctx: Context, case: Case) -> dict[str, Any]:
    pool, n = 8, 5000
    with ctx.receiver(case.style, "--hold", "50", "--pool", str(pool), "--rcvbuf", "4096",
                      "--interval", "0.05", bind=V4) as rx:
        report, _ = ctx.send(V4, rx.port, count=n)
        settled = rx.wait(
            lambda objs: any(o.get("type") == "interval"
                             and o["received"] + o["kernel_drops"] >= report.sent for o in objs),
            ctx.timeout)
        rx.interrupt()
        done = rx.finish(ctx.timeout)
    s = _ended_cleanly(done, n)
    accounted = s["received"] + s["kernel_drops"]
    expect(settled and accounted == report.sent,
           f"sent {report.sent}, received {s['received']} + kernel drops {s['kernel_drops']}")
    expect(s["kernel_drops"] > 0, "no kernel drops: the pool never ran dry")
    expect(s.get("pool_high_water") == pool, f"pool high water {s.get('pool_high_water')}, "
           f"expected pinned at {pool}")
    expect(s.get("released") == s["received"] and s.get("leaked") == 0
           and s.get("pool_in_use") == 0,
           f"released {s.get('released')} of {s['received']}, leaked {s.get('leaked')}, "
           f"pool in use {s.get('pool_in_use')}")
    return {"sent": report.sent, "received": s["received"], "kernel drops": s["kernel_drops"],
            "pool high water": s.get("pool_high_water"), "leaked": s.get("leaked")}


def cancel_pending(ctx: Context, case: Case) -> dict[str, Any]:
    n = 40
    # Held long enough that Ctrl-C comes while every list is still pended.
    with ctx.receiver(case.style, "--hold", "30000", "--interval", "0.05", bind=V4) as rx:
        ctx.send(V4, rx.port, count=n)
        held = rx.wait(lambda objs: any(o.get("type") == "interval" and o.get("pool_in_use") == n
                                        for o in objs), ctx.timeout)
        expect(held, f"the {n} datagrams were never all held (pool_in_use)")
        rx.interrupt()
        done = rx.finish(ctx.timeout)
    s = _ended_cleanly(done, n)
    expect(s["received"] == s.get("released") == n,
           f"received {s['received']}, released {s.get('released')}, expected {n}")
    expect(s.get("leaked") == 0 and s.get("pool_in_use") == 0,
           f"after Ctrl-C: leaked {s.get('leaked')}, pool in use {s.get('pool_in_use')}")
    return {"held at Ctrl-C": n, "released": s.get("released"), "leaked": s.get("leaked")}


def reject(ctx: Context, case: Case) -> dict[str, Any]:
    n = 300
    report, _, s, got = _exchange(ctx, case, V4, n, "--reject-every", "3", count=n, rate=PACED)
    _all_once(got, n)
    expect(got.in_order, f"out of order: {first_difference(got.sequences, list(range(n)))}")
    expect(s.get("rejected", 0) > 0, "no callback returned STATUS_DATA_NOT_ACCEPTED")
    return {"received": s["received"], "rejected": s.get("rejected"), "in order": True}


def broadcast(ctx: Context, case: Case) -> dict[str, Any]:
    """Datagrams sent to loopback's broadcast address arrive flagged MSG_BCAST (the IRP's
    ControlFlags, the callback's Flags), each once."""
    n = 200
    with ctx.receiver(case.style, "--count", str(n), "--dump", bind="0.0.0.0") as rx:
        report, _ = ctx.send("127.255.255.255", rx.port, count=n, rate=PACED)
        done = rx.finish(ctx.timeout + 10)
    s = _ended_cleanly(done, n)
    got = analyse(done.datagrams)
    _all_once(got, n)
    expect(s.get("broadcast") == n and s.get("multicast") == 0,
           f"MSG_BCAST on {s.get('broadcast')} of {n} datagrams, MSG_MCAST on "
           f"{s.get('multicast')}")
    return {"sent": report.sent, "MSG_BCAST": s.get("broadcast")}


def partial_release(ctx: Context, case: Case) -> dict[str, Any]:
    """--keep-every 2: each callback retains every second datagram of its list (a list of
    one: that one) for a worker (STATUS_PENDING) and releases the rest from inside the
    callback: all counted once, in order, no leak."""
    n = 600
    report, _, s, got = _exchange(ctx, case, V4, n, "--keep-every", "2", "--hold", "5",
                                  count=n, rate=PACED)
    _all_once(got, n)
    expect(got.in_order, f"out of order: {first_difference(got.sequences, list(range(n)))}")
    inside = s.get("released_in_callback", 0)
    expect(s.get("released") == s["received"] == n,
           f"released {s.get('released')} of {s['received']} (sent {n})")
    # A list of L keeps max(1, L // 2) and releases the rest inside the callback: between
    # (L - 1) / 2 and L - 1 of it. Summed over the lists (one pend each), whatever lengths
    # the reads gave (paced lists of one release nothing inside).
    lists = s.get("pended", 0)
    expect(lists > 0 and (n - lists) / 2 <= inside <= n - lists,
           f"{inside} released inside the callback, expected between (n - lists) / 2 and "
           f"n - lists for {n} datagrams in {lists} lists")
    expect(s.get("leaked") == 0 and s.get("pool_in_use") == 0,
           f"pended {lists}, leaked {s.get('leaked')}, pool {s.get('pool_in_use')}")
    return {"received": s["received"], "released in callback": inside,
            "released later": n - inside}


def static_callbacks(ctx: Context, case: Case) -> dict[str, Any]:
    """WSK_SET_STATIC_EVENT_CALLBACKS before the socket: the callback is on without
    SO_WSK_EVENT_CALLBACK, and every datagram arrives once."""
    n = 500
    with ctx.receiver(case.style, "--count", str(n), "--dump", "--static-callbacks",
                      bind=V4) as rx:
        report, _ = ctx.send(V4, rx.port, count=n, rate=PACED)
        done = rx.finish(ctx.timeout + 10)
    s = _ended_cleanly(done, n)
    _all_once(analyse(done.datagrams), n)
    expect(s.get("callbacks", 0) > 0, "the static callback was never called")
    return {"received": s["received"], "callbacks": s.get("callbacks")}


def all_cases() -> list[Case]:
    """Every case, in the order they run."""
    cases = []
    for style in ("irp", "event", "event-pend"):
        cases.append(Case("ipv4", style, "IPv4 basics: 1000 datagrams, each once", basic(V4)))
        cases.append(Case("ipv6", style, "IPv6 basics: 1000 datagrams, each once", basic(V6),
                          ("ipv6",)))
    for style in ("irp", "event"):
        cases.append(Case("zero-length", style, "zero-length datagrams", zero_length))
        cases.append(Case("largest", style, "the largest IPv4 datagram (65507 bytes)", largest))
    cases.append(Case("truncation", "irp", "truncation into a 100-byte buffer (MSG_TRUNC)",
                      truncation))
    for style in ("irp", "event"):
        cases.append(Case("reorder", style, "reorder pattern: exact late count", reorder))
        cases.append(Case("duplicate", style, "duplicate pattern: exact copy count", duplicate))
        cases.append(Case("sources", style, "several sources (bound 127.0.0.x)", sources(False)))
    cases.append(Case("fragments-ipv4", "irp", "scapy IPv4 fragments, reassembled",
                      fragments(V4), ("raw", "snmp")))
    cases.append(Case("fragments-ipv6", "irp", "scapy IPv6 fragments, reassembled",
                      fragments(V6), ("raw", "snmp", "ipv6")))
    cases.append(Case("bad-checksum", "irp", "bad UDP checksum: dropped, counted",
                      bad_checksum, ("raw", "snmp")))
    cases.append(Case("raw-sources", "irp", "spoofed loopback sources, TTL 1 (raw)",
                      sources(True), ("raw",)))
    cases.append(Case("cancel", "irp", "Ctrl-C cancels outstanding IRPs", cancel))
    cases.append(Case("reject", "event", "DATA_NOT_ACCEPTED and re-indication", reject,
                      ("option:event:--reject-every",)))
    for style in ("irp", "event"):
        cases.append(Case("broadcast", style, "to 127.255.255.255: MSG_BCAST, each once",
                          broadcast))
    cases.append(Case("partial-release", "event", "WskRelease inside the callback, rest pended",
                      partial_release, ("option:event:--keep-every",)))
    cases.append(Case("static-callbacks", "event", "WSK_SET_STATIC_EVENT_CALLBACKS",
                      static_callbacks, ("option:event:--static-callbacks",)))
    cases.append(Case("pool-burst", "event-pend", "burst into a tiny pool: kernel drops, no leak",
                      pool_burst, ("option:event:--pool", "option:event:--hold")))
    cases.append(Case("cancel-pend", "event-pend", "Ctrl-C while lists are pended: no leak",
                      cancel_pending, ("option:event:--hold",)))
    return cases
