"""A stand-in for NVIDIA's `isaacgym` package, for tests on machines that cannot install it (it ships only from
NVIDIA's download, for Python 3.6-3.8). It reproduces the import-order rule of the real one: importing it after
torch fails with the same message."""

import sys

if "torch" in sys.modules:
    raise ImportError("PyTorch was imported before isaacgym modules.  Please import torch after isaacgym modules.")
