//! What must exist in Okta for an account, computed from the configuration alone: no I/O.

use serde_json::{Value, json};

use crate::{
    config::{Config, OktaConfig, OktaMode},
    desired::{alias_safe, render_alias},
    target::Account,
};

/// The start of the marker autofed writes into what it creates in Okta (a group's
/// description, an app's admin note). Okta has no tags; the marker is how autofed tells its
/// own objects from everyone else's.
pub const MARKER: &str = "managed by autofed";
/// The Okta Integration Network name of the "AWS Account Federation" app.
pub const AWS_APP_NAME: &str = "amazon_aws";
/// Rules autofed creates are named `autofed <account id> …`.
pub const RULE_PREFIX: &str = "autofed";
/// Okta's limit on a group rule's name.
pub const RULE_NAME_MAX: usize = 50;

/// Everything autofed keeps in Okta for one account.
#[derive(Debug, Clone, PartialEq)]
pub struct OktaDesired {
    /// The mode.
    pub mode: OktaMode,
    /// The account.
    pub account_id: String,
    /// The app users sign in through.
    pub app: AppSpec,
    /// Group-mapping: a group per role, assigned to the shared app.
    pub role_groups: Vec<RoleGroup>,
    /// App per account: existing groups assigned to the account's app with their roles.
    pub app_groups: Vec<AppGroup>,
    /// Group-mapping: one rule per management group, adding its members to role groups.
    pub rules: Vec<RuleSpec>,
    /// Okta groups whose push to Identity Center the account's assignments rely on.
    pub pushes: Vec<String>,
}

/// The AWS Account Federation app.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    /// Its id, when the configuration names it.
    pub id: Option<String>,
    /// Its label.
    pub label: String,
    /// The `settings.app` values autofed sets (other keys are left as they are).
    pub settings: Value,
    /// The admin note that marks it as autofed's.
    pub note: String,
    /// Whether autofed may create it.
    pub create: bool,
    /// Shared by every account (group-mapping) rather than this account's own.
    pub shared: bool,
}

/// A role group (group-mapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGroup {
    /// The IAM role it maps to.
    pub role: String,
    /// The group's name.
    pub name: String,
    /// Its description, which carries the marker.
    pub description: String,
}

/// An existing group assigned to an account's app (app-per-account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppGroup {
    /// The Okta group, by name.
    pub group: String,
    /// The roles its members may choose from.
    pub roles: Vec<String>,
}

/// A group rule (group-mapping): members of `management_group` join `role_groups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// The rule's name, at most 50 characters.
    pub name: String,
    /// The management group, by name.
    pub management_group: String,
    /// The role groups, by name.
    pub role_groups: Vec<String>,
}

/// The description marker of an account's groups: the account comes first so that one
/// `sw` search finds every group autofed made for it.
pub fn group_marker(account_id: &str) -> String {
    format!("{MARKER}: AWS account {account_id}")
}

/// The admin note of an account's own app.
pub fn app_marker(account_id: &str) -> String {
    format!("{MARKER}: AWS account {account_id}")
}

/// The prefix of every rule autofed makes for an account.
pub fn rule_prefix(account_id: &str) -> String {
    format!("{RULE_PREFIX} {account_id} ")
}

/// The rule's name: the prefix, then the management group's name; cut to Okta's 50
/// characters with a short hash of the full name, so that two long names stay distinct.
pub fn rule_name(account_id: &str, management_group: &str) -> String {
    let prefix = rule_prefix(account_id);
    let full = format!("{prefix}{management_group}");
    if full.chars().count() <= RULE_NAME_MAX {
        return full;
    }
    let hash = format!("~{:08x}", fnv1a(management_group));
    let room = RULE_NAME_MAX - prefix.chars().count() - hash.len();
    let cut: String = management_group.chars().take(room).collect();
    format!("{prefix}{}{hash}", cut.trim_end())
}

/// 32-bit FNV-1a: stable across builds and platforms (unlike `DefaultHasher`).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The role value pattern of the shared app: Okta puts the account id and role name in.
pub fn role_value_pattern(partition: &str, provider_name: &str) -> String {
    format!(
        "arn:{partition}:iam::${{accountid}}:saml-provider/{provider_name},arn:{partition}:iam::${{accountid}}:role/${{role}}"
    )
}

