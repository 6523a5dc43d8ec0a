//! The `[clusters]` section: who gets access to each new EKS cluster (seeds 000 and 001), and
//! the RBAC objects autofed keeps in it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::{ConfigError, RoleConfig, invalid};
use crate::{ids::quote, selector::Selector};

/// Cluster onboarding.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClustersConfig {
    /// The aws-auth username of a mapped role: `{role}` (the IAM role's name) and
    /// `{account_id}`; `{{SessionName}}` and `{{AccountID}}` are left for EKS to expand at
    /// sign-in. Also the access entry's username when set (EKS picks one otherwise).
    #[serde(default = "default_username")]
    pub aws_auth_username: String,
    /// Set the username on access entries too (otherwise EKS derives one from the ARN).
    #[serde(default)]
    pub access_entry_username: bool,
    /// Move `CONFIG_MAP` clusters to `API_AND_CONFIG_MAP` (one way: EKS cannot move back),
    /// then grant access with access entries.
    #[serde(default)]
    pub upgrade_config_map: bool,
    /// Who gets access.
    #[serde(default)]
    pub access: Vec<AccessRule>,
    /// Namespace-scoped RBAC roles and their bindings (seed 000's `production-admin`).
    #[serde(default)]
    pub rbac: Vec<RbacRule>,
}

fn default_username() -> String {
    "autofed:{role}:{{SessionName}}".into()
}

impl Default for ClustersConfig {
    fn default() -> Self {
        Self {
            aws_auth_username: default_username(),
            access_entry_username: false,
            upgrade_config_map: false,
            access: Vec::new(),
            rbac: Vec::new(),
        }
    }
}

/// One access rule: a principal gets an access level in every matching cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    /// A federated role of `[[roles]]`, by name.
    #[serde(default)]
    pub role: Option<String>,
    /// An IAM Identity Center permission set, by name: its `AWSReservedSSO_<name>_<suffix>`
    /// role in the cluster's account.
    #[serde(default)]
    pub permission_set: Option<String>,
    /// The access level; none when the rule only maps groups or a username.
    #[serde(default)]
    pub access: Option<Access>,
    /// Kubernetes groups, added to what `access` implies.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The namespaces the access is limited to; the whole cluster when empty.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// The Kubernetes username, instead of `aws_auth_username` (seed 000 binds
    /// `production-admin-user`).
    #[serde(default)]
    pub username: Option<String>,
    /// Which clusters.
    pub clusters: ClusterSelector,
}

/// The access levels of EKS access policies, and their aws-auth equivalents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// `AmazonEKSClusterAdminPolicy`; `system:masters` in aws-auth. Cluster scope only.
    ClusterAdmin,
    /// `AmazonEKSAdminPolicy`; Kubernetes' `admin` ClusterRole.
    Admin,
    /// `AmazonEKSEditPolicy`; Kubernetes' `edit` ClusterRole.
    Edit,
    /// `AmazonEKSViewPolicy`; Kubernetes' `view` ClusterRole.
    View,
}

impl Access {
    /// The EKS access policy's name.
    pub fn policy_name(self) -> &'static str {
        match self {
            Access::ClusterAdmin => "AmazonEKSClusterAdminPolicy",
            Access::Admin => "AmazonEKSAdminPolicy",
            Access::Edit => "AmazonEKSEditPolicy",
            Access::View => "AmazonEKSViewPolicy",
        }
    }

    /// Kubernetes' built-in ClusterRole that matches it (none for cluster admin, which is the
    /// `system:masters` group).
    pub fn cluster_role(self) -> Option<&'static str> {
        match self {
            Access::ClusterAdmin => None,
            Access::Admin => Some("admin"),
            Access::Edit => Some("edit"),
            Access::View => Some("view"),
        }
    }
}

/// Selects clusters: by their account (a [`Selector`]), name and region.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSelector {
    /// The cluster's account.
    pub accounts: Selector,
    /// Cluster name patterns (`*` matches any run of characters); every name when empty.
    #[serde(default)]
    pub names: Vec<String>,
    /// Regions; every region when empty.
    #[serde(default)]
    pub regions: Vec<String>,
}

