"""Inference for a fitted TF-IDF + logistic-regression pipeline without scikit-learn.

``Pipeline.predict_proba`` on one text costs about a millisecond of validation, joblib dispatch
and sparse stacking around some 30 us of real work; the service and the single-ticket API pay it
on every ticket. ``LinearTextModel`` takes the fitted parts (each vectoriser's vocabulary, idf
and settings; the classifier's coefficients) and does only the arithmetic: counts, sublinear tf,
idf, l2 norm per vectoriser, one sparse product, softmax. It is built from a loaded pipeline and
checked against it on probe texts (``from_pipeline`` returns None if the pipeline is of another
shape or disagrees), so the pipeline remains the definition.

A model of word parts only is also saved as *data* (``to_bytes``: a zip of ``.npy`` arrays and
one JSON header, read back with ``allow_pickle=False``): serving loads that instead of
unpickling the pipeline, so it runs no pickled code and never imports scikit-learn (1.7 s of
start-up and about 100 MB of memory).
"""

from __future__ import annotations

import io
import itertools
import json
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline

PROBES = (
    "",
    "The inbox is down for every agent since 9:00, nothing loads. Is there a workaround?",
    "¿Cómo exporto los contactos? La sincronización falla a veces, pero no es urgente.",
    "Datos perdidos: restore from backup please!!! 500 errors on /api/v1/messages",
)
TOLERANCE = 1e-5


class _AccentsStripped(dict[int, str]):
    """``str.translate`` table: a character to its NFKD form without combining marks, which is
    what scikit-learn's ``strip_accents_unicode`` does to a whole string (decomposition is per
    character and only combining marks are reordered, and they are all dropped)."""

    def __missing__(self, code: int) -> str:
        kept = "".join(
            c for c in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(c)
        )
        self[code] = kept
        return kept


_STRIPPED = _AccentsStripped()
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def strip_accents(text: str) -> str:
    """scikit-learn's ``strip_accents_unicode``, with the table applied only to the non-ASCII
    characters, one ``str.replace`` per distinct one: 2.5x faster than its per-character pass
    (a quarter of the time of fitting the vectoriser); on long Spanish tickets the replaces
    took 46-56 us against 51-69 for a ``re.sub`` callback per run of them. One pass: what a
    character becomes is made of characters the table keeps (NFKD is a full decomposition).
    The pipeline uses it by name (``strip_accents=strip_accents``): part of a saved model."""
    if text.isascii():
        return text
    for char in set("".join(_NON_ASCII.findall(text))):
        if (kept := _STRIPPED[ord(char)]) != char:
            text = text.replace(char, kept)
    return text


@dataclass(frozen=True)
class WordSettings:
    """What a word vectoriser does to a text before counting: lower case, accents stripped or
    not, its token pattern and n-gram range. Enough to analyse a text without the vectoriser."""

    token_pattern: str
    ngram_range: tuple[int, int]
    strip_accents: bool

    @classmethod
    def of(cls, vectoriser: TfidfVectorizer) -> WordSettings | None:
        """The settings of a word vectoriser that lower-cases and strips accents (or not) and
        nothing else; None for other settings (a custom analyzer, tokenizer, stop words...)."""
        v = vectoriser
        if (
            v.analyzer != "word"
            or v.input != "content"
            or v.preprocessor is not None
            or v.tokenizer is not None
            or v.stop_words is not None
            or not v.lowercase
            or not (v.strip_accents in ("unicode", None) or v.strip_accents is strip_accents)
        ):
            return None
        low, high = v.ngram_range
        return cls(str(v.token_pattern), (int(low), int(high)), v.strip_accents is not None)

    def analyzer(self) -> Callable[[str], list[str]]:
        """scikit-learn's word analyzer for these settings, with accents stripped only where
        there are non-ASCII characters (2.5x faster than its per-character pass)."""
        token = re.compile(self.token_pattern)
        low, high = self.ngram_range
        strip = self.strip_accents

        def analyze(text: str) -> list[str]:
            text = text.lower()
            words = token.findall(strip_accents(text) if strip else text)
            grams = list(words) if low == 1 else []
            for n in range(max(low, 2), min(high, len(words)) + 1):
                grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
            return grams

        return analyze


