"""The IPMonitor class's surface against the reference page: names, constants,
every property's default, both access styles, read-only properties, and bad
input raising IPMonitorError with the C library's own code and message.
"""
import socket

import pytest

import ipmonitor
import pcapfilter
from helpers import needs_root, run_file
from ipmonitor import IPMonitor, IPMonitorError

# Every property of the reference: (name, default, writable, per adapter).
PROPERTIES = [
    ("active", False, False, False),
    ("adapter_count", 0, False, False),
    ("adapter_buffer_size", 1024, True, True),
    ("adapter_collect_statistics", True, True, True),
    ("adapter_description", None, False, True),
    ("adapter_friendly_name", None, False, True),
    ("adapter_id", None, False, True),
    ("adapter_interface_type", None, False, True),
    ("adapter_mac_address", None, False, True),
    ("adapter_max_packet_bytes", 262144, True, True),
    ("adapter_name", None, False, True),
    ("adapter_packet_timeout", 1000, True, True),
    ("adapter_promiscuous_mode", False, True, True),
    ("adapter_wi_fi_monitor_mode", False, True, True),
    ("adapter_wi_fi_monitor_mode_supported", False, False, True),
    ("direction", 0, True, False),
    ("filter", "", True, False),
    ("operation_mode", 0, True, False),
    ("tag", 0, True, False),
]


def test_import_names_as_on_the_reference_page():
    from pcapfilter import IPMonitor as FromReference
    assert FromReference is IPMonitor
    for name in ("IPMonitorPacketEventParams", "IPMonitorStatisticsEventParams",
                 "IPMonitorErrorEventParams", "IPMonitorError", "Constants"):
        assert getattr(pcapfilter, name) is getattr(ipmonitor, name)


def test_constants_module_level_and_in_constants_class():
    expected = {"PACKET_DIRECTION_ANY": 0, "PACKET_DIRECTION_INCOMING": 1,
                "PACKET_DIRECTION_OUTGOING": 2, "PCAP_MODE_CAPT": 0, "PCAP_MODE_STAT": 1}
    for name, value in expected.items():
        assert getattr(ipmonitor, name) == value, name
        assert getattr(pcapfilter, name) == value, name
        assert getattr(ipmonitor.Constants, name) == value, name
        assert getattr(pcapfilter.Constants, name) == value, name


def test_scalar_property_defaults_both_styles():
    m = IPMonitor()
    for name, default, _, per_adapter in PROPERTIES:
        if per_adapter:
            continue
        assert getattr(m, "get_" + name)() == default, name
        assert getattr(m, name) == default, name
        assert type(getattr(m, name)) is type(default), name
    assert m.on_packet is None and m.on_statistics is None and m.on_error is None


def test_every_reference_property_has_its_accessors():
    for name, _, writable, _ in PROPERTIES:
        assert callable(getattr(IPMonitor, "get_" + name)), name
        assert hasattr(IPMonitor, "set_" + name) == writable, name


def _read(path):
    with open(path) as f:
        return f.read()


def _loopback_index(m):
    m.list_adapters()
    return m.find_adapter("lo")


def test_adapter_property_defaults_on_loopback():
    m = IPMonitor()
    i = _loopback_index(m)
    assert m.adapter_count >= 1 and 0 <= i < m.adapter_count
    for name, default, _, per_adapter in PROPERTIES:
        if per_adapter and default is not None:
            assert getattr(m, "get_" + name)(i) == default, name
            assert type(getattr(m, "get_" + name)(i)) is type(default), name
    assert m.get_adapter_name(i) == "lo"
    assert m.get_adapter_id(i) == socket.if_nametoindex("lo")
    assert m.get_adapter_interface_type(i) == ipmonitor.IFTYPE_SOFTWARE_LOOPBACK
    assert m.get_adapter_mac_address(i) == ""
    assert isinstance(m.get_adapter_description(i), str)
    assert m.get_adapter_friendly_name(i) in ("lo", _read("/sys/class/net/lo/ifalias").strip())
    # Beyond the reference.
    assert m.get_adapter_is_loopback(i) is True
    assert m.get_adapter_is_up(i) is True
    assert m.get_adapter_mtu(i) == int(_read("/sys/class/net/lo/mtu"))
    assert "127.0.0.1/8" in m.get_adapter_ipv4_addresses(i).split()
    # The list view of the package agrees.
    a = m.adapters[i]
    assert (a.name, a.id, a.packet_timeout) == ("lo", m.get_adapter_id(i), 1000)


