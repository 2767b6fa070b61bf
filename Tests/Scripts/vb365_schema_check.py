#!/usr/bin/env python3
"""Validate recorded VB365 REST exchanges against an OpenAPI 3.0.x description.

Usage:
    python3 vb365_schema_check.py --spec /path/vb365_rest_v8.json --exchanges FILE.jsonl

Each line of FILE.jsonl is one JSON object:
    {"method": "POST", "path": "/v8/Organizations/abc?limit=5", "status": 201,
     "requestContentType": "application/json" | "application/x-www-form-urlencoded" | null,
     "requestBody": <JSON value; for form bodies an object of string -> string; or null>,
     "responseBody": <JSON value or null>}

For every exchange the script
  * finds the operation: the path (query and fragment removed) is matched against the
    spec's path templates segment by segment, case-insensitively (ASP.NET routing);
    "{param}" matches exactly one segment; literal segments win over parameters;
  * validates the request body (if the operation declares one and the exchange has one)
    against the schema of its content type. Form values arrive as strings, so for a
    property whose schema type is boolean "true"/"false" is accepted, for integer/number a
    numeric string; an empty string for a nullable non-string property counts as null.
    readOnly properties are dropped from `required` for requests, writeOnly ones for
    responses (OpenAPI semantics);
  * validates the response body against the exact status code, else an "NXX" range, else
    `default`. A 2xx status that the operation does not list explicitly is a failure (the
    body is then not validated against `default`). A listed response without content
    requires a null body. Responses whose only media types are not JSON (e.g.
    application/octet-stream) are not validated.

The OpenAPI 3.0 schemas are converted to JSON Schema 2020-12: `$ref: #/components/schemas/X`
becomes `#/$defs/X`, `nullable: true` admits null (also in `enum`), OpenAPI-only keywords
(readOnly, writeOnly, example, discriminator, xml, externalDocs, deprecated, x-*) are
dropped, boolean exclusiveMinimum/Maximum are translated. Formats checked: uuid,
date-time (ISO 8601 / RFC 3339, offset optional, any number of fractional digits),
date, int32, int64, byte (base64). Other formats (password, double, ...) are not checked.

Output: one line per failure
    FAIL <method> <path> <status> <request|response>: <json path>: <message>
then `checked N exchanges (R request bodies, S response bodies), F failures`.
Exit status: 0 no failures, 1 failures, 2 usage error (bad arguments, unreadable spec or
exchanges file, a line that is not a JSON object with method/path/status).

Standard library + jsonschema (>= 4.18) only. The spec is read at run time; nothing of it
is stored here.
"""

from __future__ import annotations

import argparse
import os
import base64
import binascii
import datetime as _dt
import json
import re
import sys
import urllib.parse

try:
    import jsonschema
    from jsonschema import Draft202012Validator, FormatChecker, ValidationError
    from jsonschema.exceptions import best_match
except ImportError:  # pragma: no cover
    print("error: the 'jsonschema' package is required (pip install jsonschema)", file=sys.stderr)
    sys.exit(2)


HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
COMPONENT_PREFIX = "#/components/schemas/"
MAX_MESSAGE = 300

# JSON Schema keywords copied unchanged from OpenAPI 3.0 schema objects.
PASS_THROUGH = {
    "type", "enum", "format", "minimum", "maximum", "multipleOf",
    "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
    "minProperties", "maxProperties", "default", "title", "description",
}
# Anything else (nullable, readOnly, writeOnly, example, discriminator, xml, externalDocs,
# deprecated, x-*) is OpenAPI-only or vendor-specific and dropped after being interpreted.

FORBIDDEN_KEYWORD = "x-check-forbidden"


class UsageError(Exception):
    pass


class SpecError(Exception):
    pass


