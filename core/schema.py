"""The JSON Schema (draft-07) of a spec, generated from the registry's field descriptions.

Editors use it to validate specs, complete keys and show each key's help on hover
(``# yaml-language-server: $schema=…`` on a spec's first line).  Every kind gets its
schema from its ``OpEntry.spec_fields()`` and the ``check`` keys, without code of its own.

The schema accepts the keys the loader accepts (core/spec.py ``check_keys``: the common
keys, the kind's own, nothing else) and each key's types.  It cannot say everything the
loader checks (shapes that agree, a stride ≥ 1, keys that apply to one mode only), and
it is a little stricter in one respect: choices are the canonical lowercase words (the
loader also takes ``Max``).
"""

from __future__ import annotations

from typing import Any

from gradcalc.core.registry import CHECK_FIELDS, OPS, Field, OpEntry
from gradcalc.core.values import NUMBER_TEXT_PATTERN

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

# Shared definitions; a field's schema refers to them as "#/definitions/NAME".
DEFINITIONS: dict[str, Any] = {
    "number": {
        "description": 'a number, read exactly: 2, -0.5, 1e-6 or a fraction "1/4"',
        "anyOf": [
            {"type": "number"},
            {"type": "string", "pattern": NUMBER_TEXT_PATTERN},
        ],
    },
    "tensor": {
        "description": "a number or nested lists of numbers (rows of equal length)",
        "anyOf": [
            {"$ref": "#/definitions/number"},
            {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/tensor"}},
        ],
    },
    # The loader reads 2, 2.0 and "2" as the integer 2 (core/values.py parse_int).
    "integer": {
        "description": "an integer",
        "anyOf": [
            {"type": "integer"},
            {"type": "string", "pattern": NUMBER_TEXT_PATTERN},
        ],
    },
    "text": {"description": "text", "type": ["string", "number"]},
    # An expected answer: numbers, or expressions for kind expr, nested in lists.
    "answer": {
        "description": "a number, an expression, or nested lists of them",
        "anyOf": [
            {"type": ["number", "string"]},
            {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/answer"}},
        ],
    },
}

_TYPES: dict[str, dict[str, Any]] = {
    "tensor": {"$ref": "#/definitions/tensor"},
    "number": {"$ref": "#/definitions/number"},
    "integer": {"$ref": "#/definitions/integer"},
    "ints": {
        "anyOf": [
            {"$ref": "#/definitions/integer"},
            {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/integer"}},
        ]
    },
    "boolean": {"type": "boolean"},
    "text": {"$ref": "#/definitions/text"},
    "texts": {
        "anyOf": [
            {"$ref": "#/definitions/text"},
            {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/text"}},
        ]
    },
    "mapping": {"type": "object"},
    "answers": {"type": "object", "additionalProperties": {"$ref": "#/definitions/answer"}},
    "null": {"type": "null"},
}


def schema_file_name(kind: str | None) -> str:
    """``conv.schema.json``, or ``gradcalc-spec.schema.json`` for the schema of any spec."""
    return f"{kind or 'gradcalc-spec'}.schema.json"


def field_schema(field: Field, kind: str) -> dict[str, Any]:
    """The schema of one key: its types, the choices accepted besides them, its help."""
    if field.name == "kind":
        return {"description": field.help, "const": kind}
    alternatives: list[dict[str, Any]] = []
    for name in field.types:
        if name != "choice":
            # "ints" is itself an anyOf: its branches join the field's own.
            alternatives += _TYPES[name].get("anyOf", [_TYPES[name]])
    if field.choices:
        alternatives.append({"enum": list(field.choices)})
    schema: dict[str, Any] = {"description": field.help}
    if len(alternatives) > 1:
        schema["anyOf"] = alternatives
    elif "$ref" in alternatives[0]:
        # Draft-07 ignores the keywords beside a $ref; under allOf the help still counts.
        schema["allOf"] = alternatives
    else:
        schema.update(alternatives[0])
    if field.example is not None:
        schema["examples"] = [field.example]
    return schema


def kind_fields(entry: OpEntry) -> tuple[Field, ...]:
    """Every key a spec of this kind may have, in order: its spec fields, then the check keys."""
    return (*entry.spec_fields(), *CHECK_FIELDS.values())


def _kind_body(kind: str) -> dict[str, Any]:
    """A kind's schema without ``$schema`` and definitions (refs point at the root's)."""
    entry = OPS[kind]
    fields = kind_fields(entry)
    return {
        "title": f"gradcalc {kind} spec",
        "description": entry.summary,
        "type": "object",
        "properties": {field.name: field_schema(field, kind) for field in fields},
        "required": [field.name for field in fields if field.required],
        # The loader rejects any other key (core/spec.py check_keys).
        "additionalProperties": False,
    }


def _definition_name(kind: str) -> str:
    return f"{kind}_spec"


def spec_schema(kind: str | None = None) -> dict[str, Any]:
    """The draft-07 JSON Schema of a ``kind`` spec, or of any spec (dispatching on ``kind``).

    Without ``kind``, a spec with a ``kind`` key is checked against that kind's schema
    (``if``/``then``); a spec without one (as ``gradcalc conv --spec`` accepts) must fit
    some kind's.  KeyError for an unknown kind.
    """
    if kind is not None:
        if kind not in OPS:
            raise KeyError(kind)
        return {"$schema": DRAFT_07, **_kind_body(kind), "definitions": DEFINITIONS}
    refs = {name: {"$ref": f"#/definitions/{_definition_name(name)}"} for name in OPS}
    dispatch: list[dict[str, Any]] = [
        {
            "if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
            "then": ref,
        }
        for name, ref in refs.items()
    ]
    dispatch.append({"if": {"not": {"required": ["kind"]}}, "then": {"anyOf": list(refs.values())}})
    return {
        "$schema": DRAFT_07,
        "title": "gradcalc spec",
        "description": "A gradcalc problem spec; `kind` names the op family.",
        "type": "object",
        "properties": {
            "kind": {"description": "the op family", "enum": list(OPS)},
        },
        "allOf": dispatch,
        "definitions": {
            **DEFINITIONS,
            **{_definition_name(name): _kind_body(name) for name in OPS},
        },
    }


def schema_text(schema: dict[str, Any]) -> str:
    """The schema as the JSON text ``gradcalc schema`` prints and the committed files hold."""
    import json

    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