def test_adapter_names_match_the_system():
    m = IPMonitor()
    m.list_adapters()
    names = {m.get_adapter_name(i) for i in range(m.adapter_count)}
    assert {n for _, n in socket.if_nameindex()} <= names


def test_writable_properties_round_trip_both_styles():
    m = IPMonitor()
    m.direction = ipmonitor.PACKET_DIRECTION_INCOMING
    assert m.get_direction() == 1
    m.set_direction(ipmonitor.PACKET_DIRECTION_OUTGOING)
    assert m.direction == 2
    m.filter = "udp port 53"
    assert m.get_filter() == "udp port 53"
    m.set_filter("")
    assert m.filter == ""
    m.operation_mode = 1
    assert m.get_operation_mode() == 1
    m.set_operation_mode(0)
    assert m.operation_mode == 0
    m.tag = 2**62 + 5
    assert m.get_tag() == 2**62 + 5
    m.set_tag(-7)
    assert m.tag == -7
    i = _loopback_index(m)
    for name, value in (("buffer_size", 4096), ("collect_statistics", False),
                        ("max_packet_bytes", 128), ("packet_timeout", 25),
                        ("promiscuous_mode", True), ("wi_fi_monitor_mode", True)):
        getattr(m, "set_adapter_" + name)(i, value)
        assert getattr(m, "get_adapter_" + name)(i) == value, name
    # Settings survive a second list_adapters (matched by name).
    m.list_adapters()
    assert m.get_adapter_packet_timeout(m.find_adapter("lo")) == 25


@pytest.mark.parametrize("name", ["active", "adapter_count"])
def test_read_only_properties_raise_attribute_error(name):
    m = IPMonitor()
    with pytest.raises(AttributeError):
        setattr(m, name, 1)
    assert getattr(m, name) in (0, False)


def test_no_stray_attributes():
    m = IPMonitor()
    with pytest.raises(AttributeError):
        m.filtr = "typo"


def test_hooks_take_callables_only():
    m = IPMonitor()
    with pytest.raises(TypeError):
        m.on_packet = 5

    def hook(e):
        pass
    m.on_packet = hook
    assert m.on_packet is hook
    m.on_packet = None
    assert m.on_packet is None


def test_params_types_cannot_be_made_or_changed_from_python():
    with pytest.raises(TypeError):
        ipmonitor.IPMonitorPacketEventParams()


def test_config_settings():
    m = IPMonitor()
    assert "ipmonitor" in m.config("BuildInfo")
    assert m.config("LicenseInfo") != ""
    assert m.config("NetFilterGUID=abc") == ""
    assert m.config("NetFilterGUID") == "abc"


# ---- bad input -------------------------------------------------------------

def _raises(code, fn, *args):
    with pytest.raises(IPMonitorError) as info:
        fn(*args)
    e = info.value
    assert e.code == code, (e.code, e.message)
    assert e.message and str(e) == e.message
    return e


def test_unknown_adapter(clib):
    m = IPMonitor()
    e = _raises(ipmonitor.IPM_E_ADAPTER_NOT_FOUND, m.activate, "nosuchif0")
    assert (e.code, e.message) == clib.error_of(("ipm_activate", b"nosuchif0"))
    assert "nosuchif0" in e.message
    assert m.active is False


def test_bad_filter_keeps_the_old_one(clib):
    m = IPMonitor()
    m.filter = "udp"
    e = _raises(ipmonitor.IPM_E_BAD_FILTER, setattr, m, "filter", "port ((")
    assert (e.code, e.message) == clib.error_of(("ipm_set_filter", b"port (("))
    assert m.filter == "udp"
    _raises(ipmonitor.IPM_E_BAD_FILTER, m.set_filter, "not a filter at all")
    assert m.get_filter() == "udp"


