"""Consuming packets as an iterator: IPMonitor.packets() over files the
tests write and over live traffic in a namespace pair; every packet once,
in order, owned by the caller, with count, timeout and the end of a file
ending the iteration, and the monitor left as it was found.
"""
import asyncio
import threading
import time

import pytest

import ipmonitor
from helpers import activate_in, big_pcap, run_until
from ipmonitor import IPMonitor
from netns import send_udp


def test_packets_of_a_file_are_all_there_in_order(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    hook = lambda e: None  # noqa: E731
    m.on_packet = hook
    got = list(m.packets(path))
    assert [p.data for p in got] == [r[1] for r in records]
    assert [p.time_stamp_ns for p in got] == [r[0] for r in records]
    assert m.active is False  # it activated the file, so it deactivated it
    assert m.on_packet is hook  # the user's hook is back


def test_packets_count_continues_where_it_stopped(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    m.activate(path)
    first = [p.data for p in m.packets(count=3)]
    second = [p.data for p in m.packets(count=4)]
    assert m.active  # it did not activate, so it leaves the monitor active
    rest = []
    m.on_packet = lambda e: rest.append(e.data)
    run_until(m, lambda: not m.active)
    assert first + second + rest == [r[1] for r in records]
    assert len(first) == 3 and len(second) == 4


def test_packets_of_a_large_file_come_in_portions(tmp_path):
    total = 10_000
    path = big_pcap(tmp_path / "big.pcap", total)
    m = IPMonitor()
    it = m.packets(path)
    first = next(it)
    assert m.active  # not read whole: the rest waits in the file
    n = 1 + sum(1 for _ in it)
    assert n == total and m.active is False
    assert first.packet_size == first.data_size and first.data  # still owned


def test_packets_close_ends_the_iteration_and_deactivates(tmp_path):
    path = big_pcap(tmp_path / "big.pcap", 5000)
    m = IPMonitor()
    it = m.packets(path)
    assert iter(it) is it
    first, second = next(it), next(it)
    assert m.active and first.data and second.data
    it.close()
    assert m.active is False  # what packets() activated, it deactivated
    assert list(it) == []  # and nothing more comes


def test_packets_refuses_what_it_cannot_do(small_pcap):
    path, _ = small_pcap
    m = IPMonitor()
    with pytest.raises(ipmonitor.IPMonitorValueError) as info:
        next(m.packets())
    assert info.value.code == ipmonitor.IPM_E_INVALID_ARGUMENT
    m.operation_mode = ipmonitor.PCAP_MODE_STAT
    with pytest.raises(ValueError):
        next(m.packets(path))
    m.operation_mode = ipmonitor.PCAP_MODE_CAPT
    m.activate(path)
    with pytest.raises(ValueError, match="already active"):
        next(m.packets(path))
    assert list(m.packets(count=0)) == []


def test_packets_live_count_and_timeout(pair):
    m = IPMonitor()
    m.filter = "udp port 6100"
    activate_in(pair.a, m, timeout_ms=50)
    payloads = [f"p{i}".encode() * 10 for i in range(30)]
    send_udp(pair.b, pair.a.ip4, 6100, payloads)
    got = list(m.packets(count=25, timeout=10))
    assert len(got) == 25
    assert all(p.direction == ipmonitor.PACKET_DIRECTION_INCOMING for p in got)
    assert [p.data[-len(payloads[i]):] for i, p in enumerate(got)] == payloads[:25]
    rest = list(m.packets(timeout=0.5))  # the five left, then the time is up
    assert [p.data[-len(payloads[25 + i]):] for i, p in enumerate(rest)] == payloads[25:]
    start = time.monotonic()
    assert list(m.packets(timeout=0.3)) == []  # nothing comes: it ends on time
    assert time.monotonic() - start < 5
    assert m.active
    m.deactivate()


def test_apackets_of_a_file(tmp_path):
    total = 3000
    path = big_pcap(tmp_path / "big.pcap", total)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.create_task(ticker())
        m = IPMonitor()
        got = [p async for p in m.apackets(path)]
        t.cancel()
        return got, ticks, m.active

    got, ticks, active = asyncio.run(main())
    assert len(got) == total and active is False
    assert ticks >= total // 1024  # the loop ran other tasks between portions


def test_apackets_live_without_a_thread(pair):
    m = IPMonitor()
    m.filter = "udp port 6200"
    activate_in(pair.a, m, timeout_ms=100)
    fd = m.fileno()
    assert fd == m.fileno() and m.get_timeout() == 100
    payloads = [f"a{i}".encode() * 8 for i in range(12)]

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        async def sender():
            # only once the consumer is waiting: it must not miss them
            await asyncio.sleep(0.3)
            send_udp(pair.b, pair.a.ip4, 6200, payloads)

        t = asyncio.create_task(ticker())
        s = asyncio.create_task(sender())
        threads = threading.active_count()
        got = [p async for p in m.apackets(count=len(payloads), timeout=10)]
        assert threading.active_count() == threads  # no thread was started
        await s
        t.cancel()
        return got, ticks

    got, ticks = asyncio.run(main())
    assert [p.data[-len(payloads[i]):] for i, p in enumerate(got)] == payloads
    assert ticks >= 10  # the ticker ran while apackets waited
    assert m.active
    m.deactivate()
    assert m.get_timeout() is None


def test_statistics_of_a_file(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    m.config("StatisticsDetail=True")
    got = list(m.statistics(path))
    assert len(got) == 1
    st = got[0]
    assert st.adapter == path and st.captured_packets == len(records)
    assert st.captured_bytes == sum(len(r[1]) for r in records)
    assert st.protocol_packets["udp"] == len(records) and st.family_packets["ipv4"] == len(records)
    assert st.to_dict()["captured_packets"] == len(records)
    assert m.active is False and m.operation_mode == ipmonitor.PCAP_MODE_CAPT  # as it was


def test_statistics_live_intervals(pair):
    m = IPMonitor()
    m.operation_mode = ipmonitor.PCAP_MODE_STAT
    m.filter = "udp port 6300"
    activate_in(pair.a, m, timeout_ms=50)
    send_udp(pair.b, pair.a.ip4, 6300, [b"s" * 50] * 20)
    start = time.monotonic()
    got = list(m.statistics(interval=0.3, count=3))
    took = time.monotonic() - start
    assert len(got) == 3 and all(st.adapter == pair.a.ifname for st in got)
    assert sum(st.captured_packets for st in got) == 20  # every one, counted once
    assert got[0].captured_packets == 20 and got[2].captured_packets == 0  # zero counts too
    assert all(0.25 <= st.interval < 1.0 for st in got)
    assert took >= 0.85
    with pytest.raises(ValueError):
        next(m.statistics(pair.a.ifname))  # active: no adapter to give
    m.deactivate()
