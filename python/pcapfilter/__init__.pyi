# Type hints for pcapfilter: the ipmonitor package under the reference's name.
from ipmonitor import *
from ipmonitor import __version__ as __version__
