"""Checks every EventBridge rule of infra/template.yaml against every sample event in events/,
with moto's EventBridge doing the matching (its real pattern matcher, delivering to SQS).

    event_patterns.py --endpoint http://127.0.0.1:PORT [--template FILE] [--events DIR]

The rules are the template's AWS::Events::Rule resources (on the bus their EventBusName names;
none is the management account's default bus) and the rules in the TemplateBody of its
AWS::CloudFormation::StackSet resources (a !Sub string: its ${...} are replaced by placeholders,
then it is parsed as a template); those live on the member accounts' default buses. In moto, each
rule is recreated with its exact EventPattern on a bus standing for its template bus, with its own
SQS probe queue as its only target. Every sample (each events/*.json whose top level has
"detail-type"; the SQS envelopes are skipped) is put on every bus, and each probe queue is read:
that gives the matrix of sample x rule, printed and compared with EXPECTED below.

It fails (exit 1) when a sample matches a rule it should not or misses one it should, when a
sample in events/ has no entry in EXPECTED (a new sample must be classified), when EXPECTED names
a sample or rule that does not exist, or when a rule of the template is matched by no sample.
Two mutated samples (NEGATIVE_CONTROLS) must match nothing: they prove the matching is real.

Names made in moto carry a random run id, so the script can run against a moto that is in use.
"""

import argparse
import copy
import json
import re
import sys
import uuid
from pathlib import Path

import boto3
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"

# The bus of the management account's default bus, and the bus standing for "the default bus of a
# member account" (where the StackSet's rules are deployed). A template bus (an
# AWS::Events::EventBus resource) is labelled by its logical id.
DEFAULT_BUS = "default"
MEMBER_DEFAULT_BUS = "member-default"

ORG_RULES = {
    "create-account-result-succeeded.json": {"CreateAccountResultRule@default"},
    # A failed creation names no account: no rule may deliver it.
    "create-account-result-failed.json": set(),
    "control-tower-create-managed-account.json": {"CreateManagedAccountRule@default"},
    "move-account.json": {"AccountChangedRule@default"},
    "tag-resource.json": {"AccountChangedRule@default"},
    "untag-resource.json": {"AccountChangedRule@default"},
    "close-account.json": {"AccountDepartedRule@default"},
    "remove-account-from-organization.json": {"AccountDepartedRule@default"},
}

# A cluster event is seen three ways: in the management account (its own default bus), on the
# central bus (forwarded from a member account), and in a member account, by the StackSet's
# forwarding rule.
CLUSTER_RULES = {
    "ClusterEventsRule@default",
    "ForwardedClusterEventsRule@CentralEventBus",
    "ClusterEventForwarding/ForwardClusterEventsRule@member-default",
}

# Every EventBridge sample in events/, by file name: the rules (`Rule@bus`) it must match, and no
# other.
EXPECTED = {
    **ORG_RULES,
    "eks-create-cluster.json": CLUSTER_RULES,
    "eks-delete-cluster.json": CLUSTER_RULES,
}


def _set_state_failed(event):
    event["detail"]["serviceEventDetails"]["createAccountStatus"]["state"] = "FAILED"


def _set_list_clusters(event):
    event["detail"]["eventName"] = "ListClusters"


# Mutated copies of samples that must match nothing: (label, sample, mutation).
NEGATIVE_CONTROLS = [
    (
        "negative: create-account-result-succeeded, state FAILED",
        "create-account-result-succeeded.json",
        _set_state_failed,
    ),
    (
        "negative: eks-create-cluster, eventName ListClusters",
        "eks-create-cluster.json",
        _set_list_clusters,
    ),
]

PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::StackName": "autofed",
    "AWS::URLSuffix": "amazonaws.com",
}


def plain(node):
    """cfn-lint's nodes as plain dicts, lists and strings."""
    return json.loads(json.dumps(node, default=str))


def load_template(path):
    return plain(cfn_yaml.load(str(path)))


def substitute(text):
    """A !Sub string with each ${...} replaced by a placeholder (${!x} is the literal ${x})."""

    def one(m):
        name = m.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in PSEUDO:
            return PSEUDO[name]
        resource, _, attr = name.partition(".")
        if attr == "Arn":
            return f"arn:aws:events:{REGION}:123456789012:placeholder/{resource}"
        return f"placeholder-{name.replace('.', '-')}"

    return re.sub(r"\$\{([^}]*)\}", one, text)


