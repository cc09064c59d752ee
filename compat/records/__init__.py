"""Records and pure rules: the attempt record and its one judge, result files and the store a
run keeps them in, the published matrix's format, content keys, verdicts, summaries, failure
families, the vocabulary of change. Imports nothing above it.
"""
