"""pmoview's terminal UI (Textual). ``pmoview.tui.app.make_app(InputOptions, profile=, spec=, marks=)``
builds the app for the ``pmoview`` command and the tests. Importing this package does not import
Textual; ``pmoview.tui.app`` does."""
