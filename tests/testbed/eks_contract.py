"""Checks the EKS fake's recorded exchanges against AWS's published EKS service model (the copy
botocore ships, pinned through moto in requirements.lock).

Each request body must use only the operation's input members with the right types; each
success body must match the output shape (members, types, enums, required members); each error
must be one the operation declares, with that error's HTTP status. Prints the operations
covered; exits non-zero on the first list of failures.
"""

import json
import sys

from botocore.loaders import Loader

MODEL = Loader().load_service_model("eks", "service-2")
SHAPES = MODEL["shapes"]


def check(value, shape_name, where, errors):
    shape = SHAPES[shape_name]
    kind = shape["type"]
    if value is None:
        return
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"{where}: expected an object ({shape_name})")
            return
        members = shape.get("members", {})
        for key, item in value.items():
            if key not in members:
                errors.append(f"{where}.{key}: not a member of {shape_name}")
                continue
            check(item, members[key]["shape"], f"{where}.{key}", errors)
        for req in shape.get("required", []):
            if req not in value and members.get(req, {}).get("location") is None:
                errors.append(f"{where}.{req}: required by {shape_name}")
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{where}: expected a list ({shape_name})")
            return
        for i, item in enumerate(value):
            check(item, shape["member"]["shape"], f"{where}[{i}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{where}: expected a map ({shape_name})")
            return
        for k, item in value.items():
            check(k, shape["key"]["shape"], f"{where}<key>", errors)
            check(item, shape["value"]["shape"], f"{where}.{k}", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{where}: expected a string ({shape_name})")
        elif "enum" in shape and value not in shape["enum"]:
            errors.append(f"{where}: {value!r} is not one of {shape['enum']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{where}: expected an integer ({shape_name})")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{where}: expected a boolean ({shape_name})")
    elif kind == "timestamp":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(f"{where}: expected epoch seconds ({shape_name})")


def main():
    exchanges = json.load(open(sys.argv[1]))
    errors = []
    covered = set()
    for n, ex in enumerate(exchanges):
        op_name = ex["operation"]
        op = MODEL["operations"].get(op_name)
        where = f"#{n} {op_name}"
        if op is None:
            errors.append(f"{where}: not an EKS operation")
            continue
        covered.add(op_name)
        body = {}
        input_shape = SHAPES[op["input"]["shape"]]
        for key, member in input_shape.get("members", {}).items():
            if member.get("location") is None and isinstance(ex["request"], dict) and key in ex["request"]:
                body[key] = ex["request"][key]
        if isinstance(ex["request"], dict):
            for key in ex["request"]:
                if key not in input_shape.get("members", {}):
                    errors.append(f"{where} request.{key}: not an input member")
        for key, item in body.items():
            check(item, input_shape["members"][key]["shape"], f"{where} request.{key}", errors)
        if 200 <= ex["status"] < 300:
            check(ex["response"], op["output"]["shape"], f"{where} response", errors)
        else:
            declared = [e["shape"] for e in op.get("errors", [])]
            if ex["error"] not in declared:
                errors.append(f"{where}: error {ex['error']} is not declared ({declared})")
            else:
                status = SHAPES[ex["error"]].get("error", {}).get("httpStatusCode")
                if status != ex["status"]:
                    errors.append(f"{where}: {ex['error']} answered {ex['status']}, the model says {status}")
            check(ex["response"], ex["error"], f"{where} error", errors)
    print(f"exchanges: {len(exchanges)}")
    print("covered: " + " ".join(sorted(covered)))
    if errors:
        print("\n".join(errors))
        sys.exit(1)


if __name__ == "__main__":
    main()
