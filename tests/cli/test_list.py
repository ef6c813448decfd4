"""`ipmon list` inside a test namespace: the veth end must show the MAC,
addresses, MTU, state and index that ip(8) reports for it."""
import json
import re
import subprocess

from conftest import run_ipmon


def ip_link(veth, name):
    out = subprocess.run(["ip", "-n", veth.a.ns, "-j", "link", "show", name],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def test_list_json_matches_ip(veth):
    subprocess.run(["ip", "-n", veth.a.ns, "link", "set", veth.a.ifname, "mtu", "1400"], check=True)
    r = run_ipmon("list", "--json", host=veth.a)
    assert r.returncode == 0, r.stderr
    adapters = json.loads(r.stdout)
    assert [a["index"] for a in adapters] == list(range(len(adapters)))
    by_name = {a["name"]: a for a in adapters}
    va = by_name[veth.a.ifname]
    link = ip_link(veth, veth.a.ifname)
    assert va["id"] == link["ifindex"]
    assert va["mac"] == veth.a.mac == link["address"]
    assert va["type"] == "ethernet" and va["iftype"] == 6
    assert va["state"] == "up" and va["up"] and va["running"] and not va["loopback"]
    assert va["mtu"] == 1400
    assert va["ipv4"] == ["10.77.0.1/24"]
    assert "fd77::1/64" in va["ipv6"]
    assert va["monitor_mode_supported"] is False
    assert isinstance(va["description"], str) and va["description"]
    lo = by_name["lo"]
    assert lo["type"] == "loopback" and lo["loopback"] is True and lo["ipv4"] == ["127.0.0.1/8"]


def test_list_table(veth):
    subprocess.run(["ip", "-n", veth.a.ns, "link", "set", veth.a.ifname, "down"], check=True)
    # -l/--long: every column, whole, as wide as it takes.
    for flag in ("-l", "--long"):
        r = run_ipmon("list", flag, host=veth.a)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].split() == ["IDX", "NAME", "TYPE", "MAC", "STATE", "MTU", "ADDRESSES",
                                    "MONITOR", "DESCRIPTION"]
        row = next(x for x in lines[1:] if x.split()[1] == veth.a.ifname)
        cells = row.split()
        assert cells[2:6] == ["ethernet", veth.a.mac, "down", "1500"]
        assert "10.77.0.1/24" in row
        assert all(x == x.rstrip() for x in lines)
        # Columns line up: each header word starts where its cells start.
        start = lines[0].index("STATE")
        assert row[start:start + 4] == "down"
        assert max(map(len, lines)) > 80  # the descriptions alone make it wide


def test_list_table_fits_80_columns(veth):
    # Enough addresses that they cannot all fit: the first ones whole, then
    # "+N" for the rest; every line within 80 columns.
    for k in range(3, 9):
        subprocess.run(["ip", "-n", veth.a.ns, "-6", "addr", "add", f"fd77::{k}/64", "dev",
                        veth.a.ifname, "nodad"], check=True)
    r = run_ipmon("list", host=veth.a)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["IDX", "NAME", "TYPE", "MAC", "STATE", "MTU", "ADDRESSES"]
    assert max(map(len, lines)) <= 80, lines
    assert all(x == x.rstrip() for x in lines)
    row = next(x for x in lines[1:] if x.split()[1] == veth.a.ifname)
    cells = row.split()
    assert cells[2:6] == ["ethernet", veth.a.mac, "up", "1500"]
    start = lines[0].index("ADDRESSES")
    addrs = row[start:].split()
    # 7 addresses in all (10.77.0.1/24, fd77::1/64 and six more): those
    # shown are whole and the count of the rest makes 7.
    assert addrs[0] == "10.77.0.1/24" and addrs[-1].startswith("+"), addrs
    shown = addrs[:-1]
    assert all(a == "10.77.0.1/24" or re.fullmatch(r"fd77::\d/64", a) for a in shown), shown
    assert len(shown) + int(addrs[-1][1:]) == 8
    lo = next(x for x in lines[1:] if x.split()[1] == "lo")
    assert lo[start:].split() == ["127.0.0.1/8", "::1/128"]
