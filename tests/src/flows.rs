//! The onboardings that the fault, crash and redelivery tests put under stress, each with a
//! fresh subject per case in one test bed: an account (IAM, Identity Center and its own Okta
//! app), an `API_AND_CONFIG_MAP` cluster (access entries) and a `CONFIG_MAP` cluster (aws-auth
//! holding another tool's rows, plus RBAC). Each flow reads its subject's whole end state back
//! from the emulators, with the ids that differ between subjects replaced, so that any two
//! cases compare equal exactly when they ended the same.

use autofed::{Context, context::Needs};
use aws_lambda_events::event::sqs::SqsBatchResponse;
use serde_json::{Value, json};

use crate::{
    OKTA_TOKEN,
    bed::{Bed, OktaOrg},
    eks::Eks,
    esm::Queue,
    fixtures::{self, cluster_event, event},
};

/// The region the flows' clusters are in.
pub const REGION: &str = "eu-west-1";
const AWS_AUTH: &str = "/api/v1/namespaces/kube-system/configmaps/aws-auth";

/// Retries sized for tests: three attempts, short backoff, a one-second call timeout (the
/// defaults are 4 attempts, 500 ms, 20 s).
pub const FAST_RETRIES: &str =
    "[retry]\ncall_attempts = 3\ncall_base_delay_ms = 20\ncall_timeout_ms = 1000\n";

/// Which onboarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A new account, Okta in `app-per-account` mode.
    Account,
    /// A new `API_AND_CONFIG_MAP` cluster in an onboarded account.
    ApiCluster,
    /// A new `CONFIG_MAP` cluster whose aws-auth holds another tool's rows.
    ConfigMapCluster,
}

/// One case's subject.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The account.
    pub account: String,
    /// The account's or the cluster's name.
    pub name: String,
    /// The event that starts its onboarding.
    pub body: String,
}

/// A test bed with one flow set up.
pub struct World {
    /// The bed.
    pub bed: Bed,
    /// The flow.
    pub flow: Flow,
    /// The configuration every case runs with.
    pub config: String,
    okta: Option<OktaOrg>,
    eks: Option<Eks>,
    /// For the cluster flows: the onboarded account their clusters are in.
    account: String,
    cases: usize,
}

impl World {
    /// Sets up `flow`: for an account, the Okta org (its shared groups already pushed to
    /// Identity Center, so an account completes in one delivery); for clusters, an onboarded
    /// account with Identity Center's role, and the EKS fake.
    pub async fn new(flow: Flow) -> World {
        let mut bed = Bed::new().await;
        let (okta, eks, account, config) = match flow {
            Flow::Account => {
                let okta = bed.okta(50, OKTA_TOKEN).await;
                let config = bed.okta_config(&okta, "app-per-account", "");
                (Some(okta), None, String::new(), config)
            }
            Flow::ApiCluster | Flow::ConfigMapCluster => {
                let id = bed.onboarded_account(true).await;
                let config = bed.config_text(|c| c);
                let eks = bed.eks().await;
                (None, Some(eks), id, config)
            }
        };
        let config = config.replacen("[retry]\n", FAST_RETRIES, 1);
        assert!(
            config.contains("call_timeout_ms"),
            "the sandbox config has a [retry] section"
        );
        let mut world = World {
            bed,
            flow,
            config,
            okta,
            eks,
            account,
            cases: 0,
        };
        if flow == Flow::Account {
            // The first account's delivery creates the app and assigns the shared groups;
            // once Okta has pushed them, later accounts need one delivery.
            let first = world.subject().await;
            let ctx = world.context();
            world.deliver(&ctx, &first, 1).await;
            let okta = world.okta.as_ref().unwrap();
            world.bed.push_okta_groups(okta).await;
            assert!(
                world
                    .deliver(&ctx, &first, 2)
                    .await
                    .batch_item_failures
                    .is_empty()
            );
        }
        world
    }

    /// The Okta org of the account flow.
    pub fn okta(&self) -> Option<&OktaOrg> {
        self.okta.as_ref()
    }

    /// A context built as the function builds it at init: the clients its `Needs` warm, and
    /// the Okta client of the account flow.
    pub fn context(&self) -> Context {
        let ctx = match self.flow {
            Flow::Account => self
                .bed
                .okta_context(&self.config)
                .expect("the function's init"),
            _ => self.bed.context(&self.config),
        };
        ctx.warm(match self.flow {
            Flow::Account => Needs::ACCOUNT_ONBOARDER,
            _ => Needs::CLUSTER_ONBOARDER,
        });
        ctx
    }

    /// A new subject: an account in `Workloads/Dev` tagged `team=payments`, or a cluster.
    pub async fn subject(&mut self) -> Subject {
        self.cases += 1;
        match self.flow {
            Flow::Account => {
                let name = format!("case-{}", self.cases);
                let account = self
                    .bed
                    .sandbox
                    .add_account(&self.bed.aws, &name, "Dev", &[("team", "payments")])
                    .await;
                let body = event("create-account-result-succeeded.json", &account);
                Subject {
                    account,
                    name,
                    body,
                }
            }
            Flow::ApiCluster | Flow::ConfigMapCluster => {
                let name = format!("payments-c{}", self.cases);
                let eks = self.eks.as_ref().unwrap();
                let id = &self.account;
                let creator = format!("arn:aws:iam::{id}:role/OrganizationAccountAccessRole");
                if self.flow == Flow::ApiCluster {
                    eks.add_cluster(id, REGION, &name, "API_AND_CONFIG_MAP", 0, &creator);
                    let node = format!("arn:aws:iam::{id}:role/eks-node-role");
                    eks.add_foreign_entry(id, REGION, &name, &node, &["ops"]);
                } else {
                    eks.add_cluster(id, REGION, &name, "CONFIG_MAP", 0, &creator);
                    eks.edit_cluster(id, REGION, &name, |c| {
                        c.objects
                            .insert(AWS_AUTH.into(), fixtures::foreign_aws_auth(id));
                    });
                }
                let body = cluster_event("eks-create-cluster.json", id, &name);
                Subject {
                    account: id.clone(),
                    name,
                    body,
                }
            }
        }
    }

