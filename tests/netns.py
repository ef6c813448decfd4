"""Network namespaces joined by a veth pair, for tests that send real traffic.

Shared by the Python-package tests and the ipmon command tests. A VethPair makes
two namespaces, `a` and `b`, each holding one end of a veth pair with fixed
MAC, IPv4 and IPv6 addresses and static neighbour entries (so no ARP or
neighbour discovery runs during a test), and removes them on exit even when
the test fails. Test traffic never leaves these namespaces.

Sockets are made inside a namespace by entering it briefly with setns(2): a
socket stays in the namespace it was created in, so a test can send from `b`
and capture in `a` from one process.
"""
import contextlib
import ctypes
import itertools
import os
import socket
import subprocess
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_counter = itertools.count()


def _run(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


@contextlib.contextmanager
def entered(ns_name):
    """Run the body with the calling thread inside namespace `ns_name`."""
    back = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {ns_name}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(back, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the original namespace")
    finally:
        os.close(target)
        os.close(back)


class Host:
    """One side of the pair: its namespace, interface and addresses."""

    def __init__(self, ns, ifname, mac, ip4, ip6):
        self.ns, self.ifname, self.mac, self.ip4, self.ip6 = ns, ifname, mac, ip4, ip6

    def exec(self, *cmd, check=True, **kw):
        """Run a command inside this host's namespace."""
        return subprocess.run(["ip", "netns", "exec", self.ns, *cmd], check=check, **kw)

    def popen(self, *cmd, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *cmd], **kw)

    def socket(self, family=socket.AF_INET, type=socket.SOCK_DGRAM, proto=0):
        """A socket that lives in this host's namespace."""
        with entered(self.ns):
            return socket.socket(family, type, proto)

    def entered(self):
        return entered(self.ns)


class VethPair:
    """Two namespaces `a` and `b` joined by a veth pair; a context manager."""

    def __init__(self, prefix="ipmt"):
        tag = f"{os.getpid() % 100000}x{next(_counter)}"
        self.tag = tag
        self.a = Host(f"{prefix}a{tag}", f"va{tag}"[:15], "02:77:00:00:00:01", "10.77.0.1", "fd77::1")
        self.b = Host(f"{prefix}b{tag}", f"vb{tag}"[:15], "02:77:00:00:00:02", "10.77.0.2", "fd77::2")

    def __enter__(self):
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _create(self):
        a, b = self.a, self.b
        for h in (a, b):
            _run("ip", "netns", "add", h.ns)
        _run("ip", "link", "add", a.ifname, "netns", a.ns, "address", a.mac, "type", "veth",
             "peer", "name", b.ifname, "netns", b.ns, "address", b.mac)
        for h, peer in ((a, b), (b, a)):
            n = ["ip", "-n", h.ns]
            # No router solicitations, no link-local address: fewer stray packets.
            h.exec("sysctl", "-qw", f"net.ipv6.conf.{h.ifname}.accept_ra=0",
                   f"net.ipv6.conf.{h.ifname}.addr_gen_mode=1", stdout=subprocess.DEVNULL)
            _run(*n, "link", "set", "lo", "up")
            _run(*n, "addr", "add", f"{h.ip4}/24", "dev", h.ifname)
            _run(*n, "-6", "addr", "add", f"{h.ip6}/64", "dev", h.ifname, "nodad")
            _run(*n, "link", "set", h.ifname, "up")
            _run(*n, "neigh", "replace", peer.ip4, "lladdr", peer.mac, "dev", h.ifname, "nud", "permanent")
            _run(*n, "-6", "neigh", "replace", peer.ip6, "lladdr", peer.mac, "dev", h.ifname, "nud", "permanent")
        self._wait_up()

    def _wait_up(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [_run("ip", "-n", h.ns, "-o", "link", "show", h.ifname).stdout for h in (self.a, self.b)]
            if all("state UP" in s for s in states):
                return
            time.sleep(0.02)
        raise RuntimeError(f"veth pair {self.a.ifname}/{self.b.ifname} did not come up")

    def close(self):
        for h in (self.a, self.b):
            _run("ip", "netns", "del", h.ns, check=False)


def send_udp(src, dst_ip, dst_port, payloads, src_port=0):
    """Send each payload as one UDP datagram from host `src`; returns the
    source port used. IPv6 when dst_ip contains ':'."""
    family = socket.AF_INET6 if ":" in dst_ip else socket.AF_INET
    s = src.socket(family, socket.SOCK_DGRAM)
    try:
        s.bind(("", src_port))
        for p in payloads:
            s.sendto(p, (dst_ip, dst_port))
        return s.getsockname()[1]
    finally:
        s.close()
