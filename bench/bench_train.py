"""Training benchmark and model selection for the fallback model.

    python bench/bench_train.py                 # train time, size, throughput of the default model
    python bench/bench_train.py --large 100000  # also train on 100k generated tickets
    python bench/bench_train.py --select        # compare candidate pipelines (train data only)

``--select`` scores candidates with 5-fold cross-validation on data/train.jsonl only, stratified
and grouped by concept (``data/train.meta.jsonl``), so that paraphrases of one problem never sit on
both sides of a fold — as in the held-out test split. data/test.jsonl is never used here.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline

from sevtriage.evaluate import classification_report
from sevtriage.importers import read_labelled
from sevtriage.model import LABELS, build_pipeline, out_of_fold_proba, texts_and_labels, train_model

REPO = Path(__file__).resolve().parents[1]


def _hashing(n_features: int = 2**18) -> Pipeline:
    common: dict[str, Any] = {"strip_accents": "unicode", "alternate_sign": False, "norm": None}
    features = FeatureUnion(
        [
            ("word", HashingVectorizer(ngram_range=(1, 2), n_features=n_features, **common)),
            (
                "char",
                HashingVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), n_features=n_features, **common
                ),
            ),
        ]
    )
    return make_pipeline(
        features,
        TfidfTransformer(sublinear_tf=True),
        LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000, random_state=0),
    )


CANDIDATES: dict[str, Callable[[], Pipeline]] = {
    "word12_logreg": lambda: build_pipeline(C=10.0),
    "word12+char25_logreg": lambda: build_pipeline(C=10.0, char_max_features=50_000),
    "word12+char25_svm": lambda: build_pipeline(char_max_features=50_000, classifier="svm", C=0.5),
    "word12_svm": lambda: build_pipeline(classifier="svm", C=0.5),
    "word12_logreg_C3": lambda: build_pipeline(C=3.0),
    "word12_logreg_C30": lambda: build_pipeline(C=30.0),
    "word12_logreg_C100 (default)": lambda: build_pipeline(C=100.0),
    "word13_logreg": lambda: build_pipeline(C=10.0, word_ngrams=(1, 3), word_max_features=40_000),
    "char25_logreg": lambda: build_pipeline(C=10.0, word_max_features=0, char_max_features=50_000),
    "hashing_word12+char25_logreg": _hashing,
}


def _size_bytes(pipeline: Pipeline) -> int:
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer, compress=3)
    return len(buffer.getvalue())


def _throughput(pipeline: Pipeline, texts: list[str]) -> float:
    sample = (texts * (10_000 // len(texts) + 1))[:10_000]
    started = time.perf_counter()
    pipeline.predict_proba(sample)
    return len(sample) / (time.perf_counter() - started)


def select(folds: int = 5) -> list[dict[str, Any]]:
    records = read_labelled([REPO / "data" / "train.jsonl"])
    texts, labels = texts_and_labels(records)
    meta = [
        json.loads(line) for line in (REPO / "data" / "train.meta.jsonl").open(encoding="utf-8")
    ]
    groups = [m["concept_id"] for m in meta]
    rows = []
    for name, make in CANDIDATES.items():
        started = time.perf_counter()
        proba = out_of_fold_proba(make, texts, labels, groups, folds, 0)
        cv_seconds = time.perf_counter() - started
        report = classification_report(labels, [LABELS[i] for i in np.argmax(proba, axis=1)])
        started = time.perf_counter()
        fitted = make().fit(texts, labels)
        fit_seconds = time.perf_counter() - started
        rows.append(
            {
                "candidate": name,
                "cv_macro_f1": round(report["macro_f1"], 4),
                "cv_p1_recall": round(report["p1_recall"], 4),
                "cv_accuracy": round(report["accuracy"], 4),
                "fit_seconds": round(fit_seconds, 2),
                "cv_seconds": round(cv_seconds, 1),
                "size_kb": round(_size_bytes(fitted) / 1024),
                "texts_per_s": round(_throughput(fitted, texts)),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    line = "  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))
    body = ["  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths, strict=True)) for r in rows]
    return "\n".join([line, *body])


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the fold worker): on a shared machine
    wall-clock time depends on the other load, CPU time much less."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_training(path: Path, label: str) -> dict[str, Any]:
    records = read_labelled([path])
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    pipeline, _ = train_model(records, seed=0)
    seconds, cpu_seconds = time.perf_counter() - started, _cpu_seconds() - cpu_started
    texts, _ = texts_and_labels(records)
    return {
        "data": label,
        "tickets": len(records),
        "train_seconds_incl_5fold_cv": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "size_kb": round(_size_bytes(pipeline) / 1024),
        "predict_texts_per_s_10k": round(_throughput(pipeline, texts[:10_000])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--select", action="store_true", help="compare candidate pipelines")
    parser.add_argument("--large", type=int, default=0, help="also train on N generated tickets")
    args = parser.parse_args()
    if args.select:
        print(_table(select()))
        return
    rows = [bench_training(REPO / "data" / "train.jsonl", "data/train.jsonl")]
    generator = REPO / "data" / "tools" / "generate_corpus.py"
    if args.large and generator.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "large.jsonl"
            subprocess.run(
                [
                    sys.executable,
                    str(generator),
                    "--n",
                    str(args.large),
                    "--seed",
                    "7",
                    "--long-tail",
                    "--out",
                    str(out),
                ],
                check=True,
            )
            rows.append(bench_training(out, f"generated {args.large}"))
    print(_table(rows))


if __name__ == "__main__":
    main()
