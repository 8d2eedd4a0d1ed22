"""A JSON Schema check of the keywords `bench.report.json.SCHEMA` uses, for when the
`jsonschema` package is not installed (it is used when it is)."""

from __future__ import annotations

from typing import Any

from bench.report import json as json_report

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}
KEYWORDS = {"$schema", "$id", "title", "$defs", "$ref", "anyOf", "type", "const", "enum"}
KEYWORDS |= {"properties", "required", "additionalProperties", "items", "minimum"}


def _is(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def _errors(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "$") -> list[str]:
    unknown = set(schema) - KEYWORDS
    assert not unknown, f"schema keywords this check does not know: {unknown}"
    if "$ref" in schema:
        prefix = "#/$defs/"
        assert schema["$ref"].startswith(prefix)
        return _errors(value, root["$defs"][schema["$ref"][len(prefix) :]], root, at)
    if "anyOf" in schema:
        if any(not _errors(value, option, root, at) for option in schema["anyOf"]):
            return []
        return [f"{at}: matches no option of anyOf"]
    errors = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, name) for name in names):
            return [f"{at}: {value!r} is not {names}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{at}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{at}: {value!r} < {schema['minimum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{at}: no {key!r}" for key in schema.get("required", []) if key not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{at}: unexpected {key!r}" for key in value if key not in properties]
        for key, item in value.items():
            if key in properties:
                errors += _errors(item, properties[key], root, f"{at}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += _errors(item, schema["items"], root, f"{at}[{i}]")
    return errors


def schema_errors(document: Any) -> list[str]:
    try:
        import jsonschema
    except ImportError:
        return _errors(document, json_report.SCHEMA, json_report.SCHEMA)
    validator = jsonschema.Draft202012Validator(json_report.SCHEMA)
    return [error.message for error in validator.iter_errors(document)]
