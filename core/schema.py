"""The JSON Schema (draft-07) of a spec, generated from the registry's field descriptions.

Editors use it to validate specs, complete keys and show each key's help on hover
(``# yaml-language-server: $schema=…`` on a spec's first line).  Every kind gets its
schema from its ``OpEntry.spec_fields()`` and the ``check`` keys, without code of its own.

The schema accepts the keys the loader accepts (core/spec.py ``check_keys``: the common
keys, the kind's own, nothing else), each key's types and the bounds the loader enforces
whatever else the spec says (a stride ≥ 1, a matrix nested 2 to 4 deep, the field's
``dims``/``minimum``/``lengths`` in the registry).  ``expected``, ``points`` and
``accept.tolerance`` name the kind's results and ``names`` its roles, as the op module
declares them (``RESULTS``, ``NAME_DEFAULTS``; registry ``result_names``/``name_roles``).
A net's layer is checked by its ``type`` (draft-07 if/then): the keys a layer of that type
takes (core/kinds/net.py ``layer_keys``, type and name), each as its kind's schema has it;
a net's loss likewise by its loss type (``loss_keys``: that loss's options only).

It cannot say what depends on other keys (shapes that agree, keys or results of one mode
only: the results listed are the union over modes; a layer's formulas, which need the
net's ``symbols``), nor bound numbers written as text (``"0"`` passes where 0 does not).
It is a little stricter in two respects: choices are the canonical lowercase words (the
loader also takes ``Max``), and a net's loss other than cross_entropy may not write
``temporal`` even as false.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gradcalc.core.kinds.entry import COMMON_FIELDS, OpEntry
from gradcalc.core.kinds.field import Field
from gradcalc.core.registry import OPS, name_roles, result_names
from gradcalc.core.values import NUMBER_TEXT_PATTERN

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
# The most dimensions a tensor field may have (parse_array's ndims in the op modules).
MAX_DIMS = 6

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
    # Lists nested exactly N deep with numbers at the bottom, for tensors of N dimensions.
    **{
        f"array_{depth}": {
            "description": f"nested lists {depth} deep (rows of equal length) of numbers",
            "type": "array",
            "minItems": 1,
            "items": {
                "$ref": f"#/definitions/{'array_' + str(depth - 1) if depth > 1 else 'number'}"
            },
        }
        for depth in range(1, MAX_DIMS + 1)
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
    # A tensor holding symbols (core/symbolic.py): "symbolic 3x3", or lists nested N deep of
    # numbers, names and formulas ("b11", "2*w_1"; names need the spec's `symbols`).
    "symbolic": {
        "description": 'every entry a symbol: "symbolic 3x3" (rows x columns)',
        "type": "string",
        "pattern": "^\\s*symbolic(\\s|$)",
    },
    "formula": {
        "description": "a number, or a formula of the spec's symbols such as 2*b11 + 1",
        "anyOf": [{"$ref": "#/definitions/number"}, {"type": "string"}],
    },
    **{
        f"formula_array_{depth}": {
            "description": f"nested lists {depth} deep of numbers and formulas",
            "type": "array",
            "minItems": 1,
            "items": {
                "$ref": f"#/definitions/{'formula_array_' + str(depth - 1) if depth > 1 else 'formula'}"
            },
        }
        for depth in range(1, MAX_DIMS + 1)
    },
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
    # A net's layers: words (relu, flatten, …) or mappings with a type (core/kinds/net.py).
    "layers": {
        "type": "array",
        "minItems": 1,
        "items": {
            "anyOf": [
                {"$ref": "#/definitions/text"},
                {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"type": "string"}},
                },
            ]
        },
    },
}


def schema_file_name(kind: str | None) -> str:
    """``conv.schema.json``, or ``gradcalc-spec.schema.json`` for the schema of any spec."""
    return f"{kind or 'gradcalc-spec'}.schema.json"


def field_schema(field: Field, kind: str) -> dict[str, Any]:
    """The schema of one key: its types within its bounds, the choices accepted besides them,
    its help."""
    if field.name == "kind":
        return {"description": field.help, "const": kind}
    alternatives: list[dict[str, Any]] = []
    for name in field.types:
        if name != "choice":
            alternatives += _type_schemas(name, field, kind)
    if field.choices:
        alternatives.append({"enum": list(field.choices)})
    if field.symbols and field.dims is not None:
        alternatives.append({"$ref": "#/definitions/symbolic"})
        alternatives += [
            {"$ref": f"#/definitions/formula_array_{depth}"}
            for depth in range(max(field.dims[0], 1), field.dims[1] + 1)
        ]
    schema: dict[str, Any] = {"description": _description(field, kind)}
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


def _description(field: Field, kind: str) -> str:
    if field.name in _RESULT_KEYED:
        return (
            f"{field.help}: {', '.join(result_names(kind))} (every result of the kind, over "
            "all its modes and options; gradcalc names the ones a problem has)"
        )
    if field.name == "names":
        return f"{field.help} (roles: {', '.join(name_roles(kind))})"
    return field.help


def _type_schemas(name: str, field: Field, kind: str) -> list[dict[str, Any]]:
    """The alternatives one of a field's types adds, within the field's bounds."""
    if name == "tensor" and field.dims is not None:
        return [_nested(depth) for depth in range(field.dims[0], field.dims[1] + 1)]
    if name == "booleans":
        fewest, most = field.dims or (0, MAX_DIMS)
        return [_nested_booleans(depth) for depth in range(fewest, most + 1)]
    if name in ("number", "integer"):
        return [_bounded({"$ref": f"#/definitions/{name}"}, field)]
    if name == "ints":
        one = _bounded({"$ref": "#/definitions/integer"}, field)
        lengths = sorted({*field.lengths, *field.lengths_3d})
        lists = [{"minItems": n, "maxItems": n} for n in lengths] or [{"minItems": 1}]
        return [one, *({"type": "array", **size, "items": one} for size in lists)]
    if name in ("mapping", "answers") and field.name in _MAPPINGS:
        return [_MAPPINGS[field.name](field, kind)]
    if name == "layers":
        return [_layers()]
    return _TYPES[name].get("anyOf", [_TYPES[name]])


def _layers() -> dict[str, Any]:
    """A net's layers: the words the loader knows (relu, flatten, softmax, …) and mappings
    whose type is a layer type, each with the keys a layer of that type takes, as its kind's
    schema has them (core/kinds/net.py layer_keys): an editor completes a dense layer's keys
    and marks `rleu`, `type: dens`, `{type: pool, kernel: …}` or `mode: maxx` as gradcalc
    does."""
    from gradcalc.core.kinds.net import LAYER_TYPES, shorthands

    schema = _TYPES["layers"]
    mapping = schema["items"]["anyOf"][1]
    by_type = {layer_type: _layer_schema(layer_type) for layer_type in LAYER_TYPES}
    typed = _typed(mapping["properties"]["type"], by_type)
    # An enum of words, not the text $ref: draft-07 ignores the keywords beside a $ref.
    return {**schema, "items": {"anyOf": [{"enum": list(shorthands())}, typed]}}


def _typed(type_schema: dict[str, Any], by_type: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A mapping whose ``type`` is one of ``by_type`` and whose keys are that type's schema
    (``by_type[type]``, under draft-07 if/then: the other types' keys are not offered)."""
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {**type_schema, "enum": list(by_type)}},
        "allOf": [
            {"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": keys}
            for name, keys in by_type.items()
        ],
    }


