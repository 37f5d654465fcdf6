"""The receiver applications, written as a WSK client driver would write them."""

from wskrecv.apps.base import Receiver
from wskrecv.apps.irp import IrpReceiver

__all__ = ["IrpReceiver", "Receiver"]
