"""The schema's named kinds and its one JSON encoder."""

import datetime as dt
import json

from curate.judge.pairwise import PairwiseJudge
from curate.judge.rubric_judge import RubricJudge
from curate.schema import (
    SCHEMAS,
    VOTE_KINDS,
    RecordKind,
    VoteKind,
    append_provenance,
    dumps,
    frame,
    kind_of,
    make_candidate,
    make_pair,
)


def test_vote_kinds_are_the_ones_the_labelers_write():
    assert VOTE_KINDS == ("llm_judge", "rubric_judge", "rm", "embed_rm", "lm_likelihood", "human")
    assert PairwiseJudge.vote_kind == VoteKind.LLM_JUDGE and RubricJudge.vote_kind == VoteKind.RUBRIC_JUDGE


def test_record_kinds_name_the_schemas():
    assert set(SCHEMAS) == {RecordKind.PAIR, RecordKind.CANDIDATE}
    pair = frame([make_pair("q", "a", "b")])
    cand = frame([make_candidate("q", [{"text": "a"}])], RecordKind.CANDIDATE)
    assert (kind_of(pair), kind_of(cand)) == (RecordKind.PAIR, RecordKind.CANDIDATE)


def test_dumps_is_compact_keeps_unicode_and_stringifies_the_rest():
    assert dumps({"a": [1, "é"], "t": dt.date(2024, 1, 2)}) == '{"a":[1,"é"],"t":"2024-01-02"}'


def test_every_json_column_uses_the_encoder():
    meta, prov = {"score": 0.5, "lang": "ü"}, {"seed": 3}
    pair = make_pair("q", "a", "b", metadata=meta)
    cand = make_candidate("q", [{"text": "a", "provenance": prov}])
    assert pair["metadata"] == dumps(meta) and cand["responses"][0]["provenance"] == dumps(prov)
    df = append_provenance(append_provenance(frame([pair]), {"step": "x", "n": 1}), {"step": "y"})
    text = df["provenance"][0]
    assert text == dumps([{"step": "x", "n": 1}, {"step": "y"}]) and json.loads(text)[1] == {"step": "y"}
