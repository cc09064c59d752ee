"""Records and pure rules: result files, the published matrix's format, content keys, verdicts,
summaries, failure families, the vocabulary of change. Imports nothing above it.
"""