impl ClusterSelector {
    /// Whether the cluster `name` in `region` is selected (its account checked separately).
    pub fn matches_cluster(&self, name: &str, region: &str) -> bool {
        (self.names.is_empty() || self.names.iter().any(|p| glob(p, name)))
            && (self.regions.is_empty() || self.regions.iter().any(|r| r == region))
    }

    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        self.accounts.validate(&format!("{key}.accounts"))?;
        for (i, p) in self.names.iter().enumerate() {
            if p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_*".contains(c))
            {
                return Err(invalid(
                    format!("{key}.names[{i}]"),
                    p,
                    "a cluster name pattern has letters, digits, `-`, `_` and `*` (any run)",
                ));
            }
        }
        for (i, r) in self.regions.iter().enumerate() {
            if !is_region(r) {
                return Err(invalid(
                    format!("{key}.regions[{i}]"),
                    r,
                    "not a region name (us-east-1)",
                ));
            }
        }
        Ok(())
    }
}

/// A namespaced RBAC Role with its RoleBinding, kept in every matching cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RbacRule {
    /// The namespace (created, labelled as autofed's, when missing).
    pub namespace: String,
    /// The Role's name; the RoleBinding has the same name.
    pub role: String,
    /// The Role's rules.
    pub rules: Vec<RbacPolicyRule>,
    /// Kubernetes users bound to it (an access rule's `username`).
    #[serde(default)]
    pub users: Vec<String>,
    /// Kubernetes groups bound to it.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Which clusters.
    pub clusters: ClusterSelector,
}

/// One rule of a Role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RbacPolicyRule {
    /// API groups (`""` is the core group, `*` all).
    pub api_groups: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
}

impl ClustersConfig {
    /// Checks the section against the role set it refers to.
    pub(crate) fn validate(&self, roles: &[RoleConfig]) -> Result<(), ConfigError> {
        validate_username("clusters.aws_auth_username", &self.aws_auth_username)?;
        let role_names: BTreeSet<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        for (i, rule) in self.access.iter().enumerate() {
            let key = format!("clusters.access[{i}]");
            match (&rule.role, &rule.permission_set) {
                (Some(role), None) if !role_names.contains(role.as_str()) => {
                    return Err(invalid(
                        format!("{key}.role"),
                        role,
                        "not a role of [[roles]] (access goes to the federated roles autofed makes)",
                    ));
                }
                (None, Some(ps)) if ps.trim().is_empty() || ps.len() > 32 => {
                    return Err(invalid(
                        format!("{key}.permission_set"),
                        ps,
                        "a permission set name is 1 to 32 characters",
                    ));
                }
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(invalid(
                        &key,
                        rule.role
                            .as_deref()
                            .or(rule.permission_set.as_deref())
                            .unwrap_or_default(),
                        "set exactly one of `role` or `permission_set`",
                    ));
                }
            }
            if rule.access.is_none() && rule.groups.is_empty() && rule.username.is_none() {
                return Err(invalid(
                    &key,
                    "",
                    "grants nothing: give `access`, `groups` or `username`",
                ));
            }
            if rule.access == Some(Access::ClusterAdmin) && !rule.namespaces.is_empty() {
                return Err(invalid(
                    format!("{key}.namespaces"),
                    &rule.namespaces.join(","),
                    "cluster-admin is cluster-wide; use admin for namespaces",
                ));
            }
            for (j, ns) in rule.namespaces.iter().enumerate() {
                validate_dns_label(&format!("{key}.namespaces[{j}]"), ns)?;
            }
            for (j, g) in rule.groups.iter().enumerate() {
                validate_subject(&format!("{key}.groups[{j}]"), g)?;
            }
            if let Some(u) = &rule.username {
                validate_username(&format!("{key}.username"), u)?;
            }
            rule.clusters.validate(&format!("{key}.clusters"))?;
        }
        let mut seen = BTreeMap::new();
        for (i, rule) in self.rbac.iter().enumerate() {
            let key = format!("clusters.rbac[{i}]");
            validate_dns_label(&format!("{key}.namespace"), &rule.namespace)?;
            validate_dns_subdomain(&format!("{key}.role"), &rule.role)?;
            if let Some(j) = seen.insert((&rule.namespace, &rule.role), i) {
                return Err(invalid(
                    format!("{key}.role"),
                    &rule.role,
                    format!("clusters.rbac[{j}] already defines this role in this namespace"),
                ));
            }
            if rule.rules.is_empty() {
                return Err(invalid(
                    format!("{key}.rules"),
                    "[]",
                    "a Role needs at least one rule",
                ));
            }
            for (j, r) in rule.rules.iter().enumerate() {
                if r.verbs.is_empty() || r.resources.is_empty() {
                    return Err(invalid(
                        format!("{key}.rules[{j}]"),
                        &r.verbs.join(","),
                        "a rule needs verbs and resources",
                    ));
                }
            }
            if rule.users.is_empty() && rule.groups.is_empty() {
                return Err(invalid(
                    &key,
                    &rule.role,
                    "binds nobody: give `users` or `groups`",
                ));
            }
            for (j, s) in rule.users.iter().chain(&rule.groups).enumerate() {
                validate_subject(&format!("{key}.users/groups[{j}]"), s)?;
            }
            rule.clusters.validate(&format!("{key}.clusters"))?;
        }
        Ok(())
    }
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
pub fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    if !name.ends_with(last) {
        return false;
    }
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `r` looks like a region name (`us-east-1`, `us-gov-west-1`).
pub fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn validate_dns_label(key: &str, s: &str) -> Result<(), ConfigError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            s,
            "not a Kubernetes namespace name (1-63 of a-z, 0-9 and `-`)",
        ))
    }
}

