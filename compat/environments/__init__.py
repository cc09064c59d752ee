"""The catalog's environments on this machine: interpreters, builds from locks, ad-hoc specs,
the sandbox, and the one client of the worker.
"""
