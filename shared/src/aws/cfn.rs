//! CloudFormation: an account's federation stack (read, change sets, deletion, drift), and
//! the instances of the cluster-event forwarding StackSet. Reads and writes only; what to do
//! is decided in [`crate::stack`] and [`crate::backfill::coverage`].

use std::{collections::BTreeMap, time::Duration};

use aws_sdk_cloudformation::{
    Client,
    types::{
        AccountFilterType, Capability, ChangeSetType, DeploymentTargets, ResourceToImport,
        StackSetOperationPreferences, Tag,
    },
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::error::{Error, Result};

fn err<E>(
    operation: &'static str,
) -> impl FnOnce(
    aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| Error::aws("cloudformation", operation, e)
}

/// A stack as `DescribeStacks` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StackState {
    /// The stack's id (ARN).
    pub id: String,
    /// `CREATE_COMPLETE`, `ROLLBACK_COMPLETE`, ...
    pub status: String,
    /// Why it is in that status, when CloudFormation says.
    pub reason: Option<String>,
    /// The stack's tags.
    pub tags: BTreeMap<String, String>,
    /// Whether termination protection is on.
    pub termination_protection: bool,
}

impl StackState {
    /// Whether a change set can be made against the stack now.
    pub fn is_settled(&self) -> bool {
        !self.status.ends_with("_IN_PROGRESS")
    }

    /// Whether the stack exists only as the placeholder of a change set never executed (or a
    /// creation that failed and rolled back): it holds no resources, and must be created anew.
    pub fn is_empty_shell(&self) -> bool {
        matches!(
            self.status.as_str(),
            "REVIEW_IN_PROGRESS" | "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED"
        )
    }
}

/// The stack of this name, if it exists (deleted stacks do not).
pub async fn stack(cfn: &Client, name: &str) -> Result<Option<StackState>> {
    let out = match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => out,
        // NB: CloudFormation answers a stack that does not exist with a ValidationError
        // "Stack with id X does not exist", not a dedicated code.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.message().is_some_and(|m| m.contains("does not exist"))) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(err("DescribeStacks")(e)),
    };
    let Some(s) = out.stacks.unwrap_or_default().into_iter().next() else {
        return Ok(None);
    };
    let status = s
        .stack_status
        .as_ref()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    if status == "DELETE_COMPLETE" {
        return Ok(None);
    }
    Ok(Some(StackState {
        id: s.stack_id.unwrap_or_default(),
        status,
        reason: s.stack_status_reason,
        tags: s
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value?)))
            .collect(),
        termination_protection: s.enable_termination_protection.unwrap_or(false),
    }))
}

/// The stack's deployed template, as JSON (`None` if it is not JSON: not one autofed wrote).
pub async fn template(cfn: &Client, name: &str) -> Result<Option<Value>> {
    let out = cfn
        .get_template()
        .stack_name(name)
        .send()
        .await
        .map_err(err("GetTemplate"))?;
    Ok(out
        .template_body
        .and_then(|body| serde_json::from_str(&body).ok()))
}

/// One resource of a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    /// Its logical id in the template.
    pub logical_id: String,
    /// Its physical id (a role's name, a provider's ARN).
    pub physical_id: String,
    /// Its type.
    pub resource_type: String,
}

/// The stack's resources.
pub async fn resources(cfn: &Client, name: &str) -> Result<Vec<StackResource>> {
    let summaries: Vec<_> = cfn
        .list_stack_resources()
        .stack_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(err("ListStackResources"))?;
    Ok(summaries
        .into_iter()
        .filter(|r| r.resource_status.as_ref().map(|s| s.as_str()) != Some("DELETE_COMPLETE"))
        .map(|r| StackResource {
            logical_id: r.logical_resource_id.unwrap_or_default(),
            physical_id: r.physical_resource_id.unwrap_or_default(),
            resource_type: r.resource_type.unwrap_or_default(),
        })
        .collect())
}

