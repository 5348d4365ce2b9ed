"""Numba kernels: table look-up scans over genotype codes. No I/O, no policy.

Each kernel is small, typed by its arguments, compiled with ``cache=True`` and called only
through the Python API of :mod:`kinmatch.search`, which owns the array layouts.
"""
