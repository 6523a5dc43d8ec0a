//! IAM Identity Center: resolving names to ids, reading assignments, and creating them.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_sdk_ssoadmin::types::{
    AccountAssignmentOperationStatus, PrincipalType, StatusValues, TargetType,
};
use aws_smithy_types::Document;
use tokio::sync::OnceCell;

use crate::{
    aws::share::Slots,
    config::IdentityCenterConfig,
    desired::{AssignmentSpec, Principal},
    error::{Error, Result},
    observe::{AssignmentTarget, ObservedAssignment},
};

/// Identity Center allows at most 10 assignment creations in flight per instance
/// (https://docs.aws.amazon.com/singlesignon/latest/userguide/limits.html).
pub const MAX_IN_FLIGHT: usize = 10;
/// Identity Center's admin API rate for the organization, calls per second.
pub const MAX_CALLS_PER_SECOND: u32 = 20;

/// The Identity Center instance autofed assigns in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Instance ARN.
    pub arn: String,
    /// Its identity store.
    pub identity_store_id: String,
}

/// How long a discovered name (a permission set's ARN, a principal's id) is trusted before it
/// is looked up again. Names are renamed or recreated rarely, and a stale id fails its write
/// cleanly (the message is retried and looks again once this has passed); looking them up on
/// every onboarding would spend Identity Center's 20 TPS on reads that never change.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(300);

/// What discovery learns about Identity Center, kept for a function instance's life: the
/// instance, and (for [`DISCOVERY_TTL`]) permission set ARNs by name and the ids of principals
/// that exist. Principals not found are never kept: a group Okta has not pushed yet is looked
/// up again on the next delivery.
#[derive(Default)]
pub struct Discovery {
    instance: OnceCell<Instance>,
    names: Mutex<Names>,
}

#[derive(Default)]
struct Names {
    permission_sets: BTreeMap<String, (String, Instant)>,
    principals: BTreeMap<Principal, (String, Instant)>,
}

/// The value kept for `key`, unless older than [`DISCOVERY_TTL`].
fn fresh<K, Q, V>(map: &BTreeMap<K, (V, Instant)>, key: &Q) -> Option<V>
where
    K: Ord + std::borrow::Borrow<Q>,
    Q: Ord + ?Sized,
    V: Clone,
{
    map.get(key)
        .filter(|(_, at)| at.elapsed() < DISCOVERY_TTL)
        .map(|(v, _)| v.clone())
}

impl Discovery {
    /// The instance, once discovered.
    pub fn instance(&self) -> Option<&Instance> {
        self.instance.get()
    }

    fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        // A panic while holding the lock cannot leave the maps inconsistent (one insert).
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The clients and what is known of Identity Center, borrowed from the context for one run.
pub struct IdentityCenter<'a> {
    /// SSO admin client.
    pub admin: &'a aws_sdk_ssoadmin::Client,
    /// Identity store client.
    pub store: &'a aws_sdk_identitystore::Client,
    /// Configuration.
    pub config: &'a IdentityCenterConfig,
    /// What is known already, shared by the function instance's invocations.
    pub discovery: &'a Discovery,
}

