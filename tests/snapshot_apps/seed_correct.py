"""``make_app`` on sample_dumps/seed-correct, as the CLI builds it (for pytest-textual-snapshot)."""

from __future__ import annotations

import os
import tempfile

from pmoview.inputs import InputOptions
from pmoview.tui.app import make_app

try:
    from snapshot_apps.helpers import sample
except ImportError:  # run as a file by snap_compare
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from snapshot_apps.helpers import sample

found = sample("seed-correct")
MARKS = os.path.join(tempfile.mkdtemp(prefix="pmoview-snap-"), "marks.json")
app = make_app(InputOptions(str(found[0]), kernel=str(found[1]) if found[1] else None), marks=MARKS) if found else None

if __name__ == "__main__" and app is not None:
    app.run()
