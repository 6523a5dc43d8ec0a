//! EKS in a member account and region: the cluster's description, its access entries and
//! their access policies, and the writes the plan's access-entry operations make.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_eks::{
    Client,
    types::{AccessScope, AccessScopeType, AuthenticationMode},
};

use crate::{
    cluster::desired::Scope,
    desired,
    error::{Error, Result},
};

/// A cluster as DescribeCluster tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// Its ARN.
    pub arn: String,
    /// `CREATING`, `ACTIVE`, `UPDATING`, `DELETING`, `FAILED`, `PENDING`.
    pub status: String,
    /// How the API server authenticates IAM principals.
    pub auth_mode: AuthMode,
    /// The API server's URL (present once the cluster is active).
    pub endpoint: Option<String>,
    /// The base64 PEM of the cluster's CA.
    pub ca_data: Option<String>,
}

/// The cluster's authentication mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Access entries only.
    Api,
    /// Access entries and the aws-auth ConfigMap.
    ApiAndConfigMap,
    /// The aws-auth ConfigMap only.
    ConfigMap,
}

impl AuthMode {
    /// Whether access entries are in use.
    pub fn has_access_entries(self) -> bool {
        self != AuthMode::ConfigMap
    }

    /// EKS's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Api => "API",
            AuthMode::ApiAndConfigMap => "API_AND_CONFIG_MAP",
            AuthMode::ConfigMap => "CONFIG_MAP",
        }
    }
}

/// An access entry, with its access policies when they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedEntry {
    /// The principal's ARN (with its path).
    pub principal_arn: String,
    /// The entry's own ARN (for tagging).
    pub entry_arn: String,
    /// `STANDARD`, `EC2_LINUX`, ...
    pub kind: String,
    /// Its username.
    pub username: Option<String>,
    /// Its Kubernetes groups.
    pub groups: BTreeSet<String>,
    /// Whether autofed created it (its managed tag).
    pub owned: bool,
    /// Its access policies by ARN (read for autofed's own entries and wanted principals).
    pub policies: BTreeMap<String, Scope>,
}

/// The names of the clusters in the client's region.
pub async fn list_clusters(eks: &Client) -> Result<Vec<String>> {
    eks.list_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::aws("eks", "ListClusters", e))
}

/// The cluster, or `None` if it does not exist.
pub async fn describe(eks: &Client, name: &str) -> Result<Option<ClusterInfo>> {
    match eks.describe_cluster().name(name).send().await {
        Ok(out) => {
            let Some(c) = out.cluster else {
                return Ok(None);
            };
            let auth_mode = match c.access_config.and_then(|a| a.authentication_mode) {
                Some(AuthenticationMode::Api) => AuthMode::Api,
                Some(AuthenticationMode::ApiAndConfigMap) => AuthMode::ApiAndConfigMap,
                // NB: clusters made before access entries existed report no mode: CONFIG_MAP.
                _ => AuthMode::ConfigMap,
            };
            Ok(Some(ClusterInfo {
                arn: c.arn.unwrap_or_default(),
                status: c.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                auth_mode,
                endpoint: c.endpoint,
                ca_data: c.certificate_authority.and_then(|ca| ca.data),
            }))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::aws("eks", "DescribeCluster", e)),
    }
}

/// Every access entry of the cluster; the policies of those `read_policies` selects.
pub async fn entries(
    eks: &Client,
    cluster: &str,
    read_policies: impl Fn(&str, bool) -> bool,
) -> Result<Vec<ObservedEntry>> {
    let arns: Vec<String> = eks
        .list_access_entries()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::aws("eks", "ListAccessEntries", e))?;
    let mut entries = Vec::with_capacity(arns.len());
    for arn in arns {
        let out = eks
            .describe_access_entry()
            .cluster_name(cluster)
            .principal_arn(&arn)
            .send()
            .await
            .map_err(|e| Error::aws("eks", "DescribeAccessEntry", e))?;
        let Some(e) = out.access_entry else { continue };
        let owned = desired::is_managed(&e.tags.clone().unwrap_or_default().into_iter().collect());
        let policies = if read_policies(&arn, owned) {
            policies(eks, cluster, &arn).await?
        } else {
            BTreeMap::new()
        };
        entries.push(ObservedEntry {
            principal_arn: arn,
            entry_arn: e.access_entry_arn.unwrap_or_default(),
            kind: e.r#type.unwrap_or_default(),
            username: e.username,
            groups: e
                .kubernetes_groups
                .unwrap_or_default()
                .into_iter()
                .collect(),
            owned,
            policies,
        });
    }
    Ok(entries)
}

