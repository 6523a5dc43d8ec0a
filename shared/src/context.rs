//! Everything a function builds once, at init or on first use, and shares across invocations.

use std::time::Instant;

use aws_config::{
    BehaviorVersion, Region, SdkConfig,
    environment::credentials::EnvironmentVariableCredentialsProvider,
};
use tracing::info;

use crate::{
    aws::{
        clients::{self, OnDemand},
        org::OuParents,
        queue::Queues,
        share::Slots,
        sso,
        sts::partition_of,
    },
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

/// What a function builds at init, beyond the configuration and the Organizations and STS
/// clients every flow calls: what its every invocation uses. What it does not build there is
/// built by its first use, if any (see [`OnDemand`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The work queue and its dead-letter queue (the onboarders, fed by SQS). The SQS client
    /// itself is built by the first re-queue or dead-letter: a batch that succeeds needs none.
    pub queues: bool,
    /// Identity Center's clients, at init.
    pub identity_center: bool,
    /// The Okta client (when the configuration has Okta), and with it the Secrets Manager
    /// client its first request reads the secret with: only the functions that plan or write
    /// Okta objects build one.
    pub okta: bool,
}

impl Needs {
    /// The account onboarder: every account it onboards gets Identity Center's assignments and
    /// Okta's objects.
    pub const ACCOUNT_ONBOARDER: Needs = Needs {
        queues: true,
        identity_center: true,
        okta: true,
    };
    /// The cluster onboarder: its flow calls neither Identity Center nor Okta.
    pub const CLUSTER_ONBOARDER: Needs = Needs {
        queues: true,
        identity_center: false,
        okta: false,
    };
    /// The backfill: its plans read Okta, and Identity Center, whose clients the first plan
    /// builds (an apply only enqueues).
    pub const BACKFILL: Needs = Needs {
        queues: false,
        identity_center: false,
        okta: true,
    };
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
    pub organizations: OnDemand<aws_sdk_organizations::Client>,
    /// STS, for member-account sessions.
    pub sts: OnDemand<aws_sdk_sts::Client>,
    /// Identity Center administration.
    pub sso_admin: OnDemand<aws_sdk_ssoadmin::Client>,
    /// Identity Center's identity store.
    pub identity_store: OnDemand<aws_sdk_identitystore::Client>,
    /// SQS, for re-queueing and dead-lettering.
    pub sqs: OnDemand<aws_sdk_sqs::Client>,
    /// The queues a worker function works from (none for the backfill, which only sends).
    pub queues: Option<Queues>,
    /// The IdP metadata, when it comes from the configuration (with Okta in group-mapping or
    /// app-per-account mode it comes from the Okta app instead).
    pub metadata: Option<MetadataSource>,
    /// The certificate authorities every HTTPS client here trusts.
    pub roots: TrustRoots,
    /// Secrets Manager, for the Okta credentials.
    pub secrets: OnDemand<aws_sdk_secretsmanager::Client>,
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
    /// `needs` asks for: the queue URLs ([`QUEUE_URL_ENV`], [`DLQ_URL_ENV`]), the AWS clients
    /// of [`Context::warm`] and the Okta client. Init makes no network call: the Okta secret is
    /// read when the first Okta request needs it (see [`okta::Client`]).
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
        ctx.warm(needs);
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

    /// Builds the AWS clients a function with `needs` uses in every invocation, at its init:
    /// Organizations and STS, Identity Center's when `needs` says so, and Secrets Manager's
    /// when the function builds an Okta client (whose first request reads its secret with it).
    /// The others wait for their first use.
    pub fn warm(&self, needs: Needs) {
        self.organizations.warm();
        self.sts.warm();
        if needs.identity_center {
            self.sso_admin.warm();
            self.identity_store.warm();
        }
        if needs.okta && self.config.okta.is_some() {
            self.secrets.warm();
        }
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

    /// Builds the context from parts. It builds no AWS client: each is built by its first use,
    /// or at init by [`Context::from_env`] when the function's needs ask for it.
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
        let calls_per_second = config.identity_center.calls_per_second;
        let sso_aws = aws.clone();
        Ok(Self {
            assignment_slots: Slots::new(config.identity_center.max_in_flight, sso::MAX_IN_FLIGHT),
            organizations: OnDemand::with(&aws, clients::organizations),
            sts: OnDemand::with(&aws, clients::sts),
            sso_admin: OnDemand::new(move || clients::sso_admin(&sso_aws, calls_per_second)),
            identity_store: OnDemand::with(&aws, clients::identity_store),
            sqs: OnDemand::with(&aws, clients::sqs),
            secrets: OnDemand::with(&aws, clients::secrets_manager),
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use aws_config::{BehaviorVersion, Region};

    use super::*;

    /// A context as `Context::new` leaves it, over a configuration with Okta or without it.
    async fn context(okta: bool) -> Context {
        let text = if okta {
            crate::config::okta::tests::BASE
        } else {
            "[saml]\nmetadata_url = \"https://acme.example/metadata.xml\"\n"
        };
        let config = Config::from_toml(text, PathBuf::new()).expect("valid configuration");
        let aws = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sts::config::Credentials::for_tests())
            .load()
            .await;
        Context::new(config, aws, None, TrustRoots::mozilla()).expect("context")
    }

    /// Which of the context's AWS clients are built, by name.
    fn built(ctx: &Context) -> Vec<&'static str> {
        [
            ("organizations", ctx.organizations.is_built()),
            ("sts", ctx.sts.is_built()),
            ("sso_admin", ctx.sso_admin.is_built()),
            ("identity_store", ctx.identity_store.is_built()),
            ("sqs", ctx.sqs.is_built()),
            ("secrets", ctx.secrets.is_built()),
        ]
        .into_iter()
        .filter_map(|(name, built)| built.then_some(name))
        .collect()
    }

    #[tokio::test]
    async fn each_function_builds_at_init_what_its_every_invocation_uses() {
        let ctx = context(true).await;
        assert!(built(&ctx).is_empty(), "Context::new builds no client");
        ctx.warm(Needs::ACCOUNT_ONBOARDER);
        assert_eq!(
            built(&ctx),
            [
                "organizations",
                "sts",
                "sso_admin",
                "identity_store",
                "secrets"
            ]
        );

        let ctx = context(true).await;
        ctx.warm(Needs::CLUSTER_ONBOARDER);
        assert_eq!(built(&ctx), ["organizations", "sts"]);

        let ctx = context(true).await;
        ctx.warm(Needs::BACKFILL);
        assert_eq!(built(&ctx), ["organizations", "sts", "secrets"]);

        // Without Okta in the configuration there is no secret to read.
        let ctx = context(false).await;
        ctx.warm(Needs::ACCOUNT_ONBOARDER);
        assert_eq!(
            built(&ctx),
            ["organizations", "sts", "sso_admin", "identity_store"]
        );
        // What init left unbuilt is built by its first use, once.
        let first: *const aws_sdk_sqs::Client = &*ctx.sqs;
        assert!(ctx.sqs.is_built());
        assert!(std::ptr::eq(first, &*ctx.sqs));
    }
}
