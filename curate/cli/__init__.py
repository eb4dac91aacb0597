"""The ``curate`` command line. Each command group lives in its own module of this package."""
