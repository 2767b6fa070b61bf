#!/usr/bin/env python3
"""Validates recorded responses of the certvault API against its OpenAPI 3.1 document.

usage: validate_responses.py OPENAPI.json RESPONSES.json

RESPONSES.json is a list of {"method", "path" (the route's template, e.g. /v1/tenants/{tenant}),
"status", "contentType", "body" (text)}. Every response must be described: its path and method,
its status, its media type, and a body that the status's schema accepts (JSON Schema 2020-12,
the dialect of OpenAPI 3.1). Prints one line per problem and exits 1 if there is any.
"""
import json
import sys

import jsonschema


def main():
    with open(sys.argv[1]) as f:
        document = json.load(f)
    with open(sys.argv[2]) as f:
        responses = json.load(f)
    jsonschema.Draft202012Validator.check_schema({"components": document["components"]})
    problems = []
    checked = 0
    for item in responses:
        where = f'{item["method"]} {item["path"]} -> {item["status"]}'
        operation = document["paths"].get(item["path"], {}).get(item["method"].lower())
        if operation is None:
            problems.append(f"{where}: the document has no such operation")
            continue
        described = operation["responses"].get(str(item["status"])) or operation["responses"].get("default")
        if described is None:
            problems.append(f"{where}: status not described")
            continue
        if "$ref" in described:
            described = document["components"]["responses"][described["$ref"].split("/")[-1]]
        media = (item.get("contentType") or "").split(";")[0].strip()
        content = described.get("content", {})
        if media not in content:
            problems.append(f"{where}: media type {media!r} not described (described: {sorted(content)})")
            continue
        try:
            body = json.loads(item["body"])
        except ValueError:
            problems.append(f"{where}: the body is not JSON")
            continue
        schema = dict(content[media]["schema"])
        schema["components"] = document["components"]
        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        for error in errors[:3]:
            path = "/".join(str(p) for p in error.path)
            problems.append(f"{where}: at /{path}: {error.message[:200]}")
        checked += 1
    for line in problems:
        print(line)
    print(f"{checked} responses checked, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
