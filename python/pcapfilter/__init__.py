"""pcapfilter: the module name of the PCAP Filter reference page.

`from pcapfilter import IPMonitor` works as on the reference; everything
here is the `ipmonitor` package, re-exported.
"""
from ipmonitor import *  # noqa: F401,F403
from ipmonitor import __all__, __version__  # noqa: F401
from ipmonitor import (  # noqa: F401  (the rest of the package's names)
    IFTYPE_ETHERNET_CSMACD, IFTYPE_IEEE80211, IFTYPE_OTHER, IFTYPE_PPP,
    IFTYPE_SOFTWARE_LOOPBACK, IFTYPE_TUNNEL, IPM_E_ACTIVE, IPM_E_ADAPTER_GONE,
    IPM_E_ADAPTER_NOT_FOUND, IPM_E_BAD_FILTER, IPM_E_BUSY, IPM_E_CAPTURE, IPM_E_CONFIG,
    IPM_E_FILE, IPM_E_HANDLER, IPM_E_INDEX_OUT_OF_RANGE, IPM_E_INVALID_ARGUMENT,
    IPM_E_NO_MEMORY, IPM_E_NOT_ACTIVE, IPM_E_PERMISSION, IPM_E_UNSUPPORTED, IPM_OK, strerror,
)