@pytest.mark.parametrize("index", [-1, -2, 10_000, 2**40])
def test_adapter_index_out_of_range(clib, index):
    m = IPMonitor()
    m.list_adapters()
    e = _raises(ipmonitor.IPM_E_INDEX_OUT_OF_RANGE, m.get_adapter_name, index)
    if index < 0:  # refused by the package: never "from the end", never the C library's defaults slot
        assert "negative indexes do not count from the end" in e.message
    elif index < 2**31:
        assert (e.code, e.message) == clib.error_of(("ipm_list_adapters",),
                                                     ("ipm_get_adapter_name", index))
    _raises(ipmonitor.IPM_E_INDEX_OUT_OF_RANGE, m.set_adapter_packet_timeout, index, 10)
    _raises(ipmonitor.IPM_E_INDEX_OUT_OF_RANGE, m.get_adapter_buffer_size, index)


def test_index_out_of_range_before_list_adapters():
    _raises(ipmonitor.IPM_E_INDEX_OUT_OF_RANGE, IPMonitor().get_adapter_name, 0)


@pytest.mark.parametrize("setter,value", [("set_direction", 3), ("set_direction", -1),
                                          ("set_operation_mode", 2)])
def test_out_of_range_values(clib, setter, value):
    m = IPMonitor()
    e = _raises(ipmonitor.IPM_E_INVALID_ARGUMENT, getattr(m, setter), value)
    assert (e.code, e.message) == clib.error_of(("ipm_" + setter, value))
    assert m.direction == 0 and m.operation_mode == 0


def test_bad_packet_timeout():
    m = IPMonitor()
    i = _loopback_index(m)
    _raises(ipmonitor.IPM_E_INVALID_ARGUMENT, m.set_adapter_packet_timeout, i, 0)
    assert m.get_adapter_packet_timeout(i) == 1000


def test_unknown_config_setting(clib):
    m = IPMonitor()
    e = _raises(ipmonitor.IPM_E_CONFIG, m.config, "NoSuchSetting")
    assert (e.code, e.message) == clib.error_of(("ipm_config", b"NoSuchSetting"))


def test_wrong_python_types():
    m = IPMonitor()
    with pytest.raises(TypeError):
        m.filter = 5
    with pytest.raises(TypeError):
        m.direction = "in"
    with pytest.raises(TypeError):
        m.get_statistics(5)


@needs_root
def test_setting_while_active(clib):
    m = IPMonitor()
    i = _loopback_index(m)
    m.filter = "udp port 9"  # nothing will match: no traffic is made
    m.activate("lo")
    try:
        assert m.active is True
        e = _raises(ipmonitor.IPM_E_ACTIVE, setattr, m, "operation_mode", 1)
        assert "active" in e.message
        _raises(ipmonitor.IPM_E_ACTIVE, m.set_adapter_packet_timeout, i, 10)
        _raises(ipmonitor.IPM_E_ACTIVE, m.set_adapter_max_packet_bytes, i, 10)
        _raises(ipmonitor.IPM_E_ACTIVE, m.set_adapter_buffer_size, i, 10)
        _raises(ipmonitor.IPM_E_ACTIVE, m.activate, "lo")
        assert m.operation_mode == 0 and m.get_adapter_packet_timeout(i) == 1000
        # The filter and direction may change while active (the reference).
        m.filter = "udp port 10"
        m.direction = ipmonitor.PACKET_DIRECTION_INCOMING
        assert m.get_link_type() >= 0
    finally:
        m.deactivate()
    assert m.active is False
    m.operation_mode = 1


