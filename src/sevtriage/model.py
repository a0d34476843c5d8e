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
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from sevtriage.config import RulesConfig, load_rules
from sevtriage.errors import ModelError
from sevtriage.fastlinear import (
    LinearTextModel,
    WordSettings,
    ascii_terms,
    display_name,
    strip_accents,
    top_terms,
)
from sevtriage.modelfile import LABELS as LABELS  # re-exported: the model's public names
from sevtriage.modelfile import MODEL_ENV as MODEL_ENV
from sevtriage.modelfile import card_path as card_path
from sevtriage.modelfile import default_model_path as default_model_path
from sevtriage.modelfile import file_sha256 as file_sha256
from sevtriage.modelfile import linear_entry, linear_path, verified_bytes
from sevtriage.modelfile import model_text as model_text
from sevtriage.modelfile import read_card as read_card

CARD_FORMAT = 1

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
        self._names: list[str] | None = None
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
        if self._fast is not None:
            return proba, self._fast.top_terms(matrix, proba, top_k)
        return proba, top_terms(matrix, proba, self._coef, self._display_names(), top_k)

    def _display_names(self) -> list[str]:
        """Each feature's name as shown to agents (char n-grams quoted), built on first use."""
        if self._names is None:
            self._names = [display_name(str(f)) for f in self._features.get_feature_names_out()]
        return self._names

    def _best_terms(
        self, indices: np.ndarray, weights: np.ndarray, top_k: int
    ) -> list[tuple[str, float]]:
        """The ``top_k`` positive contributions (feature indices, weights), largest first."""
        names = self._display_names()
        order = np.argsort(-weights, kind="stable")[:top_k]
        return [(names[indices[i]], float(weights[i])) for i in order.tolist() if weights[i] > 0]

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
        data = verified_bytes(path, card, card_path(path))
        try:
            pipeline = joblib.load(io.BytesIO(data))
        except Exception as exc:  # any unpickling failure means the file is unusable
            raise ModelError(f"{path}: cannot be loaded: {type(exc).__name__}: {exc}") from exc
        if not isinstance(pipeline, Pipeline):
            raise ModelError(f"{path}: holds a {type(pipeline).__name__}, not a sklearn Pipeline")
        return cls(pipeline, card)


def records_sha256(records: Sequence[Mapping[str, Any]]) -> str:
    """A hash of what training sees (subject, body, label, in order): the card's data hash."""
    digest = hashlib.sha256()
    for r in records:
        line = json.dumps(
            [r.get("subject") or "", r.get("body") or "", r["label"]], ensure_ascii=False
        )
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def model_texts(
    records: Sequence[Mapping[str, Any]], config: RulesConfig | None = None
) -> list[str]:
    """What the model sees of each record (``model_text``): its subject and body with what the
    rules of ``config`` (default: the rules in service) hide from the model blanked (e-mail
    boilerplate; quotes after enough words of the customer's own), as triage blanks it."""
    from sevtriage.signals import hidden_from_model

    config = config if config is not None else load_rules()
    texts = []
    for r in records:
        subject, body = str(r.get("subject") or ""), str(r.get("body") or "")
        blank = hidden_from_model(model_text(subject, body), config)
        texts.append(model_text(subject, body, blank))
    return texts


def texts_and_labels(
    records: Sequence[Mapping[str, Any]], config: RulesConfig | None = None
) -> tuple[list[str], list[str]]:
    return model_texts(records, config), [str(r["label"]) for r in records]


