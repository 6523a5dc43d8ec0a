"""CloudFormation corrections for autofed's test bed (imported by moto_server.py).

autofed's `stack` deploy mode keeps an account's SAML provider and roles in one stack, changed
through change sets, and its backfill fills gaps in a service-managed StackSet. moto 5.2.5
implements the stack and change-set APIs, but not everything autofed depends on; each patch
below brings one behaviour closer to CloudFormation's, with an `NB:` naming what the real
service does. Nothing here changes what autofed's code does.
"""

import copy
import json
import uuid

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.exceptions import AlreadyExistsException, ValidationError
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.common_models import CloudFormationModel
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.iam import exceptions as iam_exceptions
from moto.iam import models as iam_models
from moto.utilities.utils import get_partition


def _iam(account_id, region_name):
    return iam_models.iam_backends[account_id][get_partition(region_name)]


def _document(value):
    return value if isinstance(value, str) else json.dumps(value)


# NB: CloudFormation has AWS::IAM::SAMLProvider
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-samlprovider.html);
# moto has no model for it and silently creates nothing. Ref (the physical id) is the ARN.
class SamlProviderResource(CloudFormationModel):
    # moto's model registry files every model under the service its module names.
    __module__ = "moto.iam.models"

    @staticmethod
    def cloudformation_type():
        return "AWS::IAM::SAMLProvider"

    @staticmethod
    def cloudformation_name_type():
        return "Name"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = cloudformation_json["Properties"]
        backend = _iam(account_id, region_name)
        name = props.get("Name", resource_name)
        if name in backend.saml_providers:
            raise iam_exceptions.EntityAlreadyExists(f"SAMLProvider {name} already exists.")
        provider = backend.create_saml_provider(name, props["SamlMetadataDocument"])
        provider.tags = list(props.get("Tags", []))
        return provider

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        props = cloudformation_json["Properties"]
        original_resource.saml_metadata_document = props["SamlMetadataDocument"]
        original_resource.tags = list(props.get("Tags", []))
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        _iam(account_id, region_name).delete_saml_provider(resource_name)


iam_models.SAMLProvider.physical_resource_id = property(lambda self: self.arn)
iam_models.SAMLProvider.is_created = lambda self: True
for _cached in (cfn_parsing.get_model_list, cfn_parsing.get_model_map, cfn_parsing.get_name_type_map):
    _cached.cache_clear()


# NB: CloudFormation's AWS::IAM::Role handler attaches ManagedPolicyArns (moto ignores them) and
# fails the resource when a policy does not exist, with IAM's message; on update it brings every
# property to the template (moto's update sets only the description, and reads the session
# duration from the wrong property). A change of name or path needs a replacement, which
# CloudFormation refuses for a custom-named resource.
_orig_role_create = iam_models.Role.create_from_cloudformation_json.__func__


def _role_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    role = _orig_role_create(cls, resource_name, cloudformation_json, account_id, region_name)
    backend = _iam(account_id, region_name)
    try:
        for arn in cloudformation_json["Properties"].get("ManagedPolicyArns", []):
            backend.attach_role_policy(arn, role.name)
    except Exception:
        for arn in list(role.managed_policies):
            backend.detach_role_policy(arn, role.name)
        backend.delete_role(role.name)
        raise
    return role


def _role_update(
    cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
):
    props = cloudformation_json["Properties"]
    role = original_resource
    if props.get("RoleName", role.name) != role.name or props.get("Path", "/") != role.path:
        raise ValidationError(
            message="CloudFormation cannot update a stack when a custom-named resource requires "
            f"replacing. Rename {role.name} and update the stack again."
        )
    backend = _iam(account_id, region_name)
    role.assume_role_policy_document = _document(props["AssumeRolePolicyDocument"])
    role.description = props.get("Description", "")
    role.max_session_duration = props.get("MaxSessionDuration", 3600)
    role.permissions_boundary_arn = props.get("PermissionsBoundary")
    role.tags = list(props.get("Tags", []))
    want = set(props.get("ManagedPolicyArns", []))
    for arn in set(role.managed_policies) - want:
        backend.detach_role_policy(arn, role.name)
    for arn in want - set(role.managed_policies):
        backend.attach_role_policy(arn, role.name)
    inline = {p["PolicyName"]: _document(p["PolicyDocument"]) for p in props.get("Policies", [])}
    for name in set(role.policies) - set(inline):
        role.delete_policy(name)
    for name, doc in inline.items():
        role.put_policy(name, doc)
    return role