def test_get_statistics_fills_lists(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    run_file(m, path)
    received, dropped, adapter_dropped = [0], [0], [0]
    assert m.get_statistics(received, dropped, adapter_dropped) == (len(records), 0, 0)
    assert (received, dropped, adapter_dropped) == ([len(records)], [0], [0])
    empty = []
    m.get_statistics(empty)
    assert empty == [len(records)]


def test_type_stub_matches_the_class():
    import ast
    import os
    stub = os.path.join(os.path.dirname(ipmonitor.__file__), "__init__.pyi")
    tree = ast.parse(_read(stub))
    stubbed = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in ("_IPMonitorBase", "IPMonitor"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    stubbed.add(item.name)
                elif isinstance(item, ast.Assign):
                    stubbed.update(t.id for t in item.targets)
    public = {n for n in dir(IPMonitor) if not n.startswith("_")}
    assert public == stubbed - {"__init__", "__enter__", "__exit__"}
    for cls in ("IPMonitorPacketEventParams", "IPMonitorStatisticsEventParams",
                "IPMonitorErrorEventParams"):
        node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
        names = {i.name for i in node.body if isinstance(i, ast.FunctionDef)}
        assert names == {n for n in dir(getattr(ipmonitor, cls)) if not n.startswith("_")}, cls


def test_constants_come_from_the_library_lists():
    """Every constant the extension generates from the C lists is in the package,
    in pcapfilter and in the stub; every error code has its name and message."""
    import ast
    import os
    import pcapfilter
    stub = os.path.join(os.path.dirname(ipmonitor.__file__), "__init__.pyi")
    tree = ast.parse(_read(stub))
    annotated = {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)}
    names = set(ipmonitor._ipmonitor._CONSTANTS)
    assert {"IPM_OK", "IPM_E_BUSY", "PACKET_DIRECTION_ANY"} <= names
    assert names <= annotated, names - annotated
    codes = [n for n in names if n.startswith("IPM_")]
    assert len({getattr(ipmonitor, n) for n in codes}) == len(codes)  # values distinct
    for n in codes:
        code = getattr(ipmonitor, n)
        assert getattr(pcapfilter, n) == code
        assert ipmonitor.error_name(code) == n[len("IPM_"):]
        assert ipmonitor.strerror(code) not in ("", "unknown error")
    assert ipmonitor.error_name(-9999) is None
    assert ipmonitor.strerror(-9999) == "unknown error"


def test_adapter_view_has_every_library_property():
    props = dict(ipmonitor._ipmonitor._ADAPTER_PROPERTIES)
    assert props["buffer_size"] is True and props["name"] is False
    for name, writable in props.items():
        assert hasattr(IPMonitor, f"get_adapter_{name}")
        assert hasattr(IPMonitor, f"set_adapter_{name}") == writable
        assert isinstance(getattr(ipmonitor.Adapter, name), property)
        assert (getattr(ipmonitor.Adapter, name).fset is not None) == writable


def test_errors_are_also_the_standard_exceptions(tmp_path):
    # Each failure is an IPMonitorError and also the standard exception a
    # Python programmer catches, with the library's code and message.
    m = IPMonitor()
    cases = [
        (lambda: m.get_adapter_name(99), ipmonitor.IPMonitorIndexError, IndexError,
         ipmonitor.IPM_E_INDEX_OUT_OF_RANGE),
        (lambda: setattr(m, "filter", "udp port ((("), ipmonitor.IPMonitorValueError,
         ValueError, ipmonitor.IPM_E_BAD_FILTER),
        (lambda: m.config("NoSuchSetting"), ipmonitor.IPMonitorValueError, ValueError,
         ipmonitor.IPM_E_CONFIG),
        (lambda: m.activate(str(tmp_path / "missing.pcap")), ipmonitor.IPMonitorFileNotFoundError,
         FileNotFoundError, ipmonitor.IPM_E_ADAPTER_NOT_FOUND),
        (lambda: m.deactivate() or m.get_statistics([], [], [], 4), TypeError, TypeError, None),
    ]
    not_a_capture = tmp_path / "text.pcap"
    not_a_capture.write_text("not a capture file\n")
    cases.append((lambda: m.activate(str(not_a_capture)), ipmonitor.IPMonitorOSError, OSError,
                  ipmonitor.IPM_E_FILE))
    for call, cls, std, code in cases:
        with pytest.raises(std) as info:
            call()
        assert type(info.value) is cls, info.value
        if code is not None:
            assert isinstance(info.value, IPMonitorError)
            assert info.value.code == code
            assert info.value.description == info.value.message == str(info.value)
            assert info.value.description
    with pytest.raises(IPMonitorError):  # the base still catches every one
        m.get_adapter_name(-1)
    import pcapfilter
    assert pcapfilter.IPMonitorIndexError is ipmonitor.IPMonitorIndexError
    assert issubclass(ipmonitor.IPMonitorStateError, RuntimeError)
    assert issubclass(ipmonitor.IPMonitorPermissionError, PermissionError)
