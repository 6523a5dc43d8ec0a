//! The `[okta]` section: how autofed reaches the Okta org, and which of seed 003's
//! (`group-mapping`) or seed 002's (`app-per-account`) ways it registers accounts there.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::{ConfigError, RoleConfig, invalid, is_loopback_http};
use crate::selector::Selector;

/// The Okta org and what autofed keeps there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OktaConfig {
    /// The org URL, `https://acme.okta.com`.
    pub org_url: String,
    /// How accounts are registered.
    pub mode: OktaMode,
    /// The Secrets Manager secret (name or ARN) holding an API token: the token itself, or
    /// JSON `{"apiToken": "..."}`.
    #[serde(default)]
    pub api_token_secret: Option<String>,
    /// An OAuth 2.0 service app instead of an API token (Okta's recommendation).
    #[serde(default)]
    pub service_app: Option<ServiceAppConfig>,
    /// The name of an account's role group: `{alias}` (the account alias, or the account name
    /// made alias-safe when no alias is configured), `{role}`, `{account_id}`.
    #[serde(default = "default_group_name")]
    pub group_name: String,
    /// Remove what autofed created in Okta for an account that is closed or leaves the
    /// organization. When false, the removal is only planned and reported.
    #[serde(default)]
    pub deprovision: bool,
    /// Seed 003: one AWS Account Federation app with Use Group Mapping.
    #[serde(default)]
    pub group_mapping: GroupMappingConfig,
    /// Seed 002: an AWS Account Federation app per account.
    #[serde(default)]
    pub app_per_account: AppPerAccountConfig,
    /// Seed 004: Okta as the identity source of IAM Identity Center.
    #[serde(default)]
    pub identity_center: Option<OktaIdentityCenterConfig>,
}

/// How accounts are registered in Okta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OktaMode {
    /// One app; a group per account and role, matched by the app's group filter.
    GroupMapping,
    /// An app per account, its metadata for the account's SAML provider.
    AppPerAccount,
    /// Nothing in Okta (the metadata comes from `saml.metadata_*`).
    None,
}

impl std::fmt::Display for OktaMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OktaMode::GroupMapping => "group-mapping",
            OktaMode::AppPerAccount => "app-per-account",
            OktaMode::None => "none",
        })
    }
}

/// An Okta OAuth 2.0 service app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAppConfig {
    /// The app's client id.
    pub client_id: String,
    /// The id of the app's public key (the JWT's `kid`).
    #[serde(default)]
    pub key_id: Option<String>,
    /// The Secrets Manager secret holding the app's RSA private key (PEM).
    pub private_key_secret: String,
    /// Scopes; `okta.apps.manage` and `okta.groups.manage` when absent.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// Seed 003's single app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMappingConfig {
    /// The app's id; found by `app_label` when absent.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The app's label.
    #[serde(default = "default_app_label")]
    pub app_label: String,
    /// Create the app when no app has the label (otherwise that is an error).
    #[serde(default)]
    pub create_app: bool,
    /// Okta's Group Filter: a regex with `(?{{role}}…)` and `(?{{accountid}}…)` captures
    /// matching `group_name`. The default matches the default `group_name`.
    #[serde(default = "default_group_filter")]
    pub group_filter: String,
    /// Okta's Role Value Pattern; by default the configured provider and `${role}`.
    #[serde(default)]
    pub role_value_pattern: Option<String>,
    /// Okta's Join all roles.
    #[serde(default = "yes")]
    pub join_all_roles: bool,
    /// The console session duration (seconds, 900 to 43200).
    #[serde(default = "default_session")]
    pub session_duration: u32,
    /// Management groups, fanned out to role groups by Okta group rules.
    #[serde(default)]
    pub rules: Vec<ManagementRule>,
}

/// A management group (seed 003): its members get the role groups of `roles` in every
/// matching account, through one Okta group rule per account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementRule {
    /// The Okta group, by name (it must exist).
    pub group: String,
    /// Role names from `[[roles]]`.
    pub roles: Vec<String>,
    /// Which accounts.
    pub accounts: Selector,
}

/// Seed 002's app per account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPerAccountConfig {
    /// The app's label: `{name}` (the account name), `{id}`, `{alias}`.
    #[serde(default = "default_app_per_account_label")]
    pub label: String,
    /// The console session duration (seconds, 900 to 43200).
    #[serde(default = "default_session")]
    pub session_duration: u32,
    /// Okta groups assigned to the app, with the roles they may choose from.
    #[serde(default)]
    pub groups: Vec<AppGroupRule>,
}

/// An Okta group assigned to each matching account's app, with its SAML roles.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppGroupRule {
    /// The Okta group, by name (it must exist).
    pub group: String,
    /// Role names from `[[roles]]`.
    pub roles: Vec<String>,
    /// Which accounts.
    pub accounts: Selector,
}