def bus_of(logical_id, props, resources):
    """The label of the bus a top-level rule is on."""
    name = props.get("EventBusName")
    if name is None or name == "default":
        return DEFAULT_BUS
    target = None
    if isinstance(name, dict) and "Ref" in name:
        target = name["Ref"]
    elif isinstance(name, dict) and "Fn::GetAtt" in name:
        att = name["Fn::GetAtt"]
        target = att[0] if isinstance(att, list) else att.split(".")[0]
    if target is not None and resources.get(target, {}).get("Type") == "AWS::Events::EventBus":
        return target
    if isinstance(name, str):
        return name
    raise SystemExit(f"{logical_id}: cannot tell which bus EventBusName {name!r} names")


def collect_rules(template):
    """Every rule of the template: {label: (bus, pattern)}."""
    resources = template.get("Resources", {})
    rules = {}
    for logical_id, res in resources.items():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Events::Rule":
            if "EventPattern" not in props:
                continue  # a scheduled rule: no pattern to check
            bus = bus_of(logical_id, props, resources)
            rules[f"{logical_id}@{bus}"] = (bus, props["EventPattern"])
        elif res.get("Type") == "AWS::CloudFormation::StackSet":
            body = props.get("TemplateBody")
            if isinstance(body, dict) and "Fn::Sub" in body:
                sub = body["Fn::Sub"]
                body = substitute(sub[0] if isinstance(sub, list) else sub)
            if not isinstance(body, str):
                raise SystemExit(f"{logical_id}: TemplateBody is neither a string nor a !Sub")
            inner = plain(cfn_yaml.loads(body))
            for inner_id, inner_res in inner.get("Resources", {}).items():
                inner_props = inner_res.get("Properties", {})
                if inner_res.get("Type") != "AWS::Events::Rule":
                    continue
                if "EventPattern" not in inner_props:
                    continue
                if inner_props.get("EventBusName", "default") != "default":
                    raise SystemExit(
                        f"{logical_id}/{inner_id}: a StackSet rule on a bus other than the "
                        "member's default bus is not modelled here"
                    )
                rules[f"{logical_id}/{inner_id}@{MEMBER_DEFAULT_BUS}"] = (
                    MEMBER_DEFAULT_BUS,
                    inner_props["EventPattern"],
                )
    return rules


