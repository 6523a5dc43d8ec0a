"""Starts moto's server for autofed's test bed and sandbox.

Binds 127.0.0.1 on a port the kernel picks, prints ``PORT <n>`` on stdout, and serves until its
standard input closes: the process that started it holds that pipe, so the server stops when its
parent does, however the parent ends. Nothing here changes what autofed's code does; the patches
below only bring moto closer to the real IAM API where autofed depends on it.
"""

import json
import os
import sys

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.iam import exceptions as iam_exceptions  # noqa: E402
from moto.iam import models as iam_models  # noqa: E402
from moto.ssoadmin import models as sso_models  # noqa: E402
from moto.settings import load_iam_aws_managed_policies  # noqa: E402
from moto.iam.responses import IamResponse  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402

from moto.core.responses import ActionResult, EmptyResult  # noqa: E402


# NB: moto 5.2.5 drops the Tags of CreateSAMLProvider and has no ListSAMLProviderTags /
# TagSAMLProvider / UntagSAMLProvider. Real IAM has all of them
# (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateSAMLProvider.html), and
# autofed marks the providers it owns with a tag, so the test bed adds them.
def _provider(self, arn):
    return self.backend.get_saml_provider(arn)


_orig_create = IamResponse.create_saml_provider


def create_saml_provider(self):
    # NB: moto replaces a provider of the same name; IAM refuses with EntityAlreadyExists.
    if self._get_param("Name") in self.backend.saml_providers:
        raise iam_exceptions.EntityAlreadyExists(
            f"SAMLProvider {self._get_param('Name')} already exists."
        )
    result = _orig_create(self)
    name = self._get_param("Name")
    provider = self.backend.saml_providers[name]
    provider.tags = list(self._get_param("Tags", []))
    return result


def list_saml_provider_tags(self):
    provider = _provider(self, self._get_param("SAMLProviderArn"))
    return ActionResult({"Tags": getattr(provider, "tags", []), "IsTruncated": False})


def tag_saml_provider(self):
    provider = _provider(self, self._get_param("SAMLProviderArn"))
    tags = {t["Key"]: t["Value"] for t in getattr(provider, "tags", [])}
    for t in self._get_param("Tags", []):
        tags[t["Key"]] = t["Value"]
    provider.tags = [{"Key": k, "Value": v} for k, v in tags.items()]
    return EmptyResult()


def untag_saml_provider(self):
    provider = _provider(self, self._get_param("SAMLProviderArn"))
    drop = set(self._get_param("TagKeys", []))
    provider.tags = [t for t in getattr(provider, "tags", []) if t["Key"] not in drop]
    return EmptyResult()


IamResponse.create_saml_provider = create_saml_provider


# NB: moto appends a second, identical account assignment when one is created twice; Identity
# Center keeps one assignment per account, permission set and principal, and answers the
# request as succeeded. Two deliveries of one event at once depend on that.
_orig_assign = sso_models.SSOAdminBackend.create_account_assignment


def create_account_assignment(self, instance_arn, target_id, target_type, permission_set_arn,
                              principal_type, principal_id):
    for a in self.account_assignments:
        if (a.instance_arn, a.target_id, a.permission_set_arn, a.principal_type,
                a.principal_id) == (instance_arn, target_id, permission_set_arn,
                                    principal_type, principal_id):
            request = sso_models.AccountAssignment(
                instance_arn, target_id, target_type, permission_set_arn, principal_type,
                principal_id,
            )
            _repeated_requests(self)[request.request_id] = request
            return request.to_json(include_creation_date=True, include_request_id=True)
    return _orig_assign(self, instance_arn, target_id, target_type, permission_set_arn,
                        principal_type, principal_id)


def _repeated_requests(backend):
    """The creation requests answered for an assignment that already existed, by request id:
    Identity Center reports their status as it does any other's."""
    return backend.__dict__.setdefault("_repeated_requests", {})


_orig_creation_status = sso_models.SSOAdminBackend.describe_account_assignment_creation_status


def describe_account_assignment_creation_status(self, account_assignment_creation_request_id,
                                               instance_arn):
    request = _repeated_requests(self).get(account_assignment_creation_request_id)
    if request is not None:
        return request.to_json(include_creation_date=True, include_request_id=True)
    return _orig_creation_status(self, account_assignment_creation_request_id, instance_arn)


sso_models.SSOAdminBackend.create_account_assignment = create_account_assignment
sso_models.SSOAdminBackend.describe_account_assignment_creation_status = (
    describe_account_assignment_creation_status
)
IamResponse.list_saml_provider_tags = list_saml_provider_tags
IamResponse.tag_saml_provider = tag_saml_provider
IamResponse.untag_saml_provider = untag_saml_provider
iam_models.SAMLProvider.tags = []


# NB: with MOTO_IAM_LOAD_MANAGED_POLICIES, moto parses its 1,582 AWS managed policies again for
# every IAM backend, one per account and partition, and `/moto-api/reset` rebuilds them all:
# about 0.3 s each, 7-9 s per reset in our tests. The policies are the same every time, so they
# are parsed once here, and built only for the `aws` partition, the only one the test bed uses.
# Each backend still gets its own policy objects (attachment counts are per account).
_AWS_POLICIES = None


