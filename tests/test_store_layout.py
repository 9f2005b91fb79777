"""The store layout both readers share: names, keys, listings, the champion pointer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_mlops import store_layout as layout
from fraud_mlops.errors import ModelError

REPO = Path(__file__).resolve().parents[1]


def test_keys_are_model_then_version_and_the_pointer_beside_them() -> None:
    assert layout.version_key("claims-fraud", "v1") == "claims-fraud/v1"
    assert layout.champion_key("claims-fraud") == "claims-fraud/champion.json"
    assert layout.version_of_listing("/v1/manifest.json") == "v1"
    assert layout.version_of_listing("v1/weights.npz") is None  # no manifest: interrupted upload
    assert layout.version_of_listing("v1/sub/manifest.json") is None


@pytest.mark.parametrize("bad", ["../etc", "", "a/b", ".hidden", "x" * 129])
def test_names_that_are_not_plain_path_segments_are_refused(bad: str) -> None:
    with pytest.raises(ModelError, match="is not valid"):
        layout.version_key("claims-fraud", bad)


def test_champion_is_a_reference_not_a_version() -> None:
    with pytest.raises(ModelError, match="'champion' is reserved"):
        layout.version_key("claims-fraud", "champion")
    assert layout.check_name("champion", "reference", allow_champion=True) == "champion"


@pytest.mark.parametrize("name", ["../x", "a/b", "", "..", 7])
def test_manifest_file_names_must_stay_in_their_folder(name: object) -> None:
    with pytest.raises(ModelError, match="bad file name"):
        layout.check_file_name(name, "m/v1")


def test_champion_pointer_round_trip_and_corruption() -> None:
    pointer = layout.champion_pointer(
        "m", "v2", gate={"passed": True}, metrics={}, previous_version="v1", files={}
    )
    assert layout.parse_champion(json.dumps(pointer), "m/champion.json")["version"] == "v2"
    assert pointer["promoted_at"].endswith("Z")
    for raw in ("{not json", "[]", '{"version": "../x"}', b"\xff"):
        with pytest.raises(ModelError, match="is corrupt"):
            layout.parse_champion(raw, "m/champion.json")


def test_locations_split_into_store_model_and_reference() -> None:
    assert layout.split_location("s3://b/p/m/champion") == ("s3://b/p", "m", "champion")
    assert layout.split_location("s3://b/") is None


def test_the_layout_imports_nothing_outside_the_standard_library() -> None:
    script = (
        "import sys; before = set(sys.modules); import fraud_mlops.store_layout;"
        "new = {m.split('.')[0] for m in set(sys.modules) - before};"
        "print(sorted(new - set(sys.stdlib_module_names) - {'fraud_mlops'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO / "src", check=True
    )
    assert done.stdout.strip() == "[]"
