"""The traffic generator behind `wskrecv send`: loopback only.

Plain runs write payloads to UDP sockets held open; raw-IP runs (--fragment,
--bad-checksum, --raw) have scapy craft each packet shape once and write the bytes to a
raw socket. Importing this package does not import scapy: only a raw run does.
"""

from wskrecv.generator.order import SendOrder
from wskrecv.generator.pacer import Pacer
from wskrecv.generator.payloads import PayloadPlan
from wskrecv.generator.sender import Sender, SendReport, open_transport
from wskrecv.generator.spec import (
    SEQ_FORMATS,
    Destination,
    Pattern,
    SendSpec,
    SizeItem,
    SpecError,
    check_source,
    mean_size,
    parse_pattern,
    parse_sizes,
    resolve_destination,
    validate,
)

__all__ = [
    "SEQ_FORMATS",
    "Destination",
    "Pacer",
    "Pattern",
    "PayloadPlan",
    "SendOrder",
    "SendReport",
    "SendSpec",
    "Sender",
    "SizeItem",
    "SpecError",
    "check_source",
    "mean_size",
    "open_transport",
    "parse_pattern",
    "parse_sizes",
    "resolve_destination",
    "validate",
]
