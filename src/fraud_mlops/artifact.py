"""Export and load a torch-free model artifact.

An artifact is a directory::

    manifest.json   format version, model name + version, family, schema, preprocessing,
                    architecture, threshold, metrics, selection, params, data fingerprint, code
                    version, created-at, and the sha256 of every other file
    weights.npz     the model as numeric arrays: a network's weights under their torch names,
                    trees as node arrays, a blend's members under ``members.<i>.``
    reference.npz   the training reference profile for drift (optional)

Nothing is pickled: ``np.load(..., allow_pickle=False)`` everywhere, so loading an artifact never
runs code. :func:`load_artifact` refuses an artifact whose files do not match their checksums.

On the scoring path: numpy (+ the schema's pydantic/yaml) only.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_mlops.errors import ConfigError, FraudMlopsError, ModelError
from fraud_mlops.preprocessing import Preprocessor, numeric_column, text_column
from fraud_mlops.schema import ClaimsSchema, schema_from_dict
from fraud_mlops.store_layout import MANIFEST  # the store's layout owns the manifest's name

if TYPE_CHECKING:  # imported where a reference is read: most loads (the API's) have none
    from fraud_mlops.drift import ReferenceProfile

FORMAT_VERSION = 1
WEIGHTS = "weights.npz"
REFERENCE = "reference.npz"
ARCHITECTURE_TYPE = "mlp_embeddings"
BLEND_TYPE = "blend"
FAMILIES = ("mlp", "tabm", "gbdt", "blend")
# The family of each architecture type (a blend's family is "blend").
FAMILY_OF_TYPE = {"mlp_embeddings": "mlp", "tabm": "tabm", BLEND_TYPE: "blend"}


def family_of(architecture: Mapping[str, Any]) -> str:
    """``mlp``, ``tabm``, ``gbdt`` or ``blend`` for an architecture dict."""
    kind = str(architecture.get("type"))
    if kind.startswith("gbdt"):
        return "gbdt"
    if kind not in FAMILY_OF_TYPE:
        raise ModelError(
            f"architecture type {kind!r} is not supported; this code scores "
            f"{', '.join(FAMILY_OF_TYPE)} and gbdt_* architectures"
        )
    return FAMILY_OF_TYPE[kind]


def member_prefix(index: int) -> str:
    """The weight-name prefix of a blend's member ``index`` (torch ModuleList style)."""
    return f"members.{index}."


