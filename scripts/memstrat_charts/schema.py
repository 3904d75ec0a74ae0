"""The results schema, schema/results.json: every key a results file may hold.

The C++ writer refuses keys it does not declare; here it gives the readers the
type each key must have and the charts each figure's unit and meaning.
"""
import json
import os

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schema", "results.json")

with open(PATH, encoding="utf-8") as _f:
    _SCHEMA = json.load(_f)

RECORD = {entry["key"]: entry for entry in _SCHEMA["record"]}
CONTEXT = {entry["key"]: entry for entry in _SCHEMA["context"]}


def numeric_record_keys():
    """Keys whose values must be numbers where present."""
    return tuple(k for k, e in RECORD.items() if e["type"] in ("number", "integer"))


def unit(key):
    """The unit of a record's figure ("bytes", "ms", ...), or "" for counts and ratios."""
    return RECORD.get(key, {}).get("unit", "")


def meaning(key):
    return RECORD.get(key, {}).get("meaning", "")
