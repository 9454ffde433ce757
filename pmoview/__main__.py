import sys

from pmoview.cli import main

sys.exit(main())
