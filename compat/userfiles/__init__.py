"""The user's own files: diagnosis, the static scan, the engine that runs strategies on them,
and the commands built on it (probe, convert, the gate, written loaders).
"""
