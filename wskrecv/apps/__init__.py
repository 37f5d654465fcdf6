"""The clients `wskrecv listen` and `wskrecv event` run: two WSK clients written against
wskrecv.client, hosted like any `wskrecv run` client (wskrecv.client.host)."""

from wskrecv.apps.base import BuiltinClient, Receiver
from wskrecv.apps.event import EventClient
from wskrecv.apps.irp import IrpClient

__all__ = ["BuiltinClient", "EventClient", "IrpClient", "Receiver"]
