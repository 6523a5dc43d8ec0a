//! Onboarding one cluster: wait for it to be ACTIVE, find the principals, observe, plan, and
//! (unless dry-run) apply.

use aws_config::Region;
use tracing::{info, instrument, warn};

use super::{
    apply::{self, ClusterClients},
    desired, observe,
    plan::{self, Options},
};
use crate::{
    Context,
    aws::{
        clients,
        eks::{self, AuthMode},
        org, sts,
    },
    calls,
    error::{Error, Result},
    events::ClusterRef,
    kube::{Kube, KubeError, token},
    onboard::{Outcome, finish, planned},
    plan::{Action, ActionKind},
    report::{Mode, Report, Status},
};

/// Gives the configured principals access to one cluster, or only plans it when `mode` is
/// [`Mode::Plan`]. A cluster that is not ACTIVE yet is [`Error::NotReady`]: the message comes
/// back after a delay, until `retry.max_deliveries`.
#[instrument(skip(ctx), fields(account_id = %cluster.account_id, region = %cluster.region, cluster = %cluster.name))]
pub async fn onboard(ctx: &Context, cluster: &ClusterRef, mode: Mode) -> Result<Outcome> {
    let (result, log) = calls::scope(Box::pin(run(ctx, cluster, mode))).await;
    let mut outcome = result?;
    if let Outcome::Reconciled(report) = &mut outcome {
        finish(report, &log, "cluster report");
    }
    Ok(outcome)
}

fn skipped(cluster: &ClusterRef, reason: impl Into<String>) -> Outcome {
    let reason = reason.into();
    info!(cluster = %cluster, reason = %reason, "cluster skipped");
    Outcome::Skipped {
        subject: format!("cluster {cluster}"),
        reason,
    }
}

async fn run(ctx: &Context, cluster: &ClusterRef, mode: Mode) -> Result<Outcome> {
    let account_id = &cluster.account_id;
    let account = org::describe_account(&ctx.organizations, account_id).await?;
    if account.is_management() {
        return Ok(skipped(
            cluster,
            "clusters in the management account are not onboarded (no execution role there)",
        ));
    }
    if !account.is_active() {
        return Ok(skipped(
            cluster,
            format!("account {account_id} is {}", account.status),
        ));
    }
    let account = org::locate(&ctx.organizations, &ctx.ou_parents, account).await?;
    let session = sts::assume(
        &ctx.sts,
        &ctx.aws,
        ctx.partition,
        account_id,
        &ctx.execution_roles(),
        sts::CLUSTER_ACTIONS,
        &ctx.config.retry,
    )
    .await?;
    let regional = session
        .to_builder()
        .region(Region::new(cluster.region.clone()))
        .build();
    let eks_client = clients::eks(&regional);
    let iam = clients::iam(&session);
    let Some(info) = eks::describe(&eks_client, &cluster.name).await? else {
        return Ok(skipped(cluster, "the cluster no longer exists"));
    };
    match info.status.as_str() {
        "ACTIVE" => {}
        "CREATING" | "PENDING" | "UPDATING" => {
            return Err(Error::NotReady {
                subject: format!("cluster {cluster}"),
                reason: format!("the cluster is {}", info.status),
            });
        }
        other => {
            warn!(cluster = %cluster, status = other, "cluster not onboarded");
            return Ok(skipped(cluster, format!("the cluster is {other}")));
        }
    }
    let grants = desired::grants(&ctx.config, &account, &cluster.region, &cluster.name);
    let rbac = desired::rbac(&ctx.config, &account, &cluster.region, &cluster.name);
    let principals = observe::principals(&iam, account_id.as_str(), &grants).await?;
    let upgrade = ctx.config.clusters.upgrade_config_map && info.auth_mode == AuthMode::ConfigMap;
    let mode_after = if upgrade {
        AuthMode::ApiAndConfigMap
    } else {
        info.auth_mode
    };
    let desired = desired::for_cluster(
        &ctx.config,
        ctx.partition,
        account_id.as_str(),
        mode_after,
        &grants,
        &rbac,
        &principals.resolved,
    );
    let aws_auth = mode_after == AuthMode::ConfigMap && !grants.is_empty();
    let kube = if aws_auth || !desired.objects.is_empty() {
        Some(connect(&regional, cluster, &info, &ctx.config.retry).await?)
    } else {
        None
    };
    let observed = observe::observe(
        &eks_client,
        kube.as_ref(),
        &cluster.name,
        &desired,
        info.auth_mode.has_access_entries(),
        aws_auth,
    )
    .await?;
    let options = Options {
        adopt: ctx.config.adopt,
        remove: principals.missing.is_empty(),
        upgrade,
    };
    let plan = plan::plan(&cluster.name, &desired, &observed, options);
    let clients = ClusterClients {
        eks: &eks_client,
        kube: kube.as_ref(),
        cluster: &cluster.name,
        adopt: ctx.config.adopt,
    };
    let mut statuses = match mode {
        Mode::Plan => planned(account_id.as_str(), &plan),
        Mode::Apply if upgrade => {
            // The new mode takes a while; access entries are made on a later delivery.
            let (first, rest) = plan.split_at(1);
            let mut done = apply::apply(
                &clients,
                account_id.as_str(),
                first,
                observed.aws_auth.as_ref(),
            )
            .await;
            let waiting = Status::Failed {
                reason: "waits for the cluster's move to API_AND_CONFIG_MAP".into(),
                retryable: true,
                not_ready: true,
            };
            done.extend(rest.iter().map(|_| waiting.clone()));
            done
        }
        Mode::Apply => {
            apply::apply(
                &clients,
                account_id.as_str(),
                &plan,
                observed.aws_auth.as_ref(),
            )
            .await
        }
    };
    let mut actions = plan;
    for (principal, reason) in principals.missing {
        // Reported as not ready: the message comes back, and the grant is made once the role
        // exists.
        actions.push(Action::new(
            &format!("principal/{principal}"),
            ActionKind::Create,
            format!("grant {principal} access to cluster {}", cluster.name),
            None,
        ));
        statuses.push(Status::Failed {
            reason,
            retryable: true,
            not_ready: true,
        });
    }
    let mut report = Report::new(
        account_id.to_string(),
        account.name,
        mode,
        &actions,
        statuses,
    );
    report.cluster = Some(cluster.to_string());
    Ok(Outcome::Reconciled(Box::new(report)))
}

/// A connection to the cluster's API server as the session's principal.
async fn connect(
    session: &aws_config::SdkConfig,
    cluster: &ClusterRef,
    info: &eks::ClusterInfo,
    retry: &crate::config::RetryConfig,
) -> Result<Kube> {
    let setup = |reason: &str, message: String| {
        Error::Kube(Box::new(KubeError {
            cluster: cluster.to_string(),
            call: "connect".into(),
            code: 0,
            reason: reason.into(),
            message,
        }))
    };
    let (Some(endpoint), Some(ca)) = (&info.endpoint, &info.ca_data) else {
        return Err(setup(
            "NoEndpoint",
            "DescribeCluster gave no endpoint or certificate authority".into(),
        ));
    };
    let token = token::token(session, &cluster.region, &cluster.name)
        .await
        .map_err(|e| setup("Token", e))?;
    Ok(Kube::new(&cluster.to_string(), endpoint, ca, token, retry)?)
}
