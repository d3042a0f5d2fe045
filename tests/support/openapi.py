"""GitHub's official REST description (npm @octokit/openapi) as a request checker for the test stand-ins.

A request is allowed only if the description has an operation for its method and path, every query
parameter is one the operation declares (with a valid value), required ones are present, and its JSON
body validates against the operation's request schema. Answers the stand-in builds are checked against
the described response schema too, so the stand-in cannot drift from what GitHub would say.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.support.stand_in_http import template_pattern

ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts" / "node_modules" / "@octokit"
DESCRIPTION = ARTEFACTS / "openapi" / "generated" / "api.github.com.json"
_URI = "urn:agentd-test:api.github.com"


@dataclass(frozen=True)
class Operation:
    """One described operation: method, path template, its id, and the JSON Pointer to it."""

    method: str
    template: str
    operation_id: str
    pointer: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class OpenAPIDescription:
    """The description loaded once, with its operations indexed by method and path."""

    def __init__(self, path: Path = DESCRIPTION) -> None:
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `make setup` (it installs tests/artefacts with npm ci)")
        self.document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.version = str(self.document["info"]["version"])
        resource = Resource(contents=self.document, specification=DRAFT4)
        self.registry: Registry[Any] = Registry().with_resource(_URI, resource)
        self.operations: list[Operation] = []
        for template, item in self.document["paths"].items():
            pattern = template_pattern(template)
            for method, spec in item.items():
                if method in {"get", "post", "put", "patch", "delete"}:
                    pointer = f"/paths/{_escape(template)}/{method}"
                    self.operations.append(
                        Operation(method.upper(), template, spec["operationId"], pointer, pattern, spec)
                    )

    def find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation serving `method path`, with the path parameters' values; literal segments win."""
        found = [(op, op.pattern.match(path)) for op in self.operations if op.method == method]
        matches = [(op, m) for op, m in found if m is not None]
        if not matches:
            return None
        operation, match = min(matches, key=lambda pair: pair[0].template.count("{"))
        names = re.findall(r"\{([^}]+)\}", operation.template)
        return operation, dict(zip(names, match.groups(), strict=True))

    def resolve(self, node: Any) -> Any:
        """`node` with a top-level $ref followed (parameters are often references)."""
        while isinstance(node, dict) and "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self.registry.resolver(_URI).lookup(f"{_URI}#{pointer}").contents
        return node

    def problems(self, schema_pointer: str, instance: Any, *, request: bool) -> list[str]:
        """What is wrong with `instance` under the schema at `schema_pointer` (empty: it is valid)."""
        cls = OAS30WriteValidator if request else OAS30ReadValidator
        validator = cls(
            {"$ref": f"{_URI}#{schema_pointer}"}, registry=self.registry, format_checker=oas30_format_checker
        )
        errors = [e for e in validator.iter_errors(instance) if not _nullable_enum(e)]
        return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:300]}" for e in errors]

    def check_request(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, has_body: bool
    ) -> tuple[Operation | None, dict[str, str], list[str]]:
        """The operation, its path parameters, and every way the request breaks the description."""
        found = self.find(method, path)
        if found is None:
            return None, {}, [f"{method} {path}: the description has no such operation"]
        operation, params = found
        problems: list[str] = []
        declared: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        for index, raw in enumerate(operation.spec.get("parameters", [])):
            parameter = self.resolve(raw)
            pointer = f"{operation.pointer}/parameters/{index}"
            if "$ref" in raw:
                pointer = raw["$ref"].removeprefix("#")
            declared[(parameter["in"], parameter["name"])] = (pointer + "/schema", parameter)
        for name, value in params.items():
            problems += self._parameter("path", name, [value], declared)
        for name, values in query.items():
            problems += self._parameter("query", name, values, declared)
        for (where, name), (_, parameter) in declared.items():
            if where == "query" and parameter.get("required") and name not in query:
                problems.append(f"{operation.operation_id}: required query parameter {name} is missing")
        problems += self._body(operation, body, has_body)
        return operation, params, problems

    def _parameter(
        self, where: str, name: str, values: list[str], declared: dict[tuple[str, str], tuple[str, dict[str, Any]]]
    ) -> list[str]:
        if (where, name) not in declared:
            return [f"{where} parameter {name!r} is not declared by the operation"]
        pointer, parameter = declared[(where, name)]
        schema = self.resolve(parameter.get("schema", {}))
        problems = []
        for value in values:
            typed = _coerce(value, schema.get("type"))
            problems += [f"{where} parameter {name}: {p}" for p in self.problems(pointer, typed, request=True)]
        return problems

    def _body(self, operation: Operation, body: Any, has_body: bool) -> list[str]:
        described = operation.spec.get("requestBody")
        if described is None:
            return (
                [f"{operation.operation_id}: the operation takes no body"]
                if has_body and body not in ({}, None)
                else []
            )
        described = self.resolve(described)
        if not has_body:
            return [f"{operation.operation_id}: the body is required"] if described.get("required") else []
        if "application/json" not in described.get("content", {}):
            return [f"{operation.operation_id}: the operation takes no JSON body"]
        pointer = f"{operation.pointer}/requestBody/content/application~1json/schema"
        return [f"{operation.operation_id} body {p}" for p in self.problems(pointer, body, request=True)]

    def check_response(self, operation: Operation, status: int, body: Any) -> list[str]:
        """How an answer the stand-in built breaks the described response for `status`."""
        responses = operation.spec.get("responses", {})
        if str(status) not in responses:
            return [f"{operation.operation_id}: status {status} is not a described answer"]
        described = self.resolve(responses[str(status)])
        if "application/json" not in described.get("content", {}):
            return []
        pointer = f"{operation.pointer}/responses/{status}"
        raw = responses[str(status)]
        if "$ref" in raw:
            pointer = raw["$ref"].removeprefix("#")
        return [
            f"answer {p}" for p in self.problems(pointer + "/content/application~1json/schema", body, request=False)
        ]

    def example(self, name: str) -> Any:
        """A deep copy of the description's own example `name` (components/examples)."""
        return copy.deepcopy(self.document["components"]["examples"][name]["value"])


def _nullable_enum(error: ValidationError) -> bool:
    """GitHub's description marks enums `nullable` without listing null (OAS 3.0.3 wants it listed); GitHub
    answers null there (a queued check run's conclusion), so null passes such an enum."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    return error.validator == "enum" and error.instance is None and bool(schema.get("nullable"))


def _coerce(value: str, kind: Any) -> Any:
    """A query or path string as the JSON type its schema names (the description types them)."""
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value in {"true", "false"}:
        return value == "true"
    return value


@cache
def github_description() -> OpenAPIDescription:
    """The description, loaded once per test process (it is 13 MB)."""
    return OpenAPIDescription()
