"""The export's `datasets` save_to_disk copy, written while the Parquet shards are (no second pass).

    OUT/dataset_dict.json                {"splits": ["train", "test"]}
    OUT/train/data-00000-of-00001.arrow  Arrow IPC stream files (datasets' own ArrowWriter), ~500 MB each
    OUT/train/state.json                 the files, fingerprint and (empty) format, as save_to_disk writes it
    OUT/train/dataset_info.json          features and split size (DatasetInfo.write_to_directory)

This is what ``DatasetDict.save_to_disk`` writes and ``datasets.load_from_disk`` reads. It used to be
built after the export, by ``Dataset.from_parquet`` into a cache and then ``save_to_disk``: two more
copies of every byte, and a time per pair that grew with N (3.97× from 100k to 1M pairs, in its
iteration over the cached table). Here every table the Parquet sink writes is appended to the
split's Arrow file as well, so the copy costs one more write per batch, whatever N is.

Files are written under ``OUT/.arrow-cache/`` and moved into place by ``finish``, so an export that
fails midway leaves no half-written split folder that ``load_from_disk`` would pick up.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from hashlib import blake2b
from pathlib import Path

import pyarrow as pa

TMP = ".arrow-cache"  # the working folder under OUT, removed by ArrowCopy.finish (and by writer._clear)


class _SplitFiles:
    """One split's rows → Arrow files of about `limit` bytes, named ``part-N.arrow`` until finished."""

    def __init__(self, tmp: Path, features, limit: int):
        self.tmp, self.features, self.limit = tmp, features, limit
        self.files: list[Path] = []
        self._writer = None
        self.rows = self.bytes = self._in_file = 0
        # the fingerprint datasets keys its caches on: this split's features and ids, in order
        self._hash = blake2b(str(features).encode(), digest_size=8)

    def _open(self):
        from datasets.arrow_writer import ArrowWriter

        self.files.append(self.tmp / f"part-{len(self.files):05d}.arrow")
        # embed_local_files as save_to_disk sets it (it matters only for Image/Audio features)
        self._writer = ArrowWriter(features=self.features, path=str(self.files[-1]), embed_local_files=True)
        return self._writer

    def write(self, table: pa.Table) -> None:
        """Append `table`, cut where the current file reaches the limit (one big table still shards)."""
        self.rows += table.num_rows
        self._hash.update("\x1f".join(map(str, table.column("id").to_pylist())).encode() if "id" in table.column_names
                          else str(table.num_rows).encode())
        per_row = table.nbytes / table.num_rows if table.num_rows else 0.0
        while table.num_rows:
            take = (min(table.num_rows, max(1, math.ceil((self.limit - self._in_file) / per_row)))
                    if per_row else table.num_rows)
            (self._writer or self._open()).write_table(table.slice(0, take))
            self._in_file += take * per_row
            table = table.slice(take)
            if self._in_file >= self.limit:
                self._close()

    def _close(self) -> None:
        if self._writer is not None:
            self.bytes += self._writer.finalize()[1]
            self._writer, self._in_file = None, 0

    def finish(self, dest: Path, split: str) -> None:
        """Close the last file, move the files to `dest` under save_to_disk's names, write its metadata."""
        from datasets import DatasetInfo, SplitDict, SplitInfo

        self._close()
        if not self.files:  # an empty split still gets one file (the schema, no rows), as save_to_disk writes
            self._open()
            self._close()
        dest.mkdir(parents=True, exist_ok=True)
        names = [f"data-{i:05d}-of-{len(self.files):05d}.arrow" for i in range(len(self.files))]
        for path, name in zip(self.files, names):
            os.replace(path, dest / name)
        # the keys save_to_disk writes (tests/test_export_arrow.py checks them against the installed datasets)
        state = {"_data_files": [{"filename": n} for n in names], "_fingerprint": self._hash.hexdigest(),
                 "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
                 "_output_all_columns": False, "_split": split}
        (dest / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        splits = SplitDict()
        splits.add(SplitInfo(name=split, num_bytes=self.bytes, num_examples=self.rows))
        info = DatasetInfo(features=self.features, dataset_size=self.bytes, size_in_bytes=self.bytes, splits=splits)
        info.write_to_directory(str(dest), pretty_print=True)


class ArrowCopy:
    """The save_to_disk copy of an export, one split at a time as rows arrive (state: the open files).

    ``write(split, table)`` appends a table in the export's Arrow schema; ``finish()`` moves the files
    into ``OUT/{split}/``, writes each split's metadata and ``dataset_dict.json``, and removes the
    working folder."""

    def __init__(self, out: Path, splits: list[str], schema: pa.Schema):
        from datasets import Features, config
        from datasets.utils.py_utils import convert_file_size_to_int

        self.out, self.tmp = out, out / TMP
        features = Features.from_arrow_schema(schema)
        limit = convert_file_size_to_int(config.MAX_SHARD_SIZE)  # save_to_disk's default shard size
        self._splits = {}
        for name in splits:
            (self.tmp / name).mkdir(parents=True, exist_ok=True)
            self._splits[name] = _SplitFiles(self.tmp / name, features, limit)

    def write(self, split: str, table: pa.Table) -> None:
        self._splits[split].write(table)

    def finish(self) -> None:
        for name, files in self._splits.items():
            files.finish(self.out / name, name)
        (self.out / "dataset_dict.json").write_text(json.dumps({"splits": list(self._splits)}), encoding="utf-8")
        shutil.rmtree(self.tmp, ignore_errors=True)
