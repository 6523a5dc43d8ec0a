//! A cluster's plan: its desired state compared with what EKS and the API server hold. Pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;

use super::{
    aws_auth::{MapRole, MapRoles},
    desired::{DesiredCluster, DesiredEntry, Kind, KubeObject},
};
use crate::{
    aws::eks::ObservedEntry,
    plan::{Action, ActionKind, Op},
};

/// One write in a cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterOp {
    /// `eks:UpdateClusterConfig` to `API_AND_CONFIG_MAP`.
    EnableAccessEntries,
    /// `eks:CreateAccessEntry`, tagged as autofed's.
    CreateEntry(DesiredEntry),
    /// `eks:UpdateAccessEntry`: username and groups.
    UpdateEntry(DesiredEntry),
    /// `eks:TagResource` on an entry autofed adopts.
    TagEntry {
        /// The entry's ARN.
        entry_arn: String,
    },
    /// `eks:DeleteAccessEntry` of one of autofed's entries.
    DeleteEntry {
        /// The principal.
        principal_arn: String,
    },
    /// `eks:AssociateAccessPolicy` (also replaces a drifted scope).
    Associate {
        /// The principal.
        principal_arn: String,
        /// The policy.
        policy_arn: String,
        /// Its scope.
        scope: super::desired::Scope,
    },
    /// `eks:DisassociateAccessPolicy`.
    Disassociate {
        /// The principal.
        principal_arn: String,
        /// The policy.
        policy_arn: String,
    },
    /// One aws-auth row: written with every other row change of the plan as one
    /// read-modify-write of the ConfigMap.
    AwsAuthRow {
        /// The row's role ARN (path-less).
        rolearn: String,
        /// What the row must say; `None` removes it.
        want: Option<MapRole>,
    },
    /// Creates a Kubernetes object.
    CreateObject(KubeObject),
    /// Replaces one of autofed's objects (or one it adopts), keeping the live metadata.
    ReplaceObject(KubeObject),
}

/// The aws-auth ConfigMap as read.
#[derive(Debug, Clone)]
pub struct ObservedAwsAuth {
    /// The object as read (`None` when absent, or when it is not a ConfigMap): the write of
    /// the rows planned from this read starts from it, and its `resourceVersion` makes that
    /// write fail if another writer got in between.
    pub config_map: Option<ConfigMap>,
    /// Its rows, or why they cannot be edited row by row.
    pub map_roles: Result<MapRoles, String>,
    /// The rows autofed owns (the annotation).
    pub owned: BTreeSet<String>,
}

/// What the cluster holds of what autofed manages.
#[derive(Debug, Clone, Default)]
pub struct ObservedCluster {
    /// Access entries (read when the cluster uses them).
    pub entries: Vec<ObservedEntry>,
    /// aws-auth (read when the cluster uses it).
    pub aws_auth: Option<ObservedAwsAuth>,
    /// Each desired object's live version, by path; `None` when absent.
    pub objects: BTreeMap<String, Option<Value>>,
}

/// What the plan may do beyond creating and updating.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Take over same-named entries, rows and objects autofed did not create.
    pub adopt: bool,
    /// Remove autofed's entries and rows that nothing grants any more. Off while some
    /// principal could not be resolved: its grants are unknown, not gone.
    pub remove: bool,
    /// Start with `EnableAccessEntries` (configured upgrade of a `CONFIG_MAP` cluster).
    pub upgrade: bool,
}

fn act(resource: &str, kind: ActionKind, summary: String, op: ClusterOp) -> Action {
    Action::new(resource, kind, summary, Some(Op::Cluster(op)))
}

fn conflict(resource: &str, summary: String) -> Action {
    Action::new(resource, ActionKind::Conflict, summary, None)
}

