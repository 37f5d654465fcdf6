"""I/O request packets: allocation, completion routines, cancellation, reuse.

Spelled after the WDM routines a driver calls (IoAllocateIrp, IoSetCompletionRoutine,
IoReuseIrp, IoCancelIrp, IoFreeIrp). State changes go through `_state.step` and its table.

"Using IRPs with Winsock Kernel Functions" (learn.microsoft.com, windows-hardware/drivers/
network): a WSK application that allocated its IRP (or reuses one it allocated, after
IoReuseIrp) must set an IoCompletion routine before calling a WSK function, with
InvokeOnSuccess, InvokeOnError and InvokeOnCancel all TRUE, and the routine must return
STATUS_MORE_PROCESSING_REQUIRED. IoReuseIrp reinitialises the IRP (IoReuseIrp, wdm.h), which
clears its stack location and so the completion routine: msquic's kernel datapath
(datapath_winkernel.c) calls IoSetCompletionRoutine again after every IoReuseIrp.

IoAllocateIrp (wdm.h): "The allocating driver must free the IRP"; IoFreeIrp is its
reciprocal. Driver Verifier's Pool Tracking checks it at unload: allocations never freed
are bug check 0xC4, parameter 0x62. `IrpTracker` is that check for IRPs: a client's
registration (WskRegister) has one, and every IRP it allocated and did not free by
WskDeregister is a leak (`IrpLeaked`), blamed on its IoAllocateIrp call.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Protocol

from wskrecv.wsk._state import TRANSITIONS, IrpEvent, IrpState, begin, step
from wskrecv.wsk.status import NTSTATUS, STATUS_CANCELLED, STATUS_MORE_PROCESSING_REQUIRED
from wskrecv.wsk.types import alias
from wskrecv.wsk.verifier import RULES, Verifier


class AllocationFaults(Protocol):
    """Fault injection's say in IoAllocateIrp (inject.Injector): whether this one fails."""

    def fail_alloc(self) -> bool: ...

# Members as plain names: reading one off its Enum class costs about 0.1 us, and these are
# read for every request.
_SUBMIT, _COMPLETE, _REUSE = IrpEvent.SUBMIT, IrpEvent.COMPLETE, IrpEvent.REUSE
_CANCEL = IrpEvent.CANCEL

# routine(device_object, irp, context) -> NTSTATUS, as IO_COMPLETION_ROUTINE.
CompletionRoutine = Callable[[Any, "Irp", Any], int]
CancelRoutine = Callable[["Irp"], None]


class IoStatus:
    """IO_STATUS_BLOCK: the final status and, for receives, the bytes received."""

    __slots__ = ("status", "information")

    def __init__(self) -> None:
        self.status: int = NTSTATUS.SUCCESS
        self.information: int = 0

    def __repr__(self) -> str:
        return f"IoStatus(Status=0x{self.status:08X}, Information={self.information})"


alias(IoStatus, Status="status", Information="information")  # IO_STATUS_BLOCK's names


class Irp:
    """An IRP. Fields are public so application code reads them as a driver would."""

    __slots__ = (
        "state",
        "io_status",
        "completion_routine",
        "context",
        "invoke_always",
        "cancel",
        "cancel_routine",
        "verifier",
        "request",
        "tracker",
    )

    def __init__(self) -> None:
        begin(self, IrpState.IDLE)
        self.io_status = IoStatus()
        self.completion_routine: Optional[CompletionRoutine] = None
        self.context: Any = None
        self.invoke_always = False  # InvokeOnSuccess, InvokeOnError and InvokeOnCancel
        self.cancel = False  # Irp->Cancel
        self.cancel_routine: Optional[CancelRoutine] = None  # set by the provider
        self.verifier: Optional[Verifier] = None  # the last socket's verifier
        self.request: Any = None  # the provider's record of what was asked (DriverContext)
        self.tracker: Optional[IrpTracker] = None  # who counts it until IoFreeIrp

    def __repr__(self) -> str:
        return f"<Irp {self.state.value} {self.io_status!r}>"

    def submit(self, verifier: Verifier) -> None:
        """A WSK function takes the IRP: it must have a completion routine that is always
        invoked (`IrpWithoutCompletionRoutine`, raised before the IRP changes hands; a
        state the table forbids submitting in is named first)."""
        self.verifier = verifier
        if not self.invoke_always and (self.state, _SUBMIT) in TRANSITIONS:
            if self.completion_routine is None:
                raise verifier.record(
                    "IrpWithoutCompletionRoutine",
                    "submitted without a completion routine (IoReuseIrp clears it: "
                    "call IoSetCompletionRoutine after every IoReuseIrp)",
                )
            raise verifier.record(
                "IrpWithoutCompletionRoutine",
                "completion routine not invoked on success, error and cancel alike "
                "(WSK needs InvokeOnSuccess, InvokeOnError and InvokeOnCancel TRUE)",
            )
        step(self, _SUBMIT, verifier)


alias(Irp, IoStatus="io_status", Cancel="cancel")  # Irp->IoStatus, Irp->Cancel


