//! Onboarding one account: observe, plan, and (unless dry-run) apply.

use std::{sync::Arc, time::Duration};

use tracing::{info, instrument, warn};

use crate::{
    Context,
    apply::{self, Clients},
    aws::{clients, iam, org, sts},
    calls,
    config::DeployMode,
    desired::{self, Desired},
    error::{Error, Result},
    ids::AccountId,
    observe::{self, Observed},
    okta::{self, apply::Created, observe::OktaObserved},
    plan::{self, Action, Op},
    report::{Mode, Report, Status},
    stack,
    target::Account,
};

/// What a run did with its account.
#[derive(Debug)]
pub enum Outcome {
    /// The account was planned (and applied, unless dry-run).
    Reconciled(Box<Report>),
    /// The event names the management account, which autofed does not onboard (it has no
    /// execution role, and its access is managed by hand).
    ManagementAccount,
    /// Nothing to do, for the reason given (a cluster that failed, is being deleted or is
    /// gone; a cluster in the management account).
    Skipped {
        /// What was skipped.
        subject: String,
        /// Why.
        reason: String,
    },
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
        finish(report, &log, "account report");
    }
    Ok(outcome)
}

async fn run(ctx: &Context, account_id: &AccountId, mode: Mode) -> Result<Outcome> {
    let described = org::describe_account(&ctx.organizations, account_id).await?;
    if described.is_management() {
        info!(account_id = %account_id, "the management account is not onboarded; skipped");
        return Ok(Outcome::ManagementAccount);
    }
    if !described.is_active() {
        warn!(account_id = %account_id, status = %described.status, "account not active; skipped");
        return Ok(Outcome::Inactive {
            account_id: account_id.clone(),
            status: described.status,
        });
    }
    let account = org::locate(&ctx.organizations, &ctx.ou_parents, described).await?;
    let session = sts::assume(
        &ctx.sts,
        &ctx.aws,
        ctx.partition,
        account_id,
        &ctx.execution_roles(),
        match ctx.config.deploy.mode {
            DeployMode::Direct => sts::MEMBER_ACTIONS,
            DeployMode::Stack => sts::STACK_ACTIONS,
        },
        &ctx.config.retry,
    )
    .await?;
    let iam = clients::iam(&session);
    let cfn =
        (ctx.config.deploy.mode == DeployMode::Stack).then(|| clients::cloudformation(&session));
    let (mut desired, mut observed) = read(ctx, &account, &iam, cfn.as_ref(), mode).await?;
    let mut plan = plan::plan(&desired, &observed, ctx.config.adopt);
    let mut actions = Vec::new();
    let mut statuses = Vec::new();
    if mode == Mode::Apply && plan.iter().any(creates_app) {
        // The account's SAML provider takes the Okta app's metadata, which exists only once
        // the app does: the app is created first, then its metadata read and all planned
        // again. Nothing else was written, so the other reads stand.
        let (first, _): (Vec<Action>, Vec<Action>) = plan.into_iter().partition(creates_app);
        let created = Created::default();
        let done = apply::apply_keeping(
            &clients(ctx, Some(&iam), cfn.as_ref()),
            account_id.as_str(),
            &first,
            &created,
        )
        .await;
        let ok = done.iter().all(|s| *s == Status::Applied);
        actions.extend(first);
        statuses.extend(done);
        plan = if ok {
            app_created(ctx, &mut desired, &mut observed, created.app().as_ref()).await?;
            plan::plan(&desired, &observed, ctx.config.adopt)
        } else {
            Vec::new()
        };
    }
    statuses.extend(match mode {
        Mode::Plan => planned(account_id.as_str(), &plan),
        Mode::Apply => {
            apply::apply(
                &clients(ctx, Some(&iam), cfn.as_ref()),
                account_id.as_str(),
                &plan,
            )
            .await
        }
    });
    actions.extend(plan);
    let report = Report::new(
        account_id.to_string(),
        account.name,
        mode,
        &actions,
        statuses,
    );
    Ok(Outcome::Reconciled(Box::new(report)))
}

/// Puts the run's call counts into its report and logs the report as one JSON line.
pub(crate) fn finish(report: &mut Report, log: &calls::CallLog, message: &str) {
    report.calls = log.counts();
    info!(
        account_id = %report.account_id,
        mode = ?report.mode,
        reads = report.calls.reads,
        writes = report.calls.writes,
        failed = report.failed(),
        report = %serde_json::to_string(&*report).unwrap_or_default(),
        "{message}"
    );
}

fn creates_app(action: &Action) -> bool {
    matches!(&action.op, Some(Op::Okta(op)) if op.creates_app())
}

