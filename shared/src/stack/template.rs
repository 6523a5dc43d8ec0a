//! The account's federation as a CloudFormation template, rendered from the same desired state
//! the IAM calls of `direct` mode use: there is no second definition of the roles. Pure.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::{
    aws::cfn::Change,
    desired::{self, DesiredProvider, DesiredRole, INLINE_POLICY_NAME},
    observe::{ObservedProvider, ObservedRole},
};

/// The SAML provider's logical id.
pub const PROVIDER_ID: &str = "SamlProvider";
/// The provider's resource type.
pub const PROVIDER_TYPE: &str = "AWS::IAM::SAMLProvider";
/// A role's resource type.
pub const ROLE_TYPE: &str = "AWS::IAM::Role";

/// A role's logical id: `Role` and its name, each character that a logical id cannot hold
/// (anything but letters and digits; role names also allow `+=,.@_-`) written as `x` and its
/// two hex digits, so that two names never share an id.
pub fn role_id(name: &str) -> String {
    let mut id = String::from("Role");
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else {
            id.push_str(&format!("x{:02x}", c as u32));
        }
    }
    id
}

/// The whole template: the provider (when given) and the roles.
pub fn render(
    account_id: &str,
    provider: Option<&DesiredProvider>,
    roles: &[&DesiredRole],
) -> Value {
    let mut resources = Map::new();
    if let Some(p) = provider {
        resources.insert(
            PROVIDER_ID.into(),
            provider_resource(&p.name, &p.metadata, &desired::managed_tags()),
        );
    }
    for role in roles {
        resources.insert(
            role_id(&role.name),
            role_resource(role, &desired::managed_tags(), provider.is_some()),
        );
    }
    document(account_id, resources)
}

fn document(account_id: &str, resources: Map<String, Value>) -> Value {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "autofed: the SAML provider and federated roles of account {account_id}. \
             Managed by autofed from its configuration; changes made here are reverted."
        ),
        "Resources": resources,
    })
}

/// The template with `resources` added: the deployed one for an import (CloudFormation
/// imports into a stack only with its template otherwise unchanged), or a new one.
pub fn with_resources(
    account_id: &str,
    base: Option<&Value>,
    resources: Vec<(String, Value)>,
) -> Value {
    let mut doc = base
        .cloned()
        .unwrap_or_else(|| document(account_id, Map::new()));
    let map = doc
        .get_mut("Resources")
        .and_then(Value::as_object_mut)
        .expect("a template has resources");
    map.extend(resources);
    doc
}

/// The provider as a resource.
pub fn provider_resource(name: &str, metadata: &str, tags: &BTreeMap<String, String>) -> Value {
    json!({
        "Type": PROVIDER_TYPE,
        "DeletionPolicy": "Delete",
        "Properties": {
            "Name": name,
            "SamlMetadataDocument": metadata,
            "Tags": tag_list(tags),
        },
    })
}

/// An existing provider as it is, for an import.
pub fn observed_provider_resource(name: &str, seen: &ObservedProvider) -> Value {
    provider_resource(name, &seen.metadata, &seen.tags)
}

/// A role as a resource. Roles depend on the provider their trust policy names, when the
/// template holds it, so CloudFormation creates it first and deletes it last.
pub fn role_resource(
    role: &DesiredRole,
    tags: &BTreeMap<String, String>,
    after_provider: bool,
) -> Value {
    let mut props = Map::new();
    props.insert("RoleName".into(), json!(role.name));
    props.insert("Path".into(), json!(role.path));
    if let Some(d) = &role.description {
        props.insert("Description".into(), json!(d));
    }
    props.insert("AssumeRolePolicyDocument".into(), role.trust.clone());
    props.insert(
        "MaxSessionDuration".into(),
        json!(role.max_session_duration),
    );
    if !role.managed_policy_arns.is_empty() {
        props.insert(
            "ManagedPolicyArns".into(),
            json!(role.managed_policy_arns.iter().collect::<Vec<_>>()),
        );
    }
    if let Some(doc) = &role.inline_policy {
        props.insert(
            "Policies".into(),
            json!([{"PolicyName": INLINE_POLICY_NAME, "PolicyDocument": doc}]),
        );
    }
    if let Some(b) = &role.permissions_boundary {
        props.insert("PermissionsBoundary".into(), json!(b));
    }
    props.insert("Tags".into(), tag_list(tags));
    let mut resource = json!({
        "Type": ROLE_TYPE,
        "DeletionPolicy": "Delete",
        "Properties": props,
    });
    if after_provider {
        resource["DependsOn"] = json!(PROVIDER_ID);
    }
    resource
}

