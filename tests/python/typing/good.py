"""Typed use of the package, both styles: mypy --strict must accept it all."""
import datetime
from typing import List

import pcapfilter
from ipmonitor import (IPMonitor, IPMonitorError, IPMonitorErrorEventParams,
                       IPMonitorPacketEventParams, IPMonitorStatisticsEventParams)


def on_packet(e: IPMonitorPacketEventParams) -> None:
    when: datetime.datetime = e.time_stamp
    size: int = e.packet_size
    data: bytes = e.data
    print(when, size, len(data), e.sport, e.proto, e.to_dict())


def on_statistics(e: IPMonitorStatisticsEventParams) -> None:
    print(e.captured_packets, e.captured_bytes, e.time_stamp_utc)


def on_error(e: IPMonitorErrorEventParams) -> None:
    print(e.error_code, e.description)


def reference_style(path: str) -> int:
    m = pcapfilter.IPMonitor()
    m.list_adapters()
    for i in range(m.adapter_count):
        print(m.get_adapter_name(i), m.get_adapter_description(i))
    m.direction = pcapfilter.Constants.PACKET_DIRECTION_INCOMING
    m.filter = "tcp port 80"
    m.operation_mode = 0
    m.on_packet = on_packet
    m.on_statistics = on_statistics
    m.on_error = on_error
    m.activate(path)
    while m.active:
        m.do_events()
    received: List[int] = [0]
    dropped: List[int] = [0]
    adapter_dropped: List[int] = [0]
    m.get_statistics(received, dropped, adapter_dropped)
    m.deactivate()
    return received[0]


def pythonic_style(path: str) -> int:
    n = 0
    with IPMonitor(raise_hook_errors=True) as m:
        for pkt in m.packets(path, count=10, timeout=1.0):
            n += pkt.data_size
        try:
            m.set_tag(value=3)
        except IPMonitorError as e:
            print(e.code, e.description)
    return n