/// Seed 004: the Okta app that provisions IAM Identity Center.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OktaIdentityCenterConfig {
    /// The id of Okta's "AWS IAM Identity Center" app.
    pub app_id: String,
    /// Create a missing group push mapping (otherwise it is a manual step in the report).
    #[serde(default)]
    pub create_push_mappings: bool,
}

fn default_group_name() -> String {
    "aws#{alias}#{role}#{account_id}".into()
}
fn default_app_label() -> String {
    "AWS Account Federation".into()
}
fn default_group_filter() -> String {
    r"^aws\#\S+\#(?{{role}}[\w\-]+)\#(?{{accountid}}\d+)$".into()
}
fn default_app_per_account_label() -> String {
    "AWS {name} ({id})".into()
}
fn default_session() -> u32 {
    3600
}
fn yes() -> bool {
    true
}

impl Default for GroupMappingConfig {
    fn default() -> Self {
        Self {
            app_id: None,
            app_label: default_app_label(),
            create_app: false,
            group_filter: default_group_filter(),
            role_value_pattern: None,
            join_all_roles: true,
            session_duration: default_session(),
            rules: Vec::new(),
        }
    }
}

impl Default for AppPerAccountConfig {
    fn default() -> Self {
        Self {
            label: default_app_per_account_label(),
            session_duration: default_session(),
            groups: Vec::new(),
        }
    }
}

/// Checks that a template uses only `allowed` placeholders and every one of `required`.
fn check_template(
    key: &str,
    template: &str,
    allowed: &[&str],
    required: &[&str],
) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            return Err(invalid(key, template, "unclosed `{`"));
        };
        let name = &rest[start + 1..start + len];
        if !allowed.contains(&name) {
            let list: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
            return Err(invalid(
                key,
                template,
                format!("unknown placeholder `{{{name}}}`; use {}", list.join(", ")),
            ));
        }
        seen.insert(name);
        rest = &rest[start + len + 1..];
    }
    for r in required {
        if !seen.contains(r) {
            return Err(invalid(
                key,
                template,
                format!("must contain `{{{r}}}` so that each account gets its own"),
            ));
        }
    }
    Ok(())
}

fn check_roles(key: &str, names: &[String], roles: &[RoleConfig]) -> Result<(), ConfigError> {
    if names.is_empty() {
        return Err(invalid(key, "", "name at least one role from [[roles]]"));
    }
    for (j, name) in names.iter().enumerate() {
        if !roles.iter().any(|r| &r.name == name) {
            return Err(invalid(
                format!("{key}[{j}]"),
                name,
                "no role of that name in [[roles]]",
            ));
        }
    }
    Ok(())
}

fn check_group(key: &str, group: &str) -> Result<(), ConfigError> {
    if group.trim().is_empty() || group.chars().count() > 255 {
        return Err(invalid(
            key,
            group,
            "an Okta group name is 1 to 255 characters",
        ));
    }
    Ok(())
}

fn check_session(key: &str, seconds: u32) -> Result<(), ConfigError> {
    if !(900..=43200).contains(&seconds) {
        return Err(invalid(
            key,
            &seconds.to_string(),
            "must be 900 to 43200 seconds",
        ));
    }
    Ok(())
}

