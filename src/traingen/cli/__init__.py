"""The ``traingen`` command: one module per verb; each parses and calls, nothing more."""