/// Desired state and observation: the SAML provider, then Okta (its app supplies the SAML
/// metadata, and a bad token stops the run before any write), then the rest of the account (and
/// its stack, in `stack` mode: with drift detection when only planning) and Identity Center.
async fn read(
    ctx: &Context,
    account: &Account,
    iam: &aws_sdk_iam::Client,
    cfn: Option<&aws_sdk_cloudformation::Client>,
    mode: Mode,
) -> Result<(Desired, Observed)> {
    let metadata: Arc<str> = match &ctx.metadata {
        Some(source) => source.get().await?,
        // Replaced by the app's metadata below; empty only while the app does not exist.
        None => Arc::from(""),
    };
    let mut desired = desired::for_account(&ctx.config, account, ctx.partition, metadata);
    let provider = iam::saml_provider(iam, &desired.provider.arn).await?;
    let okta = read_okta(ctx, &mut desired, provider.is_some()).await?;
    let mut observed = observe::observe(
        iam,
        &ctx.identity_center(),
        &desired,
        provider,
        okta,
        ctx.config.adopt,
    )
    .await?;
    if let Some(cfn) = cfn {
        let deploy = &ctx.config.deploy;
        observed.stack = Some(
            stack::observe(
                cfn,
                &deploy.stack_name,
                mode == Mode::Plan,
                Duration::from_secs(deploy.stack_timeout_seconds),
            )
            .await?,
        );
    }
    Ok((desired, observed))
}

/// What autofed keeps in Okta for the account, when configured; the provider's desired
/// metadata becomes the account's app's, once the app exists. `federated`: the account's
/// provider exists.
async fn read_okta(
    ctx: &Context,
    desired: &mut Desired,
    federated: bool,
) -> Result<Option<OktaObserved>> {
    let okta = match (&ctx.okta, &desired.okta) {
        (Some(client), Some(d)) => Some(
            okta::observe::observe(client, d, desired.okta_push_app.as_deref(), federated).await?,
        ),
        _ => None,
    };
    trust_app(desired, okta.as_ref());
    Ok(okta)
}

/// Brings the observed Okta state up to date after this run created the account's app: the
/// app it kept, when it kept its own (see [`okta::observe::app_created`]), or all of Okta read
/// again when another delivery's twin was kept. The provider's desired metadata becomes the
/// app's.
async fn app_created(
    ctx: &Context,
    desired: &mut Desired,
    observed: &mut Observed,
    created: Option<&serde_json::Value>,
) -> Result<()> {
    let federated = observed.provider.is_some();
    match (&ctx.okta, created, &mut observed.okta) {
        (Some(client), Some(app), Some(okta)) => {
            okta::observe::app_created(client, app, okta).await?;
            trust_app(desired, Some(okta));
        }
        _ => observed.okta = read_okta(ctx, desired, federated).await?,
    }
    Ok(())
}

/// The provider's desired metadata becomes the account's app's, once the app exists.
fn trust_app(desired: &mut Desired, okta: Option<&OktaObserved>) {
    if let Some(doc) = okta.and_then(|o| o.metadata.as_deref()) {
        desired.provider.metadata = Arc::from(doc);
    }
}

fn clients<'a>(
    ctx: &'a Context,
    iam: Option<&'a aws_sdk_iam::Client>,
    cloudformation: Option<&'a aws_sdk_cloudformation::Client>,
) -> Clients<'a> {
    Clients {
        iam,
        cloudformation,
        stack_timeout: Duration::from_secs(ctx.config.deploy.stack_timeout_seconds),
        sso_admin: &ctx.sso_admin,
        identity_store: &ctx.identity_store,
        okta: ctx.okta.as_ref(),
        identity_store_id: ctx
            .discovery
            .instance()
            .map(|i| i.identity_store_id.clone()),
        assignment_timeout: Duration::from_secs(ctx.config.retry.assignment_timeout_seconds),
        assignment_slots: &ctx.assignment_slots,
    }
}

/// The statuses of a plan that is only shown.
pub(crate) fn planned(account_id: &str, actions: &[Action]) -> Vec<Status> {
    actions
        .iter()
        .map(|a| {
            let status = match a.op {
                Some(_) => Status::Planned,
                None => apply::left_for_a_person(a),
            };
            apply::log(account_id, a, &status);
            status
        })
        .collect()
}

/// Plans the removal of what autofed made for an account that was closed or left the
/// organization: its Okta objects, and the Identity Center assignments of the rules' pairs.
/// Each part is applied only when its switch is on (`okta.deprovision`,
/// `identity_center.deprovision`); otherwise it is reported as planned. In `stack` deploy mode
/// the account's stack is deleted too (`deploy.deprovision`), while the account can still be
/// entered; nothing else in the account is touched: a closed account is deleted by AWS.
#[instrument(skip(ctx), fields(account_id = %account_id))]
pub async fn remove(ctx: &Context, account_id: &AccountId, mode: Mode) -> Result<Outcome> {
    let (result, log) = calls::scope(Box::pin(plan_removal(ctx, account_id, mode))).await;
    let mut report = result?;
    finish(&mut report, &log, "account removal report");
    Ok(Outcome::Reconciled(Box::new(report)))
}

