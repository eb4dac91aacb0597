"""Hugging Face ``datasets`` as a source: save_to_disk folders, local load_dataset paths, Hub ids (streamed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from curate.errors import InputError
from curate.io.rows import Row, Source

_BUILDERS = {"jsonl": "json", "json": "json", "parquet": "parquet", "csv": "csv"}


def is_hf_dir(p: str) -> bool:
    return any((Path(p) / f).exists() for f in ("dataset_info.json", "dataset_dict.json", "state.json"))


class HFSource(Source):
    """Hugging Face datasets: save_to_disk folders, local load_dataset paths, or Hub ids (streamed)."""

    type_name = "hf"
    extensions = ()
    unit = "rows"

    def __init__(self, paths: list[str], split: str = "train", name: str | None = None, streaming: bool = True,
                 **_: object):
        super().__init__(paths[:1])
        self.split, self.name, self.streaming = split, name, streaming

    def _dataset(self):
        import datasets

        p = Path(self.path)
        if p.is_dir() and is_hf_dir(str(p)):
            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                if self.split not in ds:
                    raise InputError(f"{p}: no split '{self.split}'; it has {list(ds)}")
                ds = ds[self.split]
            self.total = len(ds)
            return ds
        try:
            # a local folder/file or a Hub id; streaming keeps memory flat on large Hub datasets
            if p.is_file():
                from curate.io.sources import detect_type

                builder = _BUILDERS.get(detect_type(str(p)))
                if builder is None:
                    raise InputError(f"{p}: datasets cannot read this file type; set input.type")
                return datasets.load_dataset(builder, data_files=str(p), split=self.split, streaming=self.streaming)
            return datasets.load_dataset(self.path, self.name, split=self.split, streaming=self.streaming)
        except InputError:
            raise
        except Exception as e:  # datasets raises many types; all mean "cannot open"
            raise InputError(
                f"cannot load dataset '{self.path}' (split={self.split}): {e}. Offline? Set "
                f"HF_HUB_OFFLINE=1 and point input.path at a local copy."
            ) from e

    @property
    def path(self) -> str:
        return self.paths[0]

    def __iter__(self) -> Iterator[Row]:
        for i, value in enumerate(self._dataset(), 1):
            self.done = i
            yield Row(self.path, i, value=dict(value))
