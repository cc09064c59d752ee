"""What compat does with the user's own model files: diagnose, probe, gate, convert, scan."""
