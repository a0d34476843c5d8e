"""A saved model's files, and the model as served: verified bytes, no scikit-learn, no pickle.

A saved model is ``<name>.joblib`` (the fitted scikit-learn pipeline, for training, evaluation
and analysis), ``<name>.card.json`` (what it is, its metrics, the sha256 and size of its files)
and, for a pipeline of word TF-IDF parts and a logistic regression, ``<name>.linear.zip``: the
same model as data (``sevtriage.fastlinear``). ``load_for_serving`` checks *every* file against
the card and serves from the data form: triage, ``classify`` and the HTTP service never unpickle
anything and never import scikit-learn (1.7 s of start-up, ~100 MB of memory). A model without
the data form is served through its pipeline (``sevtriage.model.SeverityModel``).

This module imports neither scikit-learn nor joblib, on purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sevtriage.errors import ModelError
from sevtriage.fastlinear import LinearTextModel

if TYPE_CHECKING:
    from sevtriage.triage import ModelLike

LABELS: tuple[str, ...] = ("P1", "P2", "P3", "P4")
MODEL_ENV = "SEVTRIAGE_MODEL"


def model_text(subject: str, body: str, blank: Sequence[tuple[int, int]] = ()) -> str:
    """The text the model sees: subject and body on separate lines, with the ``blank`` spans of
    that text (what the rules hide from the model: ``signals.hidden_from_model``) turned into
    spaces."""
    text = f"{subject}\n{body}"
    if not blank:
        return text
    chars = list(text)
    for start, end in blank:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def card_path(model_path: Path) -> Path:
    """``models/default.joblib`` -> ``models/default.card.json``."""
    return model_path.with_suffix(".card.json")


def linear_path(model_path: Path) -> Path:
    """``models/default.joblib`` -> ``models/default.linear.zip`` (the data form)."""
    return model_path.with_suffix(".linear.zip")


def default_model_path() -> Path:
    """``$SEVTRIAGE_MODEL``, else ``<repo>/models/default.joblib``."""
    env = os.environ.get(MODEL_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models" / "default.joblib"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_card(model_path: Path) -> dict[str, Any]:
    path = card_path(Path(model_path))
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"{path}: model card not found; a model is only loaded with its card"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: the model card cannot be read: {exc}") from exc
    if not isinstance(card, dict):
        raise ModelError(f"{path}: the model card must be a JSON object")
    if tuple(card.get("labels") or ()) != LABELS:
        raise ModelError(
            f"{path}: the card's labels are {card.get('labels')}; expected {list(LABELS)}"
        )
    return card


def verified_bytes(path: Path, entry: Mapping[str, Any], card_file: Path) -> bytes:
    """The bytes of ``path`` if their size and sha256 are those ``entry`` (the card, or its
    ``linear`` section) records; else ``ModelError``. The file is read once, so a file replaced
    between the check and the use cannot slip through."""
    expected = entry.get("sha256")
    if not isinstance(expected, str) or len(expected) != 64:
        raise ModelError(
            f"{card_file}: the card has no sha256 of {path.name}; "
            "a model is only loaded with the card written when it was saved"
        )
    size = entry.get("size_bytes")
    try:
        actual_size = path.stat().st_size
        if isinstance(size, int) and actual_size != size:
            raise ModelError(
                f"{path}: size {actual_size:,} bytes does not match its card ({size:,} bytes): "
                "the file is truncated or was changed — retrain or restore it"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: model file not found") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, not a model file") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelError(
            f"{path}: sha256 {actual[:12]}… does not match its card ({expected[:12]}…); "
            "the file was changed or belongs to another card — retrain or restore it"
        )
    return data


def linear_entry(data: bytes) -> dict[str, Any]:
    """The card's ``linear`` section for the data form ``data``."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}


class ServedModel:
    """A model served from its data form: what triage needs (``ModelLike``) and ``explain``."""

    def __init__(self, linear: LinearTextModel, card: dict[str, Any]) -> None:
        if linear.classes != LABELS:
            raise ModelError(f"the model's classes are {list(linear.classes)}; expected {LABELS}")
        self.linear = linear
        self.card = card
        self.classes_: tuple[str, ...] = LABELS
        self.version: str = str(card.get("version") or "model-unsaved")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), 4), columns in ``classes_`` order."""
        if not texts:
            return np.zeros((0, len(LABELS)))
        return self.linear.predict_proba(texts)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [LABELS[i] for i in np.argmax(self.predict_proba(texts), axis=1)]

    def predict_with_terms(
        self, texts: Sequence[str], top_k: int = 5
    ) -> tuple[np.ndarray, list[list[tuple[str, float]]]]:
        """Probabilities and each text's top terms towards its most probable label."""
        if not texts:
            return np.zeros((0, len(LABELS))), []
        matrix = self.linear.transform(texts)
        proba = self.linear.probabilities(matrix)
        return proba, self.linear.top_terms(matrix, proba, top_k)

    def explain(self, text: str, label: str, top_k: int = 5) -> list[tuple[str, float]]:
        """The terms that pushed ``text`` towards ``label`` most (positive contributions)."""
        if label not in LABELS:
            raise ValueError(f"label must be one of {list(LABELS)}, got {label!r}")
        matrix = self.linear.transform([text])
        towards = np.zeros((1, len(LABELS)))
        towards[0, LABELS.index(label)] = 1.0
        return self.linear.top_terms(matrix, towards, top_k)[0]


def load_for_serving(path: Path) -> ModelLike:
    """The model at ``path`` for triage. Every file the card names is checked first (size and
    sha256); with a data form the model is built from it and nothing is unpickled, otherwise
    ``SeverityModel.load`` loads the pipeline. ``ModelError`` when anything is refused."""
    path = Path(path)
    card = read_card(path)
    linear = card.get("linear")
    if not isinstance(linear, Mapping):
        from sevtriage.model import SeverityModel

        return SeverityModel.load(path)
    verified_bytes(path, card, card_path(path))  # the pipeline must be the card's too
    data_path = linear_path(path)
    data = verified_bytes(data_path, linear, card_path(path))
    try:
        model = LinearTextModel.from_bytes(data)
    except ValueError as exc:
        raise ModelError(f"{data_path}: cannot be loaded: {exc}") from exc
    return ServedModel(model, card)
