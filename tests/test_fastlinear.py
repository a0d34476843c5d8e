"""The fast inference path computes what the scikit-learn pipeline computes."""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.fastlinear import (
    _NON_ASCII_WORD,
    PYTHON_WORDS,
    LinearTextModel,
    WordSettings,
    _generic_counter,
    ascii_terms,
    strip_accents,
)
from sevtriage.importers import read_labelled
from sevtriage.model import SeverityModel, build_pipeline, model_text, texts_and_labels
from sevtriage.modelfile import ServedModel, default_model_path
from sevtriage.triage import load_model


@functools.cache
def _shipped() -> SeverityModel:
    return SeverityModel.load(default_model_path())


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
    settings = WordSettings.of(vectoriser)
    assert settings is not None
    assert Counter(settings.analyzer()(text)) == Counter(vectoriser.build_analyzer()(text))


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

    assert strip_accents(text) == strip_accents_unicode(text)


def test_what_strip_accents_makes_of_a_character_it_keeps() -> None:
    """``strip_accents`` replaces each distinct character once: that equals a per-character
    pass only if no character it produces is changed again. Checked over all of Unicode."""
    from sevtriage.fastlinear import _STRIPPED

    for code in range(0x80, 0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        for char in _STRIPPED[code]:
            assert _STRIPPED[ord(char)] == char, (hex(code), char)


_WORDY = st.text(
    st.one_of(
        st.sampled_from(list("abcdefgh_019 \n\t.,;:!?¿¡-'\"/()«»€—…😀\x0b\x1c")),
        st.sampled_from([*"áéíóúñüçÅﬁ²İǅ̃ßøΩ日ℌ", "\ud800", "\udc80"]),
    ),
    max_size=200,
)


@settings(max_examples=500, deadline=None)
@given(_WORDY)
def test_the_terms_and_columns_are_the_ones_scikit_learn_finds(text: str) -> None:
    """The bytes path (``ascii_terms``, what training and ``WordIds`` use) gives scikit-learn's
    terms in its order wherever it applies (no word character outside ASCII); the analyzer path
    gives the vocabulary column of each of them, -1 outside it."""
    vectoriser = _shipped().pipeline.named_steps["features"].transformer_list[0][1]
    settings = WordSettings.of(vectoriser)
    assert settings is not None
    terms = vectoriser.build_analyzer()(text)
    by_bytes = ascii_terms(settings)
    assert by_bytes is not None
    fast = by_bytes(text)
    if fast is not None:
        assert [t.decode("utf-8", "surrogatepass") for t in fast] == terms
    else:  # only texts with a word character outside ASCII (once lowered, accents stripped)
        assert _NON_ASCII_WORD.search(strip_accents(text.lower())) is not None
    vocabulary = dict(vectoriser.vocabulary_)
    columns = _generic_counter(settings.analyzer(), vocabulary)
    assert columns(text) == [vocabulary.get(t, -1) for t in terms]


def test_the_shipped_model_is_served_from_its_data_form_with_the_pipelines_answers(
    repo: Path,
) -> None:
    """``load_model`` serves the data form (no unpickling): the same probabilities and top terms
    as the verified pipeline on the held-out tickets."""
    served = load_model()
    assert isinstance(served, ServedModel)
    pipeline_model = _shipped()
    assert served.version == pipeline_model.version
    texts, _ = texts_and_labels(read_labelled([repo / "data" / "test.jsonl"]))
    proba, terms = served.predict_with_terms(texts)
    want_proba, want_terms = pipeline_model.predict_with_terms(texts)
    assert np.array_equal(proba, want_proba)
    assert terms == want_terms
    reference = np.asarray(pipeline_model.pipeline.predict_proba(texts))
    assert np.abs(proba - reference).max() < 1e-5
    for label in ("P1", "P4"):
        assert served.explain(texts[0], label) == pipeline_model.explain(texts[0], label)


def test_the_data_form_round_trips_and_is_byte_identical(repo: Path) -> None:
    fast = LinearTextModel.from_pipeline(_shipped().pipeline)
    assert fast is not None and fast.savable()
    data = fast.to_bytes()
    assert data == fast.to_bytes()  # same model, same bytes (fixed member order and dates)
    again = LinearTextModel.from_bytes(data)
    assert again.to_bytes() == data
    texts, _ = texts_and_labels(read_labelled([repo / "data" / "test.jsonl"]))
    assert np.array_equal(again.predict_proba(texts), fast.predict_proba(texts))


@pytest.mark.parametrize(
    "damage",
    ["not a zip", "no header", "wrong format", "short idf", "coef shape"],
)
def test_a_broken_data_form_is_a_value_error_naming_the_problem(damage: str) -> None:
    import io
    import json as json_
    import zipfile

    fast = LinearTextModel.from_pipeline(_shipped().pipeline)
    assert fast is not None
    members = {}
    with zipfile.ZipFile(io.BytesIO(fast.to_bytes())) as archive:
        for name in archive.namelist():
            members[name] = archive.read(name)
    header = json_.loads(members["header.json"])
    if damage == "no header":
        del members["header.json"]
    elif damage == "wrong format":
        members["header.json"] = json_.dumps(header | {"format": 99}).encode()
    elif damage in ("short idf", "coef shape"):
        key = "idf_0.npy" if damage == "short idf" else "coef.npy"
        array = np.load(io.BytesIO(members[key]))
        buffer = io.BytesIO()
        np.save(buffer, array[..., :-1])
        members[key] = buffer.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    data = b"PK\x03\x04 truncated" if damage == "not a zip" else out.getvalue()
    with pytest.raises(ValueError, match=r"not a saved linear model|format|shape"):
        LinearTextModel.from_bytes(data)


def test_an_object_array_in_the_data_form_is_refused_not_unpickled() -> None:
    """Arrays are read with allow_pickle=False: an object array (pickled) is refused."""
    import io
    import zipfile

    fast = LinearTextModel.from_pipeline(_shipped().pipeline)
    assert fast is not None
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(fast.to_bytes())) as source,
        zipfile.ZipFile(out, "w") as archive,
    ):
        for name in source.namelist():
            content = source.read(name)
            if name == "terms_0.npy":
                buffer = io.BytesIO()
                np.save(buffer, np.asarray([object()], dtype=object), allow_pickle=True)
                content = buffer.getvalue()
            archive.writestr(name, content)
    with pytest.raises(ValueError):
        LinearTextModel.from_bytes(out.getvalue())


