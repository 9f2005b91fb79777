"""python -m fraud_mlops.cli"""

import sys

from fraud_mlops.cli import main

sys.exit(main())
