"""setup.py for `pip install --no-build-isolation .` run in python/; the
description itself is in ipm_setup.py (shared with the root's setup.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipm_setup import setup_args  # noqa: E402
from setuptools import setup  # noqa: E402

setup(**setup_args(os.path.dirname(os.path.abspath(__file__))))
