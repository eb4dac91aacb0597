"""Format adapters: one raw row (a dict) from any source → curate records.

An adapter is a class registered in ``curate.registry.FORMATS`` with ``kind`` ("pair" or
"candidate"), ``detect(row) -> bool`` and ``convert(row) -> list[dict]`` (records from
``curate.schema.make_pair`` / ``make_candidate``). ``convert`` raises ``RecordError`` for a bad row;
the reader quarantines it with file, line and reason.
"""
