//! One test's world: moto (reset), the sandbox organization, the work queue and its DLQ, and a
//! fault proxy that every autofed call goes through, so tests can assert the exact calls made.

use std::{collections::BTreeSet, path::PathBuf};

use autofed::{Context, aws::queue::Queues, config::Config, tls::TrustRoots};
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::SqsBatchResponse;

pub use crate::fixtures::{OKTA_ADMINS, OKTA_PAYMENTS, OKTA_SECRET, OktaOrg};

use crate::{
    capture_logs,
    esm::Queue,
    fixtures::{self, Sandbox},
    moto::{self, Session},
    proxy::Proxy,
    root, sdk_config,
};

/// Identity Center's role for the sandbox's `EKSClusterAdminAccess` permission set, as
/// Identity Center names it in a member account.
pub const SSO_ROLE: &str = "AWSReservedSSO_EKSClusterAdminAccess_4ffa4321e413c0b0";

/// A reset moto with the sandbox organization in it.
pub struct Bed {
    /// Exclusive use of moto.
    pub session: Session,
    /// Direct access to moto, for setup and for reading state back.
    pub aws: SdkConfig,
    /// The proxy autofed talks through.
    pub proxy: Proxy,
    /// The organization's ids.
    pub sandbox: Sandbox,
    /// The account onboarder's work queue.
    pub work: Queue,
    /// Its dead-letter queue.
    pub dlq: Queue,
}

