//! Everything a function builds once at init and shares across invocations.

use std::time::Instant;

use aws_config::{
    BehaviorVersion, Region, SdkConfig,
    environment::credentials::EnvironmentVariableCredentialsProvider,
};
use tracing::info;

use crate::{
    aws::{clients, org::OuParents, queue::Queues, share::Slots, sso, sts::partition_of},
    config::{Config, ConfigError, OktaMode},
    error::Result,
    okta,
    saml::MetadataSource,
    tls::TrustRoots,
};

/// The environment variable Lambda sets to the function's region.
pub const REGION_ENV: &str = "AWS_REGION";
/// The environment variable naming the work queue's URL.
pub const QUEUE_URL_ENV: &str = "AUTOFED_QUEUE_URL";
/// The environment variable naming the dead-letter queue's URL.
pub const DLQ_URL_ENV: &str = "AUTOFED_DLQ_URL";

/// What a function's context is built with, beyond the configuration and AWS clients.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// The work queue and its dead-letter queue (the onboarders, fed by SQS).
    pub queues: bool,
    /// The Okta client: only the functions that plan or write Okta objects build one (its
    /// secret is read by its first request).
    pub okta: bool,
}

/// Clients, configuration and caches, built once per function instance.
pub struct Context {
    /// The validated configuration.
    pub config: Config,
    /// The function's own AWS configuration; member-account sessions are derived from it.
    pub aws: SdkConfig,
    /// The partition the function runs in.
    pub partition: &'static str,
    /// Organizations (management account).
    pub organizations: aws_sdk_organizations::Client,
    /// STS, for member-account sessions.
    pub sts: aws_sdk_sts::Client,
    /// Identity Center administration.
    pub sso_admin: aws_sdk_ssoadmin::Client,
    /// Identity Center's identity store.
    pub identity_store: aws_sdk_identitystore::Client,
    /// SQS, for re-queueing and dead-lettering.
    pub sqs: aws_sdk_sqs::Client,
    /// The queues a worker function works from (none for the backfill, which only sends).
    pub queues: Option<Queues>,
    /// The IdP metadata, when it comes from the configuration (with Okta in group-mapping or
    /// app-per-account mode it comes from the Okta app instead).
    pub metadata: Option<MetadataSource>,
    /// The certificate authorities every HTTPS client here trusts.
    pub roots: TrustRoots,
    /// Secrets Manager, for the Okta credentials.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Okta, when configured (see [`Context::connect_okta`]).
    pub okta: Option<okta::Client>,
    /// What is known of Identity Center (its instance, permission sets, principals), learned on
    /// first use and shared by the instance's invocations.
    pub discovery: sso::Discovery,
    /// The parents of the organizational units met so far (they never change).
    pub ou_parents: OuParents,
    /// Identity Center assignment operations in flight in this instance, shared by the records
    /// it works on at once: `identity_center.max_in_flight`, borrowing up to twice it (at most
    /// Identity Center's [`sso::MAX_IN_FLIGHT`]) while none is refused.
    pub assignment_slots: Slots,
}

