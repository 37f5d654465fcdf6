"""The TOS byte (IPv4) or traffic class (IPv6): its DSCP and ECN parts, named as the RFCs
name them, for `wskrecv send --tos` and for the outputs that count received values.

The byte is DSCP (six bits, RFC 2474) then ECN (two bits, RFC 3168): TOS = DSCP << 2 |
ECN. The names: class selectors CS0-CS7 (RFC 2474), assured forwarding AF11-AF43 (RFC
2597), expedited forwarding EF (RFC 3246), VOICE-ADMIT (RFC 5865), lower effort LE (RFC
8622); ECN Not-ECT, ECT(1), ECT(0) and CE.
"""

from __future__ import annotations

from typing import Optional

DSCP_NAMES: dict[int, str] = {
    **{8 * i: f"CS{i}" for i in range(8)},
    **{8 * c + 2 * d: f"AF{c}{d}" for c in range(1, 5) for d in range(1, 4)},
    46: "EF",
    44: "VOICE-ADMIT",
    1: "LE",
}
_BY_NAME = {name: value for value, name in DSCP_NAMES.items()}
ECN_NAMES = ("Not-ECT", "ECT(1)", "ECT(0)", "CE")


def dscp(tos: int) -> int:
    return tos >> 2


def ecn(tos: int) -> int:
    return tos & 3


def describe(tos: int) -> str:
    """'0xb8 DSCP 46 EF, ECN Not-ECT' (the DSCP's name when it has one)."""
    name = DSCP_NAMES.get(dscp(tos))
    return (f"0x{tos:02x} DSCP {dscp(tos)}{' ' + name if name else ''}, "
            f"ECN {ECN_NAMES[ecn(tos)]}")


def parse_tos(text: str) -> Optional[int]:
    """A TOS byte from the command line: a number 0-255 (decimal, 0x hex), or a DSCP name
    (EF, AF41, CS1, LE...; case does not matter), optionally with an ECN codepoint after a
    '+': EF+CE, AF41+ECT(0), AF41+ect0. None when it is neither."""
    text = text.strip()
    try:
        value = int(text, 0)
    except ValueError:
        pass
    else:
        return value if 0 <= value <= 255 else None
    name, _, ecn_text = text.partition("+")
    value = _BY_NAME.get(name.upper())
    if value is None:
        return None
    if not ecn_text:
        return value << 2
    codepoints = {n.upper().replace("(", "").replace(")", ""): i for i, n in enumerate(ECN_NAMES)}
    code = codepoints.get(ecn_text.upper().replace("(", "").replace(")", ""))
    return None if code is None else value << 2 | code


__all__ = ["DSCP_NAMES", "ECN_NAMES", "describe", "dscp", "ecn", "parse_tos"]