class IrpTracker:
    """The IRPs allocated and not yet freed, each with where it was allocated (Driver
    Verifier's Pool Tracking, for IRPs): a client's registration has one (wsk/client.py).
    `verifier.locate` says where the allocating call is (asked with no culprit); without
    a locator: nowhere."""

    def __init__(self, verifier: Optional[Verifier] = None,
                 faults: Optional[AllocationFaults] = None) -> None:
        self.verifier = verifier
        self.faults = faults  # fault injection: IoAllocateIrp may return NULL (`alloc`)
        self.live: dict[Irp, Optional[str]] = {}  # insertion order: allocation order

    def allocated(self, irp: Irp) -> None:
        irp.tracker = self
        locate = self.verifier.locate if self.verifier is not None else None
        self.live[irp] = locate(None) if locate is not None else None

    def freed(self, irp: Irp) -> None:
        self.live.pop(irp, None)

    def outstanding(self) -> list[tuple[Irp, Optional[str]]]:
        """The IRPs still allocated, oldest first, with their IoAllocateIrp sites."""
        return list(self.live.items())


def io_allocate_irp(tracker: Optional[IrpTracker] = None, stack_size: int = 1) -> Optional[Irp]:
    """IoAllocateIrp: a new IRP the application owns (and must free with IoFreeIrp),
    counted by `tracker` (its client's registration's) until then; None (NULL) when the
    allocation fails, as fault injection (`alloc`, Low Resources Simulation) makes it. A
    WSK application allocates it "with at least one I/O stack location": a `stack_size`
    below one is the IrpWithoutStackLocation rule, counted (the IRP is returned all the
    same, so the run goes on and the report shows the line)."""
    if tracker is not None and tracker.faults is not None and tracker.faults.fail_alloc():
        return None
    irp = Irp()
    if tracker is not None:
        tracker.allocated(irp)
        irp.verifier = tracker.verifier
    if not (type(stack_size) is int and stack_size >= 1):
        detail = f"IoAllocateIrp(StackSize={stack_size!r}): a WSK request needs one I/O stack location"
        if irp.verifier is None:
            raise RULES["IrpWithoutStackLocation"](detail)
        irp.verifier.record("IrpWithoutStackLocation", detail)
    return irp


def io_set_completion_routine(
    irp: Irp,
    routine: CompletionRoutine,
    context: Any = None,
    invoke_on_success: bool = True,
    invoke_on_error: bool = True,
    invoke_on_cancel: bool = True,
) -> None:
    """IoSetCompletionRoutine: `routine(None, irp, context)` runs when the IRP completes.

    WSK wants all three Invoke flags TRUE for an IRP the application allocated; anything
    else is the `IrpWithoutCompletionRoutine` violation when the IRP is submitted."""
    irp.completion_routine = routine
    irp.context = context
    irp.invoke_always = invoke_on_success and invoke_on_error and invoke_on_cancel


def io_reuse_irp(irp: Irp, status: int = NTSTATUS.SUCCESS) -> None:
    """IoReuseIrp: reinitialise a completed IRP so it can be submitted again.

    Like the real routine it clears the completion routine and its context: set them
    again (IoSetCompletionRoutine) before the next WSK call."""
    step(irp, _REUSE, irp.verifier)
    irp.io_status.status = status
    irp.io_status.information = 0
    irp.cancel = False
    irp.cancel_routine = None
    irp.request = None
    irp.completion_routine = None
    irp.context = None
    irp.invoke_always = False


def io_free_irp(irp: Irp) -> None:
    """IoFreeIrp: the IRP is gone (its tracker stops counting it)."""
    step(irp, IrpEvent.FREE, irp.verifier)
    if irp.tracker is not None:
        irp.tracker.freed(irp)


def io_cancel_irp(irp: Irp) -> bool:
    """IoCancelIrp: set the IRP's Cancel bit ("In either case, the IRP's cancel bit is set
    to TRUE") and call its cancel routine, if it has one: a pending receive completes with
    STATUS_CANCELLED.

    Returns True when a cancel routine was called; cancelling an IRP that already
    completed (the classic race) sets the bit and returns False. A freed IRP is gone:
    cancelling it is IrpUsedAfterFree.
    """
    step(irp, _CANCEL, irp.verifier, "IoCancelIrp")
    irp.cancel = True
    routine = irp.cancel_routine
    if routine is None:
        return False
    irp.cancel_routine = None
    routine(irp)
    return True


def io_complete_request(irp: Irp, status: int, information: int = 0) -> None:
    """IoCompleteRequest, used by the provider side only: finish the IRP and run its routine.

    A completion routine that returns anything but STATUS_MORE_PROCESSING_REQUIRED is
    counted as `BadCompletionReturn` (it would let the I/O manager free an IRP the
    application still uses).
    """
    step(irp, _COMPLETE, irp.verifier)
    irp.cancel_routine = None
    iosb = irp.io_status
    iosb.status = status
    iosb.information = information
    routine = irp.completion_routine
    if routine is None:
        return
    result = routine(None, irp, irp.context)
    if result != STATUS_MORE_PROCESSING_REQUIRED and irp.verifier is not None:
        irp.verifier.record(
            "BadCompletionReturn",
            f"completion routine returned {result!r}, expected STATUS_MORE_PROCESSING_REQUIRED",
            culprit=routine,
        )


__all__ = [
    "CompletionRoutine",
    "IoStatus",
    "Irp",
    "IrpTracker",
    "STATUS_CANCELLED",
    "io_allocate_irp",
    "io_cancel_irp",
    "io_complete_request",
    "io_free_irp",
    "io_reuse_irp",
    "io_set_completion_routine",
]
