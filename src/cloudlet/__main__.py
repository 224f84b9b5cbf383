import sys

from cloudlet.cli import main

sys.exit(main())
