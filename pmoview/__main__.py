import sys

from pmoview.main import main

sys.exit(main())
