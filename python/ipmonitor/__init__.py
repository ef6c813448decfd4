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
from ._ipmonitor import (  # noqa: F401  (re-exported)
    IPMonitorError,
    IPMonitorErrorEventParams,
    IPMonitorPacketEventParams,
    IPMonitorStatisticsEventParams,
    _IPMonitorBase,
    __version__,
    strerror,
    PACKET_DIRECTION_ANY,
    PACKET_DIRECTION_INCOMING,
    PACKET_DIRECTION_OUTGOING,
    PACKET_DIRECTION_UNKNOWN,
    PCAP_MODE_CAPT,
    PCAP_MODE_STAT,
    IFTYPE_OTHER,
    IFTYPE_ETHERNET_CSMACD,
    IFTYPE_PPP,
    IFTYPE_SOFTWARE_LOOPBACK,
    IFTYPE_IEEE80211,
    IFTYPE_TUNNEL,
    IPM_OK,
    IPM_E_INVALID_ARGUMENT,
    IPM_E_INDEX_OUT_OF_RANGE,
    IPM_E_ACTIVE,
    IPM_E_NOT_ACTIVE,
    IPM_E_ADAPTER_NOT_FOUND,
    IPM_E_BAD_FILTER,
    IPM_E_PERMISSION,
    IPM_E_CAPTURE,
    IPM_E_NO_MEMORY,
    IPM_E_CONFIG,
    IPM_E_HANDLER,
    IPM_E_UNSUPPORTED,
    IPM_E_ADAPTER_GONE,
    IPM_E_FILE,
    IPM_E_BUSY,
)


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


for _name, _writable in (
        ("buffer_size", True), ("collect_statistics", True), ("description", False),
        ("friendly_name", False), ("id", False), ("interface_type", False),
        ("mac_address", False), ("max_packet_bytes", True), ("name", False),
        ("packet_timeout", True), ("promiscuous_mode", True), ("wi_fi_monitor_mode", True),
        ("wi_fi_monitor_mode_supported", False), ("is_up", False), ("is_running", False),
        ("is_loopback", False), ("is_wireless", False), ("mtu", False),
        ("ipv4_addresses", False), ("ipv6_addresses", False)):
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
    "IPMonitor", "IPMonitorError", "IPMonitorPacketEventParams",
    "IPMonitorStatisticsEventParams", "IPMonitorErrorEventParams", "Constants", "Adapter",
    "PACKET_DIRECTION_ANY", "PACKET_DIRECTION_INCOMING", "PACKET_DIRECTION_OUTGOING",
    "PACKET_DIRECTION_UNKNOWN", "PCAP_MODE_CAPT", "PCAP_MODE_STAT",
]