def _fast_shipped() -> LinearTextModel:
    fast = LinearTextModel.from_pipeline(_shipped().pipeline)
    assert fast is not None
    return fast


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_word_numbers_give_the_matrix_the_term_strings_give(data: st.DataObject) -> None:
    """The batch path (word numbers, bigrams found by numpy) builds the same matrix as looking
    every term string up: texts served by it and texts left to the analyzer, in one batch."""
    import dataclasses

    fast = _fast_shipped()
    assert all(part.words is not None for part in fast._parts)
    by_strings = LinearTextModel(
        [dataclasses.replace(part, words=None) for part in fast._parts],
        fast.coef,
        fast._intercept,
        fast.classes,
    )
    words = sorted({w for part in fast._parts for t in part.vocabulary for w in t.split(" ")})
    vocabulary_text = st.lists(
        st.one_of(st.sampled_from(words), st.sampled_from([" ", ". ", "x", "ñandú", "Ünï"])),
        max_size=30,
    ).map(" ".join)
    texts = data.draw(st.lists(st.one_of(vocabulary_text, _WORDY), max_size=8))
    got, want = fast.transform(texts), by_strings.transform(texts)
    assert got.shape == want.shape
    for a, b in zip(got[:3], want[:3], strict=True):
        assert np.array_equal(a, b)


def test_no_bigram_spans_two_texts_of_a_batch() -> None:
    fast = _fast_shipped()
    part = fast._parts[0]
    bigram = next(t for t in part.vocabulary if t.count(" ") == 1 and t.isascii())
    first, second = bigram.split(" ")
    apart = fast.transform([f"zz {first}", f"{second} zz"])
    together = fast.transform([f"zz {first} {second} zz"])
    column = part.vocabulary[bigram] + part.offset
    assert column not in apart.indices.tolist()
    assert column in together.indices.tolist()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_one_text_takes_its_own_path_to_the_batchs_exact_bits(data: st.DataObject) -> None:
    """A batch of one text is counted in Python and its scores summed by numpy's reduction
    (``_counts_of_one``, ``probabilities``): the same matrix and the same probabilities, bit
    for bit, as the text gets inside a batch (where it is counted by ``np.unique`` and summed by
    ``bincount``), so the service and ``classify`` agree exactly."""
    fast = _fast_shipped()
    words = sorted({w for part in fast._parts for t in part.vocabulary for w in t.split(" ")})
    vocabulary_text = st.lists(
        st.one_of(st.sampled_from(words), st.sampled_from([" ", ". ", "x", "ñandú", "Ünï"])),
        max_size=200,
    ).map(" ".join)
    texts = data.draw(st.lists(st.one_of(vocabulary_text, _WORDY), min_size=2, max_size=6))
    batch = fast.transform(texts)
    batch_proba = fast.probabilities(batch)
    for i, text in enumerate(texts):
        one = fast.transform([text])
        start, end = batch.indptr[i], batch.indptr[i + 1]
        assert one.indices.dtype == batch.indices.dtype and one.data.dtype == batch.data.dtype
        assert np.array_equal(one.indices, batch.indices[start:end])
        assert np.array_equal(one.data, batch.data[start:end])
        assert np.array_equal(one.indptr, [0, end - start])
        assert np.array_equal(fast.probabilities(one)[0], batch_proba[i])


@pytest.mark.parametrize("words", [PYTHON_WORDS - 1, PYTHON_WORDS + 1, 40 * PYTHON_WORDS])
def test_a_text_alone_is_counted_as_in_a_batch_on_either_side_of_the_python_limit(
    words: int,
) -> None:
    """Short texts alone are counted in Python, long ones by numpy: both give the batch's bits
    (with bigrams that only the pairs of words make, and words outside the vocabulary)."""
    fast = _fast_shipped()
    part = fast._parts[0]
    bigrams = sorted(t for t in part.vocabulary if t.count(" ") == 1 and t.isascii())[:50]
    tokens = " ".join(bigrams + ["zzqx"] * 10).split(" ")
    text = " ".join(itertools.islice(itertools.cycle(tokens), words))
    batch = fast.transform(["otra cosa", text])
    one = fast.transform([text])
    start, end = batch.indptr[1], batch.indptr[2]
    assert np.array_equal(one.indices, batch.indices[start:end])
    assert np.array_equal(one.data, batch.data[start:end])
    assert np.array_equal(fast.probabilities(one)[0], fast.probabilities(batch)[1])
    found = {fast.feature_names()[c].partition("__")[2] for c in one.indices.tolist()}
    assert set(bigrams[: words // 3]) & found  # the bigrams were counted
