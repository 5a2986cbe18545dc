"""The configuration reference, generated from the typed configuration itself: every key of `config/models.yaml`,
with its full key path, its type, whether it is required, its default and its description, read from the pydantic
models of `monitoring.config` (`model_fields`), never listed by hand.

    .venv/bin/python -m monitoring config-reference > docs/config-reference.md

`tests/test_docs.py` fails when a key has no description or the committed page differs from what this prints, so
the reference cannot drift from the code.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from monitoring.config import ModelConfig, MonitoringConfig

COMMAND = ".venv/bin/python -m monitoring config-reference > docs/config-reference.md"


@dataclass(frozen=True)
class Key:
    """One row of the reference: a key of a model entry, by its full path."""

    path: str  # e.g. "drift.band_sigma", "drift.columns.<column>.method", "alerts.channels[].type"
    type: str
    required: str  # "yes", "no", or "yes, ..." when it is required only inside an optional block or an entry
    default: str
    description: str


def config_models(root: type[BaseModel] = MonitoringConfig) -> list[type[BaseModel]]:
    """Every pydantic model of the configuration, reachable from `root` through its fields' types, in field order."""
    found: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.append(model)
        for field in model.model_fields.values():
            for nested in _models_in(field.annotation):
                visit(nested)

    visit(root)
    return found


def undescribed(root: type[BaseModel] = MonitoringConfig) -> list[str]:
    """`Model.field` of every field of the configuration's models without a description."""
    return [f"{model.__name__}.{name}" for model in config_models(root)
            for name, field in model.model_fields.items() if not (field.description or "").strip()]


def keys(model: type[BaseModel] = ModelConfig, prefix: str = "", instance: BaseModel | None = None,
         within: str = "") -> list[Key]:
    """The rows of `model`'s keys, each nested block's keys after its own row. `instance` is the block's default
    (its keys' defaults come from it: `rules.dataset_drift.severity` defaults to critical); `within` says where a
    key is required when it is only inside an optional block or a list or map entry."""
    rows: list[Key] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        default = _default(field, instance, name)
        nested = _models_in(field.annotation)
        description = _line(field.description or "")
        if nested and _doc(nested[0]) and _uses(nested[0]) == 1:  # a block's own words, when only this key has it
            description = description.rstrip(".") + ". " + _doc(nested[0])
        rows.append(Key(path=path, type=_type(field.annotation, _placeholder(name, field.annotation)) +
                        _constraints(field), required="yes" + within if field.is_required() else "no",
                        default="" if field.is_required() or isinstance(default, BaseModel) else _value(default),
                        description=description))
        if not nested:
            continue
        block = nested[0]
        origin = typing.get_origin(_without_none(field.annotation))
        if origin is dict:
            rows += keys(block, f"{path}.<{_placeholder(name, field.annotation)}>.", None, ", in each entry")
        elif origin is tuple:
            rows += keys(block, f"{path}[].", None, ", in each entry")
        else:
            optional = not field.is_required() and not isinstance(default, BaseModel)
            rows += keys(block, f"{path}.", default if isinstance(default, BaseModel) else None,
                         f", when `{path}` is set" if optional else within)
    return rows