_orig_role_delete = iam_models.Role.delete_from_cloudformation_json.__func__


def _role_delete(cls, resource_name, cloudformation_json, account_id, region_name):
    # The handler detaches the managed policies first; IAM refuses to delete a role with any.
    backend = _iam(account_id, region_name)
    for role in list(backend.roles.values()):
        if role.name == resource_name:
            for arn in list(role.managed_policies):
                backend.detach_role_policy(arn, role.name)
    return _orig_role_delete(cls, resource_name, cloudformation_json, account_id, region_name)


iam_models.Role.create_from_cloudformation_json = classmethod(_role_create)
iam_models.Role.update_from_cloudformation_json = classmethod(_role_update)
iam_models.Role.delete_from_cloudformation_json = classmethod(_role_delete)


# NB: CloudFormation answers UpdateTerminationProtection
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateTerminationProtection.html),
# and refuses DeleteStack on a protected stack; moto has neither.
def update_termination_protection(self):
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    stack.enable_termination_protection = self._get_param("EnableTerminationProtection") in (
        True,
        "true",
    )
    return ActionResult({"StackId": stack.stack_id})


CloudFormationResponse.update_termination_protection = update_termination_protection
_orig_delete_stack = cfn_models.CloudFormationBackend.delete_stack


def _delete_stack(self, name_or_stack_id):
    for stack in self.stacks.values():
        if name_or_stack_id in (stack.name, stack.stack_id) and stack.enable_termination_protection:
            raise ValidationError(
                message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is "
                "enabled"
            )
    return _orig_delete_stack(self, name_or_stack_id)


cfn_models.CloudFormationBackend.delete_stack = _delete_stack


# NB: a resource that fails makes CloudFormation record a *_FAILED event with the handler's
# message and roll the stack back (ROLLBACK_COMPLETE for a creation, UPDATE_ROLLBACK_COMPLETE
# for an update); ExecuteChangeSet itself succeeds. moto lets the exception escape instead.
class ResourceFailed(Exception):
    def __init__(self, logical_id, resource_type, status, reason):
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.status = status
        self.reason = reason


def _failing(orig, status):
    def wrapper(logical_id, resource_json, *args, **kwargs):
        try:
            return orig(logical_id, resource_json, *args, **kwargs)
        except ResourceFailed:
            raise
        except Exception as e:
            message = getattr(e, "message", None) or str(e)
            raise ResourceFailed(
                logical_id,
                resource_json.get("Type", ""),
                status,
                f'Resource handler returned message: "{message}"',
            ) from e

    return wrapper


cfn_parsing.parse_and_create_resource = _failing(
    cfn_parsing.parse_and_create_resource, "CREATE_FAILED"
)
cfn_parsing.parse_and_update_resource = _failing(
    cfn_parsing.parse_and_update_resource, "UPDATE_FAILED"
)


def _resource_event(stack, logical_id, resource_type, status, reason, physical_id=""):
    stack.events.append(
        cfn_models.Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id,
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _find_change_set(backend, name):
    for cs in backend.change_sets.values():
        if name in (cs.change_set_id, cs.change_set_name):
            return cs
    raise ValidationError(message=f"ChangeSet [{name}] does not exist")


_orig_execute = cfn_models.CloudFormationBackend.execute_change_set


def _execute_change_set(self, change_set_name, stack_name=None):
    change_set = _find_change_set(self, change_set_name)
    stack = self.stacks[change_set.stack_id]
    if change_set.execution_status != "AVAILABLE":
        raise ValidationError(
            message=f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current "
            f"status of [{change_set.status}]"
        )
    if change_set.change_set_type == "IMPORT":
        return _execute_import(stack, change_set)
    before = (copy.copy(stack.template), dict(stack.resource_map._resource_json_map))
    try:
        _orig_execute(self, change_set.change_set_id, stack_name)
    except ResourceFailed as failed:
        _resource_event(stack, failed.logical_id, failed.resource_type, failed.status, failed.reason)
        change_set.execution_status = "EXECUTE_FAILED"
        if change_set.change_set_type == "CREATE":
            why = f"The following resource(s) failed to create: [{failed.logical_id}]. "
            stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=why)
            resources = stack.resource_map._parsed_resources
            for logical_id, resource in list(resources.items()):
                if isinstance(resource, str) or resource is None:
                    continue
                try:
                    stack.resource_map._delete_resource(
                        resource, stack.resource_map._resource_json_map[logical_id]
                    )
                    _resource_event(stack, logical_id, resource.cf_resource_type, "DELETE_COMPLETE", None)
                except Exception as e:
                    _resource_event(stack, logical_id, resource.cf_resource_type, "DELETE_FAILED", str(e))
                resources.pop(logical_id)
            stack.resource_map._resource_json_map = {}
            stack._add_stack_event("ROLLBACK_COMPLETE")
            stack.status = "ROLLBACK_COMPLETE"
        else:
            why = f"The following resource(s) failed to update: [{failed.logical_id}]. "
            stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=why)
            # The template goes back; resources changed before the failure are not restored
            # (a gap: autofed's tests fail only creations).
            stack.template, stack.resource_map._resource_json_map = before
            stack._parse_template()
            stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
            stack.status = "UPDATE_ROLLBACK_COMPLETE"
        stack.stack_status_reason = why


