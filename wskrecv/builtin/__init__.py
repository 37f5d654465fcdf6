"""The clients `wskrecv listen` and `wskrecv event` run: two WSK clients written against
wskrecv.client, hosted like any `wskrecv run` client (wskrecv.hosting.host)."""

from wskrecv.builtin.base import BuiltinClient
from wskrecv.builtin.event import EventClient
from wskrecv.builtin.irp import IrpClient

__all__ = ["BuiltinClient", "EventClient", "IrpClient"]