# Bytes that the token pattern's \w matches in ASCII text (letters, digits, underscore) map to
# themselves, every other byte to a space: ``data.translate(_WORD_BYTES).split()`` is then the
# list of maximal word runs, in C.
_WORD_BYTES = bytes(c if c < 128 and (chr(c).isalnum() or c == 95) else 32 for c in range(256))
_NON_ASCII_WORD = re.compile(r"[^\W\x00-\x7f]")  # a word character outside ASCII
_DEFAULT_TOKENS = r"(?u)\b\w\w+\b"


def ascii_words(settings: WordSettings) -> Callable[[str], list[bytes] | None] | None:
    r"""For the default token pattern and n-grams (1, 1) or (1, 2): a function giving a text's
    tokens as UTF-8 bytes, in order, when the preprocessed text has no word character outside
    ASCII (most tickets, Spanish ones included once accents are stripped), and None for other
    texts (which take the analyzer). None for other settings.

    For such texts the tokens ``\b\w\w+\b`` finds are exactly the maximal runs of ASCII
    letters, digits and underscores of two or more characters: a byte translate and ``split``
    find them without the regex engine."""
    low, high = settings.ngram_range
    if settings.token_pattern != _DEFAULT_TOKENS or low != 1 or high not in (1, 2):
        return None
    strip = settings.strip_accents

    def words(text: str) -> list[bytes] | None:
        prepared = strip_accents(text.lower()) if strip else text.lower()
        if not prepared.isascii() and _NON_ASCII_WORD.search(prepared) is not None:
            return None
        data = prepared.encode("utf-8", "surrogatepass").translate(_WORD_BYTES)
        return [w for w in data.split() if len(w) > 1]

    return words


def ascii_terms(settings: WordSettings) -> Callable[[str], list[bytes] | None] | None:
    """``ascii_words`` and, for n-grams (1, 2), the pairs of consecutive words: a text's terms
    in the analyzer's order. Tested equal to scikit-learn's analyzer on generated text
    (``tests/test_fastlinear.py``); training uses it too (``model._term_counts``)."""
    words_of = ascii_words(settings)
    if words_of is None:
        return None
    pairs = settings.ngram_range[1] == 2

    def terms(text: str) -> list[bytes] | None:
        words = words_of(text)
        if words is None or not pairs:
            return words
        return words + list(map(b" ".join, itertools.pairwise(words)))

    return terms


