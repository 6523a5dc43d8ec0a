"""Checks recorded Okta exchanges against Okta's published OpenAPI contract.

Usage: okta_contract.py SPEC.yaml EXCHANGES.jsonl

Each line of EXCHANGES is one request and its response, as the Okta fake records them (every
request autofed's client sent and every response the fake returned). Each is validated against
the operation the spec defines for its method and path. Prints the operations covered; exits 1
with the failures if any exchange does not conform. The operations covered are printed by
their `operationId`s, so a test can require every operation autofed uses to be among them.

Known quirks of the spec (see its README), handled here without loosening any check:
- some `$ref`s point at schemas that are not in the file: they are stubbed as `{}`;
- the spec does not validate against the OpenAPI 3.0 schema itself, so its self-check is off;
- bodiless responses are written `content: {}`, which openapi-core reads as "a body is
  required": they are normalised to no `content`, which means the same in OpenAPI;
- the SAML metadata endpoint declares `text/xml` but Okta answers `application/xml`: an XML
  answer is checked against the operation's `text/xml` declaration.
"""

import json
import re
import sys

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse


def missing_refs(node, schemas, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in schemas:
                found.add(name)
        for value in node.values():
            missing_refs(value, schemas, found)
    elif isinstance(node, list):
        for value in node:
            missing_refs(value, schemas, found)


def drop_empty_content(node):
    if isinstance(node, dict):
        if node.get("content") == {} and "description" in node:
            del node["content"]
        for value in node.values():
            drop_empty_content(value)
    elif isinstance(node, list):
        for value in node:
            drop_empty_content(value)


def main(spec_path, exchanges_path):
    with open(spec_path) as f:
        spec = yaml.load(f, Loader=yaml.CSafeLoader)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    stubs = set()
    missing_refs(spec, schemas, stubs)
    for name in stubs:
        schemas[name] = {}
    drop_empty_content(spec.get("paths", {}))
    drop_empty_content(spec["components"].get("responses", {}))
    # XML bodies are checked as the strings the contract's `text/xml` schema declares.
    xml_as_text = {"text/xml": lambda data: data.decode("utf-8") if isinstance(data, bytes) else data}
    api = OpenAPI.from_dict(
        spec,
        config=Config(spec_validator_cls=None, extra_media_type_deserializers=xml_as_text),
    )

    templates = []
    for template, item in spec.get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        templates.append((template.count("{"), re.compile(pattern), item))
    templates.sort(key=lambda t: t[0])  # literal segments win over parameters

    def operation_id(method, path):
        for _, pattern, item in templates:
            if pattern.match(path) and isinstance(item.get(method), dict):
                return item[method].get("operationId", f"{method} {path}")
        return f"(no operation) {method.upper()} {path}"

    failures, covered, count = [], set(), 0
    with open(exchanges_path) as f:
        for n, line in enumerate(f, 1):
            e = json.loads(line)
            count += 1
            what = f"#{n} {e['method'].upper()} {e['path']} -> {e['status']}"
            body = None if e["request"] is None else json.dumps(e["request"]).encode()
            request = MockRequest(
                "https://acme.okta.com",
                e["method"],
                e["path"],
                args=e["query"],
                headers={"Authorization": "SSWS redacted", "Accept": "application/json"},
                data=body,
                content_type="application/json",
            )
            if e["response"] is None:
                data = b""
            elif isinstance(e["response"], str) and e["content_type"] != "application/json":
                data = e["response"].encode()
            else:
                data = json.dumps(e["response"]).encode()
            content_type = "text/xml" if e["content_type"] == "application/xml" else e["content_type"]
            response = MockResponse(data, status_code=e["status"], content_type=content_type)
            for kind, check in (("request", lambda: api.validate_request(request)),
                                ("response", lambda: api.validate_response(request, response))):
                try:
                    check()
                except Exception as err:  # noqa: BLE001 - report every kind of mismatch
                    cause = err.__cause__ or err
                    detail = getattr(cause, "schema_errors", None) or [cause]
                    failures.append(f"{what}: {kind}: {type(err).__name__}: " + "; ".join(str(d)[:300] for d in detail))
            covered.add(operation_id(e["method"], e["path"]))
    print(f"okta contract: {count} exchanges, {len(failures)} failures; stubbed {len(stubs)} missing schemas")
    print("covered: " + " ".join(sorted(covered)))
    for failure in failures:
        print("  FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
