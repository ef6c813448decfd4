"""Events from capture files: on_packet and on_statistics with exact counts,
bytes and time stamps (checked against scapy's and tcpdump's reading of the
same file), event-params objects kept past their callback, failing
handlers reaching on_error, and a flat memory footprint over long captures.
"""
import ctypes
import datetime
import decimal
import gc
import json
import os
import struct
import subprocess
import sys
import warnings

import pytest

import ipmonitor
from helpers import big_pcap, run_file, udp_frame, write_pcap
from ipmonitor import IPMonitor


def _capture_all(path, **settings):
    m = IPMonitor()
    for k, v in settings.items():
        setattr(m, k, v)
    got = []
    m.on_packet = lambda e: got.append((e.time_stamp, e.time_stamp_ns, e.packet_size, e.data,
                                        e.data_size, e.direction, e.adapter, e.adapter_index,
                                        e.link_type))
    run_file(m, path)
    return m, got


def test_capture_mode_file_exact(small_pcap):
    path, records = small_pcap
    m, got = _capture_all(path)
    assert len(got) == len(records)
    for (t_ns, frame), (ts, ts_ns, size, data, dsize, direction, adapter, aidx, lt) in zip(records, got):
        assert data == frame and size == len(frame) == dsize
        assert ts_ns == t_ns
        assert ts == datetime.datetime.fromtimestamp(t_ns // 10**9).replace(
            microsecond=(t_ns // 1000) % 10**6)
        assert ts.tzinfo is None
        assert adapter == path and aidx == -1 and lt == 1
        assert direction in (ipmonitor.PACKET_DIRECTION_UNKNOWN, ipmonitor.PACKET_DIRECTION_INCOMING,
                             ipmonitor.PACKET_DIRECTION_OUTGOING)
    assert m.active is False


def test_capture_matches_scapy_and_tcpdump(small_pcap):
    from scapy.all import UDP, rdpcap
    path, _ = small_pcap
    _, got = _capture_all(path, filter="udp dst port 5001")
    theirs = [bytes(p) for p in rdpcap(path) if p[UDP].dport == 5001]
    assert [g[3] for g in got] == theirs and theirs
    out = subprocess.run(["tcpdump", "-nn", "-r", path, "udp dst port 5001"],
                         capture_output=True, text=True, check=True).stdout
    assert len(out.splitlines()) == len(got)


def test_pcapng_file(tmp_path):
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcapng
    frames = [udp_frame(bytes([i]) * (i + 1)) for i in range(5)]
    pkts = [Ether(f) for f in frames]
    for i, p in enumerate(pkts):
        p.time = 1_700_000_100 + i
    path = str(tmp_path / "f.pcapng")
    wrpcapng(path, pkts)
    _, got = _capture_all(path)
    assert [g[3] for g in got] == frames
    assert [g[1] // 10**9 for g in got] == [1_700_000_100 + i for i in range(5)]


def test_truncated_packets_report_both_sizes(tmp_path):
    frame = udp_frame(b"z" * 200)
    path = write_pcap(tmp_path / "t.pcap", [(10**18, frame[:64], len(frame))], snaplen=64)
    _, got = _capture_all(path)
    assert [(g[2], g[4], g[3]) for g in got] == [(len(frame), 64, frame[:64])]


def test_ctypes_string_at_accepts_data(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    out = []
    m.on_packet = lambda e: out.append(ctypes.string_at(e.data, e.data_size))
    run_file(m, path)
    assert out == [r[1] for r in records]


def test_statistics_mode_file_exact(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    m.operation_mode = ipmonitor.PCAP_MODE_STAT
    stats = []
    m.on_statistics = stats.append
    m.on_packet = lambda e: pytest.fail("no on_packet in statistics mode")
    run_file(m, path)
    assert sum(s.captured_packets for s in stats) == len(records)
    assert sum(s.captured_bytes for s in stats) == sum(len(r[1]) for r in records)
    s = stats[-1]
    assert isinstance(s.time_stamp, datetime.datetime) and s.adapter == path
    with pytest.raises(AttributeError):
        s.captured_packets = 0
    assert m.get_statistics() == (len(records), 0, 0)


def test_statistics_mode_with_filter_and_detail(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    m.operation_mode = 1
    m.filter = "udp dst port 5002"
    m.config("StatisticsDetail=True")
    stats = []
    m.on_statistics = stats.append
    run_file(m, path)
    want = [r for r in records if int.from_bytes(r[1][36:38], "big") == 5002]
    assert sum(s.captured_packets for s in stats) == len(want) > 0
    assert sum(s.captured_bytes for s in stats) == sum(len(r[1]) for r in want)
    detailed = [s for s in stats if s.captured_packets]
    assert all(s.detail for s in detailed)
    assert sum(s.protocol_packets["udp"] for s in detailed) == len(want)
    assert sum(s.family_packets["ipv4"] for s in detailed) == len(want)


def test_params_kept_after_the_callback_stay_right(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    kept, every_other = [], []

    def hook(e):
        kept.append(e)
        if len(kept) % 2:
            every_other.append(e.data)  # read during the callback, half the time
    m.on_packet = hook
    run_file(m, path)
    assert len({id(e) for e in kept}) == len(records)
    assert [e.data for e in kept] == [r[1] for r in records]
    assert [e.time_stamp_ns for e in kept] == [r[0] for r in records]
    assert every_other == [r[1] for r in records][::2]
    with pytest.raises(AttributeError):
        kept[0].packet_size = 1
    with pytest.raises(AttributeError):
        kept[0].data = b""


def test_params_reused_when_not_kept(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    ids, datas = set(), []

    def hook(e):
        ids.add(id(e))
        datas.append(e.data)
    m.on_packet = hook
    run_file(m, path)
    assert datas == [r[1] for r in records]
    assert len(ids) == 1  # one object, reused: no allocation per packet


def test_handler_exception_fires_on_error(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    seen, errors = [], []

    def hook(e):
        seen.append(e.data)
        if len(seen) == 3:
            raise ValueError("boom at 3")
    m.on_packet = hook
    m.on_error = errors.append
    run_file(m, path)
    assert seen == [r[1] for r in records]  # the capture went on
    assert len(errors) == 1
    err = errors[0]
    assert err.error_code == ipmonitor.IPM_E_HANDLER
    assert "ValueError: boom at 3" in err.description
    assert isinstance(err.exception, ValueError) and err.exception.__traceback__ is not None


def test_hook_exceptions_without_on_error_warn_once_per_type(small_pcap):
    # A hook that fails on every packet says so once (per hook and exception
    # type, for the monitor's life), not once per packet; the packets flow.
    path, records = small_pcap
    m = IPMonitor()
    count = []

    def hook(e):
        count.append(1)
        raise RuntimeError("no on_error here")
    m.on_packet = hook
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_file(m, path)
        run_file(m, path)  # the same failure again: not said again
        m.on_packet = lambda e: {}["missing"]
        run_file(m, path)  # another exception type: said once
    assert len(count) == 2 * len(records)
    assert [w.category for w in caught] == [ipmonitor.IPMonitorHookWarning] * 2
    assert issubclass(ipmonitor.IPMonitorHookWarning, RuntimeWarning)
    first, second = (str(w.message) for w in caught)
    assert "on_packet hook raised RuntimeError: no on_error here" in first
    assert "set on_error" in first and "raise_hook_errors=True" in first
    assert "KeyError" in second


def test_hook_exception_warning_as_error_leaves_do_events(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    seen = []

    def hook(e):
        seen.append(1)
        raise ValueError("bad")
    m.on_packet = hook
    m.activate(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ipmonitor.IPMonitorHookWarning):
            m.do_events()
    assert seen == [1] and m.active
    m.deactivate()


def test_on_error_fires_for_the_first_exception_of_a_do_events_call(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    errors = []
    m.on_packet = lambda e: 1 / 0
    m.on_error = errors.append
    run_file(m, path)  # one do_events reads the whole file
    assert len(errors) == 1
    assert isinstance(errors[0].exception, ZeroDivisionError)


def test_raise_hook_errors_stops_at_the_packet_and_loses_nothing(small_pcap):
    # IPMonitor(raise_hook_errors=True): the first exception leaves
    # do_events after the batch stops at that packet; the monitor stays
    # active and the next do_events goes on with the packet after it.
    path, records = small_pcap
    m = IPMonitor(raise_hook_errors=True)
    seen = []

    def hook(e):
        seen.append(e.data)
        if len(seen) in (3, 5):
            raise ValueError(f"boom at {len(seen)}")
    m.on_packet = hook
    m.activate(path)
    with pytest.raises(ValueError, match="boom at 3") as info:
        m.do_events()
    assert info.value.__traceback__ is not None
    assert len(seen) == 3 and m.active
    with pytest.raises(ValueError, match="boom at 5"):
        m.do_events()
    while m.active:
        m.do_events()
    assert seen == [r[1] for r in records]  # each packet once, in order
    with pytest.raises(TypeError):
        IPMonitor(True)  # keyword only
    with pytest.raises(TypeError):
        IPMonitor(raise_errors=True)


def test_exception_in_on_error_is_reported_not_raised(small_pcap, monkeypatch):
    path, _ = small_pcap
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    m = IPMonitor()
    m.on_packet = lambda e: 1 / 0
    m.on_error = lambda e: [][1]
    run_file(m, path)
    assert reports and all(isinstance(r.exc_value, IndexError) for r in reports)


def test_statistics_handler_exception_fires_on_error(small_pcap):
    path, _ = small_pcap
    m = IPMonitor()
    m.operation_mode = 1
    errors = []
    m.on_statistics = lambda e: {}["missing"]
    m.on_error = errors.append
    run_file(m, path)
    assert errors and errors[0].error_code == ipmonitor.IPM_E_HANDLER
    assert "KeyError" in errors[0].description


def test_keyboard_interrupt_leaves_do_events(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    seen = []

    def hook(e):
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt
    m.on_packet = hook
    m.activate(path)
    with pytest.raises(KeyboardInterrupt):
        m.do_events()
    assert len(seen) == 2  # the batch ended at that packet
    assert m.active
    while m.active:  # and the rest comes with the next do_events
        m.do_events()
    assert len(seen) == len(records)


def test_deactivate_from_inside_a_handler(small_pcap):
    path, _ = small_pcap
    m = IPMonitor()
    seen = []

    def hook(e):
        seen.append(1)
        if len(seen) == 4:
            m.deactivate()
            assert m.active is False
    m.on_packet = hook
    m.activate(path)
    m.do_events()
    assert len(seen) == 4 and m.active is False


def test_hook_replaced_inside_itself(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    first, second = [], []

    def hook2(e):
        second.append(e.data)

    def hook1(e):
        first.append(e.data)
        m.on_packet = hook2
    m.on_packet = hook1
    run_file(m, path)
    assert len(first) == 1 and len(second) == len(records) - 1


def _rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_long_capture_keeps_a_flat_memory_footprint(tmp_path):
    path = big_pcap(tmp_path / "big.pcap", 200_000)
    m = IPMonitor()
    total = [0]

    def hook(e):
        # Touch everything that allocates.
        total[0] += len(e.data) + e.time_stamp.microsecond * 0 + len(e.adapter)
    m.on_packet = hook
    refs = sys.getrefcount(hook)
    rss = []
    for _ in range(4):
        run_file(m, path)
        gc.collect()
        rss.append(_rss_kb())
    assert total[0] == 4 * 200_000 * (60 + len(path))
    assert sys.getrefcount(hook) == refs
    assert rss[-1] - rss[1] < 2048, rss  # a leak of one object per packet would be >10 MB


def test_two_monitors_in_two_threads(tmp_path):
    import threading
    paths = [big_pcap(tmp_path / f"p{i}.pcap", 50_000 + i) for i in range(2)]
    counts = [0, 0]

    def work(i):
        m = IPMonitor()

        def hook(e):
            counts[i] += 1
        m.on_packet = hook
        run_file(m, paths[i])
    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == [50_000, 50_001]


def test_calls_back_into_the_monitor_from_a_handler(small_pcap, tmp_path):
    path, records = small_pcap
    m = IPMonitor()
    errors, seen = [], []

    def hook(e):
        seen.append(m.active)
        try:
            if len(seen) == 1:
                m.do_events()  # not allowed from a handler: IPM_E_BUSY
            if len(seen) == 2:
                m.activate(path)
        except ipmonitor.IPMonitorStateError as exc:
            errors.append(exc)
        m.filter = m.filter  # allowed
    m.on_packet = hook
    run_file(m, path)
    assert len(seen) == len(records) and all(seen)
    assert len(errors) == 2
    assert errors[0].code == ipmonitor.IPM_E_BUSY
    assert errors[1].code in (ipmonitor.IPM_E_BUSY, ipmonitor.IPM_E_ACTIVE)
    m.tag = 5  # the monitor is usable afterwards, from this thread
    assert m.tag == 5


def test_deactivate_from_another_thread_while_dispatching(tmp_path):
    import threading
    total = 1_000_000
    path = big_pcap(tmp_path / "long.pcap", total)
    m = IPMonitor()
    n = [0]

    def hook(e):
        n[0] += 1
    m.on_packet = hook
    m.activate(path)
    busy = []

    def stopper():
        # Other calls get IPM_E_BUSY while do_events runs: wait for that.
        while not busy:
            try:
                m.get_tag()
            except ipmonitor.IPMonitorError as e:
                busy.append(e.code)
        m.deactivate()
    t = threading.Thread(target=stopper)
    t.start()
    m.do_events()
    t.join()
    assert busy == [ipmonitor.IPM_E_BUSY]
    assert m.active is False
    assert 0 < n[0] < total  # stopped in the middle of the file


def test_invalid_microseconds_are_carried_into_seconds(tmp_path):
    # tcpdump's timestamp_invalid_micro.pcap holds microsecond fields of
    # 1000000 and 2^31: the library carries them into the seconds, so
    # time_stamp is a valid datetime (it used to raise ValueError inside the
    # hook) and agrees with time_stamp_ns and with ipmon's JSON.
    path = tmp_path / "invalid-micro.pcap"
    frame = udp_frame(b"abc")
    fracs = [999_999, 1_000_000, 2**31, 2**32 - 1]
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for frac in fracs:
            f.write(struct.pack("<IIII", 1_700_000_000, frac, len(frame), len(frame)) + frame)
    expected = [1_700_000_000 * 10**9 + frac * 1000 for frac in fracs]
    m, got = _capture_all(str(path))
    assert [g[1] for g in got] == expected
    assert [g[0] for g in got] == [
        datetime.datetime.fromtimestamp(ns // 10**9).replace(microsecond=(ns // 1000) % 10**6)
        for ns in expected]
    ipmon = os.environ.get("IPMON")  # set by ctest
    if ipmon:
        out = subprocess.run([ipmon, "capture", "-r", str(path), "--json", "--nano"],
                             capture_output=True, text=True, check=True).stdout
        stamps = [json.loads(line, parse_float=decimal.Decimal)["ts"] for line in out.splitlines()]
        assert [int(t * 10**9) for t in stamps] == expected