def _init_aws_policies(self):
    global _AWS_POLICIES
    if not load_iam_aws_managed_policies() or self.partition != "aws":
        return []
    if _AWS_POLICIES is None:
        from datetime import datetime

        parsed = json.loads(iam_models.aws_managed_policies_data)
        _AWS_POLICIES = [
            (
                name,
                d.get("DefaultVersionId"),
                d.get("Path"),
                json.dumps(d.get("Document")),
                datetime.fromisoformat(d["CreateDate"]),
                datetime.fromisoformat(d["UpdateDate"]),
            )
            for name, d in parsed.items()
        ]
    return [
        iam_models.AWSManagedPolicy(
            name,
            account_id=self.account_id,
            region=self.region_name,
            default_version_id=version,
            path=path,
            document=document,
            create_date=created,
            update_date=updated,
        )
        for name, version, path, document, created, updated in _AWS_POLICIES
    ]


iam_models.IAMBackend._init_aws_policies = _init_aws_policies


# The STS credentials moto hands out (every AssumeRole's secret key and session token) are
# appended to the file AUTOFED_STS_SECRETS names: tests/run.sh then scans every log line and
# report of the run for them, as for the Okta tokens.
from moto.sts import models as sts_models  # noqa: E402

_secrets_path = os.environ.get("AUTOFED_STS_SECRETS")
_orig_assume_role = sts_models.STSBackend.assume_role


def assume_role(self, *args, **kwargs):
    role = _orig_assume_role(self, *args, **kwargs)
    if _secrets_path:
        with open(_secrets_path, "a") as f:
            f.write(role.secret_access_key + "\n" + role.session_token + "\n")
    return role


sts_models.STSBackend.assume_role = assume_role


# NB: moto does not check signatures; STS does. EKS's authenticator replays an EKS token (a
# presigned GetCallerIdentity URL, signed with the `x-k8s-aws-id` header) to STS, and only a
# valid signature over that header proves the token names the cluster. The Kubernetes fake
# replays tokens here, so presigned GetCallerIdentity requests are verified as STS does (SigV4
# query signing, with the secret moto issued for the access key). The fake calls moto directly,
# so the host the token was signed for comes in `X-Forwarded-Host`.
import datetime  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
from urllib.parse import parse_qsl, quote  # noqa: E402

from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402


def _secret_for(access_key):
    for account in list(iam_models.iam_backends.values()):
        for backend in account.values():
            key = backend.access_keys.get(access_key)
            if key is not None:
                return key.secret_access_key
    return None


def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _presigned_ok(environ):
    params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    q = dict(params)
    try:
        access_key, date, region, service, _ = q["X-Amz-Credential"].split("/")
        signed = q["X-Amz-SignedHeaders"].split(";")
        stamp = q["X-Amz-Date"]
        expires = int(q.get("X-Amz-Expires", "900"))
        given = q["X-Amz-Signature"]
    except (KeyError, ValueError):
        return False
    when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    age = (datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()
    if age > min(expires, 900) or age < -300:
        sys.stderr.write("presigned GetCallerIdentity: expired\n")
        return False
    secret = _secret_for(access_key)
    if secret is None:
        sys.stderr.write("presigned GetCallerIdentity: unknown access key " + access_key + "\n")
        return False
    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(params)
        if k != "X-Amz-Signature"
    )
    values = {
        "host": environ.get("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST", ""),
    }
    for name in signed:
        if name != "host":
            values[name] = environ.get("HTTP_" + name.upper().replace("-", "_"), "")
    headers = "".join(f"{n}:{values[n].strip()}\n" for n in signed)
    canonical = "\n".join(
        ["GET", "/", query, headers, ";".join(signed), hashlib.sha256(b"").hexdigest()]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _sign(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _sign(key, part)
    want = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(want, given)
    if not ok:
        sys.stderr.write("presigned GetCallerIdentity: signature mismatch; canonical request:\n" + canonical + "\n")
    return ok


_dispatch = DomainDispatcherApplication.__call__


def _verifying_call(self, environ, start_response):
    query = environ.get("QUERY_STRING", "")
    presigned = (
        environ.get("REQUEST_METHOD") == "GET"
        and "Action=GetCallerIdentity" in query
        and "X-Amz-Signature=" in query
    )
    if presigned and _presigned_ok(environ):
        # moto routes and identifies callers by the Authorization header only; a verified
        # presigned request is handed to it as the header-signed request it stands for.
        credential = dict(parse_qsl(query))["X-Amz-Credential"]
        environ["HTTP_AUTHORIZATION"] = (
            f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=verified"
        )
    elif presigned:
        body = (
            b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            b"<Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>The request "
            b"signature we calculated does not match the signature you provided.</Message>"
            b"</Error><RequestId>0c5f4a7e-0000-4000-8000-0000000005a1</RequestId></ErrorResponse>"
        )
        start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _verifying_call


# CloudFormation: the stack, change-set, drift and StackSet behaviours autofed depends on.
import moto_cfn  # noqa: E402,F401

# SQS: moto works out each message's visibility and delay from a datetime round trip (about
# 16 us) for every message of the queue, several times per call; with the 1000 messages of the
# backfill benchmark a ReceiveMessage took 1.6 s (SQS answers in milliseconds), which the
# benchmark would count as autofed's time. The same clock, read directly: 60 ms.
import time  # noqa: E402
from moto.core.utils import unix_time_millis as _unix_time_millis  # noqa: E402
from moto.sqs import models as sqs_models  # noqa: E402

sqs_models.unix_time_millis = (
    lambda dt=None: time.time() * 1000.0 if dt is None else _unix_time_millis(dt)
)


def main():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    # Serve until the parent closes our stdin (it exited, or asked us to stop).
    sys.stdin.read()
    server.stop()
    os._exit(0)


if __name__ == "__main__":
    main()
