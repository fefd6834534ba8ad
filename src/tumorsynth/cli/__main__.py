import sys

from tumorsynth.cli import main

sys.exit(main())
