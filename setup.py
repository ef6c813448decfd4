"""setup.py for `pip install --no-build-isolation .` run at the repository
root: builds the Python package of python/ (see python/ipm_setup.py)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "python"))
from ipm_setup import setup_args  # noqa: E402
from setuptools import setup  # noqa: E402

setup(**setup_args(HERE))