cfn_models.CloudFormationBackend.execute_change_set = _execute_change_set


# NB: an IMPORT change set brings existing resources into a stack (creating the stack if it
# does not exist): the template is the deployed one plus the imported resources, each with a
# DeletionPolicy; its changes are `Import` ones; executing it changes no resource and leaves the
# stack IMPORT_COMPLETE. A resource that does not exist fails the change set. moto treats an
# import as a creation.
_IDENTIFIERS = {"AWS::IAM::Role": "RoleName", "AWS::IAM::SAMLProvider": "Arn"}


def _existing(backend_account, region, resource_type, identifier):
    iam = _iam(backend_account, region)
    try:
        if resource_type == "AWS::IAM::Role":
            return iam.get_role(identifier)
        if resource_type == "AWS::IAM::SAMLProvider":
            return iam.get_saml_provider(identifier)
    except Exception:
        return None
    return None


_orig_create_change_set = cfn_models.CloudFormationBackend.create_change_set


def _create_change_set(self, *args, **kwargs):
    names = [
        "stack_name",
        "change_set_name",
        "template",
        "parameters",
        "description",
        "change_set_type",
    ]
    call = dict(zip(names, args))
    call.update(kwargs)
    kind = call.get("change_set_type")
    existing = [
        s
        for s in self.stacks.values()
        if s.name == call["stack_name"] and s.status != "DELETE_COMPLETE"
    ]
    if kind == "CREATE" and existing and existing[0].status != "REVIEW_IN_PROGRESS":
        raise AlreadyExistsException(f"Stack [{call['stack_name']}] already exists")
    if kind == "UPDATE" and existing and existing[0].status in (
        "ROLLBACK_COMPLETE",
        "REVIEW_IN_PROGRESS",
    ):
        raise ValidationError(
            message=f"Stack:{existing[0].stack_id} is in {existing[0].status} state and can not "
            "be updated."
        )
    imports = _PENDING_IMPORTS.pop(None, None)
    if kind != "IMPORT":
        return _orig_create_change_set(self, *args, **kwargs)
    template = json.loads(call["template"])
    for r in imports or []:
        if "DeletionPolicy" not in template["Resources"].get(r["LogicalResourceId"], {}):
            raise ValidationError(
                message="The following resources to import "
                f"[{r['LogicalResourceId']}] must have DeletionPolicy attribute specified in the "
                "template."
            )
    kwargs_update = dict(call)
    kwargs_update["change_set_type"] = "UPDATE" if existing else "CREATE"
    change_set_id, stack_id = _orig_create_change_set(self, **kwargs_update)
    change_set = self.change_sets[change_set_id]
    change_set.change_set_type = "IMPORT"
    change_set.imports = imports or []
    change_set.changes = [
        cfn_models.Change("Import", r["LogicalResourceId"], r["ResourceType"])
        for r in change_set.imports
    ]
    missing = [
        r["LogicalResourceId"]
        for r in change_set.imports
        if _existing(self.account_id, self.region_name, r["ResourceType"], _identifier(r)) is None
    ]
    if missing:
        change_set.status = "FAILED"
        change_set.execution_status = "UNAVAILABLE"
        change_set.status_reason = f"Resources [{', '.join(missing)}] do not exist."
    else:
        change_set.status = "CREATE_COMPLETE"
        change_set.execution_status = "AVAILABLE"
        change_set.status_reason = None
    return change_set_id, stack_id


def _identifier(r):
    ident = r.get("ResourceIdentifier") or {}
    if isinstance(ident, dict) and "entry" in ident:
        ident = {e["key"]: e["value"] for e in ident["entry"]}
    return ident.get(_IDENTIFIERS.get(r["ResourceType"], ""), "")


