"""Stand-in for the pip bootstrap script ansible-test downloads (get-pip.py).

ansible-test creates its test virtualenvs without pip, then runs
``python get_pip_X.py --disable-pip-version-check pip==X [setuptools==Y ...]``.
The original comes from a host outside the package registries this project
may use, so scripts/sanity.sh puts this file in its place: the interpreter's
own ensurepip, then the requested versions from PyPI.
"""

from __future__ import annotations

import subprocess
import sys

# ensurepip brings neither setuptools nor wheel: these flags need no action.
requested = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + requested)