impl Context {
    /// Builds a function's context from the environment: the trust roots
    /// ([`crate::tls::CERT_FILE_ENV`]), the configuration file
    /// ([`crate::config::CONFIG_ENV`]), the standard AWS settings as Lambda sets them (the
    /// region, credentials in `AWS_ACCESS_KEY_ID` and its kin, `AWS_ENDPOINT_URL*`), and what
    /// `needs` asks for: the queue URLs ([`QUEUE_URL_ENV`], [`DLQ_URL_ENV`]) and the Okta
    /// client. Init makes no network call: the Okta secret is read when the first Okta request
    /// needs it (see [`okta::Client`]).
    ///
    /// Logs one line with where init went: the configuration and AWS clients, then the Okta
    /// client.
    pub async fn from_env(needs: Needs) -> Result<Self> {
        let started = Instant::now();
        let region = match std::env::var(REGION_ENV) {
            Ok(r) if !r.is_empty() => Region::new(r),
            _ => {
                return Err(ConfigError::Env {
                    var: REGION_ENV,
                    reason: "not set (Lambda sets it for every function)".into(),
                }
                .into());
            }
        };
        let roots = TrustRoots::from_env()?;
        let config = Config::from_env()?;
        let queues = if needs.queues {
            Some(Queues {
                work_url: queue_url(QUEUE_URL_ENV)?,
                dead_letter_url: queue_url(DLQ_URL_ENV)?,
            })
        } else {
            None
        };
        // NB: Lambda gives every function its region and credentials in the environment. The
        // default chains' other sources (profile files, web identity, the container and
        // instance metadata endpoints) never apply there, and building them is a few tenths of
        // a millisecond of every cold start: AWS's advice for Lambda init
        // (https://docs.aws.amazon.com/sdk-for-java/latest/developer-guide/lambda-optimize-starttime.html).
        let aws = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .http_client(roots.aws_http_client())
            .load()
            .await;
        let mut ctx = Self::new(config, aws, queues, roots)?;
        let built = started.elapsed();
        if needs.okta {
            ctx.connect_okta()?;
        }
        let okta = started.elapsed() - built;
        info!(
            clients_ms = built.as_secs_f64() * 1000.0,
            okta_ms = okta.as_secs_f64() * 1000.0,
            "context ready"
        );
        Ok(ctx)
    }

    /// Builds the Okta client the configuration describes; its credentials are read from
    /// Secrets Manager when its first request needs them.
    pub fn connect_okta(&mut self) -> Result<()> {
        if let Some(config) = &self.config.okta {
            self.okta = Some(okta::Client::from_config(
                config,
                &self.secrets,
                okta::Retries::from_config(&self.config.retry),
                &self.roots,
            )?);
        }
        Ok(())
    }

    /// Builds the context from parts.
    pub fn new(
        config: Config,
        aws: SdkConfig,
        queues: Option<Queues>,
        roots: TrustRoots,
    ) -> Result<Self> {
        let metadata = match config.okta_mode() {
            OktaMode::None => Some(MetadataSource::from_config(
                &config.saml,
                &config.base_dir,
                &roots,
            )?),
            OktaMode::GroupMapping | OktaMode::AppPerAccount => None,
        };
        let partition = partition_of(aws.region().map(|r| r.as_ref()).unwrap_or("us-east-1"));
        // Every client, and every member-account session derived from `aws`, retries and
        // times out the same way.
        let aws = aws
            .to_builder()
            .retry_config(config.retry.aws_retries())
            .timeout_config(config.retry.aws_timeouts())
            .build();
        Ok(Self {
            assignment_slots: Slots::new(config.identity_center.max_in_flight, sso::MAX_IN_FLIGHT),
            organizations: clients::organizations(&aws),
            sts: clients::sts(&aws),
            sso_admin: clients::sso_admin(&aws, config.identity_center.calls_per_second),
            identity_store: clients::identity_store(&aws),
            sqs: clients::sqs(&aws),
            secrets: clients::secrets_manager(&aws),
            okta: None,
            roots,
            partition,
            config,
            aws,
            queues,
            metadata,
            discovery: sso::Discovery::default(),
            ou_parents: OuParents::default(),
        })
    }

    /// The execution roles to try in member accounts, in order.
    pub fn execution_roles(&self) -> Vec<&str> {
        std::iter::once(self.config.execution_role.as_str())
            .chain(
                self.config
                    .fallback_execution_roles
                    .iter()
                    .map(String::as_str),
            )
            .collect()
    }

    /// Identity Center, borrowed for a run.
    pub fn identity_center(&self) -> sso::IdentityCenter<'_> {
        sso::IdentityCenter {
            admin: &self.sso_admin,
            store: &self.identity_store,
            config: &self.config.identity_center,
            discovery: &self.discovery,
        }
    }
}

/// A queue URL from the environment variable `var`.
pub fn queue_url(var: &'static str) -> Result<String, ConfigError> {
    match std::env::var(var) {
        Ok(v) if v.starts_with("https://") || v.starts_with("http://") => Ok(v),
        Ok(v) => Err(ConfigError::Env {
            var,
            reason: format!("expected a queue URL, got {}", crate::ids::quote(&v)),
        }),
        Err(_) => Err(ConfigError::Env {
            var,
            reason: "not set".into(),
        }),
    }
}
