"""Statistics: mutable counters updated on the receive path, frozen snapshots for output."""

from wskrecv.stats.recorder import Recorder
from wskrecv.stats.snapshot import Snapshot

__all__ = ["Recorder", "Snapshot"]