async fn policies(eks: &Client, cluster: &str, arn: &str) -> Result<BTreeMap<String, Scope>> {
    let associated: Vec<_> = eks
        .list_associated_access_policies()
        .cluster_name(cluster)
        .principal_arn(arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::aws("eks", "ListAssociatedAccessPolicies", e))?;
    Ok(associated
        .into_iter()
        .map(|p| {
            let scope = match p.access_scope {
                Some(s) if s.r#type == Some(AccessScopeType::Namespace) => {
                    Scope::Namespaces(s.namespaces.unwrap_or_default().into_iter().collect())
                }
                _ => Scope::Cluster,
            };
            (p.policy_arn.unwrap_or_default(), scope)
        })
        .collect())
}

/// Creates an access entry tagged as autofed's. An entry that already exists (a retry after a
/// lost answer) is re-read: autofed's own is done, anyone else's is an error.
pub async fn create_entry(
    eks: &Client,
    cluster: &str,
    principal_arn: &str,
    username: Option<&str>,
    groups: &BTreeSet<String>,
) -> Result<()> {
    let res = eks
        .create_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal_arn)
        .set_username(username.map(str::to_string))
        .set_kubernetes_groups((!groups.is_empty()).then(|| groups.iter().cloned().collect()))
        .set_tags(Some(desired::managed_tags().into_iter().collect()))
        .r#type("STANDARD")
        .send()
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            let out = eks
                .describe_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal_arn)
                .send()
                .await
                .map_err(|e| Error::aws("eks", "DescribeAccessEntry", e))?;
            let tags = out
                .access_entry
                .and_then(|e| e.tags)
                .unwrap_or_default()
                .into_iter()
                .collect();
            if desired::is_managed(&tags) {
                Ok(())
            } else {
                Err(Error::Aws {
                    service: "eks",
                    operation: "CreateAccessEntry",
                    code: "ResourceInUseException".into(),
                    message: format!(
                        "an access entry for {principal_arn} appeared that autofed did not create; left alone"
                    ),
                    retryable: false,
                })
            }
        }
        Err(e) => Err(Error::aws("eks", "CreateAccessEntry", e)),
    }
}

/// Sets an entry's username and groups.
pub async fn update_entry(
    eks: &Client,
    cluster: &str,
    principal_arn: &str,
    username: Option<&str>,
    groups: &BTreeSet<String>,
) -> Result<()> {
    eks.update_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal_arn)
        .set_username(username.map(str::to_string))
        .set_kubernetes_groups(Some(groups.iter().cloned().collect()))
        .send()
        .await
        .map_err(|e| Error::aws("eks", "UpdateAccessEntry", e))?;
    Ok(())
}

/// Tags an entry as autofed's (adoption).
pub async fn tag_entry(eks: &Client, entry_arn: &str) -> Result<()> {
    eks.tag_resource()
        .resource_arn(entry_arn)
        .set_tags(Some(desired::managed_tags().into_iter().collect()))
        .send()
        .await
        .map_err(|e| Error::aws("eks", "TagResource", e))?;
    Ok(())
}

/// Deletes one of autofed's entries; one already gone is fine.
pub async fn delete_entry(eks: &Client, cluster: &str, principal_arn: &str) -> Result<()> {
    match eks
        .delete_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal_arn)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::aws("eks", "DeleteAccessEntry", e)),
    }
}

/// Associates an access policy with `scope`; associating it again replaces the scope.
pub async fn associate(
    eks: &Client,
    cluster: &str,
    principal_arn: &str,
    policy_arn: &str,
    scope: &Scope,
) -> Result<()> {
    let access_scope = match scope {
        Scope::Cluster => AccessScope::builder().r#type(AccessScopeType::Cluster),
        Scope::Namespaces(ns) => AccessScope::builder()
            .r#type(AccessScopeType::Namespace)
            .set_namespaces(Some(ns.iter().cloned().collect())),
    }
    .build();
    eks.associate_access_policy()
        .cluster_name(cluster)
        .principal_arn(principal_arn)
        .policy_arn(policy_arn)
        .access_scope(access_scope)
        .send()
        .await
        .map_err(|e| Error::aws("eks", "AssociateAccessPolicy", e))?;
    Ok(())
}

/// Removes an access policy from an entry; one already gone is fine.
pub async fn disassociate(
    eks: &Client,
    cluster: &str,
    principal_arn: &str,
    policy_arn: &str,
) -> Result<()> {
    match eks
        .disassociate_access_policy()
        .cluster_name(cluster)
        .principal_arn(principal_arn)
        .policy_arn(policy_arn)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::aws("eks", "DisassociateAccessPolicy", e)),
    }
}

/// Starts moving a cluster to `API_AND_CONFIG_MAP`.
pub async fn enable_access_entries(eks: &Client, cluster: &str) -> Result<()> {
    eks.update_cluster_config()
        .name(cluster)
        .access_config(
            aws_sdk_eks::types::UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                .build(),
        )
        .send()
        .await
        .map_err(|e| Error::aws("eks", "UpdateClusterConfig", e))?;
    Ok(())
}
