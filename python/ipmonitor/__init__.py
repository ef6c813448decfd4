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
import itertools
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
    Writer,
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

    The reference's members:
      Properties: active, adapter_count, direction, filter, operation_mode,
        tag (also as get_x()/set_x()), adapter_x via get_adapter_x(index) /
        set_adapter_x(index, value).
      Methods: activate, config, deactivate, do_events, get_statistics,
        list_adapters.
      Event hooks: on_packet, on_statistics, on_error.

    Beyond the reference:
      Consuming: packets(), apackets() (asyncio), statistics(interval=).
      Event loops: fileno(), get_timeout(), do_events_timeout(), and
        break_events() from a hook.
      Adapters: the `adapters` list of views, find_adapter(), activate_many(),
        activate_matching(patterns) (every matching adapter, following the host:
        IPM_E_ADAPTER_ADDED / _GONE / _BACK through on_error),
        get_adapter_is_up/is_running/is_loopback/is_wireless/mtu/...
      IPMonitor(raise_hook_errors=True); use as a context manager
        (deactivates on exit); Writer(path, monitor=m) saves packets.
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
        you like. The on_packet hook is not called meanwhile (it stays set,
        for after the iteration); packets are taken in portions of at most
        1024 (see break_events), so a large file never sits in memory whole.
        The iterator's close() ends it at once (deactivating what it
        activated), as a generator's does.
        """
        return _PacketIterator.over(self._portions(adapter, timeout, count))

    def _portions(self, adapter, timeout, count):
        """packets()' portions: the same list, refilled by do_events_timeout
        once the iterator has gone through it."""
        with _Consumer(self, adapter, timeout, count) as c:
            portion = c.portion
            try:
                while not c.done():
                    if c.out_of_time() or not self.active:
                        return
                    self.do_events_timeout(-1, c.room())
                    yield portion
                    c.taken(len(portion))
                    portion.clear()
            finally:
                portion.clear()  # closed early: the rest of the portion is not handed over

    def statistics(self, adapter=None, *, interval=1.0, timeout=None, count=None):
        """Iterate over statistics: every `interval` seconds, one
        IPMonitorStatistics per monitored adapter (zero counts included),
        the sums of that interval's on_statistics events.

        Activates `adapter` (or a list of adapters) in statistics mode if
        the monitor is not active, and deactivates it (and restores the
        mode) at the end; otherwise the monitor must be active in
        statistics mode. Ends when the monitor is deactivated (a file: at
        its end, with one last interval), after `count` objects, or after
        `timeout` seconds. The on_statistics hook is set aside meanwhile.
        """
        if interval <= 0:
            raise _value_error("statistics() needs an interval > 0 seconds")
        activated, saved_mode = False, self.operation_mode
        if not self.active:
            if adapter is None:
                raise _value_error("statistics() needs an adapter or file to activate "
                                   "when the monitor is not active")
            self.operation_mode = PCAP_MODE_STAT
            if isinstance(adapter, (list, tuple)):
                self.activate_many(adapter)
            else:
                self.activate(adapter)
            activated = True
        elif adapter is not None or self.operation_mode != PCAP_MODE_STAT:
            raise _value_error("statistics() on an active monitor needs operation_mode "
                               "PCAP_MODE_STAT and no adapter")
        sums = {}

        def take(e):
            key = (e.adapter_index, e.adapter)
            if key in sums:
                sums[key]._add(e)
            else:
                sums[key] = IPMonitorStatistics(e)

        saved_hook = self.on_statistics
        self.on_statistics = take
        left = count
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        try:
            while left is None or left > 0:
                end = start + interval
                if deadline is not None:
                    end = min(end, deadline)
                while self.active and time.monotonic() < end:
                    self.do_events_timeout(max(1, int((end - time.monotonic()) * 1000)))
                now = time.monotonic()
                for st in sums.values():
                    st.interval = now - start
                    yield st
                    if left is not None:
                        left -= 1
                        if left <= 0:
                            return
                sums.clear()
                start = now
                if not self.active or (deadline is not None and now >= deadline):
                    return
        finally:
            if self.on_statistics == take:
                self.on_statistics = saved_hook
            if activated:
                self.deactivate()
                self.operation_mode = saved_mode

    async def apackets(self, adapter=None, *, timeout=None, count=None):
        """packets() for asyncio: `async for pkt in m.apackets(...)`.

        Waits on the monitor's fd (fileno()) in the running event loop, with
        no thread, so other tasks run meanwhile; the hooks run in the loop's
        thread. Same arguments and ending as packets().
        """
        import asyncio
        loop = asyncio.get_running_loop()
        with _Consumer(self, adapter, timeout, count) as c:
            fd = self.fileno()
            portion = c.portion
            full = False
            while not c.done():
                wait_ms = self.get_timeout()
                if c.out_of_time() or wait_ms is None:
                    return
                # After a full portion more is likely waiting: take it
                # without a round through the loop's reader (two epoll_ctl
                # calls and a future); the sleep(0) below still lets other
                # tasks run between portions.
                if wait_ms > 0 and not full:
                    await _readable(loop, fd, c.bounded(wait_ms) / 1000)
                room = c.room()
                self.do_events_timeout(0, room)
                full = len(portion) == room
                for e in portion:
                    yield e
                c.taken(len(portion))
                portion.clear()
                await asyncio.sleep(0)  # a file: let other tasks run between portions


class IPMonitorStatistics:
    """One adapter's statistics over one interval of IPMonitor.statistics():
    the sums of the on_statistics events of that interval, with the same
    attribute names (the detail ones only with StatisticsDetail), plus
    `interval`, the seconds it covers."""

    __slots__ = ("adapter", "adapter_index", "time_stamp", "time_stamp_ns", "time_stamp_utc",
                 "interval", "events", "captured_packets", "captured_bytes", "dropped",
                 "adapter_dropped", "incoming_packets", "incoming_bytes", "outgoing_packets",
                 "outgoing_bytes", "protocol_packets", "protocol_bytes", "family_packets",
                 "family_bytes")
    _SUMMED = ("captured_packets", "captured_bytes", "dropped", "adapter_dropped",
               "incoming_packets", "incoming_bytes", "outgoing_packets", "outgoing_bytes")
    _DICTS = ("protocol_packets", "protocol_bytes", "family_packets", "family_bytes")

    def __init__(self, e):
        self.adapter, self.adapter_index = e.adapter, e.adapter_index
        self.events = 0
        self.interval = 0.0
        for k in self._SUMMED:
            setattr(self, k, 0)
        for k in self._DICTS:
            setattr(self, k, {})
        self._add(e)

    def _add(self, e):
        self.events += 1
        self.time_stamp, self.time_stamp_ns = e.time_stamp, e.time_stamp_ns
        self.time_stamp_utc = e.time_stamp_utc
        for k in self._SUMMED:
            setattr(self, k, getattr(self, k) + getattr(e, k))
        for k in self._DICTS:
            mine = getattr(self, k)
            for key, v in getattr(e, k).items():
                mine[key] = mine.get(key, 0) + v

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        return (f"<IPMonitorStatistics {self.adapter!r} packets={self.captured_packets} "
                f"bytes={self.captured_bytes} interval={self.interval:.3f}s>")


class _PacketIterator(itertools.chain):
    """What packets() returns: the packets of each portion in turn, walked
    by itertools.chain in C (a generator's yield per packet cost as much as
    making the packet), plus close(), which ends the iteration at once (and
    deactivates what packets() activated) as a generator's close() does."""

    __slots__ = ("_portions",)

    @classmethod
    def over(cls, portions):
        it = cls.from_iterable(portions)
        it._portions = portions
        return it

    def close(self):
        self._portions.close()


