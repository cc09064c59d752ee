"""compat: a version-compatibility test matrix for saved Keras / TensorFlow models.

This file must stay importable on Python 3.6: the code under ``compat.inside`` runs
inside every catalog environment, the oldest of which is CPython 3.6.
"""

__version__ = "0.1.0"
