"""The Snowflake side of the warehouse, built from the library's table specs.

Database, schema, one table per :data:`fraud_mlops.warehouse.specs.TABLES`, the BI views, an
X-Small warehouse that suspends itself, a role holding exactly
:func:`~fraud_mlops.warehouse.specs.sync_privileges`, and a ``TYPE=SERVICE`` user that logs in
with an RSA key pair only (no password). Its private key, if given, is stored in AWS Secrets
Manager as ``{"SNOWFLAKE_PRIVATE_KEY": ...}`` so Metaflow's ``@secrets`` can hand it to the sync
step on Batch. Column lists are never repeated here: they come from the specs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_snowflake as snowflake

from fraud_mlops.warehouse import specs
from infra.config import SnowflakeConfig
from infra.naming import child, type_token

# Tables and table constraints are preview resources in pulumi-snowflake 2.x; the provider
# refuses them otherwise.
PREVIEW_FEATURES = ["snowflake_table_resource", "snowflake_table_constraint_resource"]


def quoted(*parts: str) -> str:
    """A fully qualified, quoted identifier: ``"DB"."SCHEMA"``."""
    return ".".join(f'"{p}"' for p in parts)


def table_columns(table: specs.TableSpec) -> list[dict]:
    return [
        {"name": c.name, "type": c.type, "nullable": c.nullable, "comment": c.comment}
        for c in table.columns
    ]


@dataclass(frozen=True)
class SnowflakeArgs:
    prefix: str
    config: SnowflakeConfig
    aws_provider: pulumi.ProviderResource | None = None
    protect: bool = False  # Pulumi `protect` on the database (it holds every table)
    tags: dict[str, str] = field(default_factory=dict)


def make_provider(name: str, cfg: SnowflakeConfig) -> snowflake.Provider:
    """Key-pair (JWT) authentication as the deploy user; the key stays a secret Output."""
    return snowflake.Provider(
        name,
        organization_name=cfg.organization,
        account_name=cfg.account,
        user=cfg.admin_user,
        role=cfg.admin_role,
        authenticator="SNOWFLAKE_JWT",
        private_key=pulumi.Output.secret(cfg.admin_private_key),
        preview_features_enabled=PREVIEW_FEATURES,
    )


class Warehouse(pulumi.ComponentResource):
    """Snowflake database, schema, tables, views, warehouse, sync role and service user."""

    def __init__(
        self,
        name: str,
        args: SnowflakeArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: pulumi.ProviderResource | None = None,
    ):
        super().__init__(type_token("snowflake", "Warehouse"), name, None, opts)
        cfg = args.config
        opts_ = child(self, provider)
        ident = args.prefix.upper().replace("-", "_")
        self.database = snowflake.Database(
            f"{name}-db",
            name=cfg.database,
            comment=f"{args.prefix} model metrics",
            opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(protect=args.protect)),
        )
        self.schema = snowflake.Schema(
            f"{name}-schema",
            database=self.database.name,
            name=cfg.schema,
            with_managed_access="true",  # only the schema owner grants; objects cannot leak
            opts=opts_,
        )
        self.tables = [
            snowflake.Table(
                f"{name}-{t.name.lower()}",
                database=self.database.name,
                schema=self.schema.name,
                name=t.name,
                comment=t.comment,
                columns=table_columns(t),
                opts=opts_,
            )
            for t in specs.TABLES
        ]
        # The key is a table constraint: Table.primary_key is deprecated in pulumi-snowflake 2.x.
        # Snowflake records it (NOT ENFORCED) for tools and the optimizer; the MERGEs keep it.
        self.keys = [
            snowflake.TableConstraint(
                f"{name}-{spec.name.lower()}-pk",
                name=f"{spec.name}_PK",
                type="PRIMARY KEY",
                table_id=pulumi.Output.all(table.database, table.schema, table.name).apply(
                    lambda parts: quoted(*parts)
                ),
                columns=list(spec.key),
                opts=opts_,
            )
            for spec, table in zip(specs.TABLES, self.tables, strict=True)
        ]
        self.views = [
            snowflake.View(
                f"{name}-{v.name.lower()}",
                database=self.database.name,
                schema=self.schema.name,
                name=v.name,
                comment=v.comment,
                statement=specs.qualified_select(v, cfg.database, cfg.schema),
                opts=pulumi.ResourceOptions.merge(
                    opts_, pulumi.ResourceOptions(depends_on=self.tables)
                ),
            )
            for v in specs.VIEWS
        ]
        self.warehouse = snowflake.Warehouse(
            f"{name}-wh",
            name=f"{ident}_WH",
            warehouse_size=cfg.warehouse_size,
            auto_suspend=cfg.auto_suspend_seconds,
            auto_resume="true",
            initially_suspended=True,
            max_cluster_count=1,
            comment=f"{args.prefix}: metrics sync and BI",
            opts=opts_,
        )
        self.role = snowflake.AccountRole(
            f"{name}-sync", name=f"{ident}_SYNC", comment="MERGEs run metrics", opts=opts_
        )
        self._grant_sync_privileges(name, opts_)
        self.user = snowflake.ServiceUser(
            f"{name}-sync",
            name=f"{ident}_SYNC",
            comment="fraud-mlops metrics sync (key-pair only)",
            rsa_public_key=cfg.service_public_key,
            default_role=self.role.name,
            default_warehouse=self.warehouse.name,
            default_namespace=pulumi.Output.concat(self.database.name, ".", self.schema.name),
            opts=opts_,
        )
        snowflake.GrantAccountRole(
            f"{name}-sync", role_name=self.role.name, user_name=self.user.name, opts=opts_
        )
        self.private_key_secret = None
        if cfg.service_private_key is not None:
            self.private_key_secret = aws.secretsmanager.Secret(
                f"{name}-sync-key",
                name_prefix=f"{args.prefix}/snowflake-sync-key-",
                description="Private key of the Snowflake sync service user",
                recovery_window_in_days=7,
                tags=args.tags,
                opts=child(self, args.aws_provider),
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-sync-key",
                secret_id=self.private_key_secret.id,
                secret_string=pulumi.Output.secret(cfg.service_private_key).apply(
                    lambda key: json.dumps({"SNOWFLAKE_PRIVATE_KEY": key})
                ),
                opts=pulumi.ResourceOptions.merge(
                    child(self, args.aws_provider),
                    pulumi.ResourceOptions(additional_secret_outputs=["secret_string"]),
                ),
            )
        self.register_outputs(
            {
                "database": self.database.name,
                "schema": self.schema.name,
                "warehouse": self.warehouse.name,
                "role": self.role.name,
                "user": self.user.name,
            }
        )

    def _grant_sync_privileges(self, name: str, opts: pulumi.ResourceOptions) -> None:
        """Exactly the privileges the library says the sync needs, object kind by kind."""
        privileges = specs.sync_privileges()
        db, schema = self.database.name, self.schema.name
        fq_schema = pulumi.Output.all(db, schema).apply(lambda p: quoted(*p))
        targets = {
            "database": {"on_account_object": {"object_type": "DATABASE", "object_name": db}},
            "warehouse": {
                "on_account_object": {
                    "object_type": "WAREHOUSE",
                    "object_name": self.warehouse.name,
                }
            },
            "schema": {"on_schema": {"schema_name": fq_schema}},
            "tables": {
                "on_schema_object": {
                    "all": {"object_type_plural": "TABLES", "in_schema": fq_schema}
                }
            },
            "views": {
                "on_schema_object": {"all": {"object_type_plural": "VIEWS", "in_schema": fq_schema}}
            },
        }
        unknown = set(privileges) - set(targets)
        if unknown:
            raise ValueError(
                f"sync_privileges() names object kinds this program cannot grant: {unknown}"
            )
        # "all tables/views" grants cover objects that exist at grant time, so wait for them.
        after = pulumi.ResourceOptions(depends_on=[*self.tables, *self.views])
        for kind, privs in privileges.items():
            snowflake.GrantPrivilegesToAccountRole(
                f"{name}-sync-{kind}",
                account_role_name=self.role.name,
                privileges=privs,
                **targets[kind],
                opts=pulumi.ResourceOptions.merge(opts, after),
            )
