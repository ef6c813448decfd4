"""The library's permission message, seen from Python: complete on its own
(what is missing, what to grant, and the running executable to setcap),
with no placeholder for the caller to fill in."""
import os
import subprocess
import sys

CHILD = r"""
import sys
import ipmonitor
m = ipmonitor.IPMonitor()
try:
    m.activate(sys.argv[1])
except ipmonitor.IPMonitorError as e:
    print(e.code)
    print(e.message)
else:
    print("activated")
"""


def test_permission_message_names_the_capabilities_and_the_executable(pair):
    # An unprivileged user in the pair's namespace tries to capture.
    cmd = ["ip", "netns", "exec", pair.a.ns, "setpriv", "--reuid=65534", "--regid=65534",
           "--clear-groups", sys.executable, "-c", CHILD, pair.a.ifname]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    code, message = r.stdout.splitlines()
    import ipmonitor
    assert int(code) == ipmonitor.IPM_E_PERMISSION, r.stdout
    exe = os.path.realpath(sys.executable)
    assert f'no permission to capture on "{pair.a.ifname}"' in message, message
    assert "run as root" in message and "CAP_NET_RAW" in message, message
    assert f"grant this program ({exe}) CAP_NET_RAW" in message, message
    assert message.endswith(f"setcap cap_net_raw,cap_net_admin=eip {exe}"), message
    assert "PROGRAM" not in message, message