impl OktaConfig {
    /// Checks the section against itself and the role set.
    pub(super) fn validate(&self, roles: &[RoleConfig]) -> Result<(), ConfigError> {
        let url = self.org_url.trim_end_matches('/');
        let host_only = url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains('/'));
        if !(url.starts_with("https://") || is_loopback_http(url)) || !host_only {
            return Err(invalid(
                "okta.org_url",
                &self.org_url,
                "must be the org's https URL with no path, such as https://acme.okta.com",
            ));
        }
        match (&self.api_token_secret, &self.service_app) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "okta.service_app",
                    "",
                    "set either okta.api_token_secret or okta.service_app, not both",
                ));
            }
            (None, None) if self.mode != OktaMode::None => {
                return Err(invalid(
                    "okta",
                    "",
                    "okta.api_token_secret or okta.service_app is required",
                ));
            }
            (Some(s), None) if s.trim().is_empty() => {
                return Err(invalid(
                    "okta.api_token_secret",
                    s,
                    "the secret name is empty",
                ));
            }
            _ => {}
        }
        if let Some(app) = &self.service_app {
            if app.client_id.trim().is_empty() {
                return Err(invalid(
                    "okta.service_app.client_id",
                    &app.client_id,
                    "the client id is empty",
                ));
            }
            if app.private_key_secret.trim().is_empty() {
                return Err(invalid(
                    "okta.service_app.private_key_secret",
                    &app.private_key_secret,
                    "the secret name is empty",
                ));
            }
        }
        check_template(
            "okta.group_name",
            &self.group_name,
            &["alias", "role", "account_id"],
            &["role", "account_id"],
        )?;
        let gm = &self.group_mapping;
        check_session("okta.group_mapping.session_duration", gm.session_duration)?;
        if gm.app_label.trim().is_empty() {
            return Err(invalid(
                "okta.group_mapping.app_label",
                &gm.app_label,
                "the label is empty",
            ));
        }
        for (i, rule) in gm.rules.iter().enumerate() {
            let key = format!("okta.group_mapping.rules[{i}]");
            check_group(&format!("{key}.group"), &rule.group)?;
            check_roles(&format!("{key}.roles"), &rule.roles, roles)?;
            rule.accounts.validate(&format!("{key}.accounts"))?;
        }
        if self.mode == OktaMode::GroupMapping {
            // NB: Okta builds the role ARN from the role value pattern and the role's name
            // alone; a role under a path would get an ARN that does not exist.
            if let Some((i, role)) = roles.iter().enumerate().find(|(_, r)| r.path != "/") {
                return Err(invalid(
                    format!("roles[{i}].path"),
                    &role.path,
                    "group-mapping mode builds role ARNs without a path; use path \"/\"",
                ));
            }
        }
        let apa = &self.app_per_account;
        check_template(
            "okta.app_per_account.label",
            &apa.label,
            &["name", "id", "alias"],
            &[],
        )?;
        check_session(
            "okta.app_per_account.session_duration",
            apa.session_duration,
        )?;
        for (i, rule) in apa.groups.iter().enumerate() {
            let key = format!("okta.app_per_account.groups[{i}]");
            check_group(&format!("{key}.group"), &rule.group)?;
            check_roles(&format!("{key}.roles"), &rule.roles, roles)?;
            rule.accounts.validate(&format!("{key}.accounts"))?;
        }
        if let Some(ic) = &self.identity_center
            && ic.app_id.trim().is_empty()
        {
            return Err(invalid(
                "okta.identity_center.app_id",
                &ic.app_id,
                "the app id is empty",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use crate::config::Config;

    /// A configuration with a minimal Okta section (group-mapping mode).
    pub(crate) const BASE: &str = r#"
        [saml]
        [[roles]]
        name = "Admin"
        [okta]
        org_url = "https://acme.okta.com"
        mode = "group-mapping"
        api_token_secret = "autofed/okta"
    "#;

    fn error(text: &str) -> String {
        Config::from_toml(text, PathBuf::new())
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn a_minimal_okta_section_loads_with_defaults() {
        let c = Config::from_toml(BASE, PathBuf::new()).unwrap();
        let okta = c.okta.unwrap();
        assert_eq!(okta.group_name, "aws#{alias}#{role}#{account_id}");
        assert_eq!(okta.group_mapping.app_label, "AWS Account Federation");
        assert!(!okta.group_mapping.create_app && !okta.deprovision);
    }

    #[test]
    fn each_bad_value_is_named_by_its_key() {
        let cases = [
            (
                BASE.replace("[saml]", "[saml]\nmetadata_file = \"m.xml\""),
                "saml.metadata_file",
            ),
            (
                BASE.replace("name = \"Admin\"", "name = \"Admin\"\npath = \"/fed/\""),
                "roles[0].path",
            ),
            (
                BASE.replace("https://acme.okta.com", "http://acme.okta.com"),
                "okta.org_url",
            ),
            (
                BASE.replace("https://acme.okta.com", "https://acme.okta.com/admin"),
                "okta.org_url",
            ),
            (
                BASE.replace("mode = ", "colour = \"blue\"\nmode = "),
                "okta.colour",
            ),
            (BASE.replace("group-mapping", "app-per-tenant"), "okta.mode"),
            (
                BASE.replace("api_token_secret = \"autofed/okta\"", ""),
                "okta",
            ),
            (
                format!("{BASE}\ngroup_name = \"aws#{{role}}\""),
                "okta.group_name",
            ),
            (
                format!(
                    "{BASE}\n[[okta.group_mapping.rules]]\ngroup = \"Admins\"\nroles = [\"Root\"]\naccounts = {{ all = true }}"
                ),
                "okta.group_mapping.rules[0].roles[0]",
            ),
            (
                format!("{BASE}\n[okta.app_per_account]\nlabel = \"AWS {{nom}}\""),
                "okta.app_per_account.label",
            ),
            (
                format!(
                    "[[identity_center.assignments]]\nokta_group = \"Eng\"\npermission_set = \"X\"\naccounts = {{ all = true }}\n{BASE}"
                ),
                "identity_center.assignments[0].okta_group",
            ),
        ];
        for (text, key) in cases {
            let e = error(&text);
            assert!(e.contains(&format!("`{key}`")), "{key}: {e}");
        }
    }
}