impl IdentityCenter<'_> {
    /// The instance: configured, or the organization's only one.
    pub async fn instance(&self) -> Result<&Instance> {
        self.discovery
            .instance
            .get_or_try_init(|| async {
                if let (Some(arn), Some(id)) = (&self.config.instance_arn, &self.config.identity_store_id) {
                    return Ok(Instance { arn: arn.clone(), identity_store_id: id.clone() });
                }
                let out = self
                    .admin
                    .list_instances()
                    .send()
                    .await
                    .map_err(|e| Error::aws("sso-admin", "ListInstances", e))?;
                out.instances
                    .unwrap_or_default()
                    .into_iter()
                    .find_map(|i| Some(Instance { arn: i.instance_arn?, identity_store_id: i.identity_store_id? }))
                    .ok_or_else(|| Error::Aws {
                        service: "sso-admin",
                        operation: "ListInstances",
                        code: "NoInstance".into(),
                        message: "no IAM Identity Center instance; enable it or remove identity_center.assignments".into(),
                        retryable: false,
                    })
            })
            .await
    }

    /// Resolves each desired assignment and says whether it exists in `account_id`.
    pub async fn observe(
        &self,
        account_id: &str,
        specs: &[AssignmentSpec],
    ) -> Result<Vec<ObservedAssignment>> {
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let instance = self.instance().await?;
        let wanted: BTreeSet<&str> = specs.iter().map(|s| s.permission_set.as_str()).collect();
        let sets = self.permission_sets(instance, &wanted).await?;
        let mut principals: BTreeMap<&Principal, Option<String>> = BTreeMap::new();
        for spec in specs {
            if !principals.contains_key(&spec.principal) {
                let id = self.principal(instance, &spec.principal).await?;
                principals.insert(&spec.principal, id);
            }
        }
        let mut existing: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
        let mut out = Vec::with_capacity(specs.len());
        for spec in specs {
            let Some(ps_arn) = sets.get(spec.permission_set.as_str()) else {
                out.push(ObservedAssignment::Unresolved(format!(
                    "no permission set named {:?}",
                    spec.permission_set
                )));
                continue;
            };
            let principal_type = match spec.principal {
                Principal::Group(_) | Principal::OktaGroup(_) => "GROUP",
                Principal::User(_) => "USER",
            };
            let Some(principal_id) = principals[&spec.principal].clone() else {
                if let Principal::OktaGroup(_) = spec.principal {
                    out.push(ObservedAssignment::NotPushed {
                        target: AssignmentTarget {
                            account_id: account_id.to_string(),
                            instance_arn: instance.arn.clone(),
                            permission_set_arn: ps_arn.clone(),
                            principal_type: principal_type.to_string(),
                            principal_id: String::new(),
                        },
                    });
                    continue;
                }
                out.push(ObservedAssignment::Unresolved(format!(
                    "no {} in the identity store",
                    spec.principal
                )));
                continue;
            };
            if !existing.contains_key(ps_arn.as_str()) {
                let found = self.assignments(instance, account_id, ps_arn).await?;
                existing.insert(ps_arn.as_str(), found);
            }
            let exists = existing[ps_arn.as_str()]
                .iter()
                .any(|(t, id)| t == principal_type && *id == principal_id);
            out.push(ObservedAssignment::Resolved {
                target: AssignmentTarget {
                    account_id: account_id.to_string(),
                    instance_arn: instance.arn.clone(),
                    permission_set_arn: ps_arn.clone(),
                    principal_type: principal_type.to_string(),
                    principal_id,
                },
                exists,
            });
        }
        Ok(out)
    }

    /// A principal's id, from what is known or from the identity store.
    async fn principal(
        &self,
        instance: &Instance,
        principal: &Principal,
    ) -> Result<Option<String>> {
        if let Some(id) = fresh(&self.discovery.names().principals, principal) {
            return Ok(Some(id));
        }
        let id = principal_id(self.store, &instance.identity_store_id, principal).await?;
        if let Some(id) = &id {
            let mut names = self.discovery.names();
            names
                .principals
                .insert(principal.clone(), (id.clone(), Instant::now()));
        }
        Ok(id)
    }

    /// Permission set ARNs by name, for the names wanted: from what is known when every one is,
    /// otherwise by listing and describing, which stops once all are found. Every set described
    /// is remembered, wanted or not.
    async fn permission_sets(
        &self,
        instance: &Instance,
        wanted: &BTreeSet<&str>,
    ) -> Result<BTreeMap<String, String>> {
        {
            let names = self.discovery.names();
            let known: BTreeMap<String, String> = wanted
                .iter()
                .filter_map(|w| Some((w.to_string(), fresh(&names.permission_sets, *w)?)))
                .collect();
            if known.len() == wanted.len() {
                return Ok(known);
            }
        }
        let arns: Vec<String> = self
            .admin
            .list_permission_sets()
            .instance_arn(&instance.arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| Error::aws("sso-admin", "ListPermissionSets", e))?;
        let mut found = BTreeMap::new();
        for arn in arns {
            if found.len() == wanted.len() {
                break;
            }
            let out = self
                .admin
                .describe_permission_set()
                .instance_arn(&instance.arn)
                .permission_set_arn(&arn)
                .send()
                .await
                .map_err(|e| Error::aws("sso-admin", "DescribePermissionSet", e))?;
            if let Some(name) = out.permission_set.and_then(|p| p.name) {
                let mut names = self.discovery.names();
                names
                    .permission_sets
                    .insert(name.clone(), (arn.clone(), Instant::now()));
                if wanted.contains(name.as_str()) {
                    found.insert(name, arn);
                }
            }
        }
        Ok(found)
    }

    async fn assignments(
        &self,
        instance: &Instance,
        account_id: &str,
        ps_arn: &str,
    ) -> Result<Vec<(String, String)>> {
        self.admin
            .list_account_assignments()
            .instance_arn(&instance.arn)
            .account_id(account_id)
            .permission_set_arn(ps_arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| Error::aws("sso-admin", "ListAccountAssignments", e))
            .map(|found| {
                found
                    .into_iter()
                    .filter_map(|a| Some((a.principal_type?.as_str().to_string(), a.principal_id?)))
                    .collect()
            })
    }
}

