"""The receive loop and its run: OS socket -> provider -> WSK model (where the receiver's
client runs and the host counts what it accepts) -> statistics -> outputs.

- contracts.py: what a run is given (provider, receiver, reporter, sidecar; limits) and
  gives back (RunResult);
- loop.py: the Runner, the loop in named steps (time, stop requests, limits, reads,
  waits), and its end;
- arrivals.py: arrival times and the hand-out of kept datagrams to --dump/--pcap;
- finish.py: judging the end of a run (what was left unread, the deadline, the --max-*
  thresholds), without the runner;
- faults.py: how faults travel inside the loop and the one line each becomes;
- heap.py: what start-up built, frozen out of the collector's reach while a run receives
  (a full collection of it paused the receive thread for tens of milliseconds).
"""

from __future__ import annotations

from wskrecv.runner.contracts import (
    Limits,
    Provider,
    Receiver,
    Reporter,
    RunResult,
    Sidecar,
    StopRequest,
)
from wskrecv.runner.loop import Runner

__all__ = ["Limits", "Provider", "Receiver", "Reporter", "RunResult", "Runner", "Sidecar",
           "StopRequest"]