@dataclass(frozen=True)
class ModelArtifact:
    """A loaded, verified artifact."""

    path: Path
    manifest: dict[str, Any]
    schema: ClaimsSchema
    preprocessor: Preprocessor
    weights: dict[str, np.ndarray]
    reference: ReferenceProfile | None = None

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def model_name(self) -> str:
        return str(self.manifest["model_name"])

    @property
    def architecture(self) -> dict[str, Any]:
        return self.manifest["architecture"]

    @property
    def metrics(self) -> dict[str, Any]:
        return self.manifest["metrics"]

    @property
    def family(self) -> str:
        return str(self.manifest.get("family") or family_of(self.architecture))

    @property
    def calibration(self) -> tuple[float, float]:
        """Platt scaling ``(slope, intercept)`` applied to the logit; identity when absent."""
        cal = self.manifest.get("calibration") or {}
        return float(cal.get("slope", 1.0)), float(cal.get("intercept", 0.0))


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_artifact(
    directory: str | Path,
    *,
    model_name: str,
    version: str,
    schema: ClaimsSchema,
    preprocessor: Preprocessor,
    architecture: dict[str, Any],
    weights: Mapping[str, np.ndarray],
    threshold: float,
    metrics: dict[str, Any],
    data_fingerprint: str,
    code_version: str,
    reference: ReferenceProfile | None = None,
    params: dict[str, Any] | None = None,
    calibration: tuple[float, float] | None = None,
    selection: dict[str, Any] | None = None,
) -> Path:
    """Write an artifact to ``directory`` (which must not exist yet, or be empty) atomically.

    The files are written to a sibling temporary folder and renamed into place, so a crash never
    leaves a half-written artifact. The weights must match ``architecture`` exactly.

    Raises:
        ModelError: the directory is not empty, the weights do not fit the architecture, the
            threshold is not a probability or the metrics are not JSON-safe.
    """
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ModelError(
            f"{target} already exists and is not empty: export each model version to a new folder."
        )
    if not (isinstance(threshold, int | float) and 0.0 <= float(threshold) <= 1.0):
        raise ModelError(f"threshold must be a probability between 0 and 1, got {threshold!r}")
    arrays = {str(k): _numeric_array(k, v) for k, v in weights.items()}
    check_weights(architecture, arrays, preprocessor)
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model_name": model_name,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "schema": schema.to_dict(),
        "preprocessing": preprocessor.to_dict(),
        "family": family_of(architecture),
        "architecture": dict(architecture),
        "threshold": float(threshold),
        "metrics": metrics,
        "params": params or {},
        "calibration": _calibration_entry(calibration),
        "selection": selection or {},
        "data_fingerprint": data_fingerprint,
        "code_version": code_version,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        (staging / WEIGHTS).write_bytes(buf.getvalue())
        if reference is not None:
            reference.save(staging / REFERENCE)
        names = [WEIGHTS] + ([REFERENCE] if reference is not None else [])
        manifest["files"] = {name: sha256_file(staging / name) for name in names}
        try:
            text = json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ModelError(
                f"the manifest is not JSON-safe ({exc}): metrics and params must hold plain "
                "numbers, strings, lists and dicts (no NaN or infinity)."
            ) from None
        (staging / MANIFEST).write_text(text + "\n", encoding="utf-8")
        if target.exists():
            target.rmdir()  # empty (checked above); os.replace needs the name free
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load_artifact(path: str | Path) -> ModelArtifact:
    """Load and verify an artifact directory.

    Raises:
        ModelError: the manifest is missing or unreadable, a file is missing or its sha256 does
            not match (the message names the file), or the weights do not fit the architecture.
    """
    root = Path(path)
    manifest = read_manifest(root)
    verify_files(root, manifest)
    try:
        schema = schema_from_dict(manifest["schema"], source=f"{root / MANIFEST} (schema)")
    except FraudMlopsError as exc:
        raise ModelError(str(exc)) from None
    preprocessor = Preprocessor.from_dict(manifest["preprocessing"])
    try:
        with np.load(root / WEIGHTS, allow_pickle=False) as z:
            weights = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"{root / WEIGHTS} is not a readable weights file: {exc}") from None
    check_weights(manifest["architecture"], weights, preprocessor)
    reference = None
    if REFERENCE in manifest["files"]:
        from fraud_mlops.drift import ReferenceProfile

        reference = ReferenceProfile.load(root / REFERENCE)
    threshold = manifest.get("threshold")
    if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise ModelError(f"{root / MANIFEST}: threshold {threshold!r} is not a probability")
    return ModelArtifact(root, manifest, schema, preprocessor, weights, reference)