/// The cluster's plan, in the order it must be applied: the mode upgrade, objects (namespaces,
/// roles, bindings), access entries with their policies, then aws-auth rows.
pub fn plan(
    cluster: &str,
    desired: &DesiredCluster,
    observed: &ObservedCluster,
    options: Options,
) -> Vec<Action> {
    let mut actions = Vec::new();
    if options.upgrade {
        actions.push(act(
            &format!("cluster/{cluster}"),
            ActionKind::Update,
            format!("move cluster {cluster} from CONFIG_MAP to API_AND_CONFIG_MAP authentication"),
            ClusterOp::EnableAccessEntries,
        ));
    }
    plan_objects(desired, observed, options, &mut actions);
    plan_entries(desired, observed, options, &mut actions);
    plan_aws_auth(desired, observed, options, &mut actions);
    actions
}

fn plan_objects(
    desired: &DesiredCluster,
    observed: &ObservedCluster,
    options: Options,
    actions: &mut Vec<Action>,
) {
    for object in &desired.objects {
        let resource = object.resource();
        match observed.objects.get(&object.path()).cloned().flatten() {
            None => actions.push(act(
                &resource,
                ActionKind::Create,
                format!("create {resource}"),
                ClusterOp::CreateObject(object.clone()),
            )),
            // An existing namespace is all a namespace needs to be.
            Some(_) if object.kind == Kind::Namespace => {}
            Some(live) if KubeObject::is_managed(&live) => {
                if KubeObject::spec(&live) != KubeObject::spec(&object.body) {
                    actions.push(act(
                        &resource,
                        ActionKind::Update,
                        format!("update {resource} to the configured rules and subjects"),
                        ClusterOp::ReplaceObject(object.clone()),
                    ));
                }
            }
            Some(_) if options.adopt => actions.push(act(
                &resource,
                ActionKind::Update,
                format!("adopt {resource} (label it as autofed's) and set it as configured"),
                ClusterOp::ReplaceObject(object.clone()),
            )),
            Some(_) => actions.push(conflict(
                &resource,
                format!("{resource} exists and autofed did not create it; left alone"),
            )),
        }
    }
}