# --------------------------------------------------------------------------------------
# Formats

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def make_format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("uuid")
    def _uuid(value):
        return not isinstance(value, str) or bool(_UUID_RE.match(value))

    @checker.checks("date-time")
    def _date_time(value):
        if not isinstance(value, str):
            return True
        if not _DATE_TIME_RE.match(value):
            return False
        text = value.replace("t", "T").replace(" ", "T", 1)
        if text[-1] in "zZ":
            text = text[:-1] + "+00:00"
        try:
            _dt.datetime.fromisoformat(text)
        except ValueError:
            return False
        return True

    @checker.checks("date")
    def _date(value):
        if not isinstance(value, str):
            return True
        if not _DATE_RE.match(value):
            return False
        try:
            _dt.date.fromisoformat(value)
        except ValueError:
            return False
        return True

    @checker.checks("int32")
    def _int32(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return True
        return -(2 ** 31) <= value <= 2 ** 31 - 1

    @checker.checks("int64")
    def _int64(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return True
        return -(2 ** 63) <= value <= 2 ** 63 - 1

    @checker.checks("byte")
    def _byte(value):
        if not isinstance(value, str):
            return True
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return True

    return checker


def _forbidden(validator, value, instance, schema):
    yield ValidationError(value)


CheckValidator = jsonschema.validators.extend(Draft202012Validator, {FORBIDDEN_KEYWORD: _forbidden})


# --------------------------------------------------------------------------------------
# OpenAPI 3.0 -> JSON Schema 2020-12


def _pointer_escape(name: str) -> str:
    return urllib.parse.quote(name.replace("~", "~0").replace("/", "~1"), safe="~!$&'()*+,;=:@")


def _pointer_unescape(token: str) -> str:
    return urllib.parse.unquote(token).replace("~1", "/").replace("~0", "~")


class SchemaConverter:
    """Converts the spec's schemas for one direction ("request" or "response")."""

    def __init__(self, spec: dict, direction: str, strict_access: bool):
        self.direction = direction
        self.strict_access = strict_access
        raw = spec.get("components", {}).get("schemas", {}) or {}
        self.defs = {name: self.convert(schema) for name, schema in raw.items()}

    def ref(self, ref: str) -> str:
        if not isinstance(ref, str) or not ref.startswith(COMPONENT_PREFIX):
            raise SpecError(f"unsupported $ref {ref!r} (only {COMPONENT_PREFIX}* is handled)")
        return "#/$defs/" + _pointer_escape(_pointer_unescape(ref[len(COMPONENT_PREFIX):]))

    def convert(self, schema):
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict):
            raise SpecError(f"schema is not an object: {schema!r}")
        if "$ref" in schema:
            # OpenAPI 3.0: siblings of $ref are ignored.
            return {"$ref": self.ref(schema["$ref"])}

        out: dict = {}
        for key, value in schema.items():
            if key == "properties":
                out[key] = {name: self.convert_property(sub) for name, sub in value.items()}
            elif key in ("items", "not"):
                out[key] = self.convert(value)
            elif key == "additionalProperties":
                out[key] = value if isinstance(value, bool) else self.convert(value)
            elif key in ("allOf", "oneOf", "anyOf"):
                out[key] = [self.convert(sub) for sub in value]
            elif key == "required":
                dropped = "readOnly" if self.direction == "request" else "writeOnly"
                props = schema.get("properties", {}) or {}
                required = [
                    name for name in value
                    if not (isinstance(props.get(name), dict) and props[name].get(dropped) is True)
                ]
                if required:
                    out[key] = required
            elif key in ("exclusiveMinimum", "exclusiveMaximum"):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                if value is True and bound in schema:
                    out[key] = schema[bound]
                elif not isinstance(value, bool):
                    out[key] = value
            elif key in PASS_THROUGH:
                out[key] = value

        if "exclusiveMinimum" in out and out.get("minimum") == out["exclusiveMinimum"]:
            del out["minimum"]
        if "exclusiveMaximum" in out and out.get("maximum") == out["exclusiveMaximum"]:
            del out["maximum"]

        if schema.get("nullable") is True:
            composite = any(k in out for k in ("allOf", "oneOf", "anyOf", "not"))
            if composite:
                out = {"anyOf": [{"type": "null"}, out]}
            else:
                if "type" in out:
                    t = out["type"]
                    types = [t] if isinstance(t, str) else list(t)
                    if "null" not in types:
                        types.append("null")
                    out["type"] = types
                if "enum" in out and None not in out["enum"]:
                    out["enum"] = list(out["enum"]) + [None]
        return out

    def convert_property(self, schema):
        if self.strict_access and isinstance(schema, dict):
            if self.direction == "request" and schema.get("readOnly") is True:
                return {FORBIDDEN_KEYWORD: "readOnly property must not be sent in a request body"}
            if self.direction == "response" and schema.get("writeOnly") is True:
                return {FORBIDDEN_KEYWORD: "writeOnly property must not be returned in a response body"}
        return self.convert(schema)


# --------------------------------------------------------------------------------------
# Spec access


class Spec:
    def __init__(self, spec: dict, strict_access: bool):
        self.raw = spec
        self.format_checker = make_format_checker()
        self.converters = {
            "request": SchemaConverter(spec, "request", strict_access),
            "response": SchemaConverter(spec, "response", strict_access),
        }
        self._validators: dict = {}
        self.templates = []  # (segments, template, path item)
        for template, item in (spec.get("paths") or {}).items():
            segments = []
            for seg in template.strip("/").split("/"):
                if re.fullmatch(r"\{[^{}/]+\}", seg):
                    segments.append(None)
                elif "{" in seg:
                    segments.append(re.compile(
                        "^" + "".join(
                            "[^/]+" if part.startswith("{") else re.escape(part)
                            for part in re.split(r"(\{[^{}]+\})", seg) if part
                        ) + "$",
                        re.IGNORECASE,
                    ))
                else:
                    segments.append(seg.casefold())
            self.templates.append((segments, template, item))

    def resolve(self, schema, depth=0):
        """Follow $ref chains in the raw spec (for form coercion only)."""
        while isinstance(schema, dict) and "$ref" in schema and depth < 50:
            ref = schema["$ref"]
            if not ref.startswith(COMPONENT_PREFIX):
                return {}
            name = _pointer_unescape(ref[len(COMPONENT_PREFIX):])
            schema = self.raw.get("components", {}).get("schemas", {}).get(name, {})
            depth += 1
        return schema if isinstance(schema, dict) else {}

    def find_path(self, path: str):
        """Return (template, path item) of the most specific match, or None."""
        segments = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
        folded = [s.casefold() for s in segments]
        best = None
        for tmpl_segments, template, item in self.templates:
            if len(tmpl_segments) != len(segments):
                continue
            score = []
            for tseg, seg, fseg in zip(tmpl_segments, segments, folded):
                if tseg is None:
                    if seg == "":
                        break
                    score.append(0)
                elif isinstance(tseg, str):
                    if tseg != fseg:
                        break
                    score.append(2)
                else:
                    if not tseg.match(seg):
                        break
                    score.append(1)
            else:
                if best is None or score > best[0]:
                    best = (score, template, item)
        return None if best is None else (best[1], best[2])

    def validator(self, direction: str, schema: dict):
        key = (direction, id(schema))
        cached = self._validators.get(key)
        if cached is not None:
            return cached
        converter = self.converters[direction]
        root = dict(converter.convert(schema))
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        root["$defs"] = converter.defs
        validator = CheckValidator(root, format_checker=self.format_checker)
        self._validators[key] = (validator, schema)  # keep schema alive: id() stays unique
        return self._validators[key]


# --------------------------------------------------------------------------------------
# Checking


def _media(value) -> str:
    return str(value).split(";", 1)[0].strip().lower()


def choose_request_media(content: dict, content_type):
    keys = {_media(k): k for k in content}
    if content_type is None:
        for candidate in ("application/json", "*/*"):
            if candidate in keys:
                return keys[candidate]
        return next(iter(content)) if len(content) == 1 else None
    wanted = _media(content_type)
    if wanted in keys:
        return keys[wanted]
    major = wanted.split("/", 1)[0] + "/*"
    if major in keys:
        return keys[major]
    return keys.get("*/*")


def choose_response_media(content: dict):
    keys = {_media(k): k for k in content}
    for candidate in ("application/json", "*/*", "application/*"):
        if candidate in keys:
            return keys[candidate]
    for media, key in keys.items():
        if media.endswith("+json") or media == "text/json":
            return key
    return None


_INT_RE = re.compile(r"^[+-]?\d+$")


def coerce_form(spec: Spec, schema: dict, body):
    """Turn form values (strings) into the JSON types their schema expects."""
    if isinstance(body, str):
        body = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
    if not isinstance(body, dict):
        return body
    props = spec.resolve(schema).get("properties", {}) or {}
    out = {}
    for name, value in body.items():
        prop = spec.resolve(props.get(name, {}))
        kind = prop.get("type")
        if isinstance(value, str) and kind in ("boolean", "integer", "number"):
            text = value.strip()
            if text == "" and prop.get("nullable") is True:
                value = None
            elif kind == "boolean" and text.lower() in ("true", "false"):
                value = text.lower() == "true"
            elif kind == "integer" and _INT_RE.match(text):
                value = int(text)
            elif kind == "number":
                try:
                    number = float(text)
                    if number == number and number not in (float("inf"), float("-inf")):
                        value = int(number) if _INT_RE.match(text) else number
                except ValueError:
                    pass
        out[name] = value
    return out


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "\u2026"


def _leaves(error: ValidationError):
    """Replace anyOf/oneOf errors by the errors of the branch that matters."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches = error.validator_value
    if (error.instance is not None and len(branches) == 2 and branches[0] == {"type": "null"}):
        # nullable wrapper produced by SchemaConverter: report the non-null branch in full
        chosen = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == 1]
    else:
        best = best_match(error.context)
        chosen = [best] if best is not None else []
    if not chosen:
        return [error]
    return [leaf for e in chosen for leaf in _leaves(e)]


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _message(error: ValidationError) -> str:
    if error.validator == "type":
        expected = error.validator_value
        expected = expected if isinstance(expected, str) else " or ".join(expected)
        shown = json.dumps(error.instance) if isinstance(error.instance, (str, int, float, bool)) else _json_type(error.instance)
        return f"expected {expected}, got {_json_type(error.instance)} {shown}" if shown != _json_type(error.instance) \
            else f"expected {expected}, got {shown}"
    if error.validator == "enum":
        allowed = [v for v in error.validator_value if v is not None]
        nullable = " (or null)" if None in error.validator_value else ""
        return f"{json.dumps(error.instance)} is not one of {json.dumps(allowed)}{nullable}"
    return error.message


def schema_errors(spec: Spec, direction: str, schema: dict, body):
    validator, _ = spec.validator(direction, schema)
    found = []
    for error in validator.iter_errors(body):
        for leaf in _leaves(error):
            found.append((leaf.json_path, _short(_message(leaf))))
    found = sorted(set(found), key=lambda item: (item[0], item[1]))
    return found


class Checker:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.exchanges = 0
        self.request_bodies = 0
        self.response_bodies = 0
        self.failures = 0

    def fail(self, ex: dict, side: str, path: str, message: str):
        self.failures += 1
        print(f"FAIL {ex['method']} {ex['path']} {ex['status']} {side}: {path}: {message}")

    def check(self, ex: dict):
        self.exchanges += 1
        split = urllib.parse.urlsplit(ex["path"])
        route = split.path or "/"
        found = self.spec.find_path(route)
        if found is None:
            self.fail(ex, "request", "$", f"no path template in the spec matches {route!r}")
            return
        template, item = found
        method = ex["method"].lower()
        op = item.get(method) if isinstance(item, dict) else None
        if not isinstance(op, dict):
            allowed = sorted(m.upper() for m in item if m in HTTP_METHODS)
            self.fail(ex, "request", "$",
                      f"method {ex['method'].upper()} not defined for {template} (defined: {', '.join(allowed) or 'none'})")
            return
        self.check_request(ex, op)
        self.check_response(ex, op, template)

    def check_request(self, ex: dict, op: dict):
        body = ex.get("requestBody")
        request_spec = op.get("requestBody")
        if isinstance(request_spec, dict) and "$ref" in request_spec:
            self.fail(ex, "request", "$", "requestBody $ref is not supported by this checker")
            return
        if request_spec is None:
            if body is not None:
                self.fail(ex, "request", "$", "operation declares no request body, but one was sent")
            return
        if body is None:
            if request_spec.get("required") is True:
                self.fail(ex, "request", "$", "request body is required by the spec but none was sent")
            return
        content = request_spec.get("content") or {}
        content_type = ex.get("requestContentType")
        media = choose_request_media(content, content_type)
        if media is None:
            self.fail(ex, "request", "$",
                      f"content type {content_type!r} not accepted (spec: {', '.join(content) or 'none'})")
            return
        schema = (content.get(media) or {}).get("schema")
        if schema is None:
            return
        if _media(media) == "application/x-www-form-urlencoded" or (
            content_type is not None and _media(content_type) == "application/x-www-form-urlencoded"
        ):
            body = coerce_form(self.spec, schema, body)
        self.request_bodies += 1
        for path, message in schema_errors(self.spec, "request", schema, body):
            self.fail(ex, "request", path, message)

    def check_response(self, ex: dict, op: dict, template: str):
        status = ex["status"]
        responses = op.get("responses") or {}
        by_key = {str(k).upper(): v for k, v in responses.items()}
        response = by_key.get(str(status))
        if response is None:
            response = by_key.get(f"{status // 100}XX")
        if response is None:
            listed = ", ".join(str(k) for k in responses)
            if 200 <= status < 300:
                self.fail(ex, "response", "$",
                          f"success status {status} is not listed for {ex['method'].upper()} {template} (listed: {listed})")
                return
            response = by_key.get("DEFAULT")
            if response is None:
                self.fail(ex, "response", "$", f"status {status} not listed and no default response (listed: {listed})")
                return
        if isinstance(response, dict) and "$ref" in response:
            self.fail(ex, "response", "$", "response $ref is not supported by this checker")
            return
        body = ex.get("responseBody")
        content = (response or {}).get("content") or {}
        if not content:
            if body is not None:
                self.fail(ex, "response", "$", f"status {status} has no content in the spec, but a body was returned")
            return
        media = choose_response_media(content)
        if media is None:
            return  # binary/non-JSON response: not validated
        schema = (content.get(media) or {}).get("schema")
        if schema is None:
            return
        self.response_bodies += 1
        for path, message in schema_errors(self.spec, "response", schema, body):
            if path == "$" and body is None:
                message = f"response body is missing (null) but the spec defines one ({message})"
            self.fail(ex, "response", path, message)


# --------------------------------------------------------------------------------------


def load_spec(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            spec = json.load(handle)
    except OSError as exc:
        raise UsageError(f"cannot read spec {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"spec {path} is not valid JSON: {exc}") from exc
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3.0"):
        raise UsageError(f"spec {path} is not an OpenAPI 3.0.x document")
    return spec


def read_exchanges(path: str):
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read exchanges {path}: {exc.strerror or exc}") from exc
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                ex = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: not valid JSON: {exc}") from exc
            if not isinstance(ex, dict):
                raise UsageError(f"{path}:{number}: not a JSON object")
            for key, kind in (("method", str), ("path", str)):
                if not isinstance(ex.get(key), kind) or not ex[key]:
                    raise UsageError(f"{path}:{number}: missing or invalid {key!r}")
            status = ex.get("status")
            if isinstance(status, str) and status.isdigit():
                status = int(status)
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
                raise UsageError(f"{path}:{number}: missing or invalid 'status'")
            ex["status"] = status
            yield ex


def spec_folder() -> str:
    """The OpenAPI descriptions: $CERTVAULT_VB365_OPENAPI, else the project's copy."""
    configured = os.environ.get("CERTVAULT_VB365_OPENAPI")
    if configured:
        return configured
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, os.pardir, "Fixtures", "vb365-openapi")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Validate recorded VB365 REST exchanges against an OpenAPI 3.0 spec.")
    parser.add_argument("--spec", help="OpenAPI 3.0.x JSON file (e.g. vb365_rest_v8.json)")
    parser.add_argument("--api-version", choices=["v6", "v7", "v8"],
                        help="instead of --spec: the project's copy, Tests/Fixtures/vb365-openapi/vb365_rest_VERSION.json "
                             "(or the same name in $CERTVAULT_VB365_OPENAPI)")
    parser.add_argument("--exchanges", required=True, help="JSON Lines file, one exchange per line")
    parser.add_argument("--strict-access", action="store_true",
                        help="also fail readOnly properties in requests and writeOnly properties in responses")
    args = parser.parse_args(argv)
    if args.spec is None:
        if args.api_version is None:
            parser.error("give --spec FILE or --api-version v6|v7|v8")
        args.spec = os.path.join(spec_folder(), f"vb365_rest_{args.api_version}.json")

    try:
        spec = Spec(load_spec(args.spec), args.strict_access)
        checker = Checker(spec)
        for ex in read_exchanges(args.exchanges):
            checker.check(ex)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SpecError as exc:
        print(f"error: unsupported construct in spec {args.spec}: {exc}", file=sys.stderr)
        return 2

    print(f"checked {checker.exchanges} exchanges ({checker.request_bodies} request bodies, "
          f"{checker.response_bodies} response bodies), {checker.failures} failures")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
