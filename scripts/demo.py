"""`make demo` (Foundation stage): generate claims, write them to the lakehouse, say where."""

from __future__ import annotations

import sys

from fraud_mlops.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", "--rows", "20000", "--run-id", "demo"]))
