"""ipmonitor: the IPMonitor class of the PCAP Filter reference, on libipmonitor.

The class and its event-params types live in the C extension `_ipmonitor`;
this file adds what is easier in Python: the `Constants` class of the
vendor's other editions, an `adapters` list view, and context-manager use.
`pcapfilter` re-exports everything here, so code written against the
reference (`from pcapfilter import IPMonitor`) runs unchanged.

Time stamps: `time_stamp` is a naive local `datetime.datetime` (what
`datetime.datetime.fromtimestamp` gives), to microseconds, Python's limit;
`time_stamp_ns` has the full nanosecond value since the epoch (UTC).
"""
import time

from . import _ipmonitor
from ._ipmonitor import (  # noqa: F401  (re-exported)
    IPMonitorError,
    IPMonitorFileNotFoundError,
    IPMonitorHookWarning,
    IPMonitorIndexError,
    IPMonitorMemoryError,
    IPMonitorNotSupportedError,
    IPMonitorOSError,
    IPMonitorPermissionError,
    IPMonitorStateError,
    IPMonitorValueError,
    IPMonitorErrorEventParams,
    IPMonitorPacketEventParams,
    IPMonitorStatisticsEventParams,
    _IPMonitorBase,
    __version__,
    strerror,
    error_name,
)

# The constants (directions, modes, IANA ifTypes, the IPM_* error codes) are
# generated in the extension from the C library's lists; re-export them all.
globals().update({_n: getattr(_ipmonitor, _n) for _n in _ipmonitor._CONSTANTS})


class Constants:
    """The constants as the vendor's other editions group them."""

    PACKET_DIRECTION_ANY = PACKET_DIRECTION_ANY
    PACKET_DIRECTION_INCOMING = PACKET_DIRECTION_INCOMING
    PACKET_DIRECTION_OUTGOING = PACKET_DIRECTION_OUTGOING
    PCAP_MODE_CAPT = PCAP_MODE_CAPT
    PCAP_MODE_STAT = PCAP_MODE_STAT


class Adapter:
    """A live view of one entry of the adapter list: reads and writes go to
    the monitor's get_adapter_x(index) / set_adapter_x(index, value)."""

    __slots__ = ("_monitor", "index")

    def __init__(self, monitor, index):
        self._monitor = monitor
        self.index = index

    def __repr__(self):
        return f"<Adapter {self.index}: {self.name!r}>"


def _adapter_field(name, writable):
    getter = getattr(_IPMonitorBase, f"get_adapter_{name}")
    doc = getter.__doc__
    if writable:
        setter = getattr(_IPMonitorBase, f"set_adapter_{name}")
        return property(lambda a: getter(a._monitor, a.index),
                        lambda a, v: setter(a._monitor, a.index, v), doc=doc)
    return property(lambda a: getter(a._monitor, a.index), doc=doc)


for _name, _writable in _ipmonitor._ADAPTER_PROPERTIES:
    setattr(Adapter, _name, _adapter_field(_name, _writable))
del _name, _writable


def _value_error(message):
    """An IPMonitorValueError raised by this package's Python code, with the
    attributes the library's errors have."""
    e = IPMonitorValueError(message)
    e.code = IPM_E_INVALID_ARGUMENT  # noqa: F821  (from _CONSTANTS)
    e.message = e.description = message
    return e


class IPMonitor(_IPMonitorBase):
    """Monitors network packets through libpcap; see the reference page.

    Properties: active, adapter_count, direction, filter, operation_mode,
    tag (also as get_x()/set_x()), adapter_x via get_adapter_x(index) /
    set_adapter_x(index, value). Methods: activate, config, deactivate,
    do_events, get_statistics, list_adapters. Event hooks: on_packet,
    on_statistics, on_error. Usable as a context manager (deactivates on
    exit).
    """

    __slots__ = ()

    def __init__(self, *, raise_hook_errors=False):
        """raise_hook_errors: make the first exception a hook raises leave
        do_events() (the batch stops at that packet; nothing is lost)
        instead of being reported through on_error or a warning."""
        super().__init__(raise_hook_errors=raise_hook_errors)

    @property
    def adapters(self):
        """The adapter list (after list_adapters) as Adapter views."""
        return [Adapter(self, i) for i in range(self.adapter_count)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.deactivate()
        return False

    def packets(self, adapter=None, *, timeout=None, count=None):
        """Iterate over captured packets (capture mode), in order.

        Activates `adapter` (a name or a pcap/pcapng path) if the monitor is
        not active, and then deactivates it when the iteration ends;
        otherwise uses what is active. Stops at the end of a file, when the
        monitor is deactivated, after `count` packets, or once `timeout`
        seconds have passed since the iteration began (checked between
        do_events calls, so up to one packet timeout later). Each packet is
        an IPMonitorPacketEventParams that owns its data: keep it as long as
        you like. The on_packet hook is set aside meanwhile and put back at
        the end; packets are taken in portions of at most 1024 (see
        break_events), so a large file never sits in memory whole.
        """
        if count is not None and count <= 0:
            return
        if self.operation_mode != PCAP_MODE_CAPT:
            raise _value_error("packets() needs operation_mode PCAP_MODE_CAPT (0); "
                               "in statistics mode use on_statistics")
        activated = False
        if not self.active:
            if adapter is None:
                raise _value_error("packets() needs an adapter or file to activate "
                                   "when the monitor is not active")
            self.activate(adapter)
            activated = True
        elif adapter is not None:
            raise _value_error("the monitor is already active: call packets() without "
                               "an adapter, or deactivate() first")
        portion = []
        wanted = [count]  # packets still to take; None: no limit

        def take(e):
            portion.append(e)
            if len(portion) >= 1024 or (wanted[0] is not None and len(portion) >= wanted[0]):
                self.break_events()

        deadline = None if timeout is None else time.monotonic() + timeout
        saved = self.on_packet
        self.on_packet = take
        try:
            while True:
                if not portion:
                    if not self.active or (deadline is not None and time.monotonic() >= deadline):
                        return
                    self.do_events()
                    continue
                for e in portion:
                    yield e
                    if wanted[0] is not None:
                        wanted[0] -= 1
                        if wanted[0] == 0:
                            return
                portion.clear()
        finally:
            if self.on_packet is take:
                self.on_packet = saved
            if activated:
                self.deactivate()


__all__ = [
    "IPMonitor", "IPMonitorError", "IPMonitorIndexError", "IPMonitorValueError",
    "IPMonitorPermissionError", "IPMonitorFileNotFoundError", "IPMonitorOSError",
    "IPMonitorMemoryError", "IPMonitorStateError", "IPMonitorNotSupportedError",
    "IPMonitorHookWarning",
    "IPMonitorPacketEventParams",
    "IPMonitorStatisticsEventParams", "IPMonitorErrorEventParams", "Constants", "Adapter",
    "PACKET_DIRECTION_ANY", "PACKET_DIRECTION_INCOMING", "PACKET_DIRECTION_OUTGOING",
    "PACKET_DIRECTION_UNKNOWN", "PCAP_MODE_CAPT", "PCAP_MODE_STAT",
]
