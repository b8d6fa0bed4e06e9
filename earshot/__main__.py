import sys

from earshot.cli import main

sys.exit(main())
