"""Checks each function's IAM policy in infra/template.yaml against the AWS actions its code makes.

    iam_coverage.py [--template FILE] [--functions DIR]

For each AWS::Serverless::Function whose Metadata.BuildProperties.Binary is NAME, the list
functions/NAME/aws-actions.txt (required) names every AWS action the code makes, one a line
(`#` starts a comment):

    sts:AssumeRole          made with the function's own credentials: the policy must allow it
    member iam:CreateRole   made in a member account through the assumed execution role: not in
                            the function's policy, listed for the record only

The function's `Policies` are read as written, with every optional feature on: `!If [Cond, A, B]`
is A, `!Ref AWS::NoValue` is dropped. Actions match with IAM's rules (case-insensitive, `*` and
`?` wildcards). It fails (exit 1) when

- an own action on the list is not allowed by an Allow statement (or is matched by a Deny);
- the policy allows an action that is not on the list, or allows a wildcard (least privilege:
  the policy grants exactly what the code uses);
- a list is missing, names an action twice, or names something that is not an IAM action (an
  SDK service name such as `sso-admin:`, or a batch API such as `sqs:SendMessageBatch`, which IAM
  authorizes as `sqs:SendMessage`);
- a policy cannot be read this way (a managed policy name, a SAM policy template, NotAction,
  a `Role` instead of `Policies`);
- a list exists for a binary that no function of the template builds.

A self-test runs first: a copy of a real policy with one listed action removed, one with an extra
action and one with a wildcard must each be caught.
"""

import argparse
import copy
import json
import re
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
LIST_NAME = "aws-actions.txt"

ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")

# SDK or CLI names that are not IAM's service prefixes.
WRONG_PREFIX = {
    "sso-admin": "sso",
    "ssoadmin": "sso",
    "identity-store": "identitystore",
    "secrets-manager": "secretsmanager",
    "organisations": "organizations",
}

# APIs that IAM authorizes under another action's name.
AUTHORIZED_AS = {
    "sqs:sendmessagebatch": "sqs:SendMessage",
    "sqs:deletemessagebatch": "sqs:DeleteMessage",
    "sqs:changemessagevisibilitybatch": "sqs:ChangeMessageVisibility",
}


class Unreadable(Exception):
    """A policy this check cannot evaluate."""


def plain(node):
    return json.loads(json.dumps(node, default=str))


def wildcard(pattern):
    """IAM's action matching: case-insensitive, `*` any run, `?` one character."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(rx, re.IGNORECASE | re.DOTALL)


def matches(pattern, action):
    return wildcard(pattern).fullmatch(action) is not None


def resolve(node):
    """Every optional feature on: `Fn::If` takes its first branch; AWS::NoValue disappears."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            return resolve(node["Fn::If"][1])
        if node == {"Ref": "AWS::NoValue"}:
            return None
        out = {}
        for k, v in node.items():
            v = resolve(v)
            if v is not None:
                out[k] = v
        return out
    if isinstance(node, list):
        return [v for v in (resolve(v) for v in node) if v is not None]
    return node


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements(policies):
    """The statements of a function's (resolved) `Policies`."""
    out = []
    for i, policy in enumerate(as_list(policies)):
        if isinstance(policy, str):
            raise Unreadable(
                f"Policies[{i}] is the managed policy {policy!r}: its actions are not known here"
            )
        if not isinstance(policy, dict) or "Statement" not in policy:
            name = next(iter(policy), "?") if isinstance(policy, dict) else type(policy).__name__
            raise Unreadable(f"Policies[{i}] ({name}) is not an inline policy document")
        for j, st in enumerate(as_list(policy["Statement"])):
            if "NotAction" in st:
                raise Unreadable(f"Policies[{i}].Statement[{j}] uses NotAction")
            out.append(st)
    return out


def read_list(path):
    """(own actions, member actions, problems) of an aws-actions.txt."""
    own, member, problems, seen = [], [], [], set()
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        is_member = line.startswith("member ")
        action = line[len("member "):].strip() if is_member else line
        where = f"{path}:{n}"
        if not ACTION.match(action):
            problems.append(f"{where}: {line!r} is not `service:Action` or `member service:Action`")
            continue
        prefix = action.split(":")[0]
        if prefix in WRONG_PREFIX:
            problems.append(
                f"{where}: {action}: IAM's prefix for this service is {WRONG_PREFIX[prefix]!r}"
            )
        if action.lower() in AUTHORIZED_AS:
            problems.append(
                f"{where}: {action} is an API, not an IAM action: IAM authorizes it as "
                f"{AUTHORIZED_AS[action.lower()]}"
            )
        key = (is_member, action.lower())
        if key in seen:
            problems.append(f"{where}: {action} is listed twice")
        seen.add(key)
        (member if is_member else own).append(action)
    return own, member, problems


