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

    @property
    def adapters(self):
        """The adapter list (after list_adapters) as Adapter views."""
        return [Adapter(self, i) for i in range(self.adapter_count)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.deactivate()
        return False


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