    /// Delivers the subject's event once, as its `receive_count`-th delivery, to the
    /// function's handler (dead letters go to the bed's DLQ).
    pub async fn deliver(
        &self,
        ctx: &Context,
        s: &Subject,
        receive_count: u32,
    ) -> SqsBatchResponse {
        let event = Queue::delivery("case", &s.body, receive_count);
        match self.flow {
            Flow::Account => autofed::batch::handle(ctx, event, None).await,
            _ => autofed::batch::handle_clusters(ctx, event, None).await,
        }
    }

    /// The subject's end state, normalized.
    pub async fn state(&self, s: &Subject) -> String {
        let (state, replace) = match self.flow {
            Flow::Account => self.account_state(s).await,
            _ => self.cluster_state(s),
        };
        let mut text = serde_json::to_string_pretty(&state).unwrap();
        for (from, to) in replace {
            text = text.replace(&from, &to);
        }
        text
    }

    fn cluster_state(&self, s: &Subject) -> (Value, Vec<(String, String)>) {
        let c = self
            .eks
            .as_ref()
            .unwrap()
            .cluster(&s.account, REGION, &s.name);
        let entries: serde_json::Map<String, Value> = c
            .entries
            .iter()
            .map(|(p, e)| {
                let policies: serde_json::Map<String, Value> = e
                    .policies
                    .iter()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect();
                (
                    p.clone(),
                    json!({"type": e.kind, "username": e.username, "groups": e.groups,
                           "tags": e.tags, "policies": policies}),
                )
            })
            .collect();
        let objects: serde_json::Map<String, Value> = c
            .objects
            .iter()
            .map(|(p, o)| {
                let mut o = o.clone();
                if let Some(m) = o["metadata"].as_object_mut() {
                    for volatile in ["resourceVersion", "uid", "creationTimestamp"] {
                        m.remove(volatile);
                    }
                }
                (p.clone(), o)
            })
            .collect();
        (
            json!({"mode": c.mode, "entries": entries, "objects": objects}),
            vec![
                (c.id.clone(), "<cluster-id>".into()),
                (s.name.clone(), "<cluster>".into()),
            ],
        )
    }

    async fn account_state(&self, s: &Subject) -> (Value, Vec<(String, String)>) {
        let iam = aws_sdk_iam::Client::new(&self.bed.member(&s.account).await);
        let decode = |d: &str| {
            let text = percent_encoding::percent_decode_str(d).decode_utf8_lossy();
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text.into_owned()))
        };
        let mut roles = serde_json::Map::new();
        for role in iam.list_roles().send().await.unwrap().roles() {
            let name = role.role_name();
            let full = iam.get_role().role_name(name).send().await.unwrap();
            let full = full.role().unwrap();
            let attached: Vec<String> = iam
                .list_attached_role_policies()
                .role_name(name)
                .send()
                .await
                .unwrap()
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect();
            let mut inline = serde_json::Map::new();
            for p in iam
                .list_role_policies()
                .role_name(name)
                .send()
                .await
                .unwrap()
                .policy_names()
            {
                let doc = iam
                    .get_role_policy()
                    .role_name(name)
                    .policy_name(p)
                    .send()
                    .await
                    .unwrap();
                inline.insert(p.clone(), decode(doc.policy_document()));
            }
            let mut tags: Vec<(String, String)> = full
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            tags.sort();
            roles.insert(
                name.to_string(),
                json!({
                    "path": full.path(),
                    "description": full.description(),
                    "max_session": full.max_session_duration(),
                    "boundary": full.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
                    "trust": full.assume_role_policy_document().map(decode),
                    "tags": tags,
                    "attached": attached,
                    "inline": inline,
                }),
            );
        }
        let mut providers = serde_json::Map::new();
        for p in iam
            .list_saml_providers()
            .send()
            .await
            .unwrap()
            .saml_provider_list()
        {
            let arn = p.arn().unwrap_or_default();
            let got = iam
                .get_saml_provider()
                .saml_provider_arn(arn)
                .send()
                .await
                .unwrap();
            let mut tags: Vec<(String, String)> = got
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            tags.sort();
            providers.insert(
                arn.to_string(),
                json!({"metadata": got.saml_metadata_document(), "tags": tags}),
            );
        }
        let aliases = iam
            .list_account_aliases()
            .send()
            .await
            .unwrap()
            .account_aliases()
            .to_vec();
        let assignments = self.bed.assignments(&s.account).await;
        let okta = self.okta.as_ref().unwrap();
        let mut replace = vec![(s.account.clone(), "<account>".to_string())];
        let mut apps = Vec::new();
        for (n, (app_id, app)) in okta
            .fake
            .apps()
            .into_iter()
            .filter(|(_, a)| a["label"].as_str().unwrap_or_default().contains(&s.account))
            .enumerate()
        {
            replace.push((app_id.clone(), format!("<app-{n}>")));
            apps.push(json!({
                "label": app["label"], "name": app["name"], "status": app["status"],
                "settings": app["settings"], "groups": okta.fake.app_groups(&app_id),
            }));
        }
        replace.push((s.name.clone(), "<name>".into()));
        (
            json!({"roles": roles, "providers": providers, "aliases": aliases,
                   "assignments": assignments, "okta_apps": apps}),
            replace,
        )
    }
}
