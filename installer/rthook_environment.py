"""PyInstaller runtime hook: give programs izer starts the user's library search path.

On Linux the bootloader points ``LD_LIBRARY_PATH`` at the bundle (keeping the user's value in
``LD_LIBRARY_PATH_ORIG``). izer itself no longer needs it once running (the dynamic loader
read it at start-up), but the system tools it runs (``lp``, ``pdftoppm``, ``xorriso``...) must
not load the bundle's copies of libraries such as libz or libssl instead of their own.
"""

import os
import sys

if sys.platform.startswith("linux") and getattr(sys, "frozen", False):
    _original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if _original is not None:
        os.environ["LD_LIBRARY_PATH"] = _original
    else:
        os.environ.pop("LD_LIBRARY_PATH", None)