impl Bed {
    /// Resets moto and builds the sandbox organization in it.
    pub async fn new() -> Bed {
        capture_logs(&std::env::args().next().map_or("test".into(), |a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        }));
        let session = moto::session().await;
        let aws = sdk_config(&session.moto.url);
        let sandbox = fixtures::organization(&aws).await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let work = Queue::create(&sqs, "autofed-account-events").await;
        let dlq = Queue::create(&sqs, "autofed-account-events-dlq").await;
        let proxy = Proxy::start(&session.moto.url).await;
        Bed {
            session,
            aws,
            proxy,
            sandbox,
            work,
            dlq,
        }
    }

    /// Adds the account the tests onboard, `payments-staging` in `Workloads/Dev`, with `tags`.
    pub async fn new_account(&mut self, tags: &[(&str, &str)]) -> String {
        self.sandbox
            .add_account(&self.aws, "payments-staging", "Dev", tags)
            .await
    }

    /// A new account (`payments-staging`, tagged `team=payments`), onboarded with the sandbox
    /// configuration (its federated roles exist); with Identity Center's role for
    /// [`SSO_ROLE`] too when `sso_role`.
    pub async fn onboarded_account(&mut self, sso_role: bool) -> String {
        let id = self.new_account(&[("team", "payments")]).await;
        let ctx = self.context(&self.config_text(|c| c));
        let outcome = autofed::onboard::onboard(
            &ctx,
            &autofed::ids::AccountId::parse(&id).unwrap(),
            autofed::report::Mode::Apply,
        )
        .await
        .unwrap();
        assert!(outcome.error().is_none(), "{outcome:?}");
        if sso_role {
            self.add_sso_role(&id).await;
        }
        id
    }

    /// Creates Identity Center's role for [`SSO_ROLE`] in `id`, under its region-segment path.
    pub async fn add_sso_role(&self, id: &str) {
        aws_sdk_iam::Client::new(&self.member(id).await)
            .create_role()
            .role_name(SSO_ROLE)
            .path("/aws-reserved/sso.amazonaws.com/eu-west-1/")
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
            .send()
            .await
            .unwrap();
    }

    /// The sandbox configuration (`tests/sandbox/autofed.toml`) with moto's ids filled in,
    /// edited by `edit`.
    pub fn config_text(&self, edit: impl FnOnce(String) -> String) -> String {
        let template = std::fs::read_to_string(root().join("tests/sandbox/autofed.toml"))
            .expect("sandbox config");
        edit(self.sandbox.render(&template))
    }

    /// A context for autofed, talking to moto through the proxy.
    pub fn context(&self, config_text: &str) -> Context {
        let config = Config::from_toml(config_text, PathBuf::new()).expect("valid configuration");
        Context::new(
            config,
            sdk_config(&self.proxy.url),
            Some(self.queues()),
            TrustRoots::mozilla(),
        )
        .expect("context")
    }

    /// A context with its Okta client built, as `Context::from_env` does at init.
    pub fn okta_context(&self, config_text: &str) -> autofed::Result<Context> {
        let mut ctx = self.context(config_text);
        ctx.connect_okta()?;
        Ok(ctx)
    }

    /// Starts the sandbox's Okta org, consulting the test's fault plan, (lists in pages of `page_size`) and stores `token` as
    /// the API token secret in Secrets Manager.
    pub async fn okta(&self, page_size: usize, token: &str) -> OktaOrg {
        let org = fixtures::okta_org(&self.aws, page_size, token).await;
        org.fake.share_faults(self.proxy.faults.clone());
        org
    }

    /// The sandbox configuration with an `[okta]` section in `mode` (see
    /// [`fixtures::okta_config`]), `extra` lines added to the section.
    pub fn okta_config(&self, okta: &OktaOrg, mode: &str, extra: &str) -> String {
        self.config_text(|t| fixtures::okta_config(&t, &okta.fake.url, &okta.ic_app, mode, extra))
    }

    /// Does what Okta's SCIM connection to Identity Center does for each active push
    /// mapping: creates the pushed group in the identity store (once). The new groups' ids.
    pub async fn push_okta_groups(&self, okta: &OktaOrg) -> Vec<String> {
        fixtures::push_okta_groups(&self.aws, &self.sandbox, okta).await
    }

    /// Starts the EKS fake and its clusters' API servers, reached through the proxy for
    /// requests signed for `eks`. Tokens must be signed for the proxy (autofed's STS
    /// endpoint).
    pub async fn eks(&self) -> crate::eks::Eks {
        let eks = crate::eks::Eks::start(&self.session.moto.url, &self.proxy.url).await;
        self.proxy.route("eks", &eks.url);
        eks.share_faults(self.proxy.faults.clone());
        eks
    }

    /// The queue URLs.
    pub fn queues(&self) -> Queues {
        Queues {
            work_url: self.work.url.clone(),
            dead_letter_url: self.dlq.url.clone(),
        }
    }

    /// Sends `body` to the work queue and delivers one batch to the account onboarder's
    /// handler, as Lambda's event source would.
    pub async fn deliver(&self, ctx: &Context, body: &str) -> SqsBatchResponse {
        self.work.send(body).await;
        self.deliver_pending(ctx)
            .await
            .expect("a message to deliver")
    }

    /// Delivers whatever batch is visible in the work queue.
    pub async fn deliver_pending(&self, ctx: &Context) -> Option<SqsBatchResponse> {
        self.work
            .deliver(|event| autofed::batch::handle(ctx, event, None))
            .await
    }

    /// An SDK configuration acting inside member account `account_id` (for reading back).
    pub async fn member(&self, account_id: &str) -> SdkConfig {
        fixtures::member_config(&self.aws, account_id).await
    }

    /// The calls the proxy saw that are not reads ([`crate::faults::aws_is_read`]), queue
    /// sends and visibility changes included, in order.
    pub fn writes(&self) -> Vec<String> {
        self.proxy
            .calls()
            .into_iter()
            .filter(|op| !crate::faults::aws_is_read(op))
            .collect()
    }

    /// Checks that every AWS call autofed made through the proxy is on `function`'s list
    /// (`functions/<function>/aws-actions.txt`): own calls on its own lines (which
    /// `tests/testbed/iam_coverage.py` checks against the template's policy), member-account
    /// calls on its `member` lines. Returns the actions seen.
    pub fn assert_actions_listed(&self, function: &str) -> BTreeSet<(bool, String)> {
        let path = root()
            .join("functions")
            .join(function)
            .join("aws-actions.txt");
        let text = std::fs::read_to_string(&path).expect("the function's action list");
        let listed: BTreeSet<(bool, String)> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| match l.strip_prefix("member ") {
                Some(action) => (true, action.trim().to_string()),
                None => (false, l.to_string()),
            })
            .collect();
        let seen = self.proxy.actions();
        let missing: Vec<String> = seen
            .difference(&listed)
            .map(|(member, a)| format!("{}{a}", if *member { "member " } else { "" }))
            .collect();
        assert!(
            missing.is_empty(),
            "{function} called actions its list ({}) does not name: {missing:?}",
            path.display()
        );
        seen
    }

    /// `(principal id, permission set ARN)` pairs assigned in `account_id`.
    pub async fn assignments(&self, account_id: &str) -> Vec<(String, String)> {
        let sso = aws_sdk_ssoadmin::Client::new(&self.aws);
        let mut out = Vec::new();
        for arn in self.sandbox.permission_sets.values() {
            let found = sso
                .list_account_assignments()
                .instance_arn(&self.sandbox.instance_arn)
                .account_id(account_id)
                .permission_set_arn(arn)
                .send()
                .await
                .expect("list assignments")
                .account_assignments
                .unwrap_or_default();
            out.extend(
                found
                    .into_iter()
                    .map(|a| (a.principal_id.unwrap(), arn.clone())),
            );
        }
        out.sort();
        out
    }
}