/// What a change set is to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSetKind {
    /// Create the stack.
    Create,
    /// Change it.
    Update,
    /// Bring existing resources into it (creating the stack if need be).
    Import,
}

/// A resource to import: its type, logical id, and identifier property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// `AWS::IAM::Role`.
    pub resource_type: String,
    /// Its logical id in the template.
    pub logical_id: String,
    /// The identifier property and value (`RoleName`, `Admin`).
    pub identifier: (String, String),
}

/// One change of a change set, as CloudFormation lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Change {
    /// `Add`, `Modify`, `Remove`, `Import`.
    pub action: String,
    /// The resource's logical id.
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({})",
            self.action, self.logical_id, self.resource_type
        )
    }
}

/// A change set as made: its id and CloudFormation's changes, or why it has none.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeSet {
    /// Ready to execute.
    Ready {
        /// Its id (ARN).
        id: String,
        /// Its changes, sorted.
        changes: Vec<Change>,
    },
    /// CloudFormation found nothing to change, or could not make it; the reason is its own.
    Failed {
        /// Its id.
        id: String,
        /// CloudFormation's reason.
        reason: String,
    },
}

/// The arguments of [`create_change_set`].
pub struct NewChangeSet<'a> {
    /// The stack.
    pub stack: &'a str,
    /// The change set's name.
    pub name: &'a str,
    /// Create, update or import.
    pub kind: ChangeSetKind,
    /// The whole template, JSON.
    pub template: &'a Value,
    /// The stack's tags.
    pub tags: &'a BTreeMap<String, String>,
    /// The resources to import (import only).
    pub imports: &'a [Import],
}

/// Makes a change set and waits until CloudFormation has computed it.
pub async fn create_change_set(
    cfn: &Client,
    new: &NewChangeSet<'_>,
    timeout: Duration,
) -> Result<ChangeSet> {
    let mut req = cfn
        .create_change_set()
        .stack_name(new.stack)
        .change_set_name(new.name)
        .change_set_type(match new.kind {
            ChangeSetKind::Create => ChangeSetType::Create,
            ChangeSetKind::Update => ChangeSetType::Update,
            ChangeSetKind::Import => ChangeSetType::Import,
        })
        .template_body(new.template.to_string())
        .capabilities(Capability::CapabilityNamedIam)
        .description("autofed: the account's SAML provider and federated roles");
    for (k, v) in new.tags {
        req = req.tags(Tag::builder().key(k).value(v).build());
    }
    for i in new.imports {
        req = req.resources_to_import(
            ResourceToImport::builder()
                .resource_type(&i.resource_type)
                .logical_resource_id(&i.logical_id)
                .resource_identifier(&i.identifier.0, &i.identifier.1)
                .build(),
        );
    }
    let id = req
        .send()
        .await
        .map_err(err("CreateChangeSet"))?
        .id
        .unwrap_or_default();
    let deadline = Instant::now() + timeout;
    let mut attempt = 0;
    loop {
        let mut changes = Vec::new();
        let mut token = None;
        let (status, reason) = loop {
            let out = cfn
                .describe_change_set()
                .change_set_name(&id)
                .set_next_token(token)
                .send()
                .await
                .map_err(err("DescribeChangeSet"))?;
            changes.extend(out.changes.unwrap_or_default().into_iter().filter_map(|c| {
                let r = c.resource_change?;
                Some(Change {
                    action: r.action.map(|a| a.as_str().to_string()).unwrap_or_default(),
                    logical_id: r.logical_resource_id.unwrap_or_default(),
                    resource_type: r.resource_type.unwrap_or_default(),
                })
            }));
            token = out.next_token;
            if token.is_none() {
                break (
                    out.status
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    out.status_reason.unwrap_or_default(),
                );
            }
        };
        match status.as_str() {
            "CREATE_COMPLETE" => {
                changes.sort();
                return Ok(ChangeSet::Ready { id, changes });
            }
            "FAILED" => return Ok(ChangeSet::Failed { id, reason }),
            _ if Instant::now() >= deadline => {
                return Err(Error::NotReady {
                    subject: format!("stack {}", new.stack),
                    reason: format!("change set {} still {status} after {timeout:?}", new.name),
                });
            }
            _ => pause(&mut attempt).await,
        }
    }
}

