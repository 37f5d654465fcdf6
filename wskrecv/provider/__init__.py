"""Providers: the I/O side that owns a real (or in-memory) socket and feeds the WSK model."""

from wskrecv.provider.memory import MemoryProvider
from wskrecv.provider.udp import UdpProvider, open_udp

__all__ = ["MemoryProvider", "UdpProvider", "open_udp"]
