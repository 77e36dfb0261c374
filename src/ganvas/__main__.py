import sys

from ganvas.cli import main

sys.exit(main())