def read_manifest(root: Path) -> dict[str, Any]:
    """Parse ``manifest.json`` and check the fields every reader relies on."""
    path = root / MANIFEST
    if not path.is_file():
        raise ModelError(
            f"{root} is not a model artifact: {MANIFEST} is missing. Point at a folder written by "
            "export_artifact (or fetch one from the model store)."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ModelError(f"{path}: expected a JSON object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{path}: format_version {manifest.get('format_version')!r} is not supported (this "
            f"code reads {FORMAT_VERSION}); upgrade fraud-mlops or re-export the model."
        )
    required = ("model_name", "version", "schema", "preprocessing", "architecture", "threshold")
    absent = [k for k in (*required, "files") if k not in manifest]
    if absent or not isinstance(manifest.get("files"), dict) or WEIGHTS not in manifest["files"]:
        raise ModelError(f"{path}: missing fields {absent or ['files.' + WEIGHTS]}")
    return manifest


def verify_files(root: Path, manifest: Mapping[str, Any]) -> None:
    """Check that every file listed in the manifest exists and matches its sha256."""
    for name, expected in manifest["files"].items():
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise ModelError(f"{root / MANIFEST}: file name {name!r} is not a plain file name")
        file = root / name
        if not file.is_file():
            raise ModelError(
                f"{file} is missing: the artifact is incomplete; re-fetch or re-export it."
            )
        actual = sha256_file(file)
        if actual != expected:
            raise ModelError(
                f"{file} does not match its checksum in {MANIFEST} (sha256 {actual[:12]}…, "
                f"expected {str(expected)[:12]}…): the file was modified or corrupted. Refusing "
                "to load it; re-fetch the artifact from the model store."
            )


def expected_weight_shapes(architecture: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The array names and shapes that ``architecture`` implies, for every family."""
    family = family_of(architecture)
    if family in ("mlp", "tabm"):
        from fraud_mlops.neural import expected_shapes

        return expected_shapes(architecture)
    if family == "gbdt":
        from fraud_mlops.trees import expected_shapes as tree_shapes

        return {k: tuple(int(d) for d in v) for k, v in tree_shapes(dict(architecture)).items()}
    members = architecture.get("members")
    if not isinstance(members, list) or len(members) < 2:
        raise ModelError(f"a blend architecture needs at least two members, got {members!r}")
    shapes: dict[str, tuple[int, ...]] = {}
    for i, member in enumerate(members):
        if not isinstance(member, Mapping) or "architecture" not in member:
            raise ModelError(f"blend member {i} is malformed: {member!r}")
        if family_of(member["architecture"]) == "blend":
            raise ModelError(f"blend member {i} is itself a blend; nest members flat")
        for name, shape in expected_weight_shapes(member["architecture"]).items():
            shapes[member_prefix(i) + name] = shape
    return shapes


def _numeric_array(name: str, value: Any) -> np.ndarray:
    array = np.ascontiguousarray(value)
    if array.dtype.kind not in "biuf":
        raise ModelError(f"weight {name!r} has dtype {array.dtype}: only numeric arrays are stored")
    return array


def _input_shape_problems(architecture: Mapping[str, Any], pre: Preprocessor) -> list[str]:
    """Where an architecture's input sizes disagree with the preprocessing."""
    if family_of(architecture) == "blend":
        return [
            f"member {i}: {problem}"
            for i, m in enumerate(architecture["members"])
            for problem in _input_shape_problems(m["architecture"], pre)
        ]
    problems = []
    numeric = architecture.get("numeric_dim", architecture.get("n_numeric"))
    if numeric is not None and int(numeric) != pre.numeric_dim:
        problems.append(f"numeric_dim {numeric} != preprocessing's {pre.numeric_dim}")
    cards = architecture.get("cardinalities")
    if cards is not None and [int(c) for c in cards] != pre.cardinalities:
        problems.append(f"cardinalities {cards} != preprocessing's {pre.cardinalities}")
    n_cat = architecture.get("n_categorical")
    if n_cat is not None and int(n_cat) != len(pre.cardinalities):
        problems.append(f"n_categorical {n_cat} != preprocessing's {len(pre.cardinalities)}")
    return problems


def check_weights(
    architecture: Mapping[str, Any],
    weights: Mapping[str, np.ndarray],
    preprocessor: Preprocessor | None = None,
) -> None:
    """Raise ModelError unless ``weights`` has exactly the names/shapes of ``architecture``."""
    shapes = expected_weight_shapes(architecture)
    problems = [] if preprocessor is None else _input_shape_problems(architecture, preprocessor)
    for name, shape in shapes.items():
        if name not in weights:
            problems.append(f"weight {name!r} is missing")
        elif tuple(weights[name].shape) != shape:
            problems.append(f"weight {name!r} has shape {tuple(weights[name].shape)}, not {shape}")
        elif weights[name].dtype.kind == "f" and np.isnan(weights[name]).any():
            problems.append(f"weight {name!r} holds NaN")
        elif _is_network_weight(architecture, name) and not np.all(np.isfinite(weights[name])):
            problems.append(f"weight {name!r} holds NaN or infinity")
    extra = sorted(set(weights) - set(shapes))
    if extra:
        problems.append(f"unexpected weights {extra}")
    if problems:
        raise ModelError("weights do not fit the architecture: " + "; ".join(problems))


def _is_network_weight(architecture: Mapping[str, Any], name: str) -> bool:
    """Neural weights must be finite; tree thresholds may legitimately be +-infinity."""
    if family_of(architecture) == "blend":
        index = int(name.split(".")[1])
        member = architecture["members"][index]["architecture"]
        return family_of(member) in ("mlp", "tabm")
    return family_of(architecture) in ("mlp", "tabm")


def fingerprint_columns(columns: Mapping[str, Any], names: Sequence[str]) -> str:
    """sha256 over the named columns' values (stable across runs and input container types).

    Numeric columns are hashed as float64 bytes (NaN for missing), others as their text with a
    missing marker, each prefixed by the column name and row count, so reordering rows or
    columns, or changing one value, changes the fingerprint.
    """
    digest = hashlib.sha256()
    for name in names:
        if name not in columns:
            raise ModelError(f"cannot fingerprint column {name!r}: it is not in the data")
        values = columns[name]
        problems: list[str] = []
        floats = None
        dtype = getattr(values, "dtype", None)
        if dtype is not None and getattr(dtype, "kind", "O") in "biuf":
            floats = numeric_column(values, name, problems)
        digest.update(f"{name}\x1f{len(values)}\x1f".encode())
        if floats is not None and not problems:
            digest.update(b"f8")
            digest.update(np.where(np.isnan(floats), np.nan, floats).astype("<f8").tobytes())
        else:
            text, absent = text_column(values)
            digest.update(b"str")
            digest.update(
                "\x1e".join(np.where(absent, "\x00", text.astype(str)).tolist()).encode("utf-8")
            )
        digest.update(b"\x1d")
    return digest.hexdigest()


def _calibration_entry(calibration: tuple[float, float] | None) -> dict[str, Any] | None:
    if calibration is None:
        return None
    slope, intercept = (float(v) for v in calibration)
    if not (np.isfinite(slope) and np.isfinite(intercept)) or slope <= 0:
        raise ModelError(
            f"calibration slope must be finite and > 0 (it keeps the ranking), got {slope}"
        )
    return {"method": "platt", "slope": slope, "intercept": intercept}


def embedding_dim(cardinality: int, cap: int = 16) -> int:
    """Embedding width that grows sub-linearly with the vocabulary (``1.6 * n**0.56``), capped."""
    return max(2, min(cap, round(1.6 * cardinality**0.56)))


def architecture_dict(
    numeric_dim: int,
    cardinalities: Sequence[int],
    hidden: Sequence[int],
    dropout: float = 0.1,
    embedding_dims: Sequence[int] | None = None,
    norm_eps: float = 1e-5,
) -> dict[str, Any]:
    """The manifest's ``architecture`` dict (the contract the torch and numpy models share),
    with every size checked. ``hidden`` may be empty: a linear model over the inputs."""
    if numeric_dim < 0:
        raise ConfigError(f"numeric_dim must be >= 0, got {numeric_dim}")
    if any(int(h) < 1 for h in hidden):
        raise ConfigError(f"hidden layer widths must be positive, got {list(hidden)}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    if any(int(c) < 1 for c in cardinalities):
        raise ConfigError(f"every cardinality must be >= 1, got {list(cardinalities)}")
    dims = (
        [embedding_dim(int(c)) for c in cardinalities]
        if embedding_dims is None
        else [int(d) for d in embedding_dims]
    )
    if len(dims) != len(cardinalities):
        raise ConfigError(
            f"{len(dims)} embedding dims for {len(cardinalities)} categorical features: "
            "give one per feature"
        )
    if numeric_dim + sum(dims) == 0:
        raise ConfigError("the model has no inputs: declare numeric or categorical features")
    return {
        "type": ARCHITECTURE_TYPE,
        "numeric_dim": int(numeric_dim),
        "cardinalities": [int(c) for c in cardinalities],
        "embedding_dims": dims,
        "hidden": [int(h) for h in hidden],
        "dropout": float(dropout),
        "norm": "layernorm",
        "norm_eps": float(norm_eps),
        "activation": "relu",
    }


def build_architecture(
    preprocessor: Preprocessor,
    hidden: Sequence[int] = (64, 32),
    *,
    dropout: float = 0.1,
    embedding_dims: Sequence[int] | None = None,
    norm_eps: float = 1e-5,
) -> dict[str, Any]:
    """The ``architecture`` dict of the manifest for a preprocessor's input shape."""
    return architecture_dict(
        preprocessor.numeric_dim,
        preprocessor.cardinalities,
        hidden,
        dropout,
        embedding_dims,
        norm_eps,
    )


def random_weights(architecture: Mapping[str, Any], seed: int = 0) -> dict[str, np.ndarray]:
    """Randomly initialised float32 weights for ``architecture`` (tests, smoke runs, benchmarks).

    Linear layers use a scaled normal, embeddings a unit normal, LayerNorm gains near 1.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, shape in expected_weight_shapes(architecture).items():
        if name.endswith("norm.weight"):
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.startswith("emb."):
            value = rng.standard_normal(shape)
        elif name.endswith("weight"):
            value = rng.standard_normal(shape) / np.sqrt(shape[1])
        else:
            value = 0.1 * rng.standard_normal(shape)
        out[name] = value.astype(np.float32)
    return out
