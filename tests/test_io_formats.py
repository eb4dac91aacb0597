"""Format adapters: one worked example per layout, and detection."""

import json

import pytest

from curate.errors import ConfigError, RecordError
from curate.io.formats.base import detect_format
from curate.io.formats.helpsteer2 import HelpSteer2Format, HelpSteer2PreferenceFormat
from curate.io.formats.hh import HHFormat, parse_transcript
from curate.io.formats.mapping import MappingFormat
from curate.io.formats.trl import TRLFormat
from curate.io.formats.ultrafeedback import UltraFeedbackFormat

HH_ROW = {
    "chosen": "\n\nHuman: hi there\n\nAssistant: hello!\n\nHuman: tell me a joke"
              "\n\nAssistant: Why did the chicken cross?",
    "rejected": "\n\nHuman: hi there\n\nAssistant: hello!\n\nHuman: tell me a joke\n\nAssistant: No.",
}


def test_hh_shared_prefix_becomes_multi_turn_prompt():
    [rec] = HHFormat("hh").convert(HH_ROW)
    assert [m["role"] for m in rec["prompt"]] == ["user", "assistant", "user"]
    assert rec["prompt"][2]["content"] == "tell me a joke"
    assert rec["chosen"] == "Why did the chicken cross?"
    assert rec["rejected"] == "No."
    assert len(rec["id"]) == 16


def test_hh_prompt_mismatch_and_empty_are_record_errors():
    bad = dict(HH_ROW, rejected="\n\nHuman: something else\n\nAssistant: No.")
    with pytest.raises(RecordError) as e:
        HHFormat().convert(bad)
    assert e.value.reason == "prompt_mismatch"
    with pytest.raises(RecordError) as e:
        HHFormat().convert(dict(HH_ROW, rejected=HH_ROW["chosen"]))
    assert e.value.reason == "identical_responses"


def test_parse_transcript_keeps_text_with_colons():
    assert parse_transcript("\n\nHuman: a: b\n\nAssistant: c") == [
        {"role": "user", "content": "a: b"}, {"role": "assistant", "content": "c"}]


@pytest.mark.parametrize("row,prompt,chosen,rejected", [
    ({"prompt": "2+2?", "chosen": "4", "rejected": "5"}, "2+2?", "4", "5"),
    ({"chosen": "Q: 2+2? A: 4", "rejected": "Q: 2+2? A: 5"}, "Q: 2+2? A:", "4", "5"),
    ({"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
      "rejected": [{"role": "assistant", "content": "5"}]}, "2+2?", "4", "5"),
    ({"chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
      "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}]}, "2+2?", "4", "5"),
])
def test_trl_layouts(row, prompt, chosen, rejected):
    assert detect_format(row) is TRLFormat
    [rec] = TRLFormat("t").convert(row)
    assert rec["prompt"][-1]["content"] == prompt
    assert (rec["chosen"].strip(), rec["rejected"].strip()) == (chosen, rejected)


def test_ultrafeedback_becomes_candidate_with_scores():
    row = {"instruction": "Name a colour", "source": "x", "completions": [
        {"model": "m1", "response": "Red", "fine-grained_score": 4.5, "overall_score": 8,
         "annotations": {"helpfulness": {"Rating": "5"}, "honesty": {"Rating": "N/A"}}},
        {"model": "m2", "response": "Car", "fine-grained_score": 1.0, "overall_score": 2}]}
    assert detect_format(row) is UltraFeedbackFormat
    [rec] = UltraFeedbackFormat().convert(row)
    assert [r["score"] for r in rec["responses"]] == [4.5, 1.0]
    assert json.loads(rec["responses"][0]["provenance"])["ratings"] == {"helpfulness": 5.0, "honesty": None}
    [rec2] = UltraFeedbackFormat(score="overall_score").convert(row)
    assert [r["score"] for r in rec2["responses"]] == [8.0, 2.0]


def test_helpsteer2_layouts():
    row = {"prompt": "p", "response": "r", "helpfulness": 3, "correctness": 4, "coherence": 4,
           "complexity": 1, "verbosity": 2}
    assert detect_format(row) is HelpSteer2Format
    [rec] = HelpSteer2Format().convert(row)
    assert rec["responses"][0]["score"] == 3.0
    pref = {"prompt": "p", "response_1": "a", "response_2": "b", "preference_strength": 2}
    assert detect_format(pref) is HelpSteer2PreferenceFormat
    [pair] = HelpSteer2PreferenceFormat().convert(pref)
    assert (pair["chosen"], pair["rejected"]) == ("b", "a")
    with pytest.raises(RecordError) as e:
        HelpSteer2PreferenceFormat().convert(dict(pref, preference_strength=0))
    assert e.value.reason == "tie"


def test_mapping_needs_columns_and_maps_system():
    with pytest.raises(ConfigError):
        MappingFormat(columns={"prompt": "q"})
    fmt = MappingFormat(columns={"prompt": "q", "chosen": "good", "rejected": "bad", "system": "sys"})
    [rec] = fmt.convert({"q": "hi", "good": "a", "bad": "b", "sys": "be nice", "extra": 1})
    assert rec["prompt"][0] == {"role": "system", "content": "be nice"}
    assert json.loads(rec["metadata"]) == {"extra": 1}
    with pytest.raises(RecordError) as e:
        fmt.convert({"q": "hi", "good": "a"})
    assert e.value.reason == "missing_field"


def test_undetectable_layout_says_what_to_do():
    with pytest.raises(ConfigError, match="mapping"):
        detect_format({"foo": 1})