/// Creates an assignment and polls its status until it succeeds, fails, or `timeout` passes,
/// holding one of `slots` meanwhile (this instance's share of Identity Center's creations in
/// progress: `identity_center.max_in_flight`, borrowing up to twice it). Other instances have
/// creations in progress too, and Identity Center refuses one past its limit with
/// `ConflictException`, which its documentation says to retry with backoff (the SDK's retry
/// does not): that is done here, within `timeout`, and the refusal shrinks what this instance
/// borrows.
pub async fn create_assignment(
    admin: &aws_sdk_ssoadmin::Client,
    slots: &Slots,
    target: &AssignmentTarget,
    timeout: Duration,
) -> Result<()> {
    let _slot = slots.acquire().await;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(250);
    let out = loop {
        let sent = admin
            .create_account_assignment()
            .instance_arn(&target.instance_arn)
            .target_id(&target.account_id)
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(&target.permission_set_arn)
            .principal_type(PrincipalType::from(target.principal_type.as_str()))
            .principal_id(&target.principal_id)
            .send()
            .await;
        match sent {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception())
                    && tokio::time::Instant::now() + delay < deadline =>
            {
                slots.refused();
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            sent => {
                let out =
                    sent.map_err(|e| Error::aws("sso-admin", "CreateAccountAssignment", e))?;
                slots.admitted();
                break out;
            }
        }
    };
    settle(
        out.account_assignment_creation_status,
        timeout,
        "CreateAccountAssignment",
        |request_id| async move {
            admin
                .describe_account_assignment_creation_status()
                .instance_arn(&target.instance_arn)
                .account_assignment_creation_request_id(request_id)
                .send()
                .await
                .map(|o| o.account_assignment_creation_status)
                .map_err(|e| Error::aws("sso-admin", "DescribeAccountAssignmentCreationStatus", e))
        },
    )
    .await
}

/// Deletes an assignment and polls its status as [`create_assignment`] does, holding one of
/// `slots`. An assignment already gone counts as deleted (the rerun after a crash).
pub async fn delete_assignment(
    admin: &aws_sdk_ssoadmin::Client,
    slots: &Slots,
    target: &AssignmentTarget,
    timeout: Duration,
) -> Result<()> {
    let _slot = slots.acquire().await;
    let out = match admin
        .delete_account_assignment()
        .instance_arn(&target.instance_arn)
        .target_id(&target.account_id)
        .target_type(TargetType::AwsAccount)
        .permission_set_arn(&target.permission_set_arn)
        .principal_type(PrincipalType::from(target.principal_type.as_str()))
        .principal_id(&target.principal_id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(Error::aws("sso-admin", "DeleteAccountAssignment", e)),
    };
    settle(
        out.account_assignment_deletion_status,
        timeout,
        "DeleteAccountAssignment",
        |request_id| async move {
            admin
                .describe_account_assignment_deletion_status()
                .instance_arn(&target.instance_arn)
                .account_assignment_deletion_request_id(request_id)
                .send()
                .await
                .map(|o| o.account_assignment_deletion_status)
                .map_err(|e| Error::aws("sso-admin", "DescribeAccountAssignmentDeletionStatus", e))
        },
    )
    .await
}

