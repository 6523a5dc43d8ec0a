//! One test's world: moto (reset), the sandbox organization, the work queue and its DLQ, and a
//! fault proxy that every autofed call goes through, so tests can assert the exact calls made.

use std::path::PathBuf;

use autofed::{Context, aws::queue::Queues, config::Config};
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::SqsBatchResponse;

use crate::{
    OKTA_TOKEN, capture_logs,
    esm::Queue,
    fixtures::{self, Sandbox},
    moto::{self, Session},
    okta::OktaFake,
    proxy::Proxy,
    root, sdk_config,
};

/// The Secrets Manager secret that holds the Okta token in the sandbox.
pub const OKTA_SECRET: &str = "autofed/okta-api-token";
/// Management group of the sandbox's Okta org (seed 003).
pub const OKTA_ADMINS: &str = "AWS Platform Admins";
/// A group of the sandbox's Okta org with payments engineers, pushed to Identity Center.
pub const OKTA_PAYMENTS: &str = "Payments Engineers";

/// The sandbox's Okta org: the fake, and what it was seeded with.
pub struct OktaOrg {
    /// The running fake.
    pub fake: OktaFake,
    /// The "AWS IAM Identity Center" app (seed 004).
    pub ic_app: String,
}

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
        Context::new(config, sdk_config(&self.proxy.url), self.queues()).expect("context")
    }

    /// A context with its Okta client built, as `Context::from_env` does at init.
    pub async fn okta_context(&self, config_text: &str) -> autofed::Result<Context> {
        let mut ctx = self.context(config_text);
        ctx.connect_okta().await?;
        Ok(ctx)
    }

    /// Starts the sandbox's Okta org (lists in pages of `page_size`) and stores `token` as
    /// the API token secret in Secrets Manager.
    pub async fn okta(&self, page_size: usize, token: &str) -> OktaOrg {
        let fake = OktaFake::start(OKTA_TOKEN, page_size).await;
        fake.seed_group(OKTA_ADMINS, "People who administer every AWS account");
        fake.seed_group(OKTA_PAYMENTS, "The payments team's engineers");
        let ic_app = fake.seed_app("amazon_aws_sso", "AWS IAM Identity Center");
        aws_sdk_secretsmanager::Client::new(&self.aws)
            .create_secret()
            .name(OKTA_SECRET)
            .secret_string(token)
            .send()
            .await
            .expect("create the Okta secret");
        OktaOrg { fake, ic_app }
    }

    /// The sandbox configuration with an `[okta]` section in `mode`: the role set at path `/`
    /// (group-mapping builds ARNs without paths), the metadata from the Okta app, management
    /// rules, app group rules, and an Identity Center assignment of a pushed Okta group.
    pub fn okta_config(&self, okta: &OktaOrg, mode: &str, extra: &str) -> String {
        self.config_text(|t| {
            let t = t
                .replace("path = \"/federated/readonly/\"\n", "")
                .replace("path = \"/federated/\"\n", "");
            let t: String = t
                .lines()
                .filter(|l| !l.starts_with("metadata_file"))
                .map(|l| format!("{l}\n"))
                .collect();
            format!(
                r#"{t}
[[identity_center.assignments]]
okta_group = "{OKTA_PAYMENTS}"
permission_set = "ReadOnlyAccess"
accounts = {{ tags = {{ team = "payments" }} }}

[okta]
org_url = "{url}"
mode = "{mode}"
api_token_secret = "{OKTA_SECRET}"
{extra}

[okta.group_mapping]
create_app = true

[[okta.group_mapping.rules]]
group = "{OKTA_ADMINS}"
roles = ["Administrator", "ReadOnly"]
accounts = {{ all = true }}

[[okta.group_mapping.rules]]
group = "{OKTA_PAYMENTS}"
roles = ["PowerUsers"]
accounts = {{ tags = {{ team = "payments" }} }}

[okta.app_per_account]
label = "AWS {{name}} ({{id}})"

[[okta.app_per_account.groups]]
group = "{OKTA_ADMINS}"
roles = ["Administrator", "ReadOnly"]
accounts = {{ all = true }}

[[okta.app_per_account.groups]]
group = "{OKTA_PAYMENTS}"
roles = ["PowerUsers"]
accounts = {{ tags = {{ team = "payments" }} }}

[okta.identity_center]
app_id = "{ic}"
create_push_mappings = true
"#,
                url = okta.fake.url,
                ic = okta.ic_app,
            )
        })
    }

    /// Does what Okta's SCIM connection to Identity Center does for each active push
    /// mapping: creates the pushed group in the identity store (once).
    pub async fn push_okta_groups(&self, okta: &OktaOrg) -> Vec<String> {
        let store = aws_sdk_identitystore::Client::new(&self.aws);
        let mut made = Vec::new();
        for name in okta.fake.pushed_group_names() {
            let exists = store
                .list_groups()
                .identity_store_id(&self.sandbox.identity_store_id)
                .send()
                .await
                .expect("list groups")
                .groups
                .iter()
                .any(|g| g.display_name.as_deref() == Some(name.as_str()));
            if !exists {
                let out = store
                    .create_group()
                    .identity_store_id(&self.sandbox.identity_store_id)
                    .display_name(&name)
                    .send()
                    .await
                    .expect("create the pushed group");
                made.push(out.group_id);
            }
        }
        made
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

    /// The write calls the proxy saw (every operation not named Get/List/Describe and not
    /// STS's AssumeRole), in order.
    pub fn writes(&self) -> Vec<String> {
        self.proxy
            .calls()
            .into_iter()
            .filter(|op| {
                !(op.starts_with("Get")
                    || op.starts_with("List")
                    || op.starts_with("Describe")
                    || op == "AssumeRole"
                    || op == "ReceiveMessage")
            })
            .collect()
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
