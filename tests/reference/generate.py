#!/usr/bin/python3
"""Regenerates every fixture in tests/reference/ from PyTorch.

Run with Debian's interpreter, which has python3-torch and python3-numpy:
    /usr/bin/python3 tests/reference/generate.py
Each gen_*.py module beside this file has a main(outdir) writing its own
*.txt fixture. The fixtures are committed; the tests never run Python.
"""
import importlib
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
torch.set_num_threads(1)

for name in sorted(f[:-3] for f in os.listdir(here) if f.startswith("gen_") and f.endswith(".py")):
    importlib.import_module(name).main(here)
    print("wrote fixtures of", name)
