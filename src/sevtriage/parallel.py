"""``sevtriage classify --engine dask``: the same triage function over dask.dataframe partitions.

For re-triaging millions of historical tickets on a cluster. The driver makes one pass over the
JSONL file recording the byte offset of every ``lines_per_partition``-th line; each partition then
reads its own byte range on a worker and runs ``Triager.triage_records`` on it, so line numbers,
order and the one-output-per-input rule are exactly those of the local engine. Each worker
process loads the rules and the (verified) model once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd

from sevtriage.io import dump_line, read_jsonl


@dataclass(frozen=True)
class PartitionSpec:
    path: str
    start: int
    end: int
    first_line: int
    rules_dir: str | None
    model_path: str | None
    use_model: bool
    now_iso: str | None


def partition_offsets(path: Path, lines_per_partition: int) -> list[tuple[int, int, int]]:
    """``(start_byte, end_byte, first_line)`` for consecutive blocks of whole lines."""
    bounds: list[tuple[int, int, int]] = []
    start, line, count = 0, 1, 0
    position = 0
    with path.open("rb") as stream:
        for raw in stream:
            position += len(raw)
            count += 1
            if count == lines_per_partition:
                bounds.append((start, position, line))
                start, line, count = position, line + count, 0
    if count:
        bounds.append((start, position, line))
    return bounds


_TRIAGERS: dict[tuple[str | None, str | None, bool], Any] = {}


def _triager(spec: PartitionSpec) -> Any:
    key = (spec.rules_dir, spec.model_path, spec.use_model)
    if key not in _TRIAGERS:
        from sevtriage.triage import Triager, load_model

        model = (
            load_model(Path(spec.model_path) if spec.model_path else None)
            if spec.use_model
            else None
        )
        _TRIAGERS[key] = Triager(Path(spec.rules_dir) if spec.rules_dir else None, model=model)
    return _TRIAGERS[key]


class _Slice:
    """A binary reader over ``[start, end)`` of a file (what ``read_jsonl`` needs)."""

    def __init__(self, stream: IO[bytes], end: int) -> None:
        self._stream, self._end = stream, end

    def readline(self, limit: int = -1) -> bytes:
        left = self._end - self._stream.tell()
        if left <= 0:
            return b""
        return self._stream.readline(left if limit < 0 else min(limit, left))


def triage_partition(spec: PartitionSpec) -> pd.DataFrame:
    """Triage one block of lines; columns ``line`` and ``output`` (the JSON line to write)."""
    from sevtriage.ticket import parse_datetime

    triager = _triager(spec)
    now = parse_datetime(spec.now_iso, "now") if spec.now_iso else None
    with open(spec.path, "rb") as stream:
        stream.seek(spec.start)
        records = (
            (line + spec.first_line - 1, record)
            for line, record in read_jsonl(_Slice(stream, spec.end))  # type: ignore[arg-type]
        )
        outputs = [dump_line(result) for result in triager.triage_records(records, now)]
    lines = range(spec.first_line, spec.first_line + len(outputs))
    return pd.DataFrame({"line": list(lines), "output": outputs})


def classify_on_dask(
    path: Path,
    *,
    rules_dir: Path | None,
    model_path: Path | None,
    use_model: bool,
    now_iso: str | None,
    scheduler: str | None,
    workers: int,
    lines_per_partition: int,
) -> Iterator[str]:
    """The output lines, in input order, computed on a dask cluster (local when no scheduler)."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    specs = [
        PartitionSpec(
            str(path.resolve()),
            start,
            end,
            first,
            str(rules_dir) if rules_dir else None,
            str(model_path) if model_path else None,
            use_model,
            now_iso,
        )
        for start, end, first in partition_offsets(path, lines_per_partition)
    ]
    if not specs:
        return
    meta = pd.DataFrame({"line": pd.Series(dtype="int64"), "output": pd.Series(dtype="object")})
    frame = dd.from_map(triage_partition, specs, meta=meta, enforce_metadata=False)
    cluster = (
        None
        if scheduler
        else LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    )
    client = Client(scheduler or cluster)
    try:
        futures = client.compute(frame.to_delayed())
        for future in futures:  # submitted together, written in order
            yield from future.result()["output"]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
