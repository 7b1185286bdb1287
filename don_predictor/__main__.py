import sys

from don_predictor.cli import main

sys.exit(main())
