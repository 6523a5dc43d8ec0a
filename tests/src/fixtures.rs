//! A sandbox organization in moto: OUs, tagged accounts, an Identity Center instance with
//! permission sets, groups and a user, and helpers to build events and configurations for it.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_organizations::types::{CreateAccountState, OrganizationFeatureSet, Tag};
use serde_json::Value;

use crate::{okta::OktaFake, root};

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

/// Starts the sandbox's Okta org (lists in pages of `page_size`; it accepts only
/// [`crate::OKTA_TOKEN`]): two groups and the Identity Center app; stores `token` as the API
/// token secret in Secrets Manager.
pub async fn okta_org(aws: &SdkConfig, page_size: usize, token: &str) -> OktaOrg {
    let fake = OktaFake::start(crate::OKTA_TOKEN, page_size).await;
    fake.seed_group(OKTA_ADMINS, "People who administer every AWS account");
    fake.seed_group(OKTA_PAYMENTS, "The payments team's engineers");
    let ic_app = fake.seed_app("amazon_aws_sso", "AWS IAM Identity Center");
    aws_sdk_secretsmanager::Client::new(aws)
        .create_secret()
        .name(OKTA_SECRET)
        .secret_string(token)
        .send()
        .await
        .expect("create the Okta secret");
    OktaOrg { fake, ic_app }
}

