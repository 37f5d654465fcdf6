"""wskrecv: a UDP receiver built on a faithful model of the Windows WSK datagram API."""

__version__ = "0.1.0"