def _layer_schema(layer_type: str) -> dict[str, Any]:
    """The keys of a layer of ``layer_type``: type, name and its kind's own keys less those the
    net supplies, nothing else (core/kinds/net.py _check_layer_keys)."""
    from gradcalc.core.kinds.net import RESERVED, layer_keys

    own = layer_keys(layer_type)
    fields = [field for field in OPS[layer_type].fields if field.name in own] if own else []
    name = {
        "description": "the layer's name, which its results are keyed by (fc.grad_weight); "
        "default: its type and count (dense1)",
        # core/kinds/net.py _read_name: a word of 1-12 characters, not a result of the net's.
        "type": "string",
        "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
        "maxLength": 12,
        "not": {"enum": list(RESERVED)},
    }
    return _closed(layer_type, fields, {"type": {"const": layer_type}, "name": name})


def _closed(kind: str, fields: Sequence[Field], given: dict[str, Any]) -> dict[str, Any]:
    """A mapping of ``fields`` (the ``kind``'s, as its own schema has them) and the ``given``
    keys' schemas, nothing else."""
    keys: dict[str, Any] = {
        "properties": {**given, **_properties(fields, kind)},
        "required": [field.name for field in fields if field.required],
        "additionalProperties": False,
    }
    keys.update(_by_dims(fields))
    return keys


