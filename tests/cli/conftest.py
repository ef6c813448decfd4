"""Fixtures for the end-to-end tests of the `ipmon` command.

The binary comes from $IPMON (set by ctest; see cli/CMakeLists.txt), else
build/cli/ipmon. Helpers run ipmon inside a test namespace, wait for its
"listening on" line on stderr (the sign that the capture is open) instead of
sleeping, and always kill what they started.
"""
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import netns  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IPMON = os.environ.get("IPMON") or os.path.join(ROOT, "build", "cli", "ipmon")


def pytest_configure(config):
    if not os.access(IPMON, os.X_OK):
        raise pytest.UsageError(f"ipmon binary not found at {IPMON}; build first or set IPMON")


def run_ipmon(*args, host=None, timeout=30, **kw):
    """Run ipmon to completion (inside `host`'s namespace if given)."""
    cmd = [IPMON, *args]
    if host is not None:
        cmd = ["ip", "netns", "exec", host.ns, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


class Running:
    """An ipmon process whose stderr is read line by line in a thread."""

    def __init__(self, host, args, binary_stdout=False):
        self.proc = host.popen(IPMON, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=not binary_stdout)
        self._err = queue.Queue()
        self.err_lines = []
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self):
        for line in self.proc.stderr:
            if isinstance(line, bytes):
                line = line.decode(errors="replace")
            self._err.put(line)
        self._err.put(None)

    def wait_listening(self, timeout=10):
        """Block until ipmon says "listening on"; fail if it exits first."""
        while True:
            try:
                line = self._err.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"ipmon printed no 'listening on' within {timeout}s: {self.err_lines}")
            if line is None:
                raise AssertionError(f"ipmon exited before listening: {self.err_lines}")
            self.err_lines.append(line)
            if line.startswith("listening on"):
                return line

    def wait_err(self, text, timeout=10):
        """Block until a stderr line containing `text` comes; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._err.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"ipmon printed no line with {text!r} within {timeout}s: {self.err_lines}")
            if line is None:
                self._err.put(None)  # finish() still sees the end
                raise AssertionError(f"ipmon exited before printing {text!r}: {self.err_lines}")
            self.err_lines.append(line)
            if text in line:
                return line

    def readline(self, timeout=10):
        """One stdout line, or fail after `timeout` seconds."""
        box = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not box:
            raise AssertionError(f"no output line within {timeout}s")
        return box[0]

    def finish(self, timeout=15):
        """Wait for exit; returns (rc, stdout, stderr text)."""
        box = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.read()), daemon=True)
        t.start()
        t.join(timeout)
        if not box:
            self.proc.kill()
            raise AssertionError(f"ipmon did not exit within {timeout}s")
        out = box[0]
        self.proc.wait(timeout=5)
        self._t.join(5)
        while True:
            line = self._err.get_nowait() if not self._err.empty() else None
            if line is None:
                break
            self.err_lines.append(line)
        return self.proc.returncode, out, "".join(self.err_lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def veth():
    with netns.VethPair(prefix="ipc") as pair:
        yield pair


@pytest.fixture
def start_ipmon():
    """start_ipmon(host, *args) -> Running, killed at the end of the test."""
    started = []

    def start(host, *args, binary_stdout=False):
        r = Running(host, args, binary_stdout=binary_stdout)
        started.append(r)
        return r

    yield start
    for r in started:
        r.kill()
