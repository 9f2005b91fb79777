"""fraud-mlops: insurance-claims fraud detection, from claims to a served model.

This module imports nothing heavy: the scoring Lambda imports submodules of this package
without torch or pandas, and Metaflow ships the package inside its code package because of
``METAFLOW_PACKAGE_POLICY`` below.
"""

__version__ = "0.1.0"

# Tells Metaflow to include this package in the code package it ships to Batch / Step Functions.
METAFLOW_PACKAGE_POLICY = "include"