def _nested(depth: int) -> dict[str, Any]:
    """A number (depth 0) or lists nested ``depth`` deep, rows of numbers at the bottom."""
    return {"$ref": f"#/definitions/{'array_' + str(depth) if depth else 'number'}"}


def _nested_booleans(depth: int) -> dict[str, Any]:
    """true/false (depth 0) or lists nested ``depth`` deep of them (an attention mask), written
    out in place: only the kinds that take one carry it."""
    schema: dict[str, Any] = {"type": "boolean"}
    for _ in range(depth):
        schema = {"type": "array", "minItems": 1, "items": schema}
    return schema


def _bounded(schema: dict[str, Any], field: Field) -> dict[str, Any]:
    """``schema`` with the field's bounds, which bind numbers (numeric text passes as it is)."""
    bounds = {
        keyword: value
        for keyword, value in (
            ("minimum", field.minimum),
            ("maximum", field.maximum),
            ("exclusiveMinimum", field.above),
        )
        if value is not None
    }
    return {"allOf": [schema], **bounds} if bounds else schema


def _keyed(names: tuple[str, ...], value: dict[str, Any], pattern: str = "") -> dict[str, Any]:
    """A mapping with exactly these keys allowed (listed, so editors complete them), and any
    key matching ``pattern`` (a net's per-layer results, ``conv1.grad_kernel``)."""
    keyed: dict[str, Any] = {"type": "object", "properties": {name: value for name in names}}
    if pattern:
        keyed["patternProperties"] = {pattern: value}
    keyed["additionalProperties"] = False
    return keyed


def _result_pattern(kind: str) -> str:
    """The pattern of the result names a kind makes per layer (kind net), else ""."""
    if kind != "net":
        return ""
    from gradcalc.core.kinds.net import RESULT_PATTERN

    return RESULT_PATTERN