fn plan_entries(
    desired: &DesiredCluster,
    observed: &ObservedCluster,
    options: Options,
    actions: &mut Vec<Action>,
) {
    let wanted: BTreeSet<&str> = desired
        .entries
        .iter()
        .map(|e| e.principal_arn.as_str())
        .collect();
    for want in &desired.entries {
        let arn = &want.principal_arn;
        let resource = format!("access-entry/{arn}");
        let found = observed.entries.iter().find(|e| &e.principal_arn == arn);
        let policies_now = match found {
            None => {
                actions.push(act(
                    &resource,
                    ActionKind::Create,
                    format!(
                        "create an access entry for {} ({arn}){}",
                        want.principal,
                        groups_text(&want.groups)
                    ),
                    ClusterOp::CreateEntry(want.clone()),
                ));
                BTreeMap::new()
            }
            Some(e) if !e.owned && !options.adopt => {
                actions.push(conflict(
                    &resource,
                    format!(
                        "an access entry for {arn} exists and autofed did not create it; left alone"
                    ),
                ));
                continue;
            }
            Some(e) => {
                if !e.owned {
                    actions.push(act(
                        &resource,
                        ActionKind::Update,
                        format!("adopt the access entry for {arn} (tag it as autofed's)"),
                        ClusterOp::TagEntry {
                            entry_arn: e.entry_arn.clone(),
                        },
                    ));
                }
                let username_drift = want.username.is_some() && want.username != e.username;
                if e.groups != want.groups || username_drift {
                    actions.push(act(
                        &resource,
                        ActionKind::Update,
                        format!(
                            "set the access entry for {arn} to username {} and groups [{}]",
                            want.username.as_deref().unwrap_or("(EKS's)"),
                            want.groups.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                        ClusterOp::UpdateEntry(want.clone()),
                    ));
                }
                e.policies.clone()
            }
        };
        for (policy, scope) in &want.policies {
            let name = policy.rsplit('/').next().unwrap_or(policy);
            let (kind, summary) = match policies_now.get(policy) {
                None => (
                    ActionKind::Create,
                    format!("associate {name} with {arn} on {scope}"),
                ),
                Some(now) if now != scope => (
                    ActionKind::Update,
                    format!("change {name} of {arn} from {now} to {scope} (scope drift)"),
                ),
                Some(_) => continue,
            };
            actions.push(act(
                &resource,
                kind,
                summary,
                ClusterOp::Associate {
                    principal_arn: arn.clone(),
                    policy_arn: policy.clone(),
                    scope: scope.clone(),
                },
            ));
        }
        for policy in policies_now.keys() {
            if !want.policies.contains_key(policy) {
                let name = policy.rsplit('/').next().unwrap_or(policy);
                actions.push(act(
                    &resource,
                    ActionKind::Delete,
                    format!("disassociate {name} from {arn} (no rule grants it)"),
                    ClusterOp::Disassociate {
                        principal_arn: arn.clone(),
                        policy_arn: policy.clone(),
                    },
                ));
            }
        }
    }
    if !options.remove {
        return;
    }
    for e in &observed.entries {
        if e.owned && !wanted.contains(e.principal_arn.as_str()) {
            actions.push(act(
                &format!("access-entry/{}", e.principal_arn),
                ActionKind::Delete,
                format!(
                    "delete autofed's access entry for {} (no rule grants it)",
                    e.principal_arn
                ),
                ClusterOp::DeleteEntry {
                    principal_arn: e.principal_arn.clone(),
                },
            ));
        }
    }
}

fn plan_aws_auth(
    desired: &DesiredCluster,
    observed: &ObservedCluster,
    options: Options,
    actions: &mut Vec<Action>,
) {
    let Some(aws_auth) = &observed.aws_auth else {
        return;
    };
    let rows = match &aws_auth.map_roles {
        Ok(rows) => rows,
        Err(reason) => {
            if !desired.map_roles.is_empty() {
                actions.push(conflict(
                    "configmap/kube-system/aws-auth",
                    format!("aws-auth is left alone: {reason}"),
                ));
            }
            return;
        }
    };
    let row_action = |want: &MapRole, kind: ActionKind, summary: String| {
        act(
            &format!("aws-auth/{}", want.rolearn),
            kind,
            summary,
            ClusterOp::AwsAuthRow {
                rolearn: want.rolearn.clone(),
                want: Some(want.clone()),
            },
        )
    };
    for want in &desired.map_roles {
        let owned = aws_auth.owned.contains(&want.rolearn);
        let text = format!(
            "{} as {}{}",
            want.rolearn,
            want.username,
            groups_text(&want.groups.iter().cloned().collect())
        );
        match rows.find(&want.rolearn) {
            None => actions.push(row_action(
                want,
                ActionKind::Create,
                format!("map {text} in aws-auth"),
            )),
            Some(row) if owned => {
                if !row.matches(want) {
                    actions.push(row_action(
                        want,
                        ActionKind::Update,
                        format!("update the aws-auth row of {text}"),
                    ));
                }
            }
            Some(_) if options.adopt => actions.push(row_action(
                want,
                ActionKind::Update,
                format!("adopt the aws-auth row of {} and map {text}", want.rolearn),
            )),
            Some(_) => actions.push(conflict(
                &format!("aws-auth/{}", want.rolearn),
                format!(
                    "aws-auth maps {} and autofed did not write that row; left alone",
                    want.rolearn
                ),
            )),
        }
    }
    if !options.remove {
        return;
    }
    let wanted: BTreeSet<&str> = desired
        .map_roles
        .iter()
        .map(|r| r.rolearn.as_str())
        .collect();
    for rolearn in &aws_auth.owned {
        if !wanted.contains(rolearn.as_str()) && rows.find(rolearn).is_some() {
            actions.push(act(
                &format!("aws-auth/{rolearn}"),
                ActionKind::Delete,
                format!("remove autofed's aws-auth row of {rolearn} (no rule grants it)"),
                ClusterOp::AwsAuthRow {
                    rolearn: rolearn.clone(),
                    want: None,
                },
            ));
        }
    }
}

fn groups_text(groups: &BTreeSet<String>) -> String {
    if groups.is_empty() {
        String::new()
    } else {
        format!(
            " with groups [{}]",
            groups.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    }
}