/// `base` (the rendered sandbox configuration) made an Okta configuration in `mode`:
/// `tests/sandbox/okta.toml` appended with the org's values and `extra` lines in `[okta]`; the
/// metadata file and the role paths dropped.
pub fn okta_config(base: &str, url: &str, ic_app: &str, mode: &str, extra: &str) -> String {
    let base: String = base
        .replace("path = \"/federated/readonly/\"\n", "")
        .replace("path = \"/federated/\"\n", "")
        .lines()
        .filter(|l| !l.starts_with("metadata_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    let okta = std::fs::read_to_string(root().join("tests/sandbox/okta.toml"))
        .expect("sandbox Okta config")
        .replace("{{okta_url}}", url)
        .replace("{{okta_ic_app}}", ic_app)
        .replace("{{okta_mode}}", mode)
        .replace("{{okta_extra}}", extra);
    format!("{base}\n{okta}")
}

/// Does what Okta's SCIM connection to Identity Center does for each active push mapping:
/// creates the pushed group in the identity store (once). The new groups' ids.
pub async fn push_okta_groups(aws: &SdkConfig, sandbox: &Sandbox, okta: &OktaOrg) -> Vec<String> {
    let store = aws_sdk_identitystore::Client::new(aws);
    let mut made = Vec::new();
    for name in okta.fake.pushed_group_names() {
        let exists = store
            .list_groups()
            .identity_store_id(&sandbox.identity_store_id)
            .send()
            .await
            .expect("list groups")
            .groups
            .iter()
            .any(|g| g.display_name.as_deref() == Some(name.as_str()));
        if !exists {
            let out = store
                .create_group()
                .identity_store_id(&sandbox.identity_store_id)
                .display_name(&name)
                .send()
                .await
                .expect("create the pushed group");
            made.push(out.group_id);
        }
    }
    made
}

/// The sandbox organization's ids, which moto generates.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The root id.
    pub root: String,
    /// OU ids by name: `Workloads`, `Prod` and `Dev` (both under `Workloads`), `Sandbox`.
    pub ous: BTreeMap<String, String>,
    /// Account ids by name.
    pub accounts: BTreeMap<String, String>,
    /// The Identity Center instance.
    pub instance_arn: String,
    /// Its identity store.
    pub identity_store_id: String,
    /// Permission set ARNs by name.
    pub permission_sets: BTreeMap<String, String>,
    /// Group ids by display name.
    pub groups: BTreeMap<String, String>,
    /// User ids by user name.
    pub users: BTreeMap<String, String>,
}

/// The permission sets of the sandbox.
pub const PERMISSION_SETS: [&str; 3] = ["AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess"];
/// The groups of the sandbox.
pub const GROUPS: [&str; 2] = ["Platform Engineers", "Payments Developers"];
/// The user of the sandbox.
pub const AUDITOR: &str = "auditor@acme.example";

/// Builds the sandbox organization: Root > Workloads > {Prod, Dev}, Root > Sandbox, with
/// `payments-prod` (Prod, team=payments, env=prod), `payments-dev` (Dev, team=payments,
/// env=dev) and `sandbox-alice` (Sandbox, no tags).
pub async fn organization(conf: &SdkConfig) -> Sandbox {
    let org = aws_sdk_organizations::Client::new(conf);
    org.create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .expect("create organization");
    let root = org.list_roots().send().await.expect("roots").roots.unwrap()[0]
        .id
        .clone()
        .unwrap();
    let mut ous: BTreeMap<String, String> = BTreeMap::new();
    for (name, parent) in [
        ("Workloads", None),
        ("Prod", Some("Workloads")),
        ("Dev", Some("Workloads")),
        ("Sandbox", None),
    ] {
        let parent_id = parent
            .map(|p| ous[p].clone())
            .unwrap_or_else(|| root.clone());
        let ou = org
            .create_organizational_unit()
            .parent_id(parent_id)
            .name(name)
            .send()
            .await
            .expect("create ou")
            .organizational_unit
            .unwrap();
        ous.insert(name.to_string(), ou.id.unwrap());
    }
    let mut sandbox = Sandbox {
        root,
        ous,
        accounts: BTreeMap::new(),
        instance_arn: String::new(),
        identity_store_id: String::new(),
        permission_sets: BTreeMap::new(),
        groups: BTreeMap::new(),
        users: BTreeMap::new(),
    };
    for (name, ou, tags) in [
        (
            "payments-prod",
            "Prod",
            &[("team", "payments"), ("env", "prod")][..],
        ),
        (
            "payments-dev",
            "Dev",
            &[("team", "payments"), ("env", "dev")][..],
        ),
        ("sandbox-alice", "Sandbox", &[][..]),
    ] {
        sandbox.add_account(conf, name, ou, tags).await;
    }

    let sso = aws_sdk_ssoadmin::Client::new(conf);
    let instance = sso
        .list_instances()
        .send()
        .await
        .expect("instances")
        .instances
        .unwrap()
        .remove(0);
    sandbox.instance_arn = instance.instance_arn.unwrap();
    sandbox.identity_store_id = instance.identity_store_id.unwrap();
    for name in PERMISSION_SETS {
        let ps = sso
            .create_permission_set()
            .instance_arn(&sandbox.instance_arn)
            .name(name)
            .session_duration("PT4H")
            .send()
            .await
            .expect("create permission set")
            .permission_set
            .unwrap();
        sandbox
            .permission_sets
            .insert(name.into(), ps.permission_set_arn.unwrap());
    }
    let store = aws_sdk_identitystore::Client::new(conf);
    for name in GROUPS {
        let g = store
            .create_group()
            .identity_store_id(&sandbox.identity_store_id)
            .display_name(name)
            .send()
            .await
            .expect("create group");
        sandbox.groups.insert(name.into(), g.group_id);
    }
    let user = store
        .create_user()
        .identity_store_id(&sandbox.identity_store_id)
        .user_name(AUDITOR)
        .display_name("Auditor")
        .name(
            aws_sdk_identitystore::types::Name::builder()
                .given_name("Audit")
                .family_name("Or")
                .build(),
        )
        .send()
        .await
        .expect("create user");
    sandbox.users.insert(AUDITOR.into(), user.user_id);
    sandbox
}

impl Sandbox {
    /// Creates an account in the organization and moves it into `ou` (by name).
    pub async fn add_account(
        &mut self,
        conf: &SdkConfig,
        name: &str,
        ou: &str,
        tags: &[(&str, &str)],
    ) -> String {
        let org = aws_sdk_organizations::Client::new(conf);
        let status = org
            .create_account()
            .account_name(name)
            .email(format!("aws+{name}@acme.example"))
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
                    .collect(),
            ))
            .send()
            .await
            .expect("create account")
            .create_account_status
            .unwrap();
        assert_eq!(status.state, Some(CreateAccountState::Succeeded));
        let id = status.account_id.unwrap();
        org.move_account()
            .account_id(&id)
            .source_parent_id(&self.root)
            .destination_parent_id(&self.ous[ou])
            .send()
            .await
            .expect("move account");
        self.accounts.insert(name.into(), id.clone());
        id
    }

    /// Renders a configuration template: `{{ou:NAME}}` and `{{account:NAME}}` become the ids
    /// moto generated, `{{root}}` the root id, and `{{metadata}}` the sandbox metadata file.
    pub fn render(&self, template: &str) -> String {
        let mut text = template.replace("{{root}}", &self.root).replace(
            "{{metadata}}",
            &root()
                .join("tests/sandbox/okta-metadata.xml")
                .display()
                .to_string(),
        );
        for (name, id) in &self.ous {
            text = text.replace(&format!("{{{{ou:{name}}}}}"), id);
        }
        for (name, id) in &self.accounts {
            text = text.replace(&format!("{{{{account:{name}}}}}"), id);
        }
        text
    }
}

/// An SDK configuration acting inside member account `account_id`, through its
/// `OrganizationAccountAccessRole` (for reading state back).
pub async fn member_config(aws: &SdkConfig, account_id: &str) -> SdkConfig {
    let creds = aws_sdk_sts::Client::new(aws)
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("testbed-readback")
        .send()
        .await
        .expect("assume role")
        .credentials
        .expect("credentials");
    aws.to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    creds.access_key_id,
                    creds.secret_access_key,
                    Some(creds.session_token),
                    None,
                    "testbed",
                ),
            ),
        )
        .build()
}

