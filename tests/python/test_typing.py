"""The type hints, held to the code: stubtest finds no difference between
the stubs and the module, mypy --strict accepts typed use of both styles
and refuses typed misuse, line by line."""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TYPING = os.path.join(HERE, "typing")

try:
    import mypy  # noqa: F401
except ImportError:  # Debian's python3-mypy (scripts/install-deps.sh)
    pytest.skip("mypy is not installed", allow_module_level=True)


def mypy_run(*args):
    # The package under test, wherever it is imported from (the build's
    # python/ folder under ctest): mypy reads MYPYPATH, not PYTHONPATH.
    import ipmonitor
    env = dict(os.environ, MYPYPATH=os.path.dirname(os.path.dirname(ipmonitor.__file__)))
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental",
                           "--cache-dir=/dev/null", *args],
                          capture_output=True, text=True, cwd=TYPING, env=env)


def test_stubtest_finds_no_difference():
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "ipmonitor", "pcapfilter",
                        "--allowlist", os.path.join(TYPING, "stubtest-allowlist.txt")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_accepts_typed_use():
    r = mypy_run("--strict", "good.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_refuses_typed_misuse():
    r = mypy_run("--strict", "bad.py")
    with open(os.path.join(TYPING, "bad.py")) as f:
        lines = f.read().splitlines()
    want_errors = {i + 1 for i, line in enumerate(lines) if line.endswith("# error")}
    got_errors = {int(n) for n in re.findall(r"^bad\.py:(\d+): error", r.stdout, re.M)}
    assert got_errors == want_errors, r.stdout
    reveal = [line for line in r.stdout.splitlines() if "Revealed type" in line]
    assert reveal and 'builtins.bool' in reveal[0], r.stdout
