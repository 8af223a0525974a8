import sys

from bertft.cli import main

sys.exit(main())