class _Consumer:
    """What packets() and apackets() share: the activation they may make and
    undo, their portion list (the C extension appends each packet to it in
    place of calling on_packet, see _collect; do_events_timeout's max_packets
    bounds a portion to 1024 or what `count` leaves, in C, with no Python
    call or check per packet) and the time limit."""

    PORTION = 1024

    def __init__(self, monitor, adapter, timeout, count):
        self.m = monitor
        self.adapter = adapter
        self.left = count  # packets still to hand over; None: no limit
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.portion = []
        self.activated = False

    def __enter__(self):
        m = self.m
        if m.operation_mode != PCAP_MODE_CAPT:
            raise _value_error("packets() needs operation_mode PCAP_MODE_CAPT (0); "
                               "in statistics mode use on_statistics")
        if not m.active:
            if self.adapter is None:
                raise _value_error("packets() needs an adapter or file to activate "
                                   "when the monitor is not active")
            m.activate(self.adapter)
            self.activated = True
        elif self.adapter is not None:
            raise _value_error("the monitor is already active: call packets() without "
                               "an adapter, or deactivate() first")
        m._collect(self.portion)  # in place of on_packet, which stays as it is
        return self

    def __exit__(self, *exc):
        self.m._collect(None)
        if self.activated:
            self.m.deactivate()
        return False

    def room(self):
        """How many packets the next do_events may hand over."""
        return self.PORTION if self.left is None else min(self.PORTION, self.left)

    def taken(self, n):
        if self.left is not None:
            self.left -= n

    def done(self):
        return self.left is not None and self.left <= 0

    def out_of_time(self):
        return self.deadline is not None and time.monotonic() >= self.deadline

    def bounded(self, ms):
        """ms, or less when the time limit comes sooner."""
        if self.deadline is None:
            return ms
        return max(0, min(ms, (self.deadline - time.monotonic()) * 1000))


async def _readable(loop, fd, seconds):
    """Wait until fd is readable or `seconds` pass, in the event loop."""
    import asyncio
    ready = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait({ready}, timeout=seconds)
    finally:
        loop.remove_reader(fd)
        ready.cancel()


__all__ = [
    "IPMonitor", "IPMonitorError", "IPMonitorIndexError", "IPMonitorValueError",
    "IPMonitorPermissionError", "IPMonitorFileNotFoundError", "IPMonitorOSError",
    "IPMonitorMemoryError", "IPMonitorStateError", "IPMonitorNotSupportedError",
    "IPMonitorHookWarning", "IPMonitorStatistics", "Writer",
    "IPMonitorPacketEventParams",
    "IPMonitorStatisticsEventParams", "IPMonitorErrorEventParams", "Constants", "Adapter",
    "PACKET_DIRECTION_ANY", "PACKET_DIRECTION_INCOMING", "PACKET_DIRECTION_OUTGOING",
    "PACKET_DIRECTION_UNKNOWN", "PCAP_MODE_CAPT", "PCAP_MODE_STAT",
]
