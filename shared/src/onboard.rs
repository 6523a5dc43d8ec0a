//! Onboarding one account: observe, plan, and (unless dry-run) apply.

use std::time::Duration;

use tracing::{info, instrument, warn};

use crate::{
    Context,
    apply::{self, Clients},
    aws::{clients, org, sts},
    calls, desired,
    error::{Error, Result},
    ids::AccountId,
    observe, plan,
    report::{Mode, Report, Status},
};

/// What a run did with its account.
#[derive(Debug)]
pub enum Outcome {
    /// The account was planned (and applied, unless dry-run).
    Reconciled(Box<Report>),
    /// The event names the management account, which autofed does not onboard (it has no
    /// execution role, and its access is managed by hand).
    ManagementAccount,
    /// The account is not active (suspended or closing): nothing to do.
    Inactive {
        /// The account.
        account_id: AccountId,
        /// Its status.
        status: String,
    },
}

/// Brings one account to its desired state, or only plans it when `mode` is [`Mode::Plan`].
/// The report carries the calls the run made.
#[instrument(skip(ctx), fields(account_id = %account_id))]
pub async fn onboard(ctx: &Context, account_id: &AccountId, mode: Mode) -> Result<Outcome> {
    // Boxed: the SDK's futures nest deeply, and an unboxed run overflows the compiler's layout
    // depth in the function binaries.
    let (result, log) = calls::scope(Box::pin(run(ctx, account_id, mode))).await;
    let mut outcome = result?;
    if let Outcome::Reconciled(report) = &mut outcome {
        report.calls = log.counts();
        info!(
            account_id = %account_id,
            mode = ?report.mode,
            reads = report.calls.reads,
            writes = report.calls.writes,
            failed = report.failed(),
            report = %serde_json::to_string(report).unwrap_or_default(),
            "account report"
        );
    }
    Ok(outcome)
}

async fn run(ctx: &Context, account_id: &AccountId, mode: Mode) -> Result<Outcome> {
    if account_id.as_str() == ctx.own_account().await? {
        info!(account_id = %account_id, "the management account is not onboarded; skipped");
        return Ok(Outcome::ManagementAccount);
    }
    let account = org::describe_account(&ctx.organizations, account_id).await?;
    if !account.is_active() {
        warn!(account_id = %account_id, status = %account.status, "account not active; skipped");
        return Ok(Outcome::Inactive {
            account_id: account_id.clone(),
            status: account.status,
        });
    }
    let metadata = ctx.metadata.get().await?;
    let desired = desired::for_account(&ctx.config, &account, ctx.partition, metadata);
    let session = sts::assume(
        &ctx.sts,
        &ctx.aws,
        ctx.partition,
        account_id,
        &ctx.execution_roles(),
        &ctx.config.retry,
    )
    .await?;
    let iam = clients::iam(&session);
    let observed =
        observe::observe(&iam, &ctx.identity_center(), &desired, ctx.config.adopt).await?;
    let actions = plan::plan(&desired, &observed, ctx.config.adopt);
    let statuses = match mode {
        Mode::Plan => actions
            .iter()
            .map(|a| {
                let status = match a.op {
                    Some(_) => Status::Planned,
                    None => apply::left_for_a_person(a),
                };
                apply::log(account_id.as_str(), a, &status);
                status
            })
            .collect(),
        Mode::Apply => {
            let clients = Clients {
                iam: &iam,
                sso_admin: &ctx.sso_admin,
                assignment_timeout: Duration::from_secs(
                    ctx.config.retry.assignment_timeout_seconds,
                ),
                max_in_flight: ctx.config.identity_center.max_in_flight,
            };
            apply::apply(&clients, account_id.as_str(), &actions).await
        }
    };
    let report = Report::new(
        account_id.to_string(),
        account.name,
        mode,
        &actions,
        statuses,
    );
    Ok(Outcome::Reconciled(Box::new(report)))
}

impl Outcome {
    /// The error that failed actions leave for the queue: [`Error::Incomplete`] (retry) if any
    /// failure may pass, [`Error::Refused`] (dead-letter, with the reasons) if none can.
    pub fn error(&self) -> Option<Error> {
        let Outcome::Reconciled(r) = self else {
            return None;
        };
        let failures: Vec<(&str, bool)> = r
            .actions
            .iter()
            .filter_map(|a| match &a.status {
                Status::Failed { reason, retryable } => Some((reason.as_str(), *retryable)),
                _ => None,
            })
            .collect();
        if failures.is_empty() {
            None
        } else if failures.iter().any(|(_, retryable)| *retryable) {
            Some(Error::Incomplete {
                account_id: r.account_id.clone(),
                failed: failures.len(),
                total: r.actions.len(),
            })
        } else {
            Some(Error::Refused {
                account_id: r.account_id.clone(),
                failed: failures.len(),
                total: r.actions.len(),
                reasons: failures
                    .iter()
                    .map(|(r, _)| *r)
                    .collect::<Vec<_>>()
                    .join("; "),
            })
        }
    }
}
