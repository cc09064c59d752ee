"""Code that runs INSIDE each catalog environment.

Rules for everything in this package: it must run on CPython 3.6 with nothing but the
environment's own packages (numpy, h5py, TensorFlow and/or Keras), so no f-string
features newer than 3.6, no dataclasses, no ``from __future__ import annotations``.
"""