/// An aws-auth ConfigMap that is not autofed's, for `account_id`: [`foreign_map_roles`],
/// `mapUsers`, `mapAccounts`, a key EKS does not know and another tool's annotation.
pub fn foreign_aws_auth(account_id: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system", "resourceVersion": "7",
                     "annotations": {"terraform.io/owner": "platform"}},
        "data": {
            "mapRoles": foreign_map_roles(account_id),
            "mapUsers": "- userarn: arn:aws:iam::111122223333:user/ops\n  username: ops\n  groups:\n    - system:masters\n",
            "mapAccounts": "- \"111122223333\"\n",
            "x-unknown-key": "kept: as is\n",
        }
    })
}

/// A sample event from `events/`, with its account id replaced by `account_id`.
pub fn event(file: &str, account_id: &str) -> String {
    let text = std::fs::read_to_string(root().join("events").join(file)).expect("sample event");
    let mut v: Value = serde_json::from_str(&text).expect("sample is JSON");
    replace_account(&mut v, account_id);
    v.to_string()
}

/// An aws-auth `mapRoles` text that is not autofed's, for `account_id`: eksctl's node row
/// under its comment, and a hand-written break-glass row, quoted, commented and with a key EKS
/// does not know. autofed must keep every byte of it.
pub fn foreign_map_roles(account_id: &str) -> String {
    const ROWS: &str = "\
# managed by eksctl: do not edit by hand
- groups:
  - system:bootstrappers
  - system:nodes
  rolearn: arn:aws:iam::ACCOUNT:role/eksctl-payments-NodeInstanceRole-L7A7NXU3DSJS
  username: system:node:{{EC2PrivateDNSName}}
- rolearn: \"arn:aws:iam::ACCOUNT:role/BreakGlass\"   # quoted on purpose
  username: break-glass
  groups: [system:masters]
  x-ticket: OPS-1234
";
    ROWS.replace("ACCOUNT", account_id)
}

/// A sample EKS event (`events/<file>`) for cluster `name` in `account_id`.
pub fn cluster_event(file: &str, account_id: &str, name: &str) -> String {
    event(file, account_id)
        .replace("payments-prod", name)
        .replace(":222222222222:", &format!(":{account_id}:"))
}

fn replace_account(v: &mut Value, id: &str) {
    match v {
        Value::String(s) if s == "222222222222" => *s = id.to_string(),
        Value::Array(items) => items.iter_mut().for_each(|i| replace_account(i, id)),
        Value::Object(map) => map.values_mut().for_each(|i| replace_account(i, id)),
        _ => {}
    }
}

/// The template's cluster-event forwarding StackSet (service-managed, as `infra/template.yaml`
/// makes it), in moto's management account, named `name`, with an instance in every account of
/// the organization (every OU and the root targeted) in each of `regions`; then the instances
/// of `without` (account, region) deleted, as gaps for a backfill to find.
pub async fn forwarding_stack_set(
    conf: &SdkConfig,
    sandbox: &Sandbox,
    name: &str,
    regions: &[&str],
    without: &[(String, &str)],
) {
    use aws_sdk_cloudformation::types::{AutoDeployment, DeploymentTargets, PermissionModels};
    let cfn = aws_sdk_cloudformation::Client::new(conf);
    cfn.create_stack_set()
        .stack_set_name(name)
        .permission_model(PermissionModels::ServiceManaged)
        .auto_deployment(
            AutoDeployment::builder()
                .enabled(true)
                .retain_stacks_on_account_removal(false)
                .build(),
        )
        .template_body(
            r#"{"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}"#,
        )
        .send()
        .await
        .expect("create the StackSet");
    let mut ous: Vec<String> = sandbox.ous.values().cloned().collect();
    ous.push(sandbox.root.clone());
    cfn.create_stack_instances()
        .stack_set_name(name)
        .deployment_targets(
            DeploymentTargets::builder()
                .set_organizational_unit_ids(Some(ous))
                .build(),
        )
        .set_regions(Some(regions.iter().map(|r| r.to_string()).collect()))
        .send()
        .await
        .expect("create the StackSet's instances");
    for (account, region) in without {
        cfn.delete_stack_instances()
            .stack_set_name(name)
            .accounts(account)
            .regions(*region)
            .retain_stacks(false)
            .send()
            .await
            .expect("delete a StackSet instance");
    }
}

/// `config` without role `name`: its `[[roles]]` table and the `[[clusters.access]]` tables
/// that grant it (a configuration may not grant a role it does not make).
pub fn without_role(config: &str, name: &str) -> String {
    let mut blocks: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, _) in config.match_indices("\n[") {
        blocks.push(&config[start..=i]);
        start = i + 1;
    }
    blocks.push(&config[start..]);
    blocks
        .into_iter()
        .filter(|b| {
            let named = |key: &str| b.contains(&format!("\n{key} = \"{name}\"\n"));
            !((b.starts_with("[[roles]]") && named("name"))
                || (b.starts_with("[[clusters.access]]") && named("role")))
        })
        .collect()
}