/// Polls an assignment operation (`describe`, by request id) with a growing delay until it
/// succeeds, fails, or `timeout` passes.
async fn settle<F, Fut>(
    first: Option<AccountAssignmentOperationStatus>,
    timeout: Duration,
    operation: &'static str,
    describe: F,
) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<AccountAssignmentOperationStatus>>>,
{
    let mut status = first.unwrap_or_else(|| AccountAssignmentOperationStatus::builder().build());
    let deadline = tokio::time::Instant::now() + timeout;
    // A creation takes a second or more; asking sooner spends Identity Center's 20 TPS on
    // answers that are still IN_PROGRESS.
    let mut delay = Duration::from_secs(1);
    loop {
        match status.status {
            Some(StatusValues::Succeeded) => return Ok(()),
            Some(StatusValues::Failed) => {
                return Err(Error::Aws {
                    service: "sso-admin",
                    operation,
                    code: "FAILED".into(),
                    message: status
                        .failure_reason
                        .unwrap_or_else(|| "no reason given".into()),
                    // NB: a FAILED creation is often a new account not ready for Identity
                    // Center yet; the queue's redrive bounds the retries.
                    retryable: true,
                });
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Aws {
                service: "sso-admin",
                operation,
                code: "Timeout".into(),
                message: format!(
                    "still {} after {}s; the next delivery checks again",
                    status.status.as_ref().map_or("IN_PROGRESS", |s| s.as_str()),
                    timeout.as_secs()
                ),
                retryable: true,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
        match describe(status.request_id.clone().unwrap_or_default()).await {
            Ok(now) => {
                status = now.unwrap_or_else(|| AccountAssignmentOperationStatus::builder().build());
            }
            // A poll throttled past its retries has learned nothing, and the operation goes on
            // in Identity Center: asked again, more slowly, until the deadline.
            Err(Error::Aws { code, .. }) if code == "ThrottlingException" => {}
            Err(e) => return Err(e),
        }
    }
}

/// `delay` scaled by a factor in [0.5, 1.5), so that instances refused at once do not all
/// come back at once.
fn jitter(delay: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let unit = (RandomState::new().hash_one(std::time::SystemTime::now()) % 1000) as f64 / 1000.0;
    delay.mul_f64(0.5 + unit)
}

/// The identity store id of a group (by display name) or user (by user name), if it exists.
pub async fn principal_id(
    store: &aws_sdk_identitystore::Client,
    identity_store_id: &str,
    principal: &Principal,
) -> Result<Option<String>> {
    let (path, value) = match principal {
        Principal::Group(name) | Principal::OktaGroup(name) => ("displayName", name),
        Principal::User(name) => ("userName", name),
    };
    let id = AlternateIdentifier::UniqueAttribute(
        UniqueAttribute::builder()
            .attribute_path(path)
            .attribute_value(Document::String(value.clone()))
            .build()
            .expect("path and value set"),
    );
    match principal {
        Principal::Group(_) | Principal::OktaGroup(_) => store
            .get_group_id()
            .identity_store_id(identity_store_id)
            .alternate_identifier(id)
            .send()
            .await
            .map(|o| Some(o.group_id))
            .or_else(|e| match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => Ok(None),
                _ => Err(Error::aws("identitystore", "GetGroupId", e)),
            }),
        Principal::User(_) => store
            .get_user_id()
            .identity_store_id(identity_store_id)
            .alternate_identifier(id)
            .send()
            .await
            .map(|o| Some(o.user_id))
            .or_else(|e| match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => Ok(None),
                _ => Err(Error::aws("identitystore", "GetUserId", e)),
            }),
    }
}