/// Deletes a change set (one that failed or will not be executed).
pub async fn delete_change_set(cfn: &Client, id: &str) -> Result<()> {
    cfn.delete_change_set()
        .change_set_name(id)
        .send()
        .await
        .map_err(err("DeleteChangeSet"))?;
    Ok(())
}

/// Executes a change set.
pub async fn execute_change_set(cfn: &Client, id: &str) -> Result<()> {
    cfn.execute_change_set()
        .change_set_name(id)
        .send()
        .await
        .map_err(err("ExecuteChangeSet"))?;
    Ok(())
}

/// Waits until the stack is no longer in progress, and returns its state (`None`: deleted).
pub async fn settle(cfn: &Client, name: &str, timeout: Duration) -> Result<Option<StackState>> {
    let deadline = Instant::now() + timeout;
    let mut attempt = 0;
    loop {
        let state = stack(cfn, name).await?;
        match state {
            Some(s) if !s.is_settled() => {
                if Instant::now() >= deadline {
                    return Err(Error::NotReady {
                        subject: format!("stack {name}"),
                        reason: format!("still {} after {timeout:?}", s.status),
                    });
                }
                pause(&mut attempt).await;
            }
            other => return Ok(other),
        }
    }
}

/// CloudFormation's own reasons for the stack's latest failure: the failed resources' events
/// since the last user-initiated operation began, oldest first.
pub async fn failure_reasons(cfn: &Client, stack_id: &str) -> Result<Vec<String>> {
    let out = cfn
        .describe_stack_events()
        .stack_name(stack_id)
        .send()
        .await
        .map_err(err("DescribeStackEvents"))?;
    let mut reasons = Vec::new();
    // Newest first: stop at the event that began the operation.
    for e in out.stack_events.unwrap_or_default() {
        let status = e
            .resource_status
            .as_ref()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let reason = e.resource_status_reason.clone().unwrap_or_default();
        if status.ends_with("_FAILED") && !reason.is_empty() {
            reasons.push(format!(
                "{} {}: {reason}",
                e.logical_resource_id.as_deref().unwrap_or_default(),
                status
            ));
        }
        if e.resource_type.as_deref() == Some("AWS::CloudFormation::Stack")
            && reason == "User Initiated"
        {
            break;
        }
    }
    reasons.reverse();
    Ok(reasons)
}

/// Turns termination protection on or off.
pub async fn set_termination_protection(cfn: &Client, name: &str, on: bool) -> Result<()> {
    cfn.update_termination_protection()
        .stack_name(name)
        .enable_termination_protection(on)
        .send()
        .await
        .map_err(err("UpdateTerminationProtection"))?;
    Ok(())
}

/// Deletes the stack (its resources with it).
pub async fn delete_stack(cfn: &Client, name: &str) -> Result<()> {
    cfn.delete_stack()
        .stack_name(name)
        .send()
        .await
        .map_err(err("DeleteStack"))?;
    Ok(())
}

/// One resource that drifted from its template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceDrift {
    /// Its logical id.
    pub logical_id: String,
    /// Its physical id.
    pub physical_id: String,
    /// Its type.
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    /// The properties that differ: path, expected and actual values, kind of difference.
    pub differences: Vec<PropertyDifference>,
}

/// One property that differs from the template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyDifference {
    /// The property's path (`/Description`).
    pub path: String,
    /// The template's value.
    pub expected: String,
    /// The resource's value.
    pub actual: String,
    /// `ADD`, `REMOVE` or `NOT_EQUAL`.
    pub kind: String,
}