def load_samples(events_dir):
    """The EventBridge samples by file name, and the files skipped (SQS envelopes)."""
    samples, skipped, problems = {}, [], []
    for path in sorted(Path(events_dir).glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "detail-type" in data:
            samples[path.name] = data
        elif isinstance(data, dict) and "Records" in data:
            skipped.append(path.name)
        else:
            problems.append(f"{path.name}: neither an EventBridge event nor an SQS envelope")
    return samples, skipped, problems


class Bed:
    """The rules in moto, each with its probe queue."""

    def __init__(self, endpoint, rules):
        kw = dict(
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.events = boto3.client("events", **kw)
        self.sqs = boto3.client("sqs", **kw)
        self.run = uuid.uuid4().hex[:8]
        self.bus_names = {}  # label -> moto bus name
        self.rules = {}  # label -> (moto bus name, moto rule name, queue url)
        for bus in sorted({bus for bus, _ in rules.values()}):
            if bus == DEFAULT_BUS:
                self.bus_names[bus] = "default"
            else:
                name = f"autofed-{bus}-{self.run}"
                self.events.create_event_bus(Name=name)
                self.bus_names[bus] = name
        for i, (label, (bus, pattern)) in enumerate(sorted(rules.items())):
            bus_name = self.bus_names[bus]
            rule_name = f"probe-{i}-{self.run}"
            self.events.put_rule(
                Name=rule_name,
                EventBusName=bus_name,
                EventPattern=json.dumps(pattern),
                State="ENABLED",
                Description=label,
            )
            url = self.sqs.create_queue(QueueName=f"probe-{i}-{self.run}")["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            self.events.put_targets(
                Rule=rule_name, EventBusName=bus_name, Targets=[{"Id": "probe", "Arn": arn}]
            )
            self.rules[label] = (bus_name, rule_name, url)
        # Nothing may be waiting before the first sample.
        for label in self.rules:
            if self.drain(label):
                raise SystemExit(f"probe queue of {label} is not empty before any event")

    def put_everywhere(self, event):
        """Puts the event on every bus once."""
        for bus_name in self.bus_names.values():
            out = self.events.put_events(
                Entries=[
                    {
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "Resources": event.get("resources", []),
                        "EventBusName": bus_name,
                    }
                ]
            )
            if out.get("FailedEntryCount"):
                raise SystemExit(f"PutEvents on {bus_name} failed: {out['Entries']}")

    def drain(self, label):
        """The messages waiting in a rule's probe queue, deleted."""
        _, _, url = self.rules[label]
        got = []
        while True:
            msgs = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not msgs:
                return got
            for m in msgs:
                got.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def deliveries(self, event):
        """{rule label: number of deliveries} for one event put on every bus."""
        self.put_everywhere(event)
        counts = {}
        for label in self.rules:
            got = self.drain(label)
            for body in got:
                if body.get("detail") != event["detail"]:
                    raise SystemExit(f"{label}'s probe received an event that is not this one")
            counts[label] = len(got)
        return counts

    def close(self):
        for bus_name, rule_name, url in self.rules.values():
            self.events.remove_targets(Rule=rule_name, EventBusName=bus_name, Ids=["probe"])
            self.events.delete_rule(Name=rule_name, EventBusName=bus_name)
            self.sqs.delete_queue(QueueUrl=url)
        for label, name in self.bus_names.items():
            if label != DEFAULT_BUS:
                self.events.delete_event_bus(Name=name)


def print_matrix(rows, labels):
    print("rules (columns):")
    for i, label in enumerate(labels):
        print(f"  [{i}] {label}")
    width = max(len(r) for r, _, _ in rows)
    head = " ".join(f"{i:>3}" for i in range(len(labels)))
    print(f"{'sample':<{width}}  {head}")
    for name, counts, expected in rows:
        cells = []
        for label in labels:
            n = counts[label]
            mark = "x" if n else "."
            if (n > 0) != (label in expected) or n > 1:
                mark += "!"
            cells.append(f"{mark:>3}")
        print(f"{name:<{width}}  {' '.join(cells)}")
    print("x: delivered to the rule's probe queue; .: not delivered; !: not as EXPECTED")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="moto's URL, http://127.0.0.1:PORT")
    ap.add_argument("--template", default=str(ROOT / "infra/template.yaml"))
    ap.add_argument("--events", default=str(ROOT / "events"))
    args = ap.parse_args()

    rules = collect_rules(load_template(args.template))
    samples, skipped, problems = load_samples(args.events)
    labels = sorted(rules)
    print(f"template: {args.template}: {len(rules)} rules")
    print(f"samples: {len(samples)} EventBridge events; skipped (SQS envelopes): {skipped}")

    for name in sorted(set(samples) - set(EXPECTED)):
        problems.append(
            f"{name}: a sample with no entry in EXPECTED (tests/testbed/event_patterns.py): "
            "say which rules it must match"
        )
    for name in sorted(set(EXPECTED) - set(samples)):
        problems.append(f"EXPECTED names {name}, which is not a sample in {args.events}")
    for name, want in sorted(EXPECTED.items()):
        for label in sorted(want - set(rules)):
            problems.append(
                f"EXPECTED says {name} matches {label}, which is not a rule of the template "
                f"(rules: {', '.join(labels)})"
            )

    cases = [(name, samples[name], EXPECTED.get(name, set())) for name in sorted(samples)]
    for label, name, mutate in NEGATIVE_CONTROLS:
        if name in samples:
            event = copy.deepcopy(samples[name])
            mutate(event)
            cases.append((label, event, set()))
        else:
            problems.append(f"negative control {label!r}: sample {name} is missing")

    bed = Bed(args.endpoint, rules)
    try:
        rows = [(name, bed.deliveries(event), want) for name, event, want in cases]
    finally:
        bed.close()
    print_matrix(rows, labels)

    matched = set()
    for name, counts, want in rows:
        got = {label for label, n in counts.items() if n}
        matched |= got
        for label in sorted(got - want):
            problems.append(f"{name} matches {label}, which EXPECTED does not allow")
        for label in sorted((want & set(rules)) - got):
            problems.append(f"{name} does not match {label}, which EXPECTED requires")
        for label, n in sorted(counts.items()):
            if n > 1:
                problems.append(f"{name} was delivered {n} times to {label}")
    for label in sorted(set(rules) - matched):
        problems.append(f"rule {label} is matched by no sample in {args.events}: add one")

    if problems:
        print(f"\nFAILED: {len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(
        f"\nOK: {len(samples)} samples and {len(NEGATIVE_CONTROLS)} negative controls x "
        f"{len(rules)} rules, each sample matched exactly its rules, every rule matched"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
