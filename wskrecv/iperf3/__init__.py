"""An iperf3 UDP server inside wskrecv (`wskrecv listen --iperf3`, `wskrecv event --iperf3`).

The protocol is kept apart from its I/O, as in h11: `protocol` (wire constants and
framing), `control` (one control connection's state machine), `params` (what is served,
what refused), `server` (a test's lifecycle, stream connects and results, no sockets);
`counting` reads wskrecv's statistics for it, and `service` carries its sockets in the
receive loop beside the UDP socket.
"""

from __future__ import annotations
