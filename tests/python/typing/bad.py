"""Typed misuse: mypy --strict must refuse each line marked `# error`."""
import ipmonitor
from ipmonitor import IPMonitor

m = IPMonitor()
m.filter = 42  # error
m.direction = "in"  # error
m.active = True  # error
m.adapter_count = 3  # error
m.set_tag(value="x")  # error
m.on_packet = lambda e, f: None  # error
IPMonitor(True)  # error
ipmonitor.PCAP_MODE_STAT = 5  # error
reveal_type(m.active)  # note: bool
