"""The metrics warehouse: Snowflake in the cloud, fakesnow on a DuckDB file on a laptop.

- :mod:`~fraud_mlops.warehouse.specs` declares the tables and views once (pure stdlib; the Pulumi
  program imports it);
- :mod:`~fraud_mlops.warehouse.settings` validates the ``SNOWFLAKE_*`` variables (key-pair auth);
- :mod:`~fraud_mlops.warehouse.connection` opens either warehouse behind the same DB-API;
- :mod:`~fraud_mlops.warehouse.ddl` turns the specs into CREATE statements;
- :mod:`~fraud_mlops.warehouse.sync` MERGEs a run's lakehouse outputs in one transaction.

Nothing is imported here, so ``import fraud_mlops.warehouse.specs`` stays light.
"""