/// Runs CloudFormation's drift detection on the stack and returns the resources that drifted.
pub async fn detect_drift(
    cfn: &Client,
    name: &str,
    timeout: Duration,
) -> Result<Vec<ResourceDrift>> {
    let id = cfn
        .detect_stack_drift()
        .stack_name(name)
        .send()
        .await
        .map_err(err("DetectStackDrift"))?
        .stack_drift_detection_id
        .unwrap_or_default();
    let deadline = Instant::now() + timeout;
    let mut attempt = 0;
    loop {
        let out = cfn
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(&id)
            .send()
            .await
            .map_err(err("DescribeStackDriftDetectionStatus"))?;
        match out.detection_status.as_ref().map_or("", |s| s.as_str()) {
            "DETECTION_COMPLETE" => break,
            "DETECTION_FAILED" => {
                return Err(Error::Aws {
                    service: "cloudformation",
                    operation: "DetectStackDrift",
                    code: "DETECTION_FAILED".into(),
                    message: out.detection_status_reason.unwrap_or_default(),
                    retryable: true,
                });
            }
            _ if Instant::now() >= deadline => {
                return Err(Error::NotReady {
                    subject: format!("stack {name}"),
                    reason: format!("drift detection still running after {timeout:?}"),
                });
            }
            _ => pause(&mut attempt).await,
        }
    }
    let drifts: Vec<_> = cfn
        .describe_stack_resource_drifts()
        .stack_name(name)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(err("DescribeStackResourceDrifts"))?
        .into_iter()
        .flat_map(|page| page.stack_resource_drifts.unwrap_or_default())
        .collect();
    Ok(drifts
        .into_iter()
        .filter_map(|d| {
            let status = d.stack_resource_drift_status.as_ref()?.as_str().to_string();
            matches!(status.as_str(), "MODIFIED" | "DELETED").then_some((status, d))
        })
        .map(|(status, d)| ResourceDrift {
            status,
            differences: d
                .property_differences
                .unwrap_or_default()
                .into_iter()
                .map(|p| PropertyDifference {
                    path: p.property_path.unwrap_or_default(),
                    expected: p.expected_value.unwrap_or_default(),
                    actual: p.actual_value.unwrap_or_default(),
                    kind: p
                        .difference_type
                        .map(|k| k.as_str().to_string())
                        .unwrap_or_default(),
                })
                .collect(),
            logical_id: d.logical_resource_id.unwrap_or_default(),
            physical_id: d.physical_resource_id.unwrap_or_default(),
            resource_type: d.resource_type.unwrap_or_default(),
        })
        .collect())
}

/// One instance of a StackSet: an account and region, and how it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// `CURRENT`, `OUTDATED` or `INOPERABLE`.
    pub status: String,
    /// The detailed status (`SUCCEEDED`, `FAILED`, ...), when given.
    pub detailed: Option<String>,
    /// CloudFormation's reason, when given.
    pub reason: Option<String>,
}

/// The StackSet's instances.
pub async fn instances(cfn: &Client, stack_set: &str) -> Result<Vec<Instance>> {
    let summaries: Vec<_> = cfn
        .list_stack_instances()
        .stack_set_name(stack_set)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(err("ListStackInstances"))?;
    Ok(summaries
        .into_iter()
        .map(|s| Instance {
            account: s.account.unwrap_or_default(),
            region: s.region.unwrap_or_default(),
            status: s.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
            detailed: s
                .stack_instance_status
                .and_then(|d| d.detailed_status)
                .map(|d| d.as_str().to_string()),
            reason: s.status_reason,
        })
        .collect())
}

/// Operation preferences for an organization of any size: regions in parallel, a quarter of
/// the accounts at a time, and a tenth allowed to fail before the operation stops, so one bad
/// account does not hold back the rest.
pub fn large_organization_preferences() -> StackSetOperationPreferences {
    StackSetOperationPreferences::builder()
        .region_concurrency_type(aws_sdk_cloudformation::types::RegionConcurrencyType::Parallel)
        .max_concurrent_percentage(25)
        .failure_tolerance_percentage(10)
        .concurrency_mode(aws_sdk_cloudformation::types::ConcurrencyMode::SoftFailureTolerance)
        .build()
}

