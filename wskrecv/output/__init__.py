"""Reporters: render snapshots as human lines (stderr) or JSON lines (stdout)."""

from wskrecv.output.human import HumanReporter
from wskrecv.output.jsonl import JsonReporter

__all__ = ["HumanReporter", "JsonReporter"]
