//! The JSON report of a run: every action with what became of it, and the calls made.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    calls::CallCounts,
    plan::{Action, ActionKind},
};

/// What became of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "status")]
pub enum Status {
    /// Dry run: it would be done.
    Planned,
    /// Done.
    Applied,
    /// Not attempted (a conflict, a manual step, an earlier failure).
    Skipped {
        /// Why.
        reason: String,
    },
    /// Attempted and failed.
    Failed {
        /// The error.
        reason: String,
        /// Whether a later attempt may succeed.
        retryable: bool,
        /// Whether it waits for something outside autofed (re-queued with a delay).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        not_ready: bool,
    },
}

impl Status {
    /// A skipped status.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Status::Skipped {
            reason: reason.into(),
        }
    }

    /// The status of an action whose write failed with `err`.
    pub fn failed(err: &crate::Error) -> Self {
        Status::Failed {
            reason: err.to_string(),
            retryable: err.is_retryable(),
            not_ready: matches!(err, crate::Error::NotReady { .. }),
        }
    }
}

/// One action in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ActionReport {
    /// The resource.
    pub resource: String,
    /// The action's kind.
    pub kind: ActionKind,
    /// The human-readable line.
    pub summary: String,
    /// What became of it.
    #[serde(flatten)]
    pub status: Status,
}

/// Whether a run only planned or also applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plan only (dry run).
    Plan,
    /// Plan and apply.
    Apply,
}

/// The report of one account's run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The account.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// The cluster, for a cluster's run (`account/region/name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Plan or apply.
    pub mode: Mode,
    /// Every action, in plan order.
    pub actions: Vec<ActionReport>,
    /// Counts of actions by kind.
    pub summary: BTreeMap<String, usize>,
    /// The AWS calls the run made.
    pub calls: CallCounts,
}

impl Report {
    /// A report of `actions` with their statuses.
    pub fn new(
        account_id: String,
        account_name: String,
        mode: Mode,
        actions: &[Action],
        statuses: Vec<Status>,
    ) -> Self {
        Self {
            account_id,
            account_name,
            cluster: None,
            mode,
            summary: crate::plan::tally(actions),
            actions: actions
                .iter()
                .zip(statuses)
                .map(|(a, status)| ActionReport {
                    resource: a.resource.clone(),
                    kind: a.kind,
                    summary: a.summary.clone(),
                    status,
                })
                .collect(),
            calls: CallCounts::default(),
        }
    }

    /// What the run worked on: `account 2222...` or `cluster 2222.../eu-west-1/prod`.
    pub fn subject(&self) -> String {
        match &self.cluster {
            Some(c) => format!("cluster {c}"),
            None => format!("account {}", self.account_id),
        }
    }

    /// How many actions failed.
    pub fn failed(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a.status, Status::Failed { .. }))
            .count()
    }
}
