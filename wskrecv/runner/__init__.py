"""The receive loop and its run: OS socket -> provider -> WSK model -> application ->
statistics -> outputs.

- contracts.py: what a run is given (provider, reporter, sidecar; limits) and gives
  back (RunResult);
- loop.py: the Runner, the loop in named steps (time, stop requests, limits, reads,
  waits);
- arrivals.py: arrival times and the hand-out of kept datagrams to --dump/--pcap;
- finish.py: the end of a run (what was left unread, judging, the summary);
- faults.py: how faults travel inside the loop and the one line each becomes.
"""

from __future__ import annotations

from wskrecv.runner.contracts import CLIENT_FAULT, Limits, Provider, Reporter, RunResult, Sidecar
from wskrecv.runner.loop import Runner

__all__ = ["CLIENT_FAULT", "Limits", "Provider", "Reporter", "RunResult", "Runner", "Sidecar"]