/// Creates (`update` false) or re-deploys (`update` true) the StackSet's instances in these
/// accounts (within these OUs) and regions; returns the operation's id.
pub async fn deploy_instances(
    cfn: &Client,
    stack_set: &str,
    ous: &[String],
    accounts: &[String],
    regions: &[String],
    update: bool,
) -> Result<String> {
    // NB: a service-managed StackSet targets OUs; INTERSECTION narrows them to the accounts.
    let targets = DeploymentTargets::builder()
        .set_organizational_unit_ids(Some(ous.to_vec()))
        .set_accounts(Some(accounts.to_vec()))
        .account_filter_type(AccountFilterType::Intersection)
        .build();
    let id = if update {
        cfn.update_stack_instances()
            .stack_set_name(stack_set)
            .deployment_targets(targets)
            .set_regions(Some(regions.to_vec()))
            .operation_preferences(large_organization_preferences())
            .send()
            .await
            .map_err(err("UpdateStackInstances"))?
            .operation_id
    } else {
        cfn.create_stack_instances()
            .stack_set_name(stack_set)
            .deployment_targets(targets)
            .set_regions(Some(regions.to_vec()))
            .operation_preferences(large_organization_preferences())
            .send()
            .await
            .map_err(err("CreateStackInstances"))?
            .operation_id
    };
    Ok(id.unwrap_or_default())
}

/// How a StackSet operation ended, with the accounts and regions that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationOutcome {
    /// The operation's id.
    pub operation_id: String,
    /// `SUCCEEDED`, `FAILED`, `STOPPED`, or `RUNNING` if it was still running when the wait
    /// ended.
    pub status: String,
    /// CloudFormation's reason, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `account/region: reason` of each instance that failed.
    pub failed: Vec<String>,
}

/// Waits (up to `timeout`) for a StackSet operation and returns its outcome.
pub async fn wait_operation(
    cfn: &Client,
    stack_set: &str,
    operation_id: &str,
    timeout: Duration,
) -> Result<OperationOutcome> {
    let deadline = Instant::now() + timeout;
    let mut attempt = 0;
    loop {
        let op = cfn
            .describe_stack_set_operation()
            .stack_set_name(stack_set)
            .operation_id(operation_id)
            .send()
            .await
            .map_err(err("DescribeStackSetOperation"))?
            .stack_set_operation
            .unwrap_or_else(|| aws_sdk_cloudformation::types::StackSetOperation::builder().build());
        let status = op
            .status
            .as_ref()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let done = matches!(status.as_str(), "SUCCEEDED" | "FAILED" | "STOPPED");
        if done || Instant::now() >= deadline {
            let failed = if done {
                let results: Vec<_> = cfn
                    .list_stack_set_operation_results()
                    .stack_set_name(stack_set)
                    .operation_id(operation_id)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(err("ListStackSetOperationResults"))?;
                results
                    .into_iter()
                    .filter(|r| r.status.as_ref().map(|s| s.as_str()) != Some("SUCCEEDED"))
                    .map(|r| {
                        format!(
                            "{}/{}: {}",
                            r.account.unwrap_or_default(),
                            r.region.unwrap_or_default(),
                            r.status_reason
                                .or(r.status.map(|s| s.as_str().to_string()))
                                .unwrap_or_default()
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            };
            return Ok(OperationOutcome {
                operation_id: operation_id.to_string(),
                status,
                reason: op.status_reason,
                failed,
            });
        }
        pause(&mut attempt).await;
    }
}

/// Between polls: 1, 2, 4, then 5 seconds.
async fn pause(attempt: &mut u32) {
    let secs = (1u64 << (*attempt).min(3)).min(5);
    *attempt += 1;
    tokio::time::sleep(Duration::from_secs(secs)).await;
}