/// Computes what must exist in Okta for `account`, given the roles it gets.
pub fn for_account(
    config: &Config,
    okta: &OktaConfig,
    account: &Account,
    roles: &[String],
    partition: &str,
    provider_arn: &str,
) -> OktaDesired {
    let id = account.id.as_str();
    let alias = match config
        .account_alias
        .as_deref()
        .map(|t| render_alias(t, &account.name, id))
    {
        Some(Ok(alias)) => alias,
        _ => alias_safe(&account.name),
    };
    let environment = if partition == "aws-us-gov" {
        "aws.amazon.gov"
    } else {
        "aws.amazon"
    };
    let mut out = OktaDesired {
        mode: okta.mode,
        account_id: id.to_string(),
        app: AppSpec {
            id: None,
            label: String::new(),
            settings: Value::Null,
            note: String::new(),
            create: false,
            shared: false,
        },
        role_groups: Vec::new(),
        app_groups: Vec::new(),
        rules: Vec::new(),
        pushes: config
            .identity_center
            .assignments
            .iter()
            .filter(|r| r.accounts.matches(account))
            .filter_map(|r| r.okta_group.clone())
            .collect(),
    };
    out.pushes.sort();
    out.pushes.dedup();
    match okta.mode {
        OktaMode::None => {}
        OktaMode::GroupMapping => {
            let gm = &okta.group_mapping;
            out.app = AppSpec {
                id: gm.app_id.clone(),
                label: gm.app_label.clone(),
                settings: json!({
                    "awsEnvironmentType": environment,
                    "useGroupMapping": true,
                    "groupFilter": gm.group_filter,
                    "roleValuePattern": gm.role_value_pattern.clone().unwrap_or_else(
                        || role_value_pattern(partition, &config.saml.provider_name)
                    ),
                    "joinAllRoles": gm.join_all_roles,
                    "sessionDuration": gm.session_duration,
                }),
                note: MARKER.to_string(),
                create: gm.create_app,
                shared: true,
            };
            let group_name = |role: &str| {
                okta.group_name
                    .replace("{alias}", &alias)
                    .replace("{role}", role)
                    .replace("{account_id}", id)
            };
            out.role_groups = roles
                .iter()
                .map(|role| RoleGroup {
                    role: role.clone(),
                    name: group_name(role),
                    description: format!("{}, role {role}", group_marker(id)),
                })
                .collect();
            out.rules = gm
                .rules
                .iter()
                .filter(|r| r.accounts.matches(account))
                .filter_map(|r| {
                    let groups: Vec<String> = r
                        .roles
                        .iter()
                        .filter(|role| roles.contains(role))
                        .map(|role| group_name(role))
                        .collect();
                    (!groups.is_empty()).then(|| RuleSpec {
                        name: rule_name(id, &r.group),
                        management_group: r.group.clone(),
                        role_groups: groups,
                    })
                })
                .collect();
            // Two rules for one management group are one rule with both sets of groups.
            out.rules = merge_rules(std::mem::take(&mut out.rules));
        }
        OktaMode::AppPerAccount => {
            let apa = &okta.app_per_account;
            out.app = AppSpec {
                id: None,
                label: apa
                    .label
                    .replace("{name}", &account.name)
                    .replace("{id}", id)
                    .replace("{alias}", &alias),
                settings: json!({
                    "awsEnvironmentType": environment,
                    "identityProviderArn": provider_arn,
                    "useGroupMapping": false,
                    "joinAllRoles": false,
                    "sessionDuration": apa.session_duration,
                }),
                note: app_marker(id),
                create: true,
                shared: false,
            };
            let mut groups: Vec<AppGroup> = Vec::new();
            for rule in apa.groups.iter().filter(|r| r.accounts.matches(account)) {
                let wanted = rule.roles.iter().filter(|r| roles.contains(r)).cloned();
                match groups.iter_mut().find(|g| g.group == rule.group) {
                    Some(g) => g.roles.extend(wanted),
                    None => groups.push(AppGroup {
                        group: rule.group.clone(),
                        roles: wanted.collect(),
                    }),
                }
            }
            for g in &mut groups {
                g.roles.sort();
                g.roles.dedup();
            }
            groups.retain(|g| !g.roles.is_empty());
            out.app_groups = groups;
        }
    }
    out
}

fn merge_rules(rules: Vec<RuleSpec>) -> Vec<RuleSpec> {
    let mut out: Vec<RuleSpec> = Vec::new();
    for r in rules {
        match out.iter_mut().find(|o| o.name == r.name) {
            Some(o) => {
                for g in r.role_groups {
                    if !o.role_groups.contains(&g) {
                        o.role_groups.push(g);
                    }
                }
            }
            None => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_fit_oktas_limit_and_stay_distinct() {
        let short = rule_name("222222222222", "AWS Admins");
        assert_eq!(short, "autofed 222222222222 AWS Admins");
        let a = rule_name(
            "222222222222",
            "Platform Engineering Leadership (EMEA) On-Call Rotation",
        );
        let b = rule_name(
            "222222222222",
            "Platform Engineering Leadership (EMEA) On-Call Rotation 2",
        );
        assert!(a.chars().count() <= RULE_NAME_MAX, "{a}");
        assert!(b.chars().count() <= RULE_NAME_MAX, "{b}");
        assert_ne!(a, b);
        assert!(a.starts_with(&rule_prefix("222222222222")));
    }

    #[test]
    fn the_default_role_value_pattern_names_the_configured_provider() {
        assert_eq!(
            role_value_pattern("aws", "Okta"),
            "arn:aws:iam::${accountid}:saml-provider/Okta,arn:aws:iam::${accountid}:role/${role}"
        );
    }
}