def _results_keyed(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return _keyed(result_names(kind), value, _result_pattern(kind))


def _answers(field: Field, kind: str) -> dict[str, Any]:
    return _results_keyed(kind, {"$ref": "#/definitions/answer"})


def _names(field: Field, kind: str) -> dict[str, Any]:
    # core/spec.py read_names: short text, not blank.
    symbol = {"type": "string", "minLength": 1, "maxLength": 12, "pattern": "\\S"}
    return _keyed(name_roles(kind), symbol)


def _tolerance(field: Field, kind: str) -> dict[str, Any]:
    # core/spec.py read_tolerance: atol and rtol only, each 0 or more.
    return _keyed(("atol", "rtol"), _bounded({"$ref": "#/definitions/number"}, field))


def _net_loss(field: Field, kind: str) -> dict[str, Any]:
    """A net's loss: a type naming the loss and the loss kind's keys the net's loss takes
    (core/kinds/net_messages.py loss_keys), each loss's options only (core/kinds/loss.py OPTIONS)."""
    from gradcalc.core.kinds.net_messages import loss_keys
    from gradcalc.core.registry import choices

    by_type = {}
    for loss in choices("loss", "loss"):
        own = loss_keys(loss)
        fields = [field for field in OPS["loss"].fields if field.name in own]
        by_type[loss] = _closed("loss", fields, {"type": {"const": loss}})
    named = next(field for field in OPS["loss"].fields if field.name == "loss")
    return _typed({"description": named.help}, by_type)


def _points(field: Field, kind: str) -> dict[str, Any]:
    return _results_keyed(kind, _bounded({"$ref": "#/definitions/number"}, field))


def _accept(field: Field, kind: str) -> dict[str, Any]:
    # Other keys name spec keys and their accepted values (core/grading/keys.py read_accept).
    tolerance = field_schema(COMMON_FIELDS["tolerance"], kind)
    return {
        "type": "object",
        "properties": {"tolerance": _results_keyed(kind, tolerance)},
    }


# The keys whose contents depend on the kind: result names, name roles, tolerance keys.
_MAPPINGS: dict[str, Callable[[Field, str], dict[str, Any]]] = {
    "expected": _answers,
    "answers": _answers,
    "names": _names,
    "tolerance": _tolerance,
    "points": _points,
    "accept": _accept,
    "loss": _net_loss,  # a mapping in a net only (the loss kind's loss is a choice)
}
_RESULT_KEYED = ("expected", "answers", "points")


def kind_fields(entry: OpEntry) -> tuple[Field, ...]:
    """Every key a spec of this kind may have, in order: its spec fields, then the check keys."""
    return (*entry.spec_fields(), *entry.check_fields())


def _kind_body(kind: str) -> dict[str, Any]:
    """A kind's schema without ``$schema`` and definitions (refs point at the root's)."""
    entry = OPS[kind]
    fields = kind_fields(entry)
    body = {
        "title": f"gradcalc {kind} spec",
        "description": entry.summary,
        "type": "object",
        "properties": _properties(fields, kind),
        "required": [field.name for field in fields if field.required],
        # The loader rejects any other key (core/spec.py check_keys).
        "additionalProperties": False,
    }
    # Names in a matrix need the spec's `symbols` (core/kinds/symbolic_fields.py): without
    # it, the fields that take formulas hold numbers (or "symbolic") only.
    symbolic = [field for field in fields if field.symbols and field.dims is not None]
    if symbolic:
        body["if"] = {"not": {"required": ["symbols"]}}
        body["then"] = {"properties": {field.name: _numbers_only(field) for field in symbolic}}
    body.update(_by_dims(fields))
    return body


def _properties(fields: Sequence[Field], kind: str) -> dict[str, Any]:
    return {field.name: field_schema(field, kind) for field in fields}


def _by_dims(fields: Sequence[Field]) -> dict[str, Any]:
    """Conv's triples: a list's length depends on the spec's dims ({} for other fields)."""
    by_dims = [field for field in fields if field.lengths_3d]
    if not by_dims:
        return {}
    return {
        "allOf": [
            {
                "if": {"properties": {"dims": {"const": 3}}, "required": ["dims"]},
                "then": {"properties": {f.name: _list_lengths(f.lengths_3d) for f in by_dims}},
                "else": {"properties": {f.name: _list_lengths(f.lengths) for f in by_dims}},
            }
        ]
    }


def _list_lengths(lengths: tuple[int, ...]) -> dict[str, Any]:
    """A value that is not a list, or a list of one of these ``lengths``."""
    sizes = [{"type": "array", "minItems": n, "maxItems": n} for n in lengths]
    return {"anyOf": [{"not": {"type": "array"}}, *sizes]}


def _numbers_only(field: Field) -> dict[str, Any]:
    """A symbolic field's schema in a spec without ``symbols``: numbers, or "symbolic"."""
    assert field.dims is not None
    alternatives = [_nested(depth) for depth in range(field.dims[0], field.dims[1] + 1)]
    if field.choices:
        alternatives.append({"enum": list(field.choices)})
    alternatives.append({"$ref": "#/definitions/symbolic"})
    return {"description": "numbers only: names in a matrix need `symbols`", "anyOf": alternatives}


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
