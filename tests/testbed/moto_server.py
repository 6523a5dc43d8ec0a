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

from moto.iam import models as iam_models  # noqa: E402
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
