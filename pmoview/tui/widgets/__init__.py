"""Widgets, one class per module."""