def check_function(name, policies, own):
    """Problems of one function's policy against its own actions."""
    problems = []
    try:
        sts = statements(resolve(policies))
    except Unreadable as e:
        return [f"{name}: {e}"]
    def effect(name):
        return [
            (st.get("Sid", "?"), a)
            for st in sts
            if st.get("Effect") == name
            for a in as_list(st.get("Action"))
        ]

    allows, denies = effect("Allow"), effect("Deny")
    for action in own:
        allowed_by = [sid for sid, p in allows if matches(p, action)]
        denied_by = [sid for sid, p in denies if matches(p, action)]
        if not allowed_by:
            problems.append(f"{name}: the code calls {action}, which its policy does not allow")
        elif denied_by:
            problems.append(f"{name}: {action} is denied by statement {', '.join(denied_by)}")
    listed = {a.lower() for a in own}
    for sid, pattern in allows:
        if "*" in pattern or "?" in pattern:
            covered = sorted(a for a in own if matches(pattern, a))
            problems.append(
                f"{name}: statement {sid} allows the wildcard {pattern} (covering "
                f"{', '.join(covered) or 'nothing listed'}): name the exact actions"
            )
        elif pattern.lower() not in listed:
            problems.append(
                f"{name}: statement {sid} allows {pattern}, which is not in its {LIST_NAME} "
                "(the code does not use it, or the list lacks it)"
            )
    return problems


def functions(template):
    """{logical id: (binary, Properties)} of the template's SAM functions."""
    out = {}
    for logical_id, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        out[logical_id] = (binary, res.get("Properties", {}))
    return out


def _without(policies, dropped):
    """A resolved copy of `policies` with `dropped` removed from every statement."""
    out = resolve(copy.deepcopy(policies))
    for policy in as_list(out):
        for st in as_list(policy["Statement"]):
            st["Action"] = [a for a in as_list(st.get("Action")) if a.lower() != dropped.lower()]
    return out


def _with(policies, sid, action):
    """A resolved copy of `policies` with one more statement allowing `action`."""
    out = as_list(resolve(copy.deepcopy(policies)))
    statement = {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": "*"}
    return out + [{"Statement": [statement]}]


def self_test(template, functions_dir):
    """A policy missing one listed action, or allowing one more or a wildcard, must be caught.
    Uses the first function whose policy passes as it is; with none, a policy made from a list."""
    assert matches("SSO:list*", "sso:ListInstances") and matches("sts:Assume?ole", "sts:AssumeRole")
    assert not matches("sso:List*", "sso:DescribePermissionSet")
    assert not matches("sts:Get", "sts:GetCallerIdentity")
    candidates = []
    for logical_id, (binary, props) in sorted(functions(template).items()):
        path = Path(functions_dir) / str(binary) / LIST_NAME
        if binary and path.exists():
            own = read_list(path)[0]
            if own:
                candidates.append((logical_id, props.get("Policies"), own))
    if not candidates:
        raise SystemExit("self-test: no function has a list to test with")
    passing = [c for c in candidates if not check_function(*c)]
    if passing:
        logical_id, policies, own = passing[0]
        what = f"{logical_id}'s policy"
    else:
        logical_id, _, own = candidates[0]
        statement = {"Sid": "Listed", "Effect": "Allow", "Action": own, "Resource": "*"}
        policies = [{"Statement": [statement]}]
        what = f"a policy made from {logical_id}'s list"
        assert not check_function(logical_id, policies, own), "self-test: the made policy fails"
    dropped = own[0]
    found = check_function(logical_id, _without(policies, dropped), own)
    want = f"{logical_id}: the code calls {dropped}, which its policy does not allow"
    assert want in found, f"self-test: dropping {dropped} was not caught: {found}"
    found = check_function(logical_id, _with(policies, "Extra", "s3:GetObject"), own)
    assert any("allows s3:GetObject" in p for p in found), f"self-test: extra missed: {found}"
    found = check_function(logical_id, _with(policies, "Wild", "sts:*"), own)
    assert any("wildcard sts:*" in p for p in found), f"self-test: wildcard missed: {found}"
    print(f"self-test: {what} without {dropped}, with s3:GetObject, with sts:*: each caught")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", default=str(ROOT / "infra/template.yaml"))
    ap.add_argument("--functions", default=str(ROOT / "functions"))
    args = ap.parse_args()

    template = plain(cfn_yaml.load(args.template))
    self_test(template, args.functions)
    problems = []

    binaries = set()
    for logical_id, (binary, props) in sorted(functions(template).items()):
        if not binary:
            problems.append(
                f"{logical_id}: no Metadata.BuildProperties.Binary: its code is unknown"
            )
            continue
        binaries.add(binary)
        path = Path(args.functions) / binary / LIST_NAME
        if not path.exists():
            problems.append(
                f"{logical_id}: {path} is missing: list the AWS actions the {binary} code makes"
            )
            continue
        own, member, list_problems = read_list(path)
        problems += list_problems
        if "Role" in props:
            problems.append(
                f"{logical_id}: has a Role, not Policies: its permissions are not checked here"
            )
            continue
        found = check_function(logical_id, props.get("Policies"), own)
        problems += found
        status = "FAILED" if found else "ok"
        print(
            f"{logical_id} ({binary}): {len(own)} own actions, "
            f"{len(member)} in member accounts: {status}"
        )
    for path in sorted(Path(args.functions).glob(f"*/{LIST_NAME}")):
        if path.parent.name not in binaries:
            problems.append(f"{path}: no function of the template builds {path.parent.name}")

    if problems:
        print(f"\nFAILED: {len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("\nOK: each function's policy allows exactly the actions its code makes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
