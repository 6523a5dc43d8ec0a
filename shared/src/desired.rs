//! What must exist for an account, computed from the configuration alone: no I/O.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use serde::Serialize;
use serde_json::Value;

use crate::{
    config::{Config, render_account},
    ids::AccountId,
    okta::{self, desired::OktaDesired},
    policy,
    target::Account,
};

/// The tag key that marks IAM resources autofed created and may change.
pub const MANAGED_TAG_KEY: &str = "autofed:managed-by";
/// The value of the managed tag.
pub const MANAGED_TAG_VALUE: &str = "autofed";
/// The name of the inline policy autofed keeps on a role.
pub const INLINE_POLICY_NAME: &str = "autofed";

/// Everything autofed maintains in one account.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The account.
    pub account_id: AccountId,
    /// The alias, if the configuration sets one; an error if the template renders an alias
    /// IAM would refuse.
    pub alias: Option<Result<String, String>>,
    /// The SAML provider.
    pub provider: DesiredProvider,
    /// The federated roles, in configuration order.
    pub roles: Vec<DesiredRole>,
    /// The Identity Center assignments, in configuration order.
    pub assignments: Vec<AssignmentSpec>,
    /// The pairs rules name that must not be assigned in this account (no rule with the pair
    /// selects it); empty unless `identity_center.remove_unselected`.
    pub unassigned: Vec<AssignmentSpec>,
    /// What autofed keeps in Okta for the account, when an `[okta]` section is configured.
    pub okta: Option<OktaDesired>,
    /// The Okta app that pushes groups to Identity Center, if configured.
    pub okta_push_app: Option<String>,
    /// Whether autofed creates missing push mappings.
    pub create_push_mappings: bool,
}

/// The account's SAML provider.
#[derive(Debug, Clone)]
pub struct DesiredProvider {
    /// Its name.
    pub name: String,
    /// Its ARN (known before it exists).
    pub arn: String,
    /// The IdP metadata.
    pub metadata: Arc<str>,
}

/// One federated role.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredRole {
    /// Role name.
    pub name: String,
    /// Role path.
    pub path: String,
    /// Description.
    pub description: Option<String>,
    /// The trust policy.
    pub trust: Value,
    /// Attached managed policies.
    pub managed_policy_arns: BTreeSet<String>,
    /// The `autofed` inline policy.
    pub inline_policy: Option<Value>,
    /// Maximum session duration (seconds).
    pub max_session_duration: i32,
    /// Permissions boundary.
    pub permissions_boundary: Option<String>,
}

/// Who gets an Identity Center assignment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "type", content = "name", rename_all = "lowercase")]
pub enum Principal {
    /// A group, by display name.
    Group(String),
    /// A user, by user name.
    User(String),
    /// A group Okta pushes to Identity Center, by its name (the pushed group's display name).
    OktaGroup(String),
}

impl Principal {
    /// The group's display name or the user's user name.
    pub fn name(&self) -> &str {
        match self {
            Principal::Group(n) | Principal::User(n) | Principal::OktaGroup(n) => n,
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Group(n) => write!(f, "group {n:?}"),
            Principal::User(n) => write!(f, "user {n:?}"),
            Principal::OktaGroup(n) => write!(f, "Okta group {n:?}"),
        }
    }
}

/// One Identity Center assignment, by names; resolved to ids when observed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AssignmentSpec {
    /// The principal.
    pub principal: Principal,
    /// The permission set, by name.
    pub permission_set: String,
}

impl AssignmentSpec {
    /// The pair a rule names.
    fn of(rule: &crate::config::AssignmentRule) -> Self {
        AssignmentSpec {
            principal: match (&rule.group, &rule.user, &rule.okta_group) {
                (Some(g), _, _) => Principal::Group(g.clone()),
                (None, Some(u), _) => Principal::User(u.clone()),
                (None, None, Some(o)) => Principal::OktaGroup(o.clone()),
                (None, None, None) => unreachable!("validated at load"),
            },
            permission_set: rule.permission_set.clone(),
        }
    }
}

/// The tags autofed puts on what it creates.
pub fn managed_tags() -> BTreeMap<String, String> {
    [(MANAGED_TAG_KEY.to_string(), MANAGED_TAG_VALUE.to_string())].into()
}

/// Whether a resource's tags mark it as autofed's.
pub fn is_managed(tags: &BTreeMap<String, String>) -> bool {
    tags.get(MANAGED_TAG_KEY).map(String::as_str) == Some(MANAGED_TAG_VALUE)
}

