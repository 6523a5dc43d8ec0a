//! Carrying out a cluster's plan: EKS writes in plan order, Kubernetes objects, and every
//! aws-auth row change as one conflict-checked write of the ConfigMap the plan was made from.

use std::{collections::BTreeSet, time::Duration};

use k8s_openapi::{api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde_json::Value;
use tracing::warn;

use super::{
    aws_auth::{self, MapRole},
    desired::{KubeObject, MANAGED_LABEL, MANAGED_LABEL_VALUE},
    observe::read_aws_auth,
    plan::{ClusterOp, ObservedAwsAuth},
};
use crate::{
    apply::{left_for_a_person, log},
    aws::eks,
    error::{Error, Result},
    kube::{Kube, KubeError},
    plan::{Action, Op},
    report::Status,
};

/// How many times a write that lost a race (409) is read again and retried.
pub const CONFLICT_ATTEMPTS: u32 = 8;

/// The clients a cluster's plan needs.
pub struct ClusterClients<'a> {
    /// EKS in the cluster's account and region.
    pub eks: &'a aws_sdk_eks::Client,
    /// The cluster's API server (when the plan has Kubernetes writes).
    pub kube: Option<&'a Kube>,
    /// The cluster's name.
    pub cluster: &'a str,
    /// Whether rows autofed did not write may be taken over.
    pub adopt: bool,
}

/// Applies `actions`; a status for each. After a failure, later actions on the same resource
/// are skipped. `aws_auth` is the ConfigMap as the plan read it: its row changes are written
/// over that read (see [`write_aws_auth`]).
pub async fn apply(
    clients: &ClusterClients<'_>,
    account_id: &str,
    actions: &[Action],
    aws_auth: Option<&ObservedAwsAuth>,
) -> Vec<Status> {
    let mut statuses: Vec<Option<Status>> = vec![None; actions.len()];
    let mut failed: BTreeSet<&str> = BTreeSet::new();
    let mut rows = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        let status = match &action.op {
            None => left_for_a_person(action),
            Some(_) if failed.contains(action.resource.as_str()) => {
                Status::skipped("an earlier action on this resource failed")
            }
            Some(Op::Cluster(ClusterOp::AwsAuthRow { rolearn, want })) => {
                rows.push((i, rolearn.as_str(), want.as_ref()));
                continue;
            }
            Some(Op::Cluster(op)) => match apply_op(clients, op).await {
                Ok(()) => Status::Applied,
                Err(e) => {
                    failed.insert(&action.resource);
                    Status::failed(&e)
                }
            },
            Some(_) => unreachable!("a cluster plan holds only cluster operations"),
        };
        log(account_id, action, &status);
        statuses[i] = Some(status);
    }
    if !rows.is_empty() {
        let kube = clients
            .kube
            .expect("aws-auth rows are planned with a Kubernetes connection");
        let changes: Vec<(&str, Option<&MapRole>)> = rows.iter().map(|r| (r.1, r.2)).collect();
        let results = write_aws_auth(kube, &changes, clients.adopt, aws_auth.cloned()).await;
        for ((i, _, _), res) in rows.iter().zip(results) {
            let status = match res {
                Ok(()) => Status::Applied,
                Err(e) => Status::failed(&e),
            };
            log(account_id, &actions[*i], &status);
            statuses[*i] = Some(status);
        }
    }
    statuses
        .into_iter()
        .map(|s| s.expect("every action has a status"))
        .collect()
}

async fn apply_op(clients: &ClusterClients<'_>, op: &ClusterOp) -> Result<()> {
    let (eks_client, cluster) = (clients.eks, clients.cluster);
    match op {
        ClusterOp::EnableAccessEntries => eks::enable_access_entries(eks_client, cluster).await,
        ClusterOp::CreateEntry(e) => {
            eks::create_entry(
                eks_client,
                cluster,
                &e.principal_arn,
                e.username.as_deref(),
                &e.groups,
            )
            .await
        }
        ClusterOp::UpdateEntry(e) => {
            eks::update_entry(
                eks_client,
                cluster,
                &e.principal_arn,
                e.username.as_deref(),
                &e.groups,
            )
            .await
        }
        ClusterOp::TagEntry { entry_arn } => eks::tag_entry(eks_client, entry_arn).await,
        ClusterOp::DeleteEntry { principal_arn } => {
            eks::delete_entry(eks_client, cluster, principal_arn).await
        }
        ClusterOp::Associate {
            principal_arn,
            policy_arn,
            scope,
        } => eks::associate(eks_client, cluster, principal_arn, policy_arn, scope).await,
        ClusterOp::Disassociate {
            principal_arn,
            policy_arn,
        } => eks::disassociate(eks_client, cluster, principal_arn, policy_arn).await,
        ClusterOp::CreateObject(object) => {
            let kube = clients.kube.expect("objects are planned with a connection");
            create_object(kube, object).await
        }
        ClusterOp::ReplaceObject(object) => {
            let kube = clients.kube.expect("objects are planned with a connection");
            replace_object(kube, object).await
        }
        ClusterOp::AwsAuthRow { .. } => unreachable!("aws-auth rows are written together"),
    }
}

