"""Apps for snapshot tests, built with the CLI's factory, plus helpers for the pilot tests."""
