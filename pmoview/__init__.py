"""pmoview: page-table inspector for real kernel memory dumps."""

__version__ = "0.2.0"