fn validate_dns_subdomain(key: &str, s: &str) -> Result<(), ConfigError> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.' || b == b':'
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            s,
            "not a Kubernetes RBAC name (a-z, 0-9, `-`, `.`, `:`)",
        ))
    }
}

fn validate_subject(key: &str, s: &str) -> Result<(), ConfigError> {
    if s.is_empty() || s.len() > 253 || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            key,
            s,
            "a Kubernetes user or group name is 1-253 characters without spaces",
        ));
    }
    Ok(())
}

fn validate_username(key: &str, template: &str) -> Result<(), ConfigError> {
    let probe = render_username(template, "Administrator", "123456789012");
    if probe.contains('{') && !probe.contains("{{") || probe.contains('}') && !probe.contains("}}")
    {
        return Err(invalid(
            key,
            template,
            format!(
                "unknown placeholder in {}; use {{role}}, {{account_id}}, {{{{SessionName}}}} or {{{{AccountID}}}}",
                quote(template)
            ),
        ));
    }
    validate_subject(key, &probe)
}

/// The username for `role` in `account_id`: `{role}` and `{account_id}` replaced, EKS's own
/// `{{...}}` placeholders kept.
pub fn render_username(template: &str, role: &str, account_id: &str) -> String {
    template
        .replace("{role}", role)
        .replace("{account_id}", account_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_runs() {
        assert!(glob("prod-*", "prod-eu"));
        assert!(glob("*", "anything"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(!glob("prod-*", "dev-prod-1"));
        assert!(glob("exact", "exact"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn regions_are_checked() {
        assert!(is_region("us-east-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("us-east"));
        assert!(!is_region("US-EAST-1"));
    }

    #[test]
    fn usernames_keep_eks_placeholders() {
        assert_eq!(
            render_username(&default_username(), "Admin", "1"),
            "autofed:Admin:{{SessionName}}"
        );
        assert!(validate_username("k", "{role}-{{AccountID}}").is_ok());
        assert!(validate_username("k", "{nope}").is_err());
    }
}
