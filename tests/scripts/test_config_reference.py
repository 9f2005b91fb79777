"""scripts/config_reference.py: the README's configuration tables come from the settings models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference():
    path = REPO / "scripts" / "config_reference.py"
    spec = importlib.util.spec_from_file_location("config_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_is_current(reference):
    readme = (REPO / "README.md").read_text()
    assert reference.render(readme) == readme, "run `make docs`"


def test_every_variable_of_every_model_has_a_row(reference):
    readme = (REPO / "README.md").read_text()
    for models in reference._models().values():
        for model in models:
            for field in model.model_fields.values():
                if isinstance(field.validation_alias, str):
                    assert f"| `{field.validation_alias}` |" in readme


def test_a_stale_table_is_rewritten_and_the_check_fails(reference, tmp_path, monkeypatch, capsys):
    stale = (REPO / "README.md").read_text().replace("| `MAX_BATCH_SIZE` | `1000`", "| x | y", 1)
    monkeypatch.setattr(reference, "README", tmp_path / "README.md")
    (tmp_path / "README.md").write_text(stale)
    assert reference.main(["--check"]) == 1
    assert "make docs" in capsys.readouterr().err
    assert reference.main([]) == 0
    assert (tmp_path / "README.md").read_text() == (REPO / "README.md").read_text()


def test_rows_show_ranges_choices_and_derived_defaults_and_hide_secrets(reference):
    readme = (REPO / "README.md").read_text()
    assert "| `MAX_BATCH_SIZE` | `1000` | 1..10000 |" in readme
    assert "| `LOG_LEVEL` | `INFO` | DEBUG, INFO, WARNING, ERROR |" in readme
    assert "| `LAKEHOUSE_URI` | `$FRAUD_MLOPS_HOME/lakehouse` |" in readme
    assert "| `databricksToken` | secret | secret, no default |" in readme
    assert "| `SNOWFLAKE_PRIVATE_KEY` | secret, no default |" in readme


def test_missing_markers_are_a_clear_error(reference):
    with pytest.raises(SystemExit, match="config:library"):
        reference.render("# no markers here\n")
