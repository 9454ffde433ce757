"""Screens: the main screen and the modal dialogs, one class per module."""
