"""ODCS v3 data contracts of the SPEC §2 inputs, parsed into typed objects (SPEC §3)."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.config import Params
from pipeline.errors import InternalError
from pipeline.resources import CONTRACTS_DIR

Severity = Literal["error", "warning"]
LOGICAL_TYPES = ("string", "date", "integer", "number", "boolean")
PHYSICAL_TYPES = ("Utf8", "Date", "Int64", "Float64", "Boolean")
_QUALITY_OPERATORS = (
    "mustBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
)


@dataclass(frozen=True)
class Property:
    """One column of an input: ODCS `schema[].properties[]` with its typed staging name."""

    name: str
    logical_type: str
    physical_type: str
    required: bool
    unique: bool = False
    primary_key_position: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    custom: Mapping[str, Any] = field(default_factory=dict)
    physical_name: str | None = None
    description: str = ""

    @property
    def staged_name(self) -> str | None:
        """Column name in the typed staged Parquet, None when the column is not staged."""
        if self.custom.get("staged") is False:
            return None
        return str(self.custom.get("stagedName", self.name))


@dataclass(frozen=True)
class QualityRule:
    """An ODCS `quality` entry of the schema object (row counts, custom and cross-file rules)."""

    name: str
    type: str
    severity: Severity
    metric: str | None = None
    implementation: str | None = None
    operators: Mapping[str, float] = field(default_factory=dict)
    custom: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Contract:
    """One input's contract, templates expanded against the run's parameters."""

    name: str
    id: str
    version: str
    api_version: str
    file_kind: str
    spec_section: str
    properties: tuple[Property, ...]
    quality: tuple[QualityRule, ...]
    source: Path

    def prop(self, name: str) -> Property:
        for prop in self.properties:
            if prop.name == name:
                return prop
        raise KeyError(name)

    @property
    def primary_key(self) -> tuple[str, ...]:
        keyed = [p for p in self.properties if p.primary_key_position is not None]
        return tuple(p.name for p in sorted(keyed, key=lambda p: p.primary_key_position or 0))


def _custom(node: Mapping[str, Any], where: str, path: Path) -> dict[str, Any]:
    raw = node.get("customProperties") or []
    if not isinstance(raw, list):
        raise InternalError(f"{path}: {where}.customProperties: expected a list, found {raw!r}")
    out: dict[str, Any] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "property" not in item or "value" not in item:
            raise InternalError(
                f"{path}: {where}.customProperties[{i}]: expected {{property, value}}, "
                f"found {item!r}"
            )
        out[str(item["property"])] = item["value"]
    return out


def _param_value(params: Params, dotted: str, path: Path) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if part == "params":
            continue
        if not hasattr(node, part):
            raise InternalError(f"{path}: unknown parameter reference {dotted!r}")
        node = getattr(node, part)
    return node


def _code_value(dotted: str, path: Path) -> Any:
    """`pipeline.<module>.<NAME>`: a constant of the package, for values the code owns."""
    module, _, name = dotted.rpartition(".")
    if not module.startswith("pipeline."):
        raise InternalError(f"{path}: enumFromCode {dotted!r}: expected pipeline.<module>.<NAME>")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise InternalError(f"{path}: enumFromCode {dotted!r}: not found ({exc})") from exc


def _property(node: Any, where: str, path: Path) -> Property:
    if not isinstance(node, dict) or not isinstance(node.get("name"), str):
        raise InternalError(f"{path}: {where}: expected a mapping with a name, found {node!r}")
    logical = node.get("logicalType")
    physical = node.get("physicalType")
    if logical not in LOGICAL_TYPES:
        raise InternalError(
            f"{path}: {where}.logicalType: found {logical!r}, expected one of {LOGICAL_TYPES}"
        )
    if physical not in PHYSICAL_TYPES:
        raise InternalError(
            f"{path}: {where}.physicalType: found {physical!r}, expected one of {PHYSICAL_TYPES}"
        )
    options = node.get("logicalTypeOptions") or {}
    if not isinstance(options, dict):
        raise InternalError(f"{path}: {where}.logicalTypeOptions: expected a mapping")
    pk = node.get("primaryKeyPosition")
    if node.get("primaryKey") and pk is None:
        pk = 1
    return Property(
        name=node["name"],
        logical_type=str(logical),
        physical_type=str(physical),
        required=bool(node.get("required", False)),
        unique=bool(node.get("unique", False)),
        primary_key_position=int(pk) if pk is not None and node.get("primaryKey") else None,
        options=dict(options),
        custom=_custom(node, where, path),
        physical_name=node.get("physicalName"),
        description=str(node.get("description") or ""),
    )


def _quality(node: Any, where: str, path: Path, params: Params | None) -> QualityRule:
    if not isinstance(node, dict) or not isinstance(node.get("name"), str):
        raise InternalError(f"{path}: {where}: expected a mapping with a name, found {node!r}")
    severity = node.get("severity", "error")
    if severity not in ("error", "warning"):
        raise InternalError(
            f"{path}: {where}.severity: found {severity!r}, expected 'error' or 'warning'"
        )
    kind = node.get("type")
    if kind not in ("library", "custom"):
        raise InternalError(f"{path}: {where}.type: found {kind!r}, expected 'library' or 'custom'")
    custom = _custom(node, where, path)
    operators = {op: float(node[op]) for op in _QUALITY_OPERATORS if op in node}
    if "thresholdFromParam" in custom and params is not None:
        # The threshold lives in the parameter file (e.g. ficc.min_scenarios), never in code.
        value = _param_value(params, str(custom["thresholdFromParam"]), path)
        operators = {op: float(value) for op in operators} or {"mustBeGreaterOrEqualTo": value}
    # ODCS v3.1 names the library check `metric`; v3.0 called it `rule`.
    metric = node.get("metric", node.get("rule"))
    if kind == "library" and metric != "rowCount":
        raise InternalError(
            f"{path}: {where}.metric: found {metric!r}, only 'rowCount' is supported"
        )
    return QualityRule(
        name=node["name"],
        type=str(kind),
        severity=severity,
        metric=metric,
        implementation=node.get("implementation"),
        operators=operators,
        custom=custom,
        description=str(node.get("description") or ""),
    )


def parse_contract(doc: Any, path: Path, params: Params | None = None) -> Contract:
    """Check an ODCS v3 document and build its Contract; templates expand against params."""
    if not isinstance(doc, dict):
        raise InternalError(f"{path}: expected a YAML mapping at the top level")
    api = str(doc.get("apiVersion", ""))
    if not api.startswith("v3."):
        raise InternalError(f"{path}: apiVersion: found {api!r}, expected an ODCS v3.x version")
    if doc.get("kind") != "DataContract":
        raise InternalError(f"{path}: kind: found {doc.get('kind')!r}, expected 'DataContract'")
    for key in ("id", "version", "name"):
        if not doc.get(key):
            raise InternalError(f"{path}: {key}: missing")
    schema = doc.get("schema")
    if not isinstance(schema, list) or len(schema) != 1:
        raise InternalError(f"{path}: schema: expected exactly one object (the input file)")
    obj = schema[0]
    top = _custom(doc, "", path)
    props: list[Property] = []
    for i, node in enumerate(obj.get("properties") or []):
        prop = _property(node, f"schema[0].properties[{i}]", path)
        source = prop.custom.get("enumFromParam")
        if source is not None and params is not None:
            # The allowed values are the parameter file's (cme.products keys), never a copy.
            values = [str(v) for v in _param_value(params, str(source), path)]
            prop = dataclasses.replace(prop, custom={**prop.custom, "enum": values})
        if "enumFromCode" in prop.custom:
            # ... or a table of the code's own (the Exhibit A items reserve_items may carry).
            values = list(_code_value(str(prop.custom["enumFromCode"]), path))
            prop = dataclasses.replace(prop, custom={**prop.custom, "enum": values})
        template = prop.custom.get("expandFrom")
        if template is None:
            props.append(prop)
            continue
        if params is None:
            continue
        # One column per key-rate tenor of the parameter file (SPEC §2.7).
        for name in _param_value(params, str(template), path):
            props.append(
                Property(
                    name=str(name),
                    logical_type=prop.logical_type,
                    physical_type=prop.physical_type,
                    required=prop.required,
                    options=prop.options,
                    custom={k: v for k, v in prop.custom.items() if k != "expandFrom"},
                    description=prop.description,
                )
            )
    names = [p.name for p in props]
    if len(set(names)) != len(names):
        raise InternalError(f"{path}: schema[0].properties: duplicate property names {names}")
    quality = tuple(
        _quality(q, f"schema[0].quality[{i}]", path, params)
        for i, q in enumerate(obj.get("quality") or [])
    )
    return Contract(
        name=str(doc["name"]),
        id=str(doc["id"]),
        version=str(doc["version"]),
        api_version=api,
        file_kind=str(obj.get("physicalType", "csv")),
        spec_section=str(top.get("specSection", "SPEC §2")),
        properties=tuple(props),
        quality=quality,
        source=path,
    )


def load_contract(
    name: str, params: Params | None = None, folder: Path = CONTRACTS_DIR
) -> Contract:
    """The contract of input `name` from `data_contracts/<name>.yaml` (SPEC §3)."""
    path = folder / f"{name}.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InternalError(f"data contract {path}: cannot be read ({exc})") from exc
    contract = parse_contract(doc, path, params)
    if contract.name != name:
        raise InternalError(f"{path}: name: found {contract.name!r}, expected {name!r}")
    return contract
