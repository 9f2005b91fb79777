"""Snowflake: objects from the library's specs, minimal grants, a key-pair-only service user."""

from __future__ import annotations

from fraud_mlops.warehouse import specs

TABLE = "snowflake:index/table:Table"
GRANT = "snowflake:index/grantPrivilegesToAccountRole:GrantPrivilegesToAccountRole"


def test_tables_are_exactly_the_library_specs(prod):
    tables = {t.inputs["name"]: t.inputs for t in prod.of_type(TABLE)}
    assert set(tables) == {t.name for t in specs.TABLES}
    for spec in specs.TABLES:
        got = tables[spec.name]
        assert [(c["name"], c["type"], c["nullable"]) for c in got["columns"]] == [
            (c.name, c.type, c.nullable) for c in spec.columns
        ]
        assert "primaryKey" not in got  # deprecated argument: the key is a TableConstraint
        assert got["database"] == "FRAUD_MLOPS_PROD"
        assert got["schema"] == specs.SCHEMA_NAME_DEFAULT
    assert prod.outputs["snowflake_tables"] == [t.name for t in specs.TABLES]


def test_each_table_key_is_a_primary_key_constraint(prod):
    constraints = {
        c.inputs["tableId"]: c.inputs
        for c in prod.of_type("snowflake:index/tableConstraint:TableConstraint")
    }
    assert len(constraints) == len(specs.TABLES)
    for spec in specs.TABLES:
        got = constraints[f'"FRAUD_MLOPS_PROD"."{specs.SCHEMA_NAME_DEFAULT}"."{spec.name}"']
        assert got["type"] == "PRIMARY KEY"
        assert got["columns"] == list(spec.key)
    (provider,) = prod.of_type("pulumi:providers:snowflake")
    assert "snowflake_table_constraint_resource" in provider.inputs["previewFeaturesEnabled"]


def test_views_select_from_the_qualified_tables(prod):
    (view,) = prod.of_type("snowflake:index/view:View")
    assert view.inputs["name"] == specs.VIEWS[0].name
    assert "FROM FRAUD_MLOPS_PROD.FRAUD_MLOPS.MODEL_METRICS" in view.inputs["statement"]


def test_table_preview_feature_is_enabled_and_auth_is_a_secret_key(prod):
    (provider,) = prod.of_type("pulumi:providers:snowflake")
    assert "snowflake_table_resource" in provider.inputs["previewFeaturesEnabled"]
    assert provider.inputs["authenticator"] == "SNOWFLAKE_JWT"
    assert "privateKey" in provider.secret_inputs
    assert "password" not in provider.inputs


def test_xsmall_warehouse_suspends_itself(prod):
    (wh,) = prod.of_type("snowflake:index/warehouse:Warehouse")
    assert wh.inputs["warehouseSize"] == "XSMALL"
    assert wh.inputs["autoSuspend"] == 60
    assert wh.inputs["initiallySuspended"] is True


def test_sync_role_gets_exactly_the_library_privileges(prod):
    grants = {g.name.rsplit("-", 1)[-1]: g.inputs for g in prod.of_type(GRANT)}
    assert {k: sorted(v["privileges"]) for k, v in grants.items()} == {
        k: sorted(v) for k, v in specs.sync_privileges().items()
    }
    assert all(g["accountRoleName"] == "FRAUD_MLOPS_PROD_SYNC" for g in grants.values())
    assert grants["tables"]["onSchemaObject"]["all"] == {
        "objectTypePlural": "TABLES",
        "inSchema": '"FRAUD_MLOPS_PROD"."FRAUD_MLOPS"',
    }
    assert not any(g.get("allPrivileges") or g.get("onAccount") for g in grants.values())


def test_service_user_has_a_public_key_and_no_password(prod):
    (user,) = prod.of_type("snowflake:index/serviceUser:ServiceUser")
    assert user.inputs["rsaPublicKey"].startswith("MIIBIjAN")
    assert "password" not in user.inputs
    assert user.inputs["defaultRole"] == "FRAUD_MLOPS_PROD_SYNC"
    (grant,) = prod.of_type("snowflake:index/grantAccountRole:GrantAccountRole")
    assert grant.inputs == {
        "roleName": "FRAUD_MLOPS_PROD_SYNC",
        "userName": "FRAUD_MLOPS_PROD_SYNC",
    }


def test_sync_private_key_is_stored_as_a_secret_the_job_role_can_read(prod):
    (version,) = prod.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert "secretString" in version.secret_inputs
    secret_arn = prod.outputs["snowflake_key_secret_arn"]
    job = next(
        r for r in prod.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "fraud-mlops-prod-job"
    )
    assert secret_arn in job.inputs["policy"]
    env = prod.outputs["flow_environment"]
    assert env["SNOWFLAKE_ACCOUNT"] == "EXAMPLEORG-FRAUD_PROD"
    assert env["SNOWFLAKE_USER"] == "FRAUD_MLOPS_PROD_SYNC"
    assert "SNOWFLAKE_PRIVATE_KEY" not in env
    # ... only where the flow's @secrets fetches it from, on the step that syncs
    assert env["SNOWFLAKE_PRIVATE_KEY_SECRET_ARN"] == secret_arn
