//! Reads for one cluster: the principals' ARNs in IAM, the access entries in EKS, aws-auth and
//! the desired objects in the API server. Reads only.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;

use super::{
    aws_auth::{self, MapRoles},
    desired::{DesiredCluster, Grant, PrincipalRef},
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

/// Finds each grant's principal in the account's IAM: a federated role by name (autofed
/// creates it when onboarding the account), an Identity Center role by its
/// `AWSReservedSSO_<permission set>_<suffix>` name under the reserved path, with or without a
/// region segment.
pub async fn principals(
    iam_client: &aws_sdk_iam::Client,
    account_id: &str,
    grants: &[Grant],
) -> Result<Principals> {
    let mut out = Principals {
        resolved: BTreeMap::new(),
        missing: Vec::new(),
    };
    let mut sso_roles = None;
    for grant in grants {
        let p = &grant.principal;
        match p {
            PrincipalRef::Role { name, .. } => match iam::role_arn(iam_client, name).await? {
                Some(arn) => {
                    out.resolved.insert(p.clone(), arn);
                }
                None => out.missing.push((
                    p.clone(),
                    format!(
                        "role {name} does not exist in account {account_id} yet (the account's onboarding creates it)"
                    ),
                )),
            },
            PrincipalRef::PermissionSet(ps) => {
                if sso_roles.is_none() {
                    sso_roles = Some(iam::reserved_sso_roles(iam_client).await?);
                }
                let found = sso_roles
                    .iter()
                    .flatten()
                    .find(|(name, _)| is_permission_set_role(name, ps));
                match found {
                    Some((_, arn)) => {
                        out.resolved.insert(p.clone(), arn.clone());
                    }
                    None => out.missing.push((
                        p.clone(),
                        format!(
                            "IAM Identity Center has not provisioned permission set {ps} in account {account_id} yet (no AWSReservedSSO_{ps}_* role)"
                        ),
                    )),
                }
            }
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
        observed.aws_auth = Some(read_aws_auth(kube).await?.1);
    }
    for object in &desired.objects {
        let live = kube.get(&object.path()).await?;
        observed.objects.insert(object.path(), live);
    }
    Ok(observed)
}

/// Reads aws-auth: the ConfigMap as it is (`None` when absent) and its rows and owners.
pub async fn read_aws_auth(kube: &Kube) -> Result<(Option<ConfigMap>, ObservedAwsAuth), KubeError> {
    let Some(value) = kube.get(aws_auth::PATH).await? else {
        return Ok((
            None,
            ObservedAwsAuth {
                map_roles: MapRoles::parse(""),
                owned: BTreeSet::new(),
            },
        ));
    };
    let cm: Option<ConfigMap> = serde_json::from_value(value).ok();
    let Some(cm) = cm else {
        return Ok((
            None,
            ObservedAwsAuth {
                map_roles: Err("the aws-auth object is not a ConfigMap".into()),
                owned: BTreeSet::new(),
            },
        ));
    };
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get("mapRoles"))
        .cloned()
        .unwrap_or_default();
    let observed = ObservedAwsAuth {
        map_roles: MapRoles::parse(&text),
        owned: aws_auth::owned(cm.metadata.annotations.as_ref()),
    };
    Ok((Some(cm), observed))
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
