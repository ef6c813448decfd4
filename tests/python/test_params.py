"""What every event-params object offers beyond the reference: to_dict(),
the payload as a memoryview, and the time stamp as an aware UTC datetime;
checked against the frames and times the tests wrote."""
import datetime
import json

import ipmonitor
from helpers import run_file, udp_frame, write_pcap
from ipmonitor import IPMonitor

T_NS = 1_700_000_000_123_456_789


def _frames(tmp_path):
    payloads = [b"hello", b"", b"x" * 300]
    path = write_pcap(tmp_path / "p.pcap",
                      [(T_NS + i * 1000, udp_frame(p, dst_port=5000 + i)) for i, p in enumerate(payloads)])
    return path, payloads


def test_packet_payload_utc_and_to_dict(tmp_path):
    path, payloads = _frames(tmp_path)
    got = list(IPMonitor().packets(path))
    assert [bytes(p.payload) for p in got] == payloads
    assert all(isinstance(p.payload, memoryview) for p in got)
    for i, p in enumerate(got):
        utc = p.time_stamp_utc
        assert utc.tzinfo is datetime.timezone.utc
        want = datetime.datetime.fromtimestamp((T_NS + i * 1000) // 1000 / 1e6, datetime.timezone.utc)
        assert utc == want
        assert utc == p.time_stamp.astimezone(datetime.timezone.utc)
        d = p.to_dict()
        attrs = {a for a in dir(p) if not a.startswith("_") and a != "to_dict"}
        assert set(d) == attrs
        for k, v in d.items():
            if k != "payload":
                assert v == getattr(p, k), k
        assert d["dport"] == 5000 + i and d["proto"] == "UDP" and d["data"] == p.data
        json.dumps(d, default=str)  # plain values, for logging


def test_statistics_and_error_params_to_dict(tmp_path):
    path, _ = _frames(tmp_path)
    m = IPMonitor()
    m.operation_mode = ipmonitor.PCAP_MODE_STAT
    stats, errors = [], []
    m.on_statistics = stats.append
    run_file(m, path)
    d = stats[0].to_dict()
    assert d["captured_packets"] == 3 and d["adapter"] == path
    assert d["time_stamp_utc"] == stats[0].time_stamp_utc
    assert d["time_stamp_utc"].tzinfo is datetime.timezone.utc
    m.operation_mode = ipmonitor.PCAP_MODE_CAPT
    m.on_packet = lambda e: 1 / 0
    m.on_error = errors.append
    run_file(m, path)
    e = errors[0].to_dict()
    assert e["error_code"] == ipmonitor.IPM_E_HANDLER
    assert isinstance(e["exception"], ZeroDivisionError)
    assert "ZeroDivisionError" in e["description"]
