//! Reads for one cluster: the principals' ARNs in IAM, the access entries in EKS, aws-auth and
//! the desired objects in the API server. Reads only.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;

use super::{
    aws_auth::{self, MapRoles},
    desired::{DesiredCluster, Grant, Kind, KubeObject, PrincipalRef},
    plan::{ObservedAwsAuth, ObservedCluster},
};
use crate::{
    aws::{eks, iam},
    error::Result,
    kube::{Kube, KubeError},
};

/// The grants' principals that exist, by ARN, and why the others are not there yet.
pub struct Principals {
    /// The ARN (with its path) of each principal found.
    pub resolved: BTreeMap<PrincipalRef, String>,
    /// A principal not found, with the reason.
    pub missing: Vec<(PrincipalRef, String)>,
}

/// Finds each grant's principal in the account's IAM, from one listing of its roles: a
/// federated role by name (autofed creates it when onboarding the account), an Identity Center
/// role by its `AWSReservedSSO_<permission set>_<suffix>` name under the reserved path, with or
/// without a region segment.
pub async fn principals(
    iam_client: &aws_sdk_iam::Client,
    account_id: &str,
    grants: &[Grant],
) -> Result<Principals> {
    let mut out = Principals {
        resolved: BTreeMap::new(),
        missing: Vec::new(),
    };
    if grants.is_empty() {
        return Ok(out);
    }
    let roles = iam::roles(iam_client).await?;
    for grant in grants {
        let p = &grant.principal;
        let (found, missing) = match p {
            PrincipalRef::Role { name, .. } => (
                roles.iter().find(|(n, _, _)| n == name),
                format!(
                    "role {name} does not exist in account {account_id} yet (the account's onboarding creates it)"
                ),
            ),
            PrincipalRef::PermissionSet(ps) => (
                roles.iter().find(|(n, path, _)| {
                    path.starts_with(iam::RESERVED_SSO_PATH) && is_permission_set_role(n, ps)
                }),
                format!(
                    "IAM Identity Center has not provisioned permission set {ps} in account {account_id} yet (no AWSReservedSSO_{ps}_* role)"
                ),
            ),
        };
        match found {
            Some((_, _, arn)) => {
                out.resolved.insert(p.clone(), arn.clone());
            }
            None => out.missing.push((p.clone(), missing)),
        }
    }
    Ok(out)
}

/// Whether `role_name` is Identity Center's role for permission set `ps`:
/// `AWSReservedSSO_<ps>_<16 hex digits>`.
pub fn is_permission_set_role(role_name: &str, ps: &str) -> bool {
    role_name
        .strip_prefix("AWSReservedSSO_")
        .and_then(|rest| rest.strip_prefix(ps))
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|suffix| suffix.len() == 16 && suffix.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Reads the access entries (when `entries` is set), aws-auth (when `aws_auth` is set) and
/// each desired object.
pub async fn observe(
    eks_client: &aws_sdk_eks::Client,
    kube: Option<&Kube>,
    cluster: &str,
    desired: &DesiredCluster,
    entries: bool,
    aws_auth: bool,
) -> Result<ObservedCluster> {
    let mut observed = ObservedCluster::default();
    if entries {
        let wanted: BTreeSet<&str> = desired
            .entries
            .iter()
            .map(|e| e.principal_arn.as_str())
            .collect();
        observed.entries = eks::entries(eks_client, cluster, |arn, owned| {
            owned || wanted.contains(arn)
        })
        .await?;
    }
    let Some(kube) = kube else {
        return Ok(observed);
    };
    if aws_auth {
        observed.aws_auth = Some(read_aws_auth(kube).await?);
    }
    // A namespace that does not exist holds nothing (Kubernetes deletes a namespace's objects
    // before the namespace itself), so what autofed wants in a namespace it has yet to create
    // is not read: a new cluster's Role and bindings.
    let (namespaces, namespaced): (Vec<&KubeObject>, Vec<&KubeObject>) = desired
        .objects
        .iter()
        .partition(|o| o.kind == Kind::Namespace);
    let mut absent: BTreeSet<&str> = BTreeSet::new();
    for object in namespaces.into_iter().chain(namespaced) {
        let live = match object.namespace.as_deref() {
            Some(ns) if absent.contains(ns) => None,
            _ => kube.get(&object.path()).await?,
        };
        if object.kind == Kind::Namespace && live.is_none() {
            absent.insert(&object.name);
        }
        observed.objects.insert(object.path(), live);
    }
    Ok(observed)
}

/// Reads aws-auth: the ConfigMap as it is, its rows and their owners.
pub async fn read_aws_auth(kube: &Kube) -> Result<ObservedAwsAuth, KubeError> {
    let Some(value) = kube.get(aws_auth::PATH).await? else {
        return Ok(ObservedAwsAuth {
            config_map: None,
            map_roles: MapRoles::parse(""),
            owned: BTreeSet::new(),
        });
    };
    let Ok(cm) = serde_json::from_value::<ConfigMap>(value) else {
        return Ok(ObservedAwsAuth {
            config_map: None,
            map_roles: Err("the aws-auth object is not a ConfigMap".into()),
            owned: BTreeSet::new(),
        });
    };
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get("mapRoles"))
        .cloned()
        .unwrap_or_default();
    Ok(ObservedAwsAuth {
        map_roles: MapRoles::parse(&text),
        owned: aws_auth::owned(cm.metadata.annotations.as_ref()),
        config_map: Some(cm),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_set_roles_are_told_apart() {
        assert!(is_permission_set_role(
            "AWSReservedSSO_EKSClusterAdminAccess_4ffa4321e413c0b0",
            "EKSClusterAdminAccess"
        ));
        assert!(!is_permission_set_role(
            "AWSReservedSSO_EKSClusterAdminAccessOld_4ffa4321e413c0b0",
            "EKSClusterAdminAccess"
        ));
        assert!(!is_permission_set_role(
            "AWSReservedSSO_EKSClusterAdminAccess_xyz",
            "EKSClusterAdminAccess"
        ));
    }
}