class WordIds:
    """The word tokens of a vocabulary, numbered: a text becomes the list of its words' numbers
    (-1 for a word no term holds), and numpy finds the columns of its unigrams and bigrams for
    a whole batch at once, without building (and hashing) a string for every pair of words.
    For the settings ``ascii_words`` serves; the texts it does not serve take ``columns``."""

    def __init__(self, settings: WordSettings, vocabulary: dict[str, int]) -> None:
        words_of = ascii_words(settings)
        if words_of is None:
            raise ValueError("settings that ascii_words does not serve")
        self.words_of = words_of
        numbers: dict[bytes, int] = {}
        unigrams: list[tuple[int, int]] = []
        bigrams: list[tuple[int, int, int]] = []
        for term, column in vocabulary.items():
            if not term.isascii():
                continue  # only texts with non-ASCII words (the analyzer's) can hold it
            parts = [numbers.setdefault(w, len(numbers)) for w in term.encode().split(b" ")]
            if len(parts) == 1:
                unigrams.append((parts[0], column))
            elif len(parts) == 2:
                bigrams.append((parts[0], parts[1], column))
            else:
                raise ValueError(f"term {term!r} is not a unigram or a bigram")
        self.number = numbers.get
        self.size = len(numbers)
        self.unigram_column = np.full(self.size, -1, dtype=np.int64)
        for number, column in unigrams:
            self.unigram_column[number] = column
        keys = np.asarray([a * self.size + b for a, b, _ in bigrams], dtype=np.int64)
        order = np.argsort(keys)
        self.bigram_keys = keys[order]
        self.bigram_columns = np.asarray([c for _, _, c in bigrams], dtype=np.int64)[order]
        # The same tables as Python objects, for one text (``columns_of_one``).
        self._unigram_of: list[int] = self.unigram_column.tolist()
        self._bigram_of = {a * self.size + b: column for a, b, column in bigrams}

    def ids(self, text: str) -> list[int] | None:
        """The numbers of the text's words, or None for a text ``ascii_words`` does not serve."""
        words = self.words_of(text)
        if words is None:
            return None
        return list(map(self.number, words, itertools.repeat(-1)))

    def columns(self, ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of every unigram and bigram of the vocabulary in the word numbers
        ``ids`` (texts one after another; ``rows``: the text of each word)."""
        known = ids >= 0
        uni = self.unigram_column[ids[known]]
        uni_rows = rows[known]
        found = uni >= 0
        out_rows, out_columns = [uni_rows[found]], [uni[found]]
        if len(self.bigram_keys) and len(ids) > 1:
            first, second = ids[:-1], ids[1:]
            pair = (rows[:-1] == rows[1:]) & (first >= 0) & (second >= 0)
            keys = first[pair] * self.size + second[pair]
            at = np.searchsorted(self.bigram_keys, keys)
            at[at == len(self.bigram_keys)] = 0
            hit = self.bigram_keys[at] == keys
            out_rows.append(rows[:-1][pair][hit])
            out_columns.append(self.bigram_columns[at[hit]])
        return np.concatenate(out_rows), np.concatenate(out_columns)

    def columns_of_one(self, ids: list[int]) -> list[int]:
        """The columns of the unigrams, then the bigrams, of the vocabulary in one text's word
        numbers: what ``columns`` finds for a batch of that text alone, in plain Python (for one
        ticket, numpy's fixed cost per call is most of the work)."""
        unigram_of = self._unigram_of
        found = [column for i in ids if i >= 0 and (column := unigram_of[i]) >= 0]
        if self._bigram_of and len(ids) > 1:
            size, bigram_of = self.size, self._bigram_of.get
            found += [
                column
                for a, b in itertools.pairwise(ids)
                if a >= 0 and b >= 0 and (column := bigram_of(a * size + b, -1)) >= 0
            ]
        return found


def _generic_counter(
    analyzer: Callable[[str], list[str]], vocabulary: dict[str, int]
) -> Callable[[str], list[int]]:
    """The vocabulary column of each term ``analyzer`` finds in a text (-1: not in it): the
    path of the texts ``WordIds`` does not serve (word characters outside ASCII), and of
    analyzers that cannot be saved as data."""
    lookup = vocabulary.get

    def columns(text: str) -> list[int]:
        return list(map(lookup, analyzer(text), itertools.repeat(-1)))

    return columns


def _word_ids(settings: WordSettings | None, vocabulary: dict[str, int]) -> WordIds | None:
    """``WordIds`` for settings ``ascii_words`` serves; None otherwise."""
    if settings is None or ascii_words(settings) is None:
        return None
    return WordIds(settings, vocabulary)


@dataclass(frozen=True)
class _Part:
    name: str
    columns: Callable[[str], list[int]]  # a column per term of a text, -1 outside the vocabulary
    words: WordIds | None  # the path of the texts it serves (None: ``columns`` for every text)
    vocabulary: dict[str, int]
    settings: WordSettings | None  # None: an analyzer that cannot be saved as data
    idf: np.ndarray | None
    sublinear: bool
    binary: bool
    l2: bool
    offset: int
    width: int


# A text of up to this many words is counted in Python when it is alone, a longer one by numpy
# (``LinearTextModel._counts_of_one``): the two cost the same at about 75 words (measured).
PYTHON_WORDS = 80


class Rows(NamedTuple):
    """A CSR matrix's arrays (what scipy's ``csr_matrix`` holds) without building one: for a
    single ticket, building and validating a scipy matrix costs more than the arithmetic."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]


class LinearTextModel:
    """The fitted pipeline's arithmetic (see the module docstring)."""

    def __init__(
        self,
        parts: list[_Part],
        coef: np.ndarray,
        intercept: np.ndarray,
        classes: Sequence[str] = (),
    ) -> None:
        self._parts = parts
        self.coef = np.asarray(coef)  # dtypes as fitted: the same rounding as the pipeline
        self._coef_t = np.ascontiguousarray(self.coef.T)
        self._intercept = np.asarray(intercept)
        self.classes = tuple(classes)
        self.width = sum(p.width for p in parts)
        self._names: list[str] | None = None
        self._display: list[str] | None = None

    def feature_names(self) -> list[str]:
        """``<part>__<term>`` for every column, as ``FeatureUnion.get_feature_names_out``."""
        if self._names is None:
            names: list[str] = []
            for part in self._parts:
                terms = [""] * part.width
                for term, column in part.vocabulary.items():
                    terms[column] = term
                names.extend(f"{part.name}__{term}" for term in terms)
            self._names = names
        return self._names

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> LinearTextModel | None:
        """The fast form of ``pipeline``, or None when it is not a FeatureUnion of l2/None-norm
        TfidfVectorizers + a multinomial LogisticRegression, or does not reproduce it."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion

        features, clf = pipeline.steps[0][1], pipeline.steps[-1][1]
        if len(pipeline.steps) != 2 or not isinstance(features, FeatureUnion):
            return None
        if not isinstance(clf, LogisticRegression) or clf.solver == "liblinear":
            return None
        if features.transformer_weights or len(clf.classes_) < 3:
            return None
        parts: list[_Part] = []
        offset = 0
        for name, vectoriser in features.transformer_list:
            if not isinstance(vectoriser, TfidfVectorizer) or vectoriser.norm not in ("l2", None):
                return None
            width = len(vectoriser.vocabulary_)
            idf = np.asarray(vectoriser.idf_) if vectoriser.use_idf else None
            vocabulary = vectoriser.vocabulary_
            settings = WordSettings.of(vectoriser)
            parts.append(
                _Part(
                    name=str(name),
                    columns=_generic_counter(
                        settings.analyzer() if settings else vectoriser.build_analyzer(),
                        vocabulary,
                    ),
                    words=_word_ids(settings, vocabulary),
                    vocabulary=vocabulary,
                    settings=settings,
                    idf=idf,
                    sublinear=vectoriser.sublinear_tf,
                    binary=vectoriser.binary,
                    l2=vectoriser.norm == "l2",
                    offset=offset,
                    width=width,
                )
            )
            offset += width
        classes = [str(c) for c in clf.classes_]
        fast = cls(parts, np.asarray(clf.coef_), np.asarray(clf.intercept_), classes)
        expected = np.asarray(pipeline.predict_proba(list(PROBES)))
        if not np.allclose(fast.predict_proba(PROBES), expected, rtol=0, atol=TOLERANCE):
            return None
        return fast

    def transform(self, texts: Sequence[str]) -> Rows:
        """The TF-IDF matrix (texts x features, float32), as the FeatureUnion would give it.
        Every (text, column) of every term is one key; ``np.unique`` counts the keys, sorted
        by text then column, as a CSR matrix holds them."""
        n = len(texts)
        if n == 1:
            columns, data = self._counts_of_one(texts[0])
            rows = np.zeros(len(columns), dtype=np.int64)
            self._weigh(rows, columns, data, 1)
            return Rows(data, columns, np.array([0, len(columns)]), (1, self.width))
        keys: list[np.ndarray] = []
        for part in self._parts:
            found: list[int] = []  # columns, of the texts ``part.words`` does not serve
            lengths: list[int] = []
            numbers: list[int] = []  # word numbers, of the texts it serves
            counts: list[int] = []
            words = part.words
            for text in texts:
                ids = words.ids(text) if words is not None else None
                if ids is None:
                    columns_of = part.columns(text)
                    found += columns_of
                    lengths.append(len(columns_of))
                    counts.append(0)
                else:
                    numbers += ids
                    counts.append(len(ids))
                    lengths.append(0)
            column = np.asarray(found, dtype=np.int64)
            row = np.repeat(np.arange(n, dtype=np.int64), lengths)
            known = column >= 0
            keys.append(row[known] * self.width + column[known] + part.offset)
            if words is not None and numbers:
                word_rows = np.repeat(np.arange(n, dtype=np.int64), counts)
                rows_of, columns_of_words = words.columns(np.asarray(numbers, np.int64), word_rows)
                keys.append(rows_of * self.width + columns_of_words + part.offset)
        unique, counted = np.unique(np.concatenate(keys), return_counts=True)
        rows = unique // self.width
        columns = (unique % self.width).astype(np.int32)
        data = counted.astype(np.float32)
        self._weigh(rows, columns, data, n)
        pointers = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=pointers[1:])
        return Rows(data, columns, pointers, (n, self.width))

    def _counts_of_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """``transform``'s columns and counts for a batch of one text. Up to ``PYTHON_WORDS``
        words the terms are found and counted in Python: for a short ticket the batch path's two
        dozen numpy calls cost more than the counting. Longer texts take numpy (``columns``,
        ``np.unique``) as in a batch."""
        short: list[int] = []
        long: list[np.ndarray] = []
        for part in self._parts:
            words = part.words
            ids = None if words is None else words.ids(text)
            if words is None or ids is None:
                columns = [c for c in part.columns(text) if c >= 0]
            elif len(ids) <= PYTHON_WORDS:
                columns = words.columns_of_one(ids)
            else:
                numbers = np.asarray(ids, dtype=np.int64)
                _, found = words.columns(numbers, np.zeros(len(numbers), dtype=np.int64))
                long.append(found + part.offset)
                continue
            short += [c + part.offset for c in columns] if part.offset else columns
        if long:
            everything = np.concatenate([*long, np.asarray(short, dtype=np.int64)])
            keys, counted = np.unique(everything, return_counts=True)
            return keys.astype(np.int32), counted.astype(np.float32)
        tally = Counter(short)
        keys_in_order = sorted(tally)
        counts = [tally[k] for k in keys_in_order]
        return np.array(keys_in_order, dtype=np.int32), np.array(counts, dtype=np.float32)

    def _weigh(self, rows: np.ndarray, columns: np.ndarray, data: np.ndarray, n: int) -> None:
        """Turn the counts ``data`` into each part's TF-IDF values, in place."""
        for part in self._parts:
            if len(self._parts) == 1:
                mine: slice | np.ndarray = slice(None)
            else:
                mine = (columns >= part.offset) & (columns < part.offset + part.width)
            values = data[mine]
            if part.binary:
                values[:] = 1.0
            elif part.sublinear:
                np.log(values, out=values)
                values += 1.0
            if part.idf is not None:
                values *= part.idf[columns[mine] - part.offset]
            if part.l2:
                sums = np.bincount(rows[mine], weights=values * values, minlength=n)
                norms = np.sqrt(sums)
                norms[norms == 0.0] = 1.0
                values /= norms[rows[mine]].astype(np.float32)
            data[mine] = values

    def probabilities(self, matrix: Rows) -> np.ndarray:
        """Softmax of the linear scores, as multinomial ``LogisticRegression.predict_proba``.
        Each row's score is summed in float64 (``bincount``), without building a sparse matrix:
        for one ticket that costs more than the arithmetic. scipy sums in float32; the two agree
        to about 1e-7, well inside the tolerance checked at load."""
        n = matrix.shape[0]
        weighted = self._coef_t[matrix.indices] * matrix.data[:, None]
        scores: np.ndarray
        if n == 1:
            # Down the rows one after another, as ``bincount`` adds (numpy reduces a C-ordered
            # array's first axis a row at a time); tested bit-identical to the batch path.
            scores = weighted.sum(axis=0, dtype=np.float64, keepdims=True)
        else:
            rows = np.repeat(np.arange(n), np.diff(matrix.indptr))
            scores = np.empty((n, self._coef_t.shape[1]))
            for k in range(self._coef_t.shape[1]):
                scores[:, k] = np.bincount(rows, weights=weighted[:, k], minlength=n)
        scores += self._intercept
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.probabilities(self.transform(texts))

    def top_terms(
        self, matrix: Rows, proba: np.ndarray, top_k: int
    ) -> list[list[tuple[str, float]]]:
        """For each row, the ``top_k`` terms that pushed it most towards its most probable class
        (coefficient x TF-IDF value, positive only, largest first; char n-grams quoted)."""
        return top_terms(matrix, proba, self.coef, self.display_names(), top_k)

    def display_names(self) -> list[str]:
        """Each column's name as shown to agents (built once)."""
        if self._display is None:
            self._display = [display_name(n) for n in self.feature_names()]
        return self._display

    # -- the saved form -------------------------------------------------------------------------

    def savable(self) -> bool:
        """Whether every part is a word vectoriser whose analysis ``WordSettings`` describes."""
        return bool(self.classes) and all(p.settings is not None for p in self._parts)

    def to_bytes(self) -> bytes:
        """The model as data: a zip of ``header.json`` and ``.npy`` arrays, byte-identical for
        the same model (fixed member order and dates)."""
        if not self.savable():
            raise ValueError("only a model of word vectorisers can be saved as data")
        header: dict[str, Any] = {"format": SAVED_FORMAT, "classes": list(self.classes)}
        arrays: dict[str, np.ndarray] = {"coef": self.coef, "intercept": self._intercept}
        header["parts"] = []
        for k, part in enumerate(self._parts):
            assert part.settings is not None
            terms = [""] * part.width
            for term, column in part.vocabulary.items():
                terms[column] = term
            arrays[f"terms_{k}"] = np.asarray(terms, dtype=np.str_)
            if part.idf is not None:
                arrays[f"idf_{k}"] = np.asarray(part.idf)  # its own dtype: same rounding
            header["parts"].append(
                {
                    "name": part.name,
                    "token_pattern": part.settings.token_pattern,
                    "ngram_range": list(part.settings.ngram_range),
                    "strip_accents": part.settings.strip_accents,
                    "sublinear_tf": part.sublinear,
                    "binary": part.binary,
                    "norm": "l2" if part.l2 else None,
                    "idf": part.idf is not None,
                    "width": part.width,
                }
            )
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            members = {"header.json": json.dumps(header, sort_keys=True).encode("utf-8")}
            for key, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
                members[f"{key}.npy"] = buffer.getvalue()
            for name, content in members.items():
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, content)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearTextModel:
        """The model ``to_bytes`` wrote; ``ValueError`` naming what is wrong otherwise. Arrays
        are read with ``allow_pickle=False``: nothing in the file is ever run."""
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            header = json.loads(archive.read("header.json"))

            def array(name: str) -> np.ndarray:
                with archive.open(f"{name}.npy") as member:
                    return np.lib.format.read_array(member, allow_pickle=False)

            if header.get("format") != SAVED_FORMAT:
                raise ValueError(f"format {header.get('format')!r}, expected {SAVED_FORMAT}")
            classes = [str(c) for c in header["classes"]]
            coef, intercept = array("coef"), array("intercept")
            parts: list[_Part] = []
            offset = 0
            for k, spec in enumerate(header["parts"]):
                terms = [str(t) for t in array(f"terms_{k}").tolist()]
                width = int(spec["width"])
                if len(terms) != width or len(set(terms)) != width:
                    raise ValueError(f"part {k}: {len(terms)} distinct terms, width {width}")
                settings = WordSettings(
                    str(spec["token_pattern"]),
                    (int(spec["ngram_range"][0]), int(spec["ngram_range"][1])),
                    bool(spec["strip_accents"]),
                )
                idf = array(f"idf_{k}") if spec["idf"] else None
                if idf is not None and idf.shape != (width,):
                    raise ValueError(f"part {k}: idf of shape {idf.shape}, width {width}")
                vocabulary = {term: column for column, term in enumerate(terms)}
                parts.append(
                    _Part(
                        name=str(spec["name"]),
                        columns=_generic_counter(settings.analyzer(), vocabulary),
                        words=_word_ids(settings, vocabulary),
                        vocabulary=vocabulary,
                        settings=settings,
                        idf=idf,
                        sublinear=bool(spec["sublinear_tf"]),
                        binary=bool(spec["binary"]),
                        l2=spec["norm"] == "l2",
                        offset=offset,
                        width=width,
                    )
                )
                offset += width
            if coef.shape != (len(classes), offset) or intercept.shape != (len(classes),):
                raise ValueError(
                    f"coefficients of shape {coef.shape} and {intercept.shape} for "
                    f"{len(classes)} classes and {offset} features"
                )
        except (KeyError, TypeError, IndexError, json.JSONDecodeError, zipfile.BadZipFile) as exc:
            raise ValueError(f"not a saved linear model: {type(exc).__name__}: {exc}") from exc
        except (OSError, EOFError) as exc:
            raise ValueError(f"not a saved linear model: {exc}") from exc
        return cls(parts, coef, intercept, classes)


SAVED_FORMAT = 1


def display_name(feature: str) -> str:
    """``word__inbox`` -> ``inbox``; ``char__caid`` -> ``'caid'`` (char n-grams quoted)."""
    kind, _, term = feature.partition("__")
    return f"'{term}'" if kind == "char" else term


def top_terms(
    matrix: Rows | Any, proba: np.ndarray, coef: np.ndarray, names: list[str], top_k: int
) -> list[list[tuple[str, float]]]:
    """Each row's ``top_k`` positive contributions towards its most probable class: every
    stored value times the coefficient of its row's top class in one numpy pass; one stable
    sort by (row, -weight) ranks each row's terms, and only the chosen ones come back to
    Python. ``matrix``: ``Rows`` or a scipy CSR matrix."""
    n = matrix.shape[0]
    if n == 1:  # one ticket (the service): the same ranking with fewer numpy calls
        weights = coef[int(np.argmax(proba[0]))][matrix.indices] * matrix.data
        best = np.argsort(-weights, kind="stable")[:top_k]
        kept = best[weights[best] > 0]
        chosen_names = [names[i] for i in matrix.indices[kept].tolist()]
        return [list(zip(chosen_names, weights[kept].tolist(), strict=True))]
    rows = np.repeat(np.arange(n), np.diff(matrix.indptr))
    top = np.argmax(proba, axis=1)
    weights = coef[top[rows], matrix.indices] * matrix.data
    positive = np.flatnonzero(weights > 0)  # only these can be chosen: rank them alone
    rows, weights, columns = rows[positive], weights[positive], matrix.indices[positive]
    order = np.lexsort((-weights, rows))
    per_row = np.bincount(rows, minlength=n)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(per_row[:-1], out=starts[1:])
    rank = np.arange(len(rows)) - np.repeat(starts, per_row)
    chosen = order[rank < top_k]
    picked = [names[i] for i in columns[chosen].tolist()]
    picked_weights = weights[chosen].tolist()
    terms: list[list[tuple[str, float]]] = []
    start = 0
    for count in np.bincount(rows[chosen], minlength=n).tolist():
        end = start + count
        terms.append(list(zip(picked[start:end], picked_weights[start:end], strict=True)))
        start = end
    return terms