def _cv_groups(records: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """The cross-validation group of each record: its ``group`` (the generated data's concept,
    so that no concept straddles folds), and for a record without one, the record alone (a
    reviewed override, a hand-written ticket). None when no record has a group."""
    if not any("group" in r for r in records):
        return None
    return [
        f"group:{r['group']}" if "group" in r else f"row:{r.get('id', i)}"
        for i, r in enumerate(records)
    ]


def train_model(
    records: Sequence[Mapping[str, Any]],
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    progress: bool = False,
    folds: int = 5,
    workers: int | None = None,
    config: RulesConfig | None = None,
) -> tuple[Pipeline, dict[str, Any]]:
    """Fit the pipeline on ``records`` (``subject``, ``body``, ``label``) and return it with a
    partial card: parameters, data hash/size, and validation metrics and per-class thresholds
    from ``folds``-fold out-of-fold predictions (grouped as ``_cv_groups`` says).
    The folds analyse each text once (``shared_analysis_fold_proba``: the numbers of fitting the
    pipeline per fold). With ``workers`` above 1 (default: from ``PARALLEL_FOLDS_FROM`` records
    on, on more than one core) they run in a worker process beside the final fit, else in this
    process; the numbers do not depend on it. The texts are what triage gives the model
    (``model_texts``), their boilerplate marked by the lexicons of ``config`` (default: the
    rules in service), whose version the card records.
    """

    config = config if config is not None else load_rules()
    texts, labels = texts_and_labels(records, config)
    missing = sorted(set(LABELS) - set(labels))
    if missing:
        raise ModelError(f"the training data has no examples of {missing}; every label needs some")
    chosen = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    groups = _cv_groups(records)
    steps = folds + 1 if folds > 1 else 1
    bar = _progress_bar(steps, progress)
    card: dict[str, Any] = {
        "labels": list(LABELS),
        "params": _jsonable(chosen),
        "seed": seed,
        "input": {
            "text": "subject, newline, body; e-mail boilerplate (boilerplate_markers) blanked, "
            "and quotes from model_input.hide_quotes_from_words of the customer's own words",
            "rules": config.version,
        },
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
            workers = min(2, os.cpu_count() or 1) if len(texts) >= PARALLEL_FOLDS_FROM else 1
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
            splits = _splits(texts, labels, groups, folds, seed)
            if not _shared_analysis_applies(chosen):
                proba = out_of_fold_proba(
                    lambda: build_pipeline(**chosen), texts, labels, groups, folds, seed, bar.update
                )
            elif workers > 1:
                proba, pipeline = _fit_in_parallel(chosen, texts, labels, splits, bar)
            else:
                proba = shared_analysis_fold_proba(chosen, texts, labels, splits, bar.update)
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


# From this many texts on, the folds run in a worker process beside the final fit (below it,
# starting a worker would cost more than it saves).
PARALLEL_FOLDS_FROM = 20_000


def _in_label_order(fitted: Any, part: Any) -> np.ndarray:
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
    splits: list[tuple[np.ndarray, np.ndarray]],
    bar: Any,
) -> tuple[np.ndarray, Pipeline]:
    """Out-of-fold probabilities from one worker process (one BLAS thread) while this process
    fits the final pipeline: the two take about as long, and the folds share one analysis of
    the texts, so more workers would not help. The final pipeline is fitted here, so its file
    is this process's pickle (a process that unpickled a model writes other bytes)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(_folds_in_worker, params, texts, labels, splits)
        pipeline = build_pipeline(**params).fit(texts, labels)
        bar.update(1)
        proba = future.result()
        bar.update(len(splits))
    return proba, pipeline


def _folds_in_worker(
    params: dict[str, Any],
    texts: list[str],
    labels: list[str],
    splits: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    with threadpool_limits(limits=1):
        return shared_analysis_fold_proba(params, texts, labels, splits)


def shared_analysis_fold_proba(
    params: Mapping[str, Any],
    texts: Sequence[str],
    labels: Sequence[str],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    tick: Callable[[int], Any] = lambda n: None,
) -> np.ndarray:
    """Out-of-fold probabilities equal to fitting ``build_pipeline(**params)`` on each fold's
    training texts (the same matrices to the bit, hence the same classifier), with each text
    analysed once instead of once per fold plus once per test text: tokenising is most of a
    fold's fit. Each vectoriser's counts over all texts (``_term_counts``) give every fold's
    features (``_fold_features``); the pipeline's own classifier is fitted on them."""
    pipeline = build_pipeline(**params)
    vectorisers = [v for _, v in pipeline.named_steps["features"].transformer_list]
    counts = [_term_counts(v, texts) for v in vectorisers]
    proba = np.zeros((len(texts), len(LABELS)))
    for train_idx, test_idx in splits:
        train, test = _fold_features(vectorisers, counts, train_idx, test_idx)
        clf = clone(pipeline.named_steps["clf"]).fit(train, [labels[i] for i in train_idx])
        proba[test_idx] = _in_label_order(clf, clf.predict_proba(test))
        tick(1)
    return proba


def _fold_features(
    vectorisers: Sequence[TfidfVectorizer],
    counts: Sequence[Any],
    train_idx: np.ndarray,
    test_idx: np.ndarray,
) -> tuple[Any, Any]:
    """What the pipeline's FeatureUnion of ``vectorisers`` gives for a fold (``fit_transform``
    on the training rows, ``transform`` on the test rows), from their ``_term_counts``: each
    vectoriser's fold counts through a ``TfidfTransformer`` as a fitted TfidfVectorizer sets it
    up, the parts stacked as FeatureUnion stacks them."""
    train, test = [], []
    for vectoriser, matrix in zip(vectorisers, counts, strict=True):
        train_counts, test_counts = _fold_counts(vectoriser, matrix, train_idx, test_idx)
        tfidf = TfidfTransformer(
            norm=vectoriser.norm,
            use_idf=vectoriser.use_idf,
            smooth_idf=vectoriser.smooth_idf,
            sublinear_tf=vectoriser.sublinear_tf,
        ).fit(train_counts)
        train.append(tfidf.transform(train_counts, copy=False))
        test.append(tfidf.transform(test_counts, copy=False))
    return sp.hstack(train).tocsr(), sp.hstack(test).tocsr()


def _shared_analysis_applies(params: Mapping[str, Any]) -> bool:
    """Whether ``shared_analysis_fold_proba`` reproduces the pipeline of ``params``: TF-IDF
    vectorisers that learn their vocabulary from str texts, with no feature weights."""
    features = build_pipeline(**params).named_steps["features"]
    return features.transformer_weights is None and all(
        type(v) is TfidfVectorizer
        and v.vocabulary is None
        and v.input == "content"
        and not v.binary
        and v.stop_words is None
        for _, v in features.transformer_list
    )


def _term_counts(vectoriser: TfidfVectorizer, texts: Sequence[str]) -> Any:
    """How often each term of ``vectoriser``'s analyzer occurs in each text, as a CSR matrix of
    ``vectoriser.dtype``. Columns: the terms some fold could keep, in sorted order as in a fitted
    vectoriser; a fold's document frequency is at most the corpus's, so a term in fewer than an
    integer ``min_df`` texts (most bigrams: seen once) is left out. A row's entries are in the
    order its terms first occur in the text, which a fold's vocabulary order needs (see
    ``_fold_counts``)."""
    terms_of = _term_lister(vectoriser)
    vocabulary: defaultdict[bytes, int] = defaultdict()
    vocabulary.default_factory = vocabulary.__len__  # a new term gets the next id
    term_id = vocabulary.__getitem__
    indices, values, indptr = array("i"), array("i"), array("q", [0])
    for text in texts:
        counted = Counter(terms_of(text))  # keeps first-occurrence order
        indices.extend(map(term_id, counted))
        values.extend(counted.values())
        indptr.append(len(indices))
    ids = np.frombuffer(indices, dtype=np.intc)
    terms = list(vocabulary)
    min_df = vectoriser.min_df
    least = max(int(min_df), 1) if isinstance(min_df, Integral) else 1
    possible = np.flatnonzero(np.bincount(ids, minlength=len(terms)) >= least).tolist()
    column = np.full(len(terms), -1, dtype=np.int32)
    # UTF-8 bytes sort as their strings do (code point order).
    column[sorted(possible, key=terms.__getitem__)] = np.arange(len(possible), dtype=np.int32)
    columns = column[ids]
    keep = columns >= 0
    return sp.csr_matrix(
        (
            np.frombuffer(values, dtype=np.intc)[keep].astype(vectoriser.dtype),
            columns[keep],
            np.searchsorted(np.flatnonzero(keep), np.frombuffer(indptr, dtype=np.int64)),
        ),
        shape=(len(texts), len(possible)),
    )


def _term_lister(vectoriser: TfidfVectorizer) -> Callable[[str], list[bytes]]:
    """The analyzer's terms of a text as UTF-8 bytes (which sort as the strings do): through
    ``fastlinear.ascii_terms`` where it applies (about half the analyzer's time), else the
    vectoriser's own analyzer."""
    analyze = vectoriser.build_analyzer()

    def encoded(text: str) -> list[bytes]:
        return [term.encode("utf-8", "surrogatepass") for term in analyze(text)]

    settings = WordSettings.of(vectoriser)
    fast = ascii_terms(settings) if settings is not None else None
    if fast is None:
        return encoded

    def terms(text: str) -> list[bytes]:
        found = fast(text)
        return found if found is not None else encoded(text)

    return terms


def _fold_counts(
    vectoriser: TfidfVectorizer, counts: Any, train_idx: np.ndarray, test_idx: np.ndarray
) -> tuple[Any, Any]:
    """The count matrices a fresh ``vectoriser`` gives for a fold, from ``_term_counts``: what
    its ``fit_transform`` on the training rows and its ``transform`` on the test rows pass to its
    TF-IDF step. Bit for bit, as the classifier's floating-point sums depend on entry order:

    - vocabulary: document frequencies within [min_df, max_df] on the training rows, then the
      ``max_features`` largest total counts, ties broken by the same ``argsort`` over the same
      float32 totals in the same (sorted-term) order as ``CountVectorizer._limit_features``;
    - training rows: entries in the order the fold first met each term (sklearn numbers terms
      as it meets them, sorts rows by that number, then renumbers the columns in term order
      without reordering entries); test rows: entries in column order."""
    train = counts[train_idx]
    n_docs, n_terms = train.shape
    max_df, min_df = vectoriser.max_df, vectoriser.min_df
    high = float(max_df if isinstance(max_df, Integral) else max_df * n_docs)
    low = float(min_df if isinstance(min_df, Integral) else min_df * n_docs)
    if high < low:
        raise ValueError("max_df corresponds to < documents than min_df")
    df = np.bincount(train.indices, minlength=n_terms)
    mask = (df > 0) & (df >= low) & (df <= high)
    limit = vectoriser.max_features
    if limit is not None and mask.sum() > limit:
        totals = np.asarray(train.sum(axis=0)).ravel()
        kept = np.sort(np.flatnonzero(mask)[(-totals[mask]).argsort()[:limit]])
    else:
        kept = np.flatnonzero(mask)
    if not len(kept):
        raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
    width = len(kept)
    column = np.full(n_terms, -1, dtype=np.int32)
    column[kept] = np.arange(width, dtype=np.int32)

    def kept_entries(rows: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        columns = column[rows.indices]
        keep = columns >= 0
        positions = np.flatnonzero(keep)
        indptr = np.searchsorted(positions, rows.indptr)  # kept entries before each row
        return rows.data[keep], columns[keep], indptr, positions

    data, columns, indptr, positions = kept_entries(train)
    first_met = np.full(width, len(train.indices), dtype=np.int64)
    np.minimum.at(first_met, columns, positions)
    met_order = np.argsort(first_met).astype(np.int32)
    rank = np.empty(width, dtype=np.int32)
    rank[met_order] = np.arange(width, dtype=np.int32)
    by_rank = sp.csr_matrix((data, rank[columns], indptr), shape=(n_docs, width))
    by_rank.sort_indices()
    # A new matrix: the entries are not in column order and no flag may claim they are.
    train_counts = sp.csr_matrix(
        (by_rank.data, met_order[by_rank.indices], by_rank.indptr), shape=(n_docs, width)
    )
    data, columns, indptr, _ = kept_entries(counts[test_idx])
    test_counts = sp.csr_matrix((data, columns, indptr), shape=(len(test_idx), width))
    test_counts.sort_indices()
    return train_counts, test_counts


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


def numeric_environment() -> dict[str, Any]:
    """What besides the data, the parameters and the library versions decides a model's bits:
    scipy (the solver), the BLAS builds and the CPU code paths BLAS and numpy dispatch to. The
    same data and seed give a byte-identical file only where these are the same too (measured:
    turning off numpy's and OpenBLAS's AVX-512 paths on one machine changed the model)."""
    import scipy
    from numpy._core import _multiarray_umath as umath  # type: ignore[attr-defined]
    from threadpoolctl import threadpool_info

    blas = sorted(
        {
            f"{info.get('internal_api')} {info.get('version')} {info.get('architecture')}"
            for info in threadpool_info()
            if info.get("user_api") == "blas"
        }
    )
    features = getattr(umath, "__cpu_features__", {})
    dispatch = getattr(umath, "__cpu_dispatch__", [])
    return {
        "scipy_version": scipy.__version__,
        "blas": blas,
        "numpy_cpu_dispatch": [name for name in dispatch if features.get(name)],
    }


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
            "numeric_environment": numeric_environment(),
            "pipeline": describe_pipeline(pipeline),
            **{k: v for k, v in card.items() if k not in {"sha256", "version"}},
            "sha256": sha,
            "size_bytes": tmp.stat().st_size,
        }
        fast = LinearTextModel.from_pipeline(pipeline)
        if fast is not None and fast.savable():
            data = fast.to_bytes()  # the form served without unpickling (sevtriage.modelfile)
            _write_atomically(linear_path(path), data)
            full["linear"] = linear_entry(data)
        else:
            linear_path(path).unlink(missing_ok=True)  # a stale one would not match the card
        write_card(full, card_path(path))
        tmp.chmod(0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return SeverityModel.load(path)


def add_linear_form(path: Path) -> bool:
    """Give a saved model (verified first) its data form and record it in its card, for a model
    saved before data forms existed; the pipeline file and the version stay as they are. False
    when the pipeline has no data form (another shape)."""
    model = SeverityModel.load(path)
    fast = LinearTextModel.from_pipeline(model.pipeline)
    if fast is None or not fast.savable():
        return False
    data = fast.to_bytes()
    _write_atomically(linear_path(path), data)
    write_card({**model.card, "linear": linear_entry(data)}, card_path(path))
    return True


def _write_atomically(path: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(name, 0o644)
    os.replace(name, path)


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
        if isinstance(card.get("linear"), Mapping):
            data = verified_bytes(linear_path(source), card["linear"], card_path(source))
            _write_atomically(linear_path(target), data)
        else:
            linear_path(target).unlink(missing_ok=True)
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
