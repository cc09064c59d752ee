"""Publishing: the report page, its data and cells, the upgrade view, advisories and the
terminal table. Reads records; never runs anything.
"""
