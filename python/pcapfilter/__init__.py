"""pcapfilter: the module name of the PCAP Filter reference page.

`from pcapfilter import IPMonitor` works as on the reference; everything
here is the `ipmonitor` package, re-exported.
"""
from ipmonitor import *  # noqa: F401,F403
from ipmonitor import __all__, __version__  # noqa: F401
from ipmonitor import _ipmonitor, error_name, strerror  # noqa: F401

# The rest of the package's names: every constant, as ipmonitor has them.
globals().update({_n: getattr(_ipmonitor, _n) for _n in _ipmonitor._CONSTANTS})