/// Creates an object. One that exists already (a retry after a lost answer, or a race) is
/// fine if it is autofed's and says the same; anything else is a conflict.
async fn create_object(kube: &Kube, object: &KubeObject) -> Result<()> {
    match kube.create(&object.collection(), &object.body).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => {
            let live = kube.get(&object.path()).await?.unwrap_or(Value::Null);
            let same = KubeObject::is_managed(&live)
                && KubeObject::spec(&live) == KubeObject::spec(&object.body);
            if same || object.kind == super::desired::Kind::Namespace {
                Ok(())
            } else {
                Err(Error::Kube(Box::new(KubeError {
                    message: format!(
                        "{} appeared meanwhile and is not autofed's; left alone",
                        object.resource()
                    ),
                    ..e
                })))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Replaces an object with the desired one, keeping the live object's metadata (its
/// resourceVersion makes the write conflict-checked) and adding autofed's label.
async fn replace_object(kube: &Kube, object: &KubeObject) -> Result<()> {
    let mut attempt = 1;
    loop {
        let Some(live) = kube.get(&object.path()).await? else {
            return create_object(kube, object).await;
        };
        let mut body = object.body.clone();
        let mut metadata = live["metadata"].clone();
        metadata["labels"][MANAGED_LABEL] = Value::from(MANAGED_LABEL_VALUE);
        body["metadata"] = metadata;
        match kube.replace(&object.path(), &body).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_conflict() && attempt < CONFLICT_ATTEMPTS => {
                attempt += 1;
                backoff(attempt).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Applies every aws-auth row change as one read-modify-write: edit the rows of `read` (the
/// ConfigMap as the plan read it) as text and write them back with its resourceVersion. A
/// `409` (another writer got in between) reads the ConfigMap again and redoes the edit, so the
/// plan's read is the only read when nobody else writes. Each change gets its own result: a
/// row that another writer added meanwhile for the same role is left alone and reported.
pub async fn write_aws_auth(
    kube: &Kube,
    changes: &[(&str, Option<&MapRole>)],
    adopt: bool,
    mut read: Option<ObservedAwsAuth>,
) -> Vec<Result<()>> {
    let mut attempt = 1;
    loop {
        let observed = match read.take() {
            Some(observed) => Ok(observed),
            None => read_aws_auth(kube).await,
        };
        let written = match observed {
            Ok(observed) => try_write_aws_auth(kube, observed, changes, adopt).await,
            Err(e) => Err(e),
        };
        match written {
            Ok(results) => return results,
            Err(e) if e.is_conflict() && attempt < CONFLICT_ATTEMPTS => {
                warn!(
                    attempt,
                    "aws-auth changed since it was read; reading it again"
                );
                attempt += 1;
                backoff(attempt).await;
            }
            Err(e) => return changes.iter().map(|_| Err(e.clone().into())).collect(),
        }
    }
}

async fn try_write_aws_auth(
    kube: &Kube,
    observed: ObservedAwsAuth,
    changes: &[(&str, Option<&MapRole>)],
    adopt: bool,
) -> Result<Vec<Result<()>>, KubeError> {
    let cm = observed.config_map;
    let mut rows = match observed.map_roles {
        Ok(rows) => rows,
        Err(reason) => {
            return Ok(changes
                .iter()
                .map(|_| {
                    Err(Error::Kube(Box::new(refused(&format!(
                        "aws-auth is left alone: {reason}"
                    )))))
                })
                .collect());
        }
    };
    let mut owned = observed.owned.clone();
    let mut results = Vec::with_capacity(changes.len());
    for (rolearn, want) in changes {
        match want {
            Some(want) => {
                if rows.find(rolearn).is_some() && !owned.contains(*rolearn) && !adopt {
                    results.push(Err(Error::Kube(Box::new(refused(&format!(
                        "a row for {rolearn} appeared in aws-auth that autofed did not write; left alone"
                    ))))));
                    continue;
                }
                rows.upsert(want);
                owned.insert(rolearn.to_string());
            }
            None => {
                if owned.remove(*rolearn) {
                    rows.remove(rolearn);
                }
            }
        }
        results.push(Ok(()));
    }
    let text = rows.render();
    let before = cm
        .as_ref()
        .and_then(|c| c.data.as_ref())
        .and_then(|d| d.get("mapRoles"))
        .cloned()
        .unwrap_or_default();
    if text == before && owned == observed.owned {
        return Ok(results);
    }
    let owned_value = aws_auth::owned_value(&owned);
    match cm {
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(aws_auth::NAME.into()),
                    namespace: Some(aws_auth::NAMESPACE.into()),
                    annotations: Some([(aws_auth::OWNED_ANNOTATION.into(), owned_value)].into()),
                    ..Default::default()
                },
                data: Some([("mapRoles".to_string(), text)].into()),
                ..Default::default()
            };
            let body = serde_json::to_value(&cm).unwrap_or_default();
            kube.create(aws_auth::COLLECTION, &body).await?;
        }
        Some(mut cm) => {
            cm.data
                .get_or_insert_with(Default::default)
                .insert("mapRoles".into(), text);
            cm.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(aws_auth::OWNED_ANNOTATION.into(), owned_value);
            let body = serde_json::to_value(&cm).unwrap_or_default();
            kube.replace(aws_auth::PATH, &body).await?;
        }
    }
    Ok(results)
}

fn refused(message: &str) -> KubeError {
    KubeError {
        cluster: String::new(),
        call: format!("PUT {}", aws_auth::PATH),
        code: 409,
        reason: "Conflict".into(),
        message: message.into(),
    }
}

/// A short, growing, jittered wait between conflicting writes, so that racing writers spread
/// out.
async fn backoff(attempt: u32) {
    use std::hash::BuildHasher;
    let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt) % 50;
    tokio::time::sleep(Duration::from_millis(25 * u64::from(attempt) + jitter)).await;
}
