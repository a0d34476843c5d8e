"""The fallback text model: a scikit-learn ``Pipeline``, its training, its card and its loading.

The pipeline is built by one function from named parameters (``build_pipeline``); every setting
is reachable through ``set_params``. A saved model is two files: ``<name>.joblib`` (the fitted
pipeline) and ``<name>.card.json`` (labels, library versions, parameters, training-data hash,
metrics, per-class review thresholds and the sha256 of the model file). ``SeverityModel.load``
hashes the file before unpickling it and refuses a mismatch or another scikit-learn version.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from sevtriage.errors import ModelError
from sevtriage.fastlinear import LinearTextModel, strip_accents

LABELS: tuple[str, ...] = ("P1", "P2", "P3", "P4")
CARD_FORMAT = 1
MODEL_ENV = "SEVTRIAGE_MODEL"

DEFAULT_PARAMS: dict[str, Any] = {
    "word_ngrams": (1, 2),
    "word_max_features": 20_000,
    "char_ngrams": (2, 5),
    "char_max_features": 0,
    "min_df": 2,
    "classifier": "logreg",
    "C": 100.0,
    "seed": 0,
}

# How the pipeline was chosen (measured with ``python bench/bench_train.py --select`` on
# data/train.jsonl only; grouped CV), copied into the card of a model trained with the defaults.
SELECTION_PATH = Path(__file__).resolve().parents[2] / "models" / "selection.json"


def model_text(subject: str, body: str) -> str:
    """The text the model sees: subject and body on separate lines."""
    return f"{subject}\n{body}"


def build_pipeline(**params: Any) -> Pipeline:
    """A TF-IDF (word and/or char_wb n-grams) + linear classifier pipeline from named params.

    Parameters (defaults in ``DEFAULT_PARAMS``): ``word_ngrams``/``char_ngrams`` (ranges),
    ``word_max_features``/``char_max_features`` (vocabulary bound, 0 = no such features),
    ``min_df``, ``classifier`` (``logreg`` or ``svm`` = LinearSVC calibrated by sigmoid), ``C``,
    ``seed``. Accents are stripped and term frequencies are sublinear, for both languages alike.
    """
    unknown = set(params) - set(DEFAULT_PARAMS)
    if unknown:
        raise ValueError(
            f"unknown model parameter(s) {sorted(unknown)}; known: {sorted(DEFAULT_PARAMS)}"
        )
    p = {**DEFAULT_PARAMS, **params}
    common: dict[str, Any] = {
        "lowercase": True,
        "strip_accents": strip_accents,  # = "unicode", faster (sevtriage.fastlinear)
        "sublinear_tf": True,
        "min_df": p["min_df"],
        "dtype": np.float32,
    }
    parts: list[tuple[str, Any]] = []
    if p["word_max_features"]:
        parts.append(
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=tuple(p["word_ngrams"]),
                    max_features=p["word_max_features"],
                    token_pattern=r"(?u)\b\w\w+\b",
                    **common,
                ),
            )
        )
    if p["char_max_features"]:
        parts.append(
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=tuple(p["char_ngrams"]),
                    max_features=p["char_max_features"],
                    **common,
                ),
            )
        )
    if not parts:
        raise ValueError("the model needs word or char features (a max_features above 0)")
    seed = int(p["seed"])
    classifier: Any
    if p["classifier"] == "logreg":
        classifier = LogisticRegression(
            C=p["C"], class_weight="balanced", max_iter=2000, random_state=seed
        )
    elif p["classifier"] == "svm":
        classifier = CalibratedClassifierCV(
            LinearSVC(C=p["C"], class_weight="balanced", random_state=seed),
            method="sigmoid",
            cv=3,
        )
    else:
        raise ValueError(f"classifier must be 'logreg' or 'svm', got {p['classifier']!r}")
    return Pipeline([("features", FeatureUnion(parts)), ("clf", classifier)])


def pipeline_coefficients(pipeline: Pipeline) -> np.ndarray | None:
    """The linear coefficients (classes x features) of the final estimator, if it is linear."""
    clf = pipeline.named_steps["clf"]
    if hasattr(clf, "coef_"):
        return np.asarray(clf.coef_)
    calibrated = getattr(clf, "calibrated_classifiers_", None)
    if calibrated:
        coefs: np.ndarray = np.mean([np.asarray(c.estimator.coef_) for c in calibrated], axis=0)
        return coefs
    return None


def _display_name(feature: str) -> str:
    kind, _, term = feature.partition("__")
    return f"'{term}'" if kind == "char" else term


class SeverityModel:
    """A verified, loaded model: ``predict_proba`` over texts, ``explain`` for the reasons."""

    def __init__(self, pipeline: Pipeline, card: dict[str, Any]) -> None:
        classes = tuple(str(c) for c in pipeline.classes_)
        if classes != LABELS:
            raise ModelError(f"the model's classes are {list(classes)}; expected {list(LABELS)}")
        self.pipeline = pipeline
        self.card = card
        self.classes_: tuple[str, ...] = LABELS
        self.version: str = str(card.get("version") or "model-unsaved")
        self._features: FeatureUnion = pipeline.named_steps["features"]
        self._coef = pipeline_coefficients(pipeline)
        self._names: np.ndarray | None = None
        # The same arithmetic without scikit-learn's per-call overhead (checked against the
        # pipeline when built; None for pipelines of another shape).
        self._fast = LinearTextModel.from_pipeline(pipeline)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), 4), columns in ``classes_`` order."""
        if not texts:
            return np.zeros((0, len(LABELS)))
        if self._fast is not None:
            return self._fast.predict_proba(texts)
        return np.asarray(self.pipeline.predict_proba(list(texts)))

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most probable label of each text."""
        proba = self.predict_proba(texts)
        return [LABELS[i] for i in np.argmax(proba, axis=1)]

    def predict_with_terms(
        self, texts: Sequence[str], top_k: int = 5
    ) -> tuple[np.ndarray, list[list[tuple[str, float]]]]:
        """Probabilities and, for each text, the top terms towards its most probable label, from
        one vectorisation of the batch (what triage uses; ``explain`` is the one-text form)."""
        if not texts:
            return np.zeros((0, len(LABELS))), []
        if self._fast is not None:
            matrix = self._fast.transform(texts)
            proba = self._fast.probabilities(matrix)
        else:
            matrix = self._features.transform(list(texts)).tocsr()
            proba = np.asarray(self.pipeline[-1].predict_proba(matrix))
        if self._coef is None:
            return proba, [[] for _ in texts]
        if self._names is None:
            self._names = np.asarray(self._features.get_feature_names_out())
        # Every stored value times the coefficient of its row's top label, in one numpy pass;
        # then each row's slice of the CSR arrays (no per-row sparse matrix objects).
        top = np.argmax(proba, axis=1)
        indptr, indices = matrix.indptr, matrix.indices
        rows = np.repeat(top, np.diff(indptr))
        weights = self._coef[rows, indices] * matrix.data
        terms = [
            self._best_terms(indices[a:b], weights[a:b], top_k)
            for a, b in zip(indptr[:-1].tolist(), indptr[1:].tolist(), strict=True)
        ]
        return proba, terms

    def _best_terms(
        self, indices: np.ndarray, weights: np.ndarray, top_k: int
    ) -> list[tuple[str, float]]:
        """The ``top_k`` positive contributions (feature indices, weights), largest first."""
        assert self._names is not None
        order = np.argsort(-weights, kind="stable")[:top_k]
        return [
            (_display_name(str(self._names[indices[i]])), float(weights[i]))
            for i in order.tolist()
            if weights[i] > 0
        ]

    def _top_terms(
        self, indices: np.ndarray, values: np.ndarray, label_index: int, top_k: int
    ) -> list[tuple[str, float]]:
        assert self._coef is not None
        return self._best_terms(indices, self._coef[label_index][indices] * values, top_k)

    def explain(self, text: str, label: str, top_k: int = 5) -> list[tuple[str, float]]:
        """The terms that pushed ``text`` towards ``label`` most: coefficient x TF-IDF value,
        positive contributions only, largest first. Char n-grams are shown quoted ('caid')."""
        if label not in LABELS:
            raise ValueError(f"label must be one of {list(LABELS)}, got {label!r}")
        if self._coef is None:
            return []
        if self._names is None:
            self._names = np.asarray(self._features.get_feature_names_out())
        row = (
            self._fast.transform([text])
            if self._fast is not None
            else self._features.transform([text]).tocsr()
        )
        return self._top_terms(row.indices, row.data, LABELS.index(label), top_k)

    @classmethod
    def load(cls, path: Path) -> SeverityModel:
        """Load ``path`` after checking it against its card; ``ModelError`` when refused.

        The file is read once: its size and sha256 are checked against the card and only those
        verified bytes are unpickled (a joblib file is code), so a file replaced between the check
        and the load cannot slip through."""
        path = Path(path)
        card = read_card(path)
        expected = card.get("sklearn_version")
        if expected != sklearn.__version__:
            raise ModelError(
                f"{path}: trained with scikit-learn {expected}, this is {sklearn.__version__}; "
                f"retrain it (sevtriage train ... --out {path}) or install scikit-learn {expected}"
            )
        data = _verified_bytes(path, card)
        try:
            pipeline = joblib.load(io.BytesIO(data))
        except Exception as exc:  # any unpickling failure means the file is unusable
            raise ModelError(f"{path}: cannot be loaded: {type(exc).__name__}: {exc}") from exc
        if not isinstance(pipeline, Pipeline):
            raise ModelError(f"{path}: holds a {type(pipeline).__name__}, not a sklearn Pipeline")
        return cls(pipeline, card)


def _verified_bytes(path: Path, card: Mapping[str, Any]) -> bytes:
    """The model file's bytes, if their size and sha256 are the card's; else ``ModelError``."""
    expected = card.get("sha256")
    if not isinstance(expected, str) or len(expected) != 64:
        raise ModelError(
            f"{card_path(path)}: the card has no sha256 of the model file; "
            "a model is only loaded with the card written when it was saved"
        )
    size = card.get("size_bytes")
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


def card_path(model_path: Path) -> Path:
    """``models/default.joblib`` -> ``models/default.card.json``."""
    return model_path.with_suffix(".card.json")


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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_model_path() -> Path:
    """``$SEVTRIAGE_MODEL``, else ``<repo>/models/default.joblib``."""
    env = os.environ.get(MODEL_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models" / "default.joblib"


def records_sha256(records: Sequence[Mapping[str, Any]]) -> str:
    """A hash of what training sees (subject, body, label, in order): the card's data hash."""
    digest = hashlib.sha256()
    for r in records:
        line = json.dumps(
            [r.get("subject") or "", r.get("body") or "", r["label"]], ensure_ascii=False
        )
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def texts_and_labels(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    texts = [model_text(str(r.get("subject") or ""), str(r.get("body") or "")) for r in records]
    return texts, [str(r["label"]) for r in records]


def train_model(
    records: Sequence[Mapping[str, Any]],
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    progress: bool = False,
    folds: int = 5,
    workers: int | None = None,
) -> tuple[Pipeline, dict[str, Any]]:
    """Fit the pipeline on ``records`` (``subject``, ``body``, ``label``) and return it with a
    partial card: parameters, data hash/size, and validation metrics and per-class thresholds
    from ``folds``-fold out-of-fold predictions (grouped by a ``group`` key when records have one).
    The folds run in ``workers`` processes (default: one per core from ``PARALLEL_FOLDS_FROM``
    records on, else in this process); the numbers do not depend on it.
    """

    texts, labels = texts_and_labels(records)
    missing = sorted(set(LABELS) - set(labels))
    if missing:
        raise ModelError(f"the training data has no examples of {missing}; every label needs some")
    chosen = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    groups = [str(r["group"]) for r in records] if all("group" in r for r in records) else None
    steps = folds + 1 if folds > 1 else 1
    bar = _progress_bar(steps, progress)
    card: dict[str, Any] = {
        "labels": list(LABELS),
        "params": _jsonable(chosen),
        "seed": seed,
        "training_data": {
            "sha256": records_sha256(records),
            "size": len(records),
            "label_counts": {label: labels.count(label) for label in LABELS},
        },
    }
    if not params and SELECTION_PATH.is_file():
        card["selection"] = json.loads(SELECTION_PATH.read_text(encoding="utf-8"))
    # One BLAS thread: multi-threaded float reductions are not bit-reproducible, and the same
    # data + seed must give the same file in any process on any machine load.
    with threadpool_limits(limits=1):
        if workers is None:
            workers = min(folds, os.cpu_count() or 1) if len(texts) >= PARALLEL_FOLDS_FROM else 1
        return _fit_with_card(chosen, texts, labels, groups, folds, seed, bar, card, workers)


def _fit_with_card(
    chosen: dict[str, Any],
    texts: list[str],
    labels: list[str],
    groups: list[str] | None,
    folds: int,
    seed: int,
    bar: Any,
    card: dict[str, Any],
    workers: int,
) -> tuple[Pipeline, dict[str, Any]]:
    from sevtriage.evaluate import classification_report, review_thresholds

    try:
        pipeline: Pipeline | None = None
        if folds > 1:
            if workers > 1:
                proba, pipeline = _fit_in_parallel(
                    chosen, texts, labels, groups, folds, seed, bar, workers
                )
            else:
                proba = out_of_fold_proba(
                    lambda: build_pipeline(**chosen), texts, labels, groups, folds, seed, bar.update
                )
            predicted = [LABELS[i] for i in np.argmax(proba, axis=1)]
            card["validation"] = {
                "method": f"{folds}-fold stratified out-of-fold predictions"
                + (", grouped (no group straddles folds)" if groups is not None else ""),
                "metrics": classification_report(labels, predicted),
            }
            card["thresholds"] = review_thresholds(labels, proba)
        if pipeline is None:
            pipeline = build_pipeline(**chosen).fit(texts, labels)
            bar.update(1)
    finally:
        bar.close()
    return pipeline, card


def out_of_fold_proba(
    make: Callable[[], Pipeline],
    texts: Sequence[str],
    labels: Sequence[str],
    groups: Sequence[str] | None,
    folds: int,
    seed: int,
    tick: Callable[[int], Any] = lambda n: None,
) -> np.ndarray:
    """Probabilities for each text from a pipeline that did not see it (k-fold, stratified)."""
    proba = np.zeros((len(texts), len(LABELS)))
    x, y = np.asarray(texts, dtype=object), np.asarray(labels)
    for train_idx, test_idx in _splits(texts, labels, groups, folds, seed):
        fitted = make().fit(list(x[train_idx]), list(y[train_idx]))
        proba[test_idx] = _in_label_order(fitted, fitted.predict_proba(list(x[test_idx])))
        tick(1)
    return proba


# Below this many texts, folds run in this process (worker start-up would cost more).
PARALLEL_FOLDS_FROM = 20_000


def _fold_proba(
    params: dict[str, Any], train: list[str], train_labels: list[str], test: list[str]
) -> np.ndarray:
    """One fold: fit on ``train``, probabilities (columns in LABELS order) for ``test``."""
    with threadpool_limits(limits=1):
        fitted = build_pipeline(**params).fit(train, train_labels)
        return _in_label_order(fitted, fitted.predict_proba(test))


def _in_label_order(fitted: Pipeline, part: Any) -> np.ndarray:
    """A fold model's probabilities with columns in LABELS order (zero for a label the fold's
    training part lacked)."""
    part = np.asarray(part)
    out = np.zeros((len(part), len(LABELS)))
    classes = [str(c) for c in fitted.classes_]
    for k, label in enumerate(LABELS):
        if label in classes:
            out[:, k] = part[:, classes.index(label)]
    return out


def _fit_in_parallel(
    params: dict[str, Any],
    texts: list[str],
    labels: list[str],
    groups: list[str] | None,
    folds: int,
    seed: int,
    bar: Any,
    workers: int,
) -> tuple[np.ndarray, Pipeline]:
    """Out-of-fold probabilities from worker processes (one BLAS thread each) while this process
    fits the final pipeline. Same folds, same single-threaded fits: the same numbers as in one
    process. The final pipeline is fitted here, so its file is this process's pickle."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    proba = np.zeros((len(texts), len(LABELS)))
    splits = _splits(texts, labels, groups, folds, seed)
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(
                _fold_proba,
                params,
                [texts[i] for i in train_idx],
                [labels[i] for i in train_idx],
                [texts[i] for i in test_idx],
            )
            for train_idx, test_idx in splits
        ]
        pipeline = build_pipeline(**params).fit(texts, labels)
        bar.update(1)
        for (_, test_idx), future in zip(splits, futures, strict=True):
            proba[test_idx] = future.result()
            bar.update(1)
    return proba, pipeline


def _splits(
    texts: Sequence[str],
    labels: Sequence[str],
    groups: Sequence[str] | None,
    folds: int,
    seed: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    splitter: Any = (
        StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        if groups is not None
        else StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    )
    x, y = np.asarray(texts, dtype=object), np.asarray(labels)
    return list(splitter.split(x, y, groups))


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="training", unit="fit", disable=not enabled)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _strip_for_saving(pipeline: Pipeline) -> None:
    """Drop what would make the file differ between identical trainings: ``stop_words_`` (the
    terms cut by min_df/max_features: large, unused at predict time, a set whose pickled order
    changes between processes) and a cached ``id()`` sklearn keeps to skip a stop-word check
    (meaningless after unpickling; sklearn recomputes it when absent)."""
    for _, vectorizer in pipeline.named_steps["features"].transformer_list:
        vectorizer.__dict__.pop("stop_words_", None)
        vectorizer.__dict__.pop("_stop_words_id", None)


def save_model(pipeline: Pipeline, card: dict[str, Any], path: Path) -> SeverityModel:
    """Write ``path`` (joblib, compressed) and its card; returns the model as loaded from disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _strip_for_saving(pipeline)
    tmp = Path(tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")[1])
    try:
        joblib.dump(pipeline, tmp, compress=3)
        sha = file_sha256(tmp)
        full = {
            "format": CARD_FORMAT,
            "name": path.stem,
            "version": f"model-{sha[:12]}",
            "labels": list(LABELS),
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
            "python_version": platform.python_version(),
            "pipeline": describe_pipeline(pipeline),
            **{k: v for k, v in card.items() if k not in {"sha256", "version"}},
            "sha256": sha,
            "size_bytes": tmp.stat().st_size,
        }
        write_card(full, card_path(path))
        tmp.chmod(0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return SeverityModel.load(path)


def write_card(card: Mapping[str, Any], path: Path) -> None:
    """Write a card atomically (temp file + rename)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(card, fh, ensure_ascii=False, indent=2, sort_keys=False)
        fh.write("\n")
    os.chmod(name, 0o644)
    os.replace(name, path)


def install_model(source: Path, target: Path, history_entry: Mapping[str, Any]) -> SeverityModel:
    """Copy a verified model and its card to ``target`` (e.g. models/default.joblib), the card
    with ``history_entry`` appended. Each file is replaced atomically (temp file + rename); a
    reader between the two renames sees a hash mismatch and refuses, never a wrong model."""
    import shutil

    model = SeverityModel.load(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    card = {**model.card, "history": [*model.card.get("history", []), dict(history_entry)]}
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        shutil.copyfile(source, tmp)
        if file_sha256(tmp) != card["sha256"]:
            raise ModelError(f"{source}: changed while being copied; try again")
        tmp.chmod(0o644)
        os.replace(tmp, target)
        write_card(card, card_path(target))
    finally:
        tmp.unlink(missing_ok=True)
    return SeverityModel.load(target)


def describe_pipeline(pipeline: Pipeline) -> str:
    """A one-line description of the steps, e.g. ``word+char TF-IDF -> LogisticRegression``."""
    parts = "+".join(name for name, _ in pipeline.named_steps["features"].transformer_list)
    clf = pipeline.named_steps["clf"]
    inner = getattr(clf, "estimator", None)
    name = type(clf).__name__ + (f"({type(inner).__name__})" if inner is not None else "")
    return f"{parts} TF-IDF -> {name}"
