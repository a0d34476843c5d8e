"""The fast inference path computes what the scikit-learn pipeline computes."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.fastlinear import LinearTextModel, _word_analyzer
from sevtriage.importers import read_labelled
from sevtriage.model import SeverityModel, build_pipeline, model_text, texts_and_labels
from sevtriage.triage import load_model


@functools.cache
def _shipped() -> SeverityModel:
    model = load_model()
    assert isinstance(model, SeverityModel)
    return model


def test_the_shipped_model_gets_the_fast_path_and_agrees_on_held_out_tickets(repo: Path) -> None:
    model = _shipped()
    fast = LinearTextModel.from_pipeline(model.pipeline)
    assert fast is not None
    texts, _ = texts_and_labels(read_labelled([repo / "data" / "test.jsonl"]))
    expected = np.asarray(model.pipeline.predict_proba(texts))
    got = fast.predict_proba(texts)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    matrix, reference = fast.transform(texts[:50]), model._features.transform(texts[:50]).tocsr()
    assert (matrix.indptr == reference.indptr).all()
    assert (matrix.indices == reference.indices).all()
    assert np.abs(matrix.data - reference.data).max() < 1e-6


def test_one_text_alone_or_in_a_batch_gets_the_same_probabilities() -> None:
    model = _shipped()
    texts = ["La plataforma está caída para todos", "how do I export contacts?", ""]
    batch = model.predict_proba(texts)
    for i, text in enumerate(texts):
        assert np.allclose(model.predict_proba([text])[0], batch[i], atol=1e-7)


_TEXT = st.text(
    st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(list("áéíóúñüçÅﬁ²İǅ̃ \n.,¿?")),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_the_word_analyzer_gives_scikit_learns_terms(text: str) -> None:
    vectoriser = _shipped().pipeline.named_steps["features"].transformer_list[0][1]
    ours = _word_analyzer(vectoriser)
    assert ours is not None
    assert Counter(ours(text)) == Counter(vectoriser.build_analyzer()(text))


def test_other_pipeline_shapes_keep_scikit_learn(repo: Path) -> None:
    records = read_labelled([repo / "data" / "sample-tickets.jsonl"])
    texts = [model_text(str(r.get("subject") or ""), str(r["body"])) for r in records]
    labels = [str(r["label"]) for r in records]
    svm = build_pipeline(classifier="svm", min_df=1).fit(texts, labels)
    assert LinearTextModel.from_pipeline(svm) is None
    chars = build_pipeline(char_max_features=2000, min_df=1).fit(texts, labels)
    fast = LinearTextModel.from_pipeline(chars)  # word + char_wb parts: the generic analyzer
    assert fast is not None
    assert np.abs(fast.predict_proba(texts) - chars.predict_proba(texts)).max() < 1e-5


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_strip_accents_is_scikit_learns(text: str) -> None:
    from sklearn.feature_extraction.text import strip_accents_unicode

    from sevtriage.fastlinear import strip_accents

    assert strip_accents(text) == strip_accents_unicode(text)