async fn plan_removal(ctx: &Context, account_id: &AccountId, mode: Mode) -> Result<Report> {
    let id = account_id.as_str();
    // (actions, whether the configuration lets them be applied), per part.
    let mut parts: Vec<(Vec<Action>, bool, &str)> = Vec::new();
    if let (Some(client), Some(config)) = (&ctx.okta, &ctx.config.okta) {
        let observed = okta::observe::observe_removal(client, config.mode, id).await?;
        parts.push((
            okta::plan::plan_removal(id, &observed),
            config.deprovision,
            "okta.deprovision",
        ));
    }
    let pairs = desired::all_pairs(&ctx.config);
    if !pairs.is_empty() {
        let seen = ctx.identity_center().observe(id, &pairs).await?;
        parts.push((
            plan::plan_unassignments(&pairs, &seen, id, "the account left the organization"),
            ctx.config.identity_center.deprovision,
            "identity_center.deprovision",
        ));
    }
    // The stack lives in the account: it is reached through the execution role while the
    // account can still be entered (it left the organization, or is closing); a closed
    // account's resources go with it.
    let mut cfn = None;
    if ctx.config.deploy.mode == DeployMode::Stack {
        let deploy = &ctx.config.deploy;
        let actions = match member_cloudformation(ctx, account_id).await {
            Ok(client) => {
                let seen = stack::observe(
                    &client,
                    &deploy.stack_name,
                    false,
                    Duration::from_secs(deploy.stack_timeout_seconds),
                )
                .await?;
                cfn = Some(client);
                stack::plan_removal(&seen, id)
            }
            Err(e) => vec![Action::new(
                &format!("stack/{}", deploy.stack_name),
                plan::ActionKind::Manual,
                format!(
                    "stack {} in account {id} could not be reached to delete it: {e}",
                    deploy.stack_name
                ),
                None,
            )],
        };
        parts.push((actions, deploy.deprovision, "deploy.deprovision"));
    }
    let mut all = Vec::new();
    let mut statuses = Vec::new();
    let mut applied = false;
    for (actions, enabled, switch) in parts {
        if mode == Mode::Apply && enabled {
            applied = true;
            statuses.extend(apply::apply(&clients(ctx, None, cfn.as_ref()), id, &actions).await);
        } else {
            if mode == Mode::Apply && !actions.is_empty() {
                info!(account_id = %account_id, switch, "the removal is planned, not applied: the switch is off");
            }
            statuses.extend(planned(id, &actions));
        }
        all.extend(actions);
    }
    Ok(Report::new(
        account_id.to_string(),
        String::new(),
        if applied { Mode::Apply } else { Mode::Plan },
        &all,
        statuses,
    ))
}

/// CloudFormation in a member account, through the execution role.
async fn member_cloudformation(
    ctx: &Context,
    account_id: &AccountId,
) -> Result<aws_sdk_cloudformation::Client> {
    let session = sts::assume(
        &ctx.sts,
        &ctx.aws,
        ctx.partition,
        account_id,
        &ctx.execution_roles(),
        sts::STACK_ACTIONS,
        &ctx.config.retry,
    )
    .await?;
    Ok(clients::cloudformation(&session))
}

impl Outcome {
    /// The error that failed actions leave for the queue: [`Error::NotReady`] (re-queued with
    /// a delay) if every failure waits on something outside autofed (a group Okta has not
    /// pushed yet), [`Error::Incomplete`] (retry) if any failure may pass, [`Error::Refused`]
    /// (dead-letter, with the reasons) if none can.
    pub fn error(&self) -> Option<Error> {
        let Outcome::Reconciled(r) = self else {
            return None;
        };
        let failures: Vec<(&str, bool, bool)> = r
            .actions
            .iter()
            .filter_map(|a| match &a.status {
                Status::Failed {
                    reason,
                    retryable,
                    not_ready,
                } => Some((reason.as_str(), *retryable, *not_ready)),
                _ => None,
            })
            .collect();
        if !failures.is_empty() && failures.iter().all(|f| f.2) {
            return Some(Error::NotReady {
                subject: r.subject(),
                reason: failures.iter().map(|f| f.0).collect::<Vec<_>>().join("; "),
            });
        }
        if failures.is_empty() {
            None
        } else if failures.iter().any(|f| f.1) {
            Some(Error::Incomplete {
                subject: r.subject(),
                failed: failures.len(),
                total: r.actions.len(),
            })
        } else {
            Some(Error::Refused {
                subject: r.subject(),
                failed: failures.len(),
                total: r.actions.len(),
                reasons: failures.iter().map(|f| f.0).collect::<Vec<_>>().join("; "),
            })
        }
    }
}
