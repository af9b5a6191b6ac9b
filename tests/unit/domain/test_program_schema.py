"""The JSON Schema `streamproc schema` prints accepts every program the project ships and
refuses what the loader refuses for a field's shape; unknown fields get a "did you mean"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jsonschema
import orjson
import pytest
import yaml

from streamproc.cli import main
from streamproc.domain.program import load_program
from streamproc.domain.program_schema import did_you_mean, program_schema

ROOT = Path(__file__).resolve().parents[3]
PROGRAMS = sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("tests/golden/**/program.yaml"),
                   ROOT / "deploy/k8s/program.yaml"])


def _as_editor_sees(doc):
    """YAML 1.1 turns bare dates into date objects; an editor's YAML 1.2 keeps them text."""
    if isinstance(doc, dict):
        return {k: _as_editor_sees(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_as_editor_sees(v) for v in doc]
    if isinstance(doc, dt.date):
        return doc.isoformat()
    return doc


def test_schema_is_a_valid_draft_2020_12_schema(capsys):
    assert main(["schema"]) == 0
    printed = orjson.loads(capsys.readouterr().out)
    assert printed == program_schema()
    jsonschema.Draft202012Validator.check_schema(printed)


def test_every_shipped_program_validates():
    assert len(PROGRAMS) >= 4, PROGRAMS
    validator = jsonschema.Draft202012Validator(program_schema())
    for path in PROGRAMS:
        load_program(path)  # the loader accepts it ...
        doc = _as_editor_sees(yaml.safe_load(path.read_text()))
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], (path, errors[:3])  # ... and so does the schema


@pytest.mark.parametrize("change", [
    lambda d: d["campaigns"][0].update(percent_bpz=5),
    lambda d: d["campaigns"][0].update(percent_bps=10_001),
    lambda d: d["campaigns"][0].update(type="percent_of"),
    lambda d: d["program"].update(timezon="UTC"),
    lambda d: d["campaigns"][0].update(schedule={"days": ["monday"]}),
    lambda d: d["campaigns"][0].update(limits={"budget": -1}),
], ids=["unknown field", "out of range", "unknown type", "program field", "bad day",
        "negative budget"])
def test_schema_flags_mistakes(change):
    doc = {"program": {"id": "p"},
           "campaigns": [{"id": "c", "type": "percent_off", "percent_bps": 1000}]}
    validator = jsonschema.Draft202012Validator(program_schema())
    assert not list(validator.iter_errors(doc))
    change(doc)
    assert list(validator.iter_errors(doc))


def test_did_you_mean():
    assert did_you_mean("target.categorys", "percent_off") == "categories"
    assert did_you_mean("percnt_bps", "percent_off") == "percent_bps"
    assert did_you_mean("components[0].qtty", "bundle") == "qty"
    assert did_you_mean("offer.valid_day", "next_purchase_offer") == "valid_days"
    assert did_you_mean("program.accrual.rate_bp", None) == "rate_bps"
    assert did_you_mean("campaign", None) == "campaigns"
    assert did_you_mean("zzzzzz", "percent_off") is None