/// An existing role as it is, for an import.
pub fn observed_role_resource(name: &str, seen: &ObservedRole, after_provider: bool) -> Value {
    let role = DesiredRole {
        name: name.to_string(),
        path: seen.path.clone(),
        description: seen.description.clone(),
        trust: seen.trust.clone().unwrap_or(Value::Null),
        managed_policy_arns: seen.attached.clone(),
        inline_policy: seen.inline_policy.clone(),
        max_session_duration: seen.max_session_duration,
        permissions_boundary: seen.permissions_boundary.clone(),
    };
    role_resource(&role, &seen.tags, after_provider)
}

fn tag_list(tags: &BTreeMap<String, String>) -> Value {
    tags.iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect()
}

/// The changes that take a stack from `base` (none: no stack) to `new`, as CloudFormation
/// lists them in a change set: each resource added, removed, or whose definition differs.
pub fn changes(base: Option<&Value>, new: &Value) -> Vec<Change> {
    let empty = Map::new();
    let resources = |t: Option<&Value>| -> Map<String, Value> {
        t.and_then(|t| t.get("Resources"))
            .and_then(Value::as_object)
            .unwrap_or(&empty)
            .clone()
    };
    let (old, new) = (resources(base), resources(Some(new)));
    let kind = |r: &Value| r["Type"].as_str().unwrap_or_default().to_string();
    let mut out = Vec::new();
    for (id, r) in &new {
        let action = match old.get(id) {
            None => "Add",
            Some(o) if o != r => "Modify",
            Some(_) => continue,
        };
        out.push(Change {
            action: action.into(),
            logical_id: id.clone(),
            resource_type: kind(r),
        });
    }
    for (id, r) in &old {
        if !new.contains_key(id) {
            out.push(Change {
                action: "Remove".into(),
                logical_id: id.clone(),
                resource_type: kind(r),
            });
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, sync::Arc};

    use super::*;
    use crate::policy;

    fn role(name: &str) -> DesiredRole {
        DesiredRole {
            name: name.into(),
            path: "/".into(),
            description: Some("d".into()),
            trust: policy::saml_trust("arn:aws:iam::111111111111:saml-provider/Okta"),
            managed_policy_arns: BTreeSet::from(["arn:aws:iam::aws:policy/ReadOnlyAccess".into()]),
            inline_policy: None,
            max_session_duration: 3600,
            permissions_boundary: None,
        }
    }

    fn provider() -> DesiredProvider {
        DesiredProvider {
            name: "Okta".into(),
            arn: "arn:aws:iam::111111111111:saml-provider/Okta".into(),
            metadata: Arc::from("<md/>"),
        }
    }

    #[test]
    fn logical_ids_are_alphanumeric_and_distinct() {
        assert_eq!(role_id("Admin"), "RoleAdmin");
        assert_eq!(role_id("Power-Users"), "RolePowerx2dUsers");
        assert_ne!(role_id("a-b"), role_id("a_b"));
        assert!(
            role_id("a+=,.@_-")
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
    }

    #[test]
    fn the_template_holds_the_provider_and_each_role_with_the_managed_tag() {
        let (a, b) = (role("Admin"), role("ReadOnly"));
        let t = render("111111111111", Some(&provider()), &[&a, &b]);
        let r = t["Resources"].as_object().unwrap();
        assert_eq!(
            r.keys().collect::<Vec<_>>(),
            ["RoleAdmin", "RoleReadOnly", "SamlProvider"]
        );
        assert_eq!(
            r["SamlProvider"]["Properties"]["SamlMetadataDocument"],
            "<md/>"
        );
        let admin = &r["RoleAdmin"];
        assert_eq!(admin["DependsOn"], "SamlProvider");
        assert_eq!(admin["Properties"]["AssumeRolePolicyDocument"], a.trust);
        assert_eq!(
            admin["Properties"]["ManagedPolicyArns"],
            json!(["arn:aws:iam::aws:policy/ReadOnlyAccess"])
        );
        assert_eq!(
            admin["Properties"]["Tags"],
            json!([{"Key": "autofed:managed-by", "Value": "autofed"}])
        );
        assert!(admin["Properties"].get("Policies").is_none());
    }

    #[test]
    fn changes_name_each_resource_added_modified_and_removed() {
        let (a, b, c) = (role("Admin"), role("ReadOnly"), role("Power"));
        let old = render("1", Some(&provider()), &[&a, &b]);
        assert!(changes(Some(&old), &old).is_empty());
        let mut a2 = a.clone();
        a2.max_session_duration = 7200;
        let new = render("1", Some(&provider()), &[&a2, &c]);
        let got: Vec<String> = changes(Some(&old), &new)
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "Add RolePower (AWS::IAM::Role)",
                "Modify RoleAdmin (AWS::IAM::Role)",
                "Remove RoleReadOnly (AWS::IAM::Role)",
            ]
        );
        assert_eq!(changes(None, &new).len(), 3);
    }
}
