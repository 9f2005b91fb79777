"""`protect` on prod's data: buckets, the models KMS key, the Snowflake database (not in dev)."""

from __future__ import annotations

DATA = {
    "aws:s3/bucket:Bucket",
    "aws:kms/key:Key",
    "snowflake:index/database:Database",
    "aws:rds/instance:Instance",  # the metadata service's database (prod)
}


def _protected(run) -> dict[str, bool]:
    return {f"{r.type} {r.name}": r.protect for r in run.resources if r.type in DATA}


def test_prod_protects_every_data_bucket_the_key_and_the_database(prod):
    protected = _protected(prod)
    assert len(protected) == 6  # 3 buckets, 1 key, the Snowflake and the metadata databases
    assert all(protected.values()), protected


def test_dev_protects_nothing_so_it_tears_down_cleanly(dev):
    assert not any(r.protect for r in dev.resources)


def test_protect_is_only_on_data_not_on_what_can_be_recreated(prod):
    others = [r for r in prod.resources if r.protect and r.type not in DATA]
    assert others == []


def test_protect_follows_the_config_key(build):
    assert not any(_protected(build("prod", protectData="false")).values())
    assert all(_protected(build("dev", protectData="true")).values())
