"""The receiver applications, written as a WSK client driver would write them."""

from wskrecv.apps.base import Receiver, ReceiverBase
from wskrecv.apps.event import EventReceiver
from wskrecv.apps.irp import IrpReceiver

__all__ = ["EventReceiver", "IrpReceiver", "Receiver", "ReceiverBase"]