cfn_models.CloudFormationBackend.create_change_set = _create_change_set

# The request's ResourcesToImport, handed from the response handler to the backend call it makes.
_PENDING_IMPORTS = {}
_orig_create_change_set_response = CloudFormationResponse.create_change_set


def _create_change_set_response(self):
    _PENDING_IMPORTS[None] = self._get_params().get("ResourcesToImport") or []
    try:
        return _orig_create_change_set_response(self)
    finally:
        _PENDING_IMPORTS.pop(None, None)


CloudFormationResponse.create_change_set = _create_change_set_response


def _execute_import(stack, change_set):
    stack._add_stack_event("IMPORT_IN_PROGRESS", resource_status_reason="User Initiated")
    template = json.loads(change_set.template)
    resource_map = stack.resource_map
    for r in change_set.imports:
        logical_id = r["LogicalResourceId"]
        resource = _existing(stack.account_id, stack.region_name, r["ResourceType"], _identifier(r))
        resource.logical_resource_id = logical_id
        resource.cf_resource_type = r["ResourceType"]
        resource_map._parsed_resources[logical_id] = resource
        _resource_event(
            stack,
            logical_id,
            r["ResourceType"],
            "IMPORT_COMPLETE",
            "Resource import completed",
            resource.physical_resource_id,
        )
    resource_map._resource_json_map = dict(template["Resources"])
    resource_map._template = template
    stack.template = change_set.template
    stack._parse_template()
    stack._add_stack_event("IMPORT_COMPLETE")
    stack.status = "IMPORT_COMPLETE"
    change_set.execution_status = "EXECUTE_COMPLETE"


# NB: DescribeChangeSet lists each change as {Type: Resource, ResourceChange: {Action,
# LogicalResourceId, PhysicalResourceId, ResourceType, Replacement}}
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ResourceChange.html).
cfn_models.Change.type = "Resource"
cfn_models.Change.resource_change = property(
    lambda self: {
        "Action": self.action,
        "LogicalResourceId": self.logical_resource_id,
        "ResourceType": self.resource_type,
        "Replacement": "False",
    }
)


# NB: CloudFormation detects drift
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DetectStackDrift.html):
# each resource's actual properties compared with the template's, reported per property with
# expected and actual values. moto has no drift detection. Implemented for the two types
# autofed's stacks hold; other types are NOT_CHECKED.
def _role_actual(role):
    doc = role.assume_role_policy_document
    actual = {
        "RoleName": role.name,
        "Path": role.path,
        "AssumeRolePolicyDocument": json.loads(doc) if isinstance(doc, str) else doc,
        "MaxSessionDuration": int(role.max_session_duration or 3600),
        "ManagedPolicyArns": sorted(role.managed_policies),
        "Policies": [
            {"PolicyName": n, "PolicyDocument": json.loads(_document(d))}
            for n, d in sorted(role.policies.items())
        ],
        "Tags": sorted(role.tags or [], key=lambda t: t["Key"]),
    }
    if role.description:
        actual["Description"] = role.description
    if role.permissions_boundary_arn:
        actual["PermissionsBoundary"] = role.permissions_boundary_arn
    return actual


def _normalized(key, value):
    if key in ("ManagedPolicyArns",):
        return sorted(value)
    if key == "Tags":
        return sorted(value, key=lambda t: t["Key"])
    if key == "Policies":
        return sorted(
            ({"PolicyName": p["PolicyName"], "PolicyDocument": json.loads(_document(p["PolicyDocument"]))} for p in value),
            key=lambda p: p["PolicyName"],
        )
    if key in ("AssumeRolePolicyDocument",):
        return json.loads(_document(value))
    return value