/// Computes what must exist in `account`.
pub fn for_account(
    config: &Config,
    account: &Account,
    partition: &str,
    metadata: Arc<str>,
) -> Desired {
    let provider_arn = format!(
        "arn:{partition}:iam::{}:saml-provider/{}",
        account.id, config.saml.provider_name
    );
    let roles: Vec<DesiredRole> = config
        .roles
        .iter()
        .filter(|r| r.accounts.as_ref().is_none_or(|s| s.matches(account)))
        .map(|r| DesiredRole {
            name: r.name.clone(),
            path: r.path.clone(),
            description: r.description.clone(),
            trust: policy::saml_trust(&provider_arn),
            managed_policy_arns: r
                .managed_policy_arns
                .iter()
                .map(|arn| render_account(arn, account.id.as_str()))
                .collect(),
            inline_policy: r
                .inline_policy
                .as_deref()
                .map(|d| serde_json::from_str(d).expect("validated at load")),
            max_session_duration: r.max_session_duration,
            permissions_boundary: r
                .permissions_boundary
                .as_deref()
                .map(|arn| render_account(arn, account.id.as_str())),
        })
        .collect();
    let rules = &config.identity_center.assignments;
    let mut assignments: Vec<AssignmentSpec> = rules
        .iter()
        .filter(|rule| rule.accounts.matches(account))
        .map(AssignmentSpec::of)
        .collect();
    // Two rules may select the same pair; it is one assignment.
    let mut seen = BTreeSet::new();
    assignments.retain(|a| seen.insert(a.clone()));
    let unassigned = if config.identity_center.remove_unselected {
        all_pairs(config)
            .into_iter()
            .filter(|pair| !seen.contains(pair))
            .collect()
    } else {
        Vec::new()
    };
    let okta = config.okta.as_ref().map(|okta| {
        let names: Vec<String> = roles.iter().map(|r| r.name.clone()).collect();
        okta::desired::for_account(config, okta, account, &names, partition, &provider_arn)
    });
    Desired {
        account_id: account.id.clone(),
        alias: config
            .account_alias
            .as_deref()
            .map(|t| render_alias(t, &account.name, account.id.as_str())),
        provider: DesiredProvider {
            name: config.saml.provider_name.clone(),
            arn: provider_arn,
            metadata,
        },
        okta,
        okta_push_app: config
            .okta
            .as_ref()
            .and_then(|o| o.identity_center.as_ref())
            .map(|ic| ic.app_id.clone()),
        create_push_mappings: config
            .okta
            .as_ref()
            .and_then(|o| o.identity_center.as_ref())
            .is_some_and(|ic| ic.create_push_mappings),
        roles,
        assignments,
        unassigned,
    }
}

/// Every pair (principal, permission set) the assignment rules name, once each, in
/// configuration order: the assignments autofed manages wherever they are.
pub fn all_pairs(config: &Config) -> Vec<AssignmentSpec> {
    let mut seen = BTreeSet::new();
    config
        .identity_center
        .assignments
        .iter()
        .map(AssignmentSpec::of)
        .filter(|pair| seen.insert(pair.clone()))
        .collect()
}

/// An account name made alias-safe: lowercase, runs of other characters turned into one `-`,
/// none at either end.
pub fn alias_safe(name: &str) -> String {
    let mut safe = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            safe.push(c);
        } else if !safe.ends_with('-') {
            safe.push('-');
        }
    }
    safe.trim_matches('-').to_string()
}

/// Renders the alias template: `{name}` becomes the account name made alias-safe (lowercase,
/// runs of other characters turned into one `-`), `{id}` the account id. The result must be
/// what IAM accepts: 3 to 63 of `a-z`, `0-9` and `-`, not starting or ending with `-`.
pub fn render_alias(template: &str, name: &str, id: &str) -> Result<String, String> {
    let alias = template
        .replace("{name}", &alias_safe(name))
        .replace("{id}", id);
    let ok = (3..=63).contains(&alias.len())
        && alias
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !alias.starts_with('-')
        && !alias.ends_with('-')
        && !alias.contains("--");
    if ok {
        Ok(alias)
    } else {
        Err(format!(
            "template {template:?} renders {alias:?} for account name {name:?}; IAM needs 3-63 of a-z, 0-9 and single hyphens inside"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::PathBuf;

    fn account(name: &str, ancestors: &[&str], tags: &[(&str, &str)]) -> Account {
        Account {
            id: AccountId::parse("222222222222").unwrap(),
            name: name.into(),
            status: "ACTIVE".into(),
            ancestors: ancestors.iter().map(|s| s.to_string()).collect(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    const CONFIG: &str = r#"
        account_alias = "acme-{name}"
        [saml]
        metadata_file = "m.xml"
        [[roles]]
        name = "Admin"
        path = "/federated/"
        [[roles]]
        name = "ProdOnly"
        accounts = { ous = ["ou-ab12-prod0001"] }
        [[identity_center.assignments]]
        group = "Platform"
        permission_set = "AdministratorAccess"
        accounts = { tags = { team = "platform" } }
        [[identity_center.assignments]]
        group = "Platform"
        permission_set = "AdministratorAccess"
        accounts = { all = true }
        [[identity_center.assignments]]
        user = "auditor"
        permission_set = "ReadOnly"
        accounts = { ous = ["ou-ab12-prod0001"] }
    "#;

    #[test]
    fn roles_and_assignments_follow_their_selectors() {
        let config = Config::from_toml(CONFIG, PathBuf::new()).unwrap();
        let dev = account("Payments Dev", &["ou-ab12-dev00001", "r-ab12"], &[]);
        let d = for_account(&config, &dev, "aws", "m".into());
        assert_eq!(
            d.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["Admin"]
        );
        assert_eq!(
            d.assignments.len(),
            1,
            "duplicate rule pairs collapse: {:?}",
            d.assignments
        );
        assert_eq!(d.alias, Some(Ok("acme-payments-dev".into())));
        assert_eq!(
            d.provider.arn,
            "arn:aws:iam::222222222222:saml-provider/Okta"
        );
        assert_eq!(
            d.roles[0].trust["Statement"][0]["Principal"]["Federated"],
            d.provider.arn
        );

        let prod = account("prod", &["ou-ab12-prod0001", "r-ab12"], &[]);
        let d = for_account(&config, &prod, "aws", "m".into());
        assert_eq!(d.roles.len(), 2);
        assert!(d.assignments.contains(&AssignmentSpec {
            principal: Principal::User("auditor".into()),
            permission_set: "ReadOnly".into()
        }));
    }

    #[test]
    fn aliases_that_iam_would_refuse_are_errors() {
        assert!(render_alias("{name}", "x", "222222222222").is_err());
        assert!(render_alias("{name}", "日本", "222222222222").is_err());
        assert_eq!(
            render_alias("{name}-{id}", "Dev!!Box", "222222222222").unwrap(),
            "dev-box-222222222222"
        );
    }
}
