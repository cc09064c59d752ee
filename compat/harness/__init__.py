"""The project's own matrix: fixture sets, consumer runs, the whole-matrix pass, regress over
the matrix, and the recipe check.
"""
