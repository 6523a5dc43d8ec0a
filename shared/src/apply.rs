//! Carrying out a plan: each action's write, in plan order, with assignments in parallel
//! within Identity Center's limit.

use std::{collections::BTreeSet, time::Duration};

use futures::{StreamExt, stream};
use tracing::{info, warn};

use crate::{
    aws::{iam, share::Slots, sso},
    desired::Principal,
    error::Error,
    observe::AssignmentTarget,
    okta::{self, apply::Created},
    plan::{Action, Op},
    report::Status,
};

/// The clients a plan's operations need.
pub struct Clients<'a> {
    /// IAM in the member account (none when the plan has no IAM operations).
    pub iam: Option<&'a aws_sdk_iam::Client>,
    /// CloudFormation in the member account (`stack` deploy mode only).
    pub cloudformation: Option<&'a aws_sdk_cloudformation::Client>,
    /// How long one stack change is waited for.
    pub stack_timeout: Duration,
    /// Identity Center in the management account.
    pub sso_admin: &'a aws_sdk_ssoadmin::Client,
    /// Identity Center's identity store, where pushed groups are looked up.
    pub identity_store: &'a aws_sdk_identitystore::Client,
    /// Okta, when configured.
    pub okta: Option<&'a okta::Client>,
    /// The identity store's id, once the Identity Center instance is known.
    pub identity_store_id: Option<String>,
    /// How long to poll one assignment creation.
    pub assignment_timeout: Duration,
    /// Assignment creations and deletions in flight at once in this function instance, over
    /// all the accounts it works on at once (`identity_center.max_in_flight`, borrowing).
    pub assignment_slots: &'a Slots,
}

/// Applies `actions` and returns a status for each. Conflicts and manual steps are skipped;
/// after a failure, the remaining actions on the same resource are skipped.
pub async fn apply(clients: &Clients<'_>, account_id: &str, actions: &[Action]) -> Vec<Status> {
    apply_keeping(clients, account_id, actions, &Created::default()).await
}

/// [`apply`], keeping in `created` what the Okta writes created (the app, groups).
#[tracing::instrument(skip(clients, actions, created), fields(actions = actions.len()))]
pub async fn apply_keeping(
    clients: &Clients<'_>,
    account_id: &str,
    actions: &[Action],
    created: &Created,
) -> Vec<Status> {
    let mut statuses: Vec<Option<Status>> = vec![None; actions.len()];
    let mut failed: BTreeSet<&str> = BTreeSet::new();
    let mut assignments = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        let status = match &action.op {
            None => left_for_a_person(action),
            Some(_) if failed.contains(action.resource.as_str()) => {
                Status::skipped("an earlier action on this resource failed")
            }
            Some(Op::CreateAccountAssignment { target }) => {
                assignments.push((i, Assignment::Create(None), target));
                continue;
            }
            Some(Op::AssignPushedGroup { group, target }) => {
                assignments.push((i, Assignment::Create(Some(group.as_str())), target));
                continue;
            }
            Some(Op::DeleteAccountAssignment { target }) => {
                assignments.push((i, Assignment::Delete, target));
                continue;
            }
            Some(Op::Okta(op)) => {
                let res = match clients.okta {
                    Some(client) => okta::apply::apply(client, op, created).await,
                    None => unreachable!("Okta operations are planned only with an Okta client"),
                };
                match res {
                    Ok(()) => Status::Applied,
                    Err(e) => {
                        failed.insert(&action.resource);
                        Status::failed(&Error::from(e))
                    }
                }
            }
            Some(Op::Stack(op)) => {
                let client = clients
                    .cloudformation
                    .expect("stack operations are planned with a member session");
                match crate::stack::apply(client, account_id, op, clients.stack_timeout).await {
                    Ok(()) => Status::Applied,
                    Err(e) => {
                        failed.insert(&action.resource);
                        Status::failed(&e)
                    }
                }
            }
            Some(op) => match iam::apply(
                clients
                    .iam
                    .expect("IAM operations are planned with a member session"),
                op,
            )
            .await
            {
                Ok(()) => Status::Applied,
                Err(e) => {
                    failed.insert(&action.resource);
                    Status::failed(&e)
                }
            },
        };
        log(account_id, action, &status);
        statuses[i] = Some(status);
    }
    let done: Vec<(usize, Result<(), Error>)> = stream::iter(assignments)
        .map(|(i, how, target)| async move {
            let res = match how {
                Assignment::Create(pushed) => assign(clients, account_id, pushed, target).await,
                Assignment::Delete => {
                    sso::delete_assignment(
                        clients.sso_admin,
                        clients.assignment_slots,
                        target,
                        clients.assignment_timeout,
                    )
                    .await
                }
            };
            (i, res)
        })
        .buffer_unordered(sso::MAX_IN_FLIGHT)
        .collect()
        .await;
    for (i, res) in done {
        let status = match res {
            Ok(()) => Status::Applied,
            Err(e) => Status::failed(&e),
        };
        log(account_id, &actions[i], &status);
        statuses[i] = Some(status);
    }
    statuses
        .into_iter()
        .map(|s| s.expect("every action has a status"))
        .collect()
}

/// What to do with an Identity Center assignment; these run in parallel, after the rest.
enum Assignment<'a> {
    /// Create it; for a group Okta pushes, by the group's name.
    Create(Option<&'a str>),
    /// Delete it.
    Delete,
}

/// Creates one assignment; a pushed group is looked up first, and is not ready (retried
/// later) while Okta has not pushed it.
async fn assign(
    clients: &Clients<'_>,
    account_id: &str,
    pushed: Option<&str>,
    target: &AssignmentTarget,
) -> Result<(), Error> {
    let Some(group) = pushed else {
        return sso::create_assignment(
            clients.sso_admin,
            clients.assignment_slots,
            target,
            clients.assignment_timeout,
        )
        .await;
    };
    let Some(store) = clients.identity_store_id.as_deref() else {
        unreachable!("a pushed group's assignment is planned only with a resolved instance")
    };
    let principal = Principal::OktaGroup(group.to_string());
    let Some(id) = sso::principal_id(clients.identity_store, store, &principal).await? else {
        return Err(Error::NotReady {
            subject: format!("account {account_id}"),
            reason: format!("Okta has not pushed group {group:?} to IAM Identity Center yet"),
        });
    };
    let target = AssignmentTarget {
        principal_id: id,
        ..target.clone()
    };
    sso::create_assignment(
        clients.sso_admin,
        clients.assignment_slots,
        &target,
        clients.assignment_timeout,
    )
    .await
}

/// The status of an action autofed does not carry out (a conflict, a manual step).
pub(crate) fn left_for_a_person(action: &Action) -> Status {
    Status::skipped(format!("{}: left for a person", action.kind))
}

/// Logs one action's outcome: one JSON line with the account, the action and its status.
pub(crate) fn log(account_id: &str, action: &Action, status: &Status) {
    let (outcome, reason) = match status {
        Status::Planned => ("planned", None),
        Status::Applied => ("applied", None),
        Status::Skipped { reason } => ("skipped", Some(reason)),
        Status::Failed { reason, .. } => ("failed", Some(reason)),
    };
    match reason {
        None => info!(
            account_id,
            action = %action.kind,
            resource = %action.resource,
            status = outcome,
            "{}", action.summary
        ),
        Some(reason) => warn!(
            account_id,
            action = %action.kind,
            resource = %action.resource,
            status = outcome,
            reason = %reason,
            "{}", action.summary
        ),
    }
}