def render() -> str:
    """The Markdown page: the file's top level, a model entry's own keys, then one section per block."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from the typed configuration ([`monitoring/config.py`](../monitoring/config.py)) by",
        "",
        f"    {COMMAND}",
        "",
        "Do not edit this page: change a field's `description=` in `monitoring/config.py` and regenerate it",
        "(`tests/test_docs.py` fails when the two differ). How the file is read and validated, and what the settings",
        "mean together: [configuration.md](configuration.md).",
        "",
        "Key paths are relative to a model's entry, `models.<name>` (or `defaults`, merged under every entry).",
        "*required*: the key has no default (a key required only inside an optional block or a list or map entry says",
        "so); a default of `null` means unset.",
        "",
        "## The file",
        "",
        *_table([
            Key(path="defaults", type="mapping", required="no", default="`{}`",
                description="any keys of a model entry, merged under every model (a model's own keys win)"),
            Key(path="models", type="mapping of <name> to mapping", required="yes", default="",
                description=_line(MonitoringConfig.model_fields["models"].description or "")),
        ]),
    ]
    rows = keys()
    own = [row for row in rows if "." not in row.path and "[" not in row.path
           and not _models_in(ModelConfig.model_fields[row.path].annotation)]
    lines += ["", "## A model", "", _doc(ModelConfig), "", *_table(own)]
    for name, field in ModelConfig.model_fields.items():
        nested = _models_in(field.annotation)
        if not nested:
            continue
        section = [row for row in rows if row.path.startswith((f"{name}.", f"{name}["))]
        status = "required" if field.is_required() else "optional, unset by default" if field.default is None else ""
        intro = f"`{name}`" + (f" ({status})" if status else "") + ": " + _line(field.description or "") + "."
        lines += ["", f"## {name}", "", intro]
        if _doc(nested[0]):
            lines += ["", _doc(nested[0])]
        lines += ["", *_table(section)]
    return "\n".join(lines) + "\n"


# --- reading the models ------------------------------------------------------------------------------------------
def _without_none(annotation: Any) -> Any:
    """`X | None` -> `X` (an optional key's type is what it takes when set)."""
    if _is_union(annotation):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's type holds: itself, or inside an optional, a list or a map."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _uses(model: type[BaseModel]) -> int:
    """How many fields of the configuration hold `model` (RuleConfig: many; VolumeRule: one)."""
    return sum(model in _models_in(field.annotation) for owner in config_models()
               for field in owner.model_fields.values())


def _placeholder(name: str, annotation: Any) -> str:
    """What a map's keys are called: the first word of its entries' model (ColumnDrift: column, MetricRule: metric),
    else the field's name in the singular."""
    nested = _models_in(annotation)
    words = re.findall(r"[A-Z][a-z]+", nested[0].__name__) if nested else []
    return words[0].lower() if words else name.removesuffix("s")


def _default(field: FieldInfo, instance: BaseModel | None, name: str) -> Any:
    """A key's default: from its block's default when the block has one, else the field's own."""
    if instance is not None:
        return getattr(instance, name)
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return None if field.default is PydanticUndefined else field.default


def _doc(model: type[BaseModel]) -> str:
    """A model's own docstring (not its base's), on one line."""
    return " ".join((model.__dict__.get("__doc__") or "").split())


# --- writing Markdown --------------------------------------------------------------------------------------------
def _type(annotation: Any, placeholder: str) -> str:
    if _is_union(annotation):
        return " or ".join(_type(a, placeholder) for a in typing.get_args(annotation))
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(f"`{a}`" for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_type(args[0], placeholder)}"
        return "[" + ", ".join(_type(a, placeholder) for a in args) + "]"
    if origin is dict:
        return f"mapping of <{placeholder}> to {_type(args[1], placeholder)}"
    if inspect.isclass(annotation) and issubclass(annotation, Enum):
        return " | ".join(f"`{member.value}`" for member in annotation)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return "mapping"
    return {str: "text", int: "integer", float: "number", bool: "boolean"}.get(annotation, str(annotation))


def _constraints(field: FieldInfo) -> str:
    """The bounds and pattern a value must meet, as pydantic holds them (`Field(ge=0, pattern=...)`)."""
    words = []
    for item in field.metadata:
        for kind, sign, attribute in ((Ge, ">=", "ge"), (Gt, ">", "gt"), (Le, "<=", "le"), (Lt, "<", "lt")):
            if isinstance(item, kind):
                words.append(f"{sign} {_number(getattr(item, attribute))}")
        if isinstance(item, MinLen):
            words.append(f"at least {item.min_length} long")
        if isinstance(item, MaxLen):
            words.append(f"at most {item.max_length} long")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            words.append(f"matching `{pattern}`")
    return ", " + ", ".join(words) if words else ""


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _value(value: Any) -> str:
    """A default as it is written in YAML, in backticks."""
    def plain(item: Any) -> str:
        if item is None:
            return "null"
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, Enum):
            return str(item.value)
        if isinstance(item, float):
            return repr(item)
        if isinstance(item, (tuple, list)):
            return "[" + ", ".join(plain(i) for i in item) + "]"
        if isinstance(item, dict):
            return "{" + ", ".join(f"{k}: {plain(v)}" for k, v in item.items()) + "}"
        if item == "":
            return '""'
        return str(item)
    return f"`{plain(value)}`"


def _line(text: str) -> str:
    """A description on one line, as written."""
    return " ".join(text.split())


def _cell(text: str) -> str:
    """Pipes escaped (they would end the cell), and outside code a `<` before a letter (`<model>` would be read as
    an HTML tag)."""
    parts = text.split("`")
    parts = [p if i % 2 else re.sub(r"<(?=[A-Za-z/])", r"\\<", p) for i, p in enumerate(parts)]
    return "`".join(parts).replace("|", "\\|")


def _table(rows: list[Key]) -> list[str]:
    out = ["| key | type | required | default | description |", "|---|---|---|---|---|"]
    for row in rows:
        out.append(f"| `{row.path}` | {_cell(row.type)} | {row.required} | {_cell(row.default)} | "
                   f"{_cell(row.description)} |")
    return out


SCHEMA_COMMAND = ".venv/bin/python -m monitoring config-schema > docs/config.schema.json"


def schema() -> dict[str, Any]:
    """A JSON Schema of `config/models.yaml` for editors (e.g. the YAML language server: `# yaml-language-server:
    $schema=../docs/config.schema.json`): `models` maps a model's name to its settings (the typed model entry; a
    required key may be set in `defaults` instead, so the schema says it is required without enforcing it),
    `defaults` holds settings merged under every model (any of them)."""
    entry = ModelConfig.model_json_schema(mode="validation")
    definitions = entry.pop("$defs", {})
    entry["properties"].pop("name", None)
    for node in (entry, *definitions.values()):  # a required key may come from `defaults`: said, not enforced
        for key in node.pop("required", []):
            if key in node.get("properties", {}):
                field = node["properties"][key]
                field["description"] = (field.get("description", "") + " (required: in the model's entry or in "
                                        "`defaults`)").strip()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "config/models.yaml",
        "description": f"The monitored models; generated by `{SCHEMA_COMMAND}`.",
        "type": "object",
        "additionalProperties": False,
        "required": ["models"],
        "properties": {
            "defaults": {"type": "object", "description": "settings merged under every model (a model's own keys "
                                                          "win): any key of a model entry"},
            "models": {"type": "object", "description": "each model's name (1-63 lowercase letters, digits, '_' or "
                                                        "'-') and its settings",
                       "propertyNames": {"pattern": r"^[a-z0-9][a-z0-9_-]{0,62}$"},
                       "additionalProperties": {"$ref": "#/$defs/ModelEntry"}},
        },
        "$defs": {**definitions, "ModelEntry": entry},
    }