def _shown(value):
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _resource_drift(stack, logical_id, resource_json):
    resource_type = resource_json["Type"]
    expected = resource_json.get("Properties", {})
    resource = stack.resource_map._parsed_resources.get(logical_id)
    physical = getattr(resource, "physical_resource_id", "")
    iam = _iam(stack.account_id, stack.region_name)
    if resource_type == "AWS::IAM::Role":
        current = next((r for r in iam.get_roles() if r.name == physical), None)
        actual = _role_actual(current) if current else None
    elif resource_type == "AWS::IAM::SAMLProvider":
        current = next((p for p in iam.saml_providers.values() if p.arn == physical), None)
        actual = (
            {
                "Name": current.name,
                "SamlMetadataDocument": current.saml_metadata_document,
                "Tags": sorted(getattr(current, "tags", []), key=lambda t: t["Key"]),
            }
            if current
            else None
        )
    else:
        return {"LogicalResourceId": logical_id, "PhysicalResourceId": physical,
                "ResourceType": resource_type, "StackResourceDriftStatus": "NOT_CHECKED"}
    differences = []
    if actual is not None:
        for key, want in expected.items():
            want = _normalized(key, want)
            if key not in actual:
                differences.append((key, want, None, "REMOVE"))
            elif _normalized(key, actual[key]) != want:
                differences.append((key, want, actual[key], "NOT_EQUAL"))
    status = "DELETED" if actual is None else ("MODIFIED" if differences else "IN_SYNC")
    return {
        "StackId": stack.stack_id,
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": physical,
        "ResourceType": resource_type,
        "ExpectedProperties": json.dumps(expected, sort_keys=True),
        "ActualProperties": json.dumps(actual, sort_keys=True) if actual else None,
        "PropertyDifferences": [
            {
                "PropertyPath": f"/{key}",
                "ExpectedValue": _shown(want),
                "ActualValue": "" if got is None else _shown(got),
                "DifferenceType": kind,
            }
            for key, want, got, kind in differences
        ],
        "StackResourceDriftStatus": status,
        "Timestamp": utcnow(),
    }


_DETECTIONS = {}


def detect_stack_drift(self):
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    drifts = [
        _resource_drift(stack, logical_id, resource_json)
        for logical_id, resource_json in stack.resource_map._resource_json_map.items()
    ]
    drifted = [d for d in drifts if d["StackResourceDriftStatus"] in ("MODIFIED", "DELETED")]
    detection_id = str(uuid.uuid4())
    stack.drifts = drifts
    _DETECTIONS[detection_id] = {
        "StackId": stack.stack_id,
        "StackDriftDetectionId": detection_id,
        "StackDriftStatus": "DRIFTED" if drifted else "IN_SYNC",
        "DetectionStatus": "DETECTION_COMPLETE",
        "DriftedStackResourceCount": len(drifted),
        "Timestamp": utcnow(),
    }
    return ActionResult({"StackDriftDetectionId": detection_id})


def describe_stack_drift_detection_status(self):
    detection_id = self._get_param("StackDriftDetectionId")
    if detection_id not in _DETECTIONS:
        raise ValidationError(message=f"Drift detection id {detection_id} does not exist")
    return ActionResult(_DETECTIONS[detection_id])


def describe_stack_resource_drifts(self):
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    return ActionResult({"StackResourceDrifts": getattr(stack, "drifts", [])})


CloudFormationResponse.detect_stack_drift = detect_stack_drift
CloudFormationResponse.describe_stack_drift_detection_status = describe_stack_drift_detection_status
CloudFormationResponse.describe_stack_resource_drifts = describe_stack_resource_drifts


# NB: with DeploymentTargets.AccountFilterType INTERSECTION, a service-managed StackSet
# deploys only to the listed Accounts that are in the listed OUs or any OU beneath them
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html);
# moto ignores the filter, and reaches only one level of OUs down.
_orig_create_instances = cfn_models.StackInstances.create_instances


def _create_instances(self, accounts, regions, parameters, deployment_targets, permission_model):
    targets = deployment_targets or {}
    if targets.get("AccountFilterType") != "INTERSECTION":
        return _orig_create_instances(
            self, accounts, regions, parameters, deployment_targets, permission_model
        )
    org = self.org_backend
    ous = set(targets.get("OrganizationalUnitIds", []))
    grew = True
    while grew:
        below = {ou.id for ou in org.ou if ou.parent_id in ous}
        grew = not below <= ous
        ous |= below
    wanted = set(targets.get("Accounts", []))
    inside = [a.id for a in org.accounts if a.parent_id in ous and a.id in wanted]
    new = []
    for region in regions:
        for account in inside:
            if self.get_instance(account, region) is not None:
                continue
            instance = cfn_models.StackInstance(
                account_id=account,
                region_name=region,
                stackset_id=self.stackset_id,
                stack_name=self.stack_name,
                name=self.stackset_name,
                template=self.template,
                parameters=parameters,
                permission_model=permission_model,
            )
            new.append(instance)
    self.stack_instances += new
    return [i.to_dict() for i in new]


cfn_models.StackInstances.create_instances = _create_instances
