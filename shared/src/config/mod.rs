//! autofed's configuration: one TOML file, loaded and validated once when a function starts.
//!
//! Unknown keys are rejected (a typo must not silently disable a rule), and every error names
//! the key and the value that is wrong. See `infra/config/autofed.toml` for a documented
//! example of every key.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use crate::{
    aws::sso,
    ids::{self, quote},
    selector::Selector,
};

pub mod cluster;
pub mod deploy;
pub mod okta;

pub use cluster::ClustersConfig;
pub use deploy::{DeployConfig, DeployMode};
pub use okta::{OktaConfig, OktaMode};

/// The environment variable that names the configuration file.
pub const CONFIG_ENV: &str = "AUTOFED_CONFIG";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("configuration file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML, a key is unknown, or a value has the wrong type.
    #[error("configuration key `{key}`: {message}")]
    Parse {
        /// The dotted path of the offending key (`.` for the whole file).
        key: String,
        /// The parser's message.
        message: String,
    },
    /// A value has the right type but is not acceptable.
    #[error("configuration key `{key}` = {value}: {reason}")]
    Invalid {
        /// The dotted path of the offending key.
        key: String,
        /// The value, quoted and cut to a readable length.
        value: String,
        /// Why it is not acceptable.
        reason: String,
    },
    /// A required environment setting is missing or malformed.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

pub(crate) fn invalid(
    key: impl Into<String>,
    value: &str,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: quote(value),
        reason: reason.into(),
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The role autofed assumes in each member account.
    #[serde(default = "default_execution_role")]
    pub execution_role: String,
    /// Roles tried, in order, when `execution_role` cannot be assumed (Control Tower accounts
    /// have `AWSControlTowerExecution` instead).
    #[serde(default)]
    pub fallback_execution_roles: Vec<String>,
    /// Plan only: report what would change and write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Take ownership of same-named resources autofed did not create, instead of reporting a
    /// conflict. Shown in the plan before it happens.
    #[serde(default)]
    pub adopt: bool,
    /// Template of the account alias: `{name}` (the account name, made alias-safe) and `{id}`.
    /// No alias is set when absent.
    #[serde(default)]
    pub account_alias: Option<String>,
    /// The account's SAML identity provider.
    pub saml: SamlConfig,
    /// The federated roles created in each matching account.
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// How the provider and roles are deployed: IAM calls or a CloudFormation stack.
    #[serde(default)]
    pub deploy: DeployConfig,
    /// IAM Identity Center assignments.
    #[serde(default)]
    pub identity_center: IdentityCenterConfig,
    /// The Okta org, and how accounts are registered there.
    #[serde(default)]
    pub okta: Option<OktaConfig>,
    /// Access to EKS clusters.
    #[serde(default)]
    pub clusters: ClustersConfig,
    /// Retry and re-queue timings.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Where relative paths in the file (the metadata file) are resolved from.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_execution_role() -> String {
    "OrganizationAccountAccessRole".into()
}

/// The SAML identity provider created in each account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlConfig {
    /// The provider's name in IAM.
    #[serde(default = "default_provider_name")]
    pub provider_name: String,
    /// A file holding the IdP metadata (relative to the configuration file).
    #[serde(default)]
    pub metadata_file: Option<PathBuf>,
    /// A URL serving the IdP metadata (Okta's app metadata URL).
    #[serde(default)]
    pub metadata_url: Option<String>,
}

fn default_provider_name() -> String {
    "Okta".into()
}

/// One federated role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// The role name.
    pub name: String,
    /// The role path.
    #[serde(default = "default_path")]
    pub path: String,
    /// The role description.
    #[serde(default)]
    pub description: Option<String>,
    /// Managed policies attached to the role.
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    /// An inline policy document (JSON), stored as the role's `autofed` inline policy.
    #[serde(default)]
    pub inline_policy: Option<String>,
    /// Maximum session duration in seconds (3600 to 43200).
    #[serde(default = "default_max_session")]
    pub max_session_duration: i32,
    /// The permissions boundary policy ARN.
    #[serde(default)]
    pub permissions_boundary: Option<String>,
    /// Which accounts get the role; every account when absent.
    #[serde(default)]
    pub accounts: Option<Selector>,
}

fn default_path() -> String {
    "/".into()
}

fn default_max_session() -> i32 {
    3600
}

/// IAM Identity Center settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityCenterConfig {
    /// The instance ARN; discovered with `ListInstances` when absent.
    #[serde(default)]
    pub instance_arn: Option<String>,
    /// The identity store id; discovered with `ListInstances` when absent.
    #[serde(default)]
    pub identity_store_id: Option<String>,
    /// Assignment creations in flight per function instance, over all the records it works on
    /// at once, its share (1 to 10; Identity Center allows 10 per Identity Center instance, so
    /// this times the function's concurrency should stay within 10). An instance borrows up to
    /// twice it (at most 10) while none of its creations is refused as one too many.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Identity Center admin calls per second per function instance, its share (1 to 20; the
    /// service allows about 20 for the organization, so this times the functions' concurrency
    /// should stay within 20). Each instance paces its calls to this rate rather than being
    /// throttled, and borrows up to twice it (at most 20) while none of its calls is
    /// throttled, so that what another instance leaves unused is not lost.
    #[serde(default = "default_calls_per_second")]
    pub calls_per_second: u32,
    /// Assignment rules.
    #[serde(default)]
    pub assignments: Vec<AssignmentRule>,
    /// Whether an assignment of a pair a rule names (principal and permission set) is removed
    /// from an account that no rule with that pair selects any more (it moved OU, its tags
    /// changed, the rule changed). Pairs no rule names are never touched.
    #[serde(default = "yes")]
    pub remove_unselected: bool,
    /// Whether the assignments of the rules' pairs are removed from an account that was closed
    /// or left the organization. Off: the removal is planned (reported), not applied.
    #[serde(default)]
    pub deprovision: bool,
}

fn yes() -> bool {
    true
}

fn default_max_in_flight() -> usize {
    5
}

fn default_calls_per_second() -> u32 {
    10
}

/// One assignment rule: a principal gets a permission set in every matching account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRule {
    /// A group, by display name.
    #[serde(default)]
    pub group: Option<String>,
    /// A user, by user name.
    #[serde(default)]
    pub user: Option<String>,
    /// An Okta group pushed to Identity Center (seed 004), by its Okta name: autofed checks
    /// the push mapping and finds the pushed group in the identity store.
    #[serde(default)]
    pub okta_group: Option<String>,
    /// The permission set, by name.
    pub permission_set: String,
    /// Which accounts; required, so that no rule assigns to every account by accident.
    pub accounts: Selector,
}

/// Retry and re-queue timings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// `AssumeRole` attempts within one delivery before the message is re-queued.
    #[serde(default = "default_assume_attempts")]
    pub assume_attempts: u32,
    /// The first delay between `AssumeRole` attempts, doubled each time (milliseconds).
    #[serde(default = "default_assume_delay")]
    pub assume_base_delay_ms: u64,
    /// The first re-queue delay of a not-ready account, doubled each delivery (seconds).
    #[serde(default = "default_requeue_delay")]
    pub requeue_base_delay_seconds: u64,
    /// The longest re-queue delay (seconds, at most 43200).
    #[serde(default = "default_requeue_max")]
    pub requeue_max_delay_seconds: u64,
    /// Deliveries after which a not-ready account goes to the dead-letter queue.
    #[serde(default = "default_max_deliveries")]
    pub max_deliveries: u32,
    /// How long to poll one Identity Center assignment creation (seconds).
    #[serde(default = "default_assignment_timeout")]
    pub assignment_timeout_seconds: u64,
    /// Attempts of one AWS, Okta or Kubernetes call (the first included) when it is throttled,
    /// answered with a server error, reset or timed out; past them the message goes back to
    /// the queue.
    #[serde(default = "default_call_attempts")]
    pub call_attempts: u32,
    /// The first backoff between such attempts, growing each time (milliseconds).
    #[serde(default = "default_call_delay")]
    pub call_base_delay_ms: u64,
    /// How long one attempt of a call may take before it is abandoned (milliseconds).
    #[serde(default = "default_call_timeout")]
    pub call_timeout_ms: u64,
}

fn default_assume_attempts() -> u32 {
    4
}
fn default_assume_delay() -> u64 {
    1000
}
fn default_requeue_delay() -> u64 {
    60
}
fn default_requeue_max() -> u64 {
    900
}
fn default_max_deliveries() -> u32 {
    12
}
fn default_assignment_timeout() -> u64 {
    120
}
fn default_call_attempts() -> u32 {
    4
}
fn default_call_delay() -> u64 {
    500
}
fn default_call_timeout() -> u64 {
    20_000
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            assume_attempts: default_assume_attempts(),
            assume_base_delay_ms: default_assume_delay(),
            requeue_base_delay_seconds: default_requeue_delay(),
            requeue_max_delay_seconds: default_requeue_max(),
            max_deliveries: default_max_deliveries(),
            assignment_timeout_seconds: default_assignment_timeout(),
            call_attempts: default_call_attempts(),
            call_base_delay_ms: default_call_delay(),
            call_timeout_ms: default_call_timeout(),
        }
    }
}

impl Config {
    /// Loads the file named by `AUTOFED_CONFIG`, or `autofed.toml` in the Lambda task root
    /// (or the working directory).
    pub fn from_env() -> Result<Self, ConfigError> {
        let path = match std::env::var_os(CONFIG_ENV) {
            Some(p) => PathBuf::from(p),
            None => std::env::var_os("LAMBDA_TASK_ROOT")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join("autofed.toml"),
        };
        Self::load(&path)
    }

    /// Loads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_toml(&text, base)
    }

    /// Parses and validates configuration text; relative paths resolve against `base_dir`.
    pub fn from_toml(text: &str, base_dir: PathBuf) -> Result<Self, ConfigError> {
        let parse = || {
            toml::de::Deserializer::parse(text).map_err(|e| ConfigError::Parse {
                key: ".".into(),
                message: one_line(&e.to_string()),
            })
        };
        // NB: only a file that does not deserialize is read a second time, to name the key at
        // fault: tracking every key's path is an eighth of a good file's read (callgrind) at
        // each cold start. Both reads are of the same text, so the second fails as the first.
        let mut config = match Config::deserialize(parse()?) {
            Ok(config) => config,
            Err(first) => {
                let (key, message) = match serde_path_to_error::deserialize::<_, Config>(parse()?) {
                    Err(e) => (e.path().to_string(), e.inner().to_string()),
                    Ok(_) => (".".into(), first.to_string()),
                };
                return Err(ConfigError::Parse {
                    key,
                    message: one_line(&message),
                });
            }
        };
        config.base_dir = base_dir;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value that the types alone do not constrain.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !ids::is_role_name(&self.execution_role) {
            return Err(invalid(
                "execution_role",
                &self.execution_role,
                "not a valid IAM role name",
            ));
        }
        for (i, role) in self.fallback_execution_roles.iter().enumerate() {
            if !ids::is_role_name(role) {
                return Err(invalid(
                    format!("fallback_execution_roles[{i}]"),
                    role,
                    "not a valid IAM role name",
                ));
            }
        }
        if let Some(t) = &self.account_alias {
            validate_alias_template(t)?;
            // The placeholders are right; the literal text must make a valid alias too.
            crate::desired::render_alias(t, "example", "123456789012")
                .map_err(|reason| invalid("account_alias", t, reason))?;
        }
        let okta_mode = self.okta_mode();
        self.saml.validate(okta_mode)?;
        if let Some(okta) = &self.okta {
            okta.validate(&self.roles)?;
        }
        let mut names = BTreeSet::new();
        for (i, role) in self.roles.iter().enumerate() {
            role.validate(&format!("roles[{i}]"))?;
            if !names.insert(role.name.to_ascii_lowercase()) {
                return Err(invalid(
                    format!("roles[{i}].name"),
                    &role.name,
                    "another role has this name (IAM role names are case-insensitive)",
                ));
            }
        }
        self.identity_center.validate()?;
        if let Some((i, _)) = self
            .identity_center
            .assignments
            .iter()
            .enumerate()
            .find(|(_, r)| r.okta_group.is_some())
            && self
                .okta
                .as_ref()
                .and_then(|o| o.identity_center.as_ref())
                .is_none()
        {
            return Err(invalid(
                format!("identity_center.assignments[{i}].okta_group"),
                self.identity_center.assignments[i]
                    .okta_group
                    .as_deref()
                    .unwrap_or_default(),
                "an Okta group assignment needs [okta.identity_center] (the app that pushes groups)",
            ));
        }
        self.clusters.validate(&self.roles)?;
        self.deploy.validate()?;
        self.retry.validate()
    }
}

/// Plain http is accepted only on this machine's loopback (a local IdP or test server).
pub(crate) fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    matches!(host, "localhost" | "[::1]")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A policy ARN, where `{id}` stands for the account being onboarded (a customer managed
/// policy, such as a permissions boundary, lives in each member account).
fn is_policy_template(arn: &str) -> bool {
    ids::is_policy_arn(&render_account(arn, "123456789012"))
}

/// Puts the account id into a policy ARN template.
pub fn render_account(template: &str, account_id: &str) -> String {
    template.replace("{id}", account_id)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn validate_alias_template(t: &str) -> Result<(), ConfigError> {
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            return Err(invalid("account_alias", t, "unclosed `{`"));
        };
        let name = &rest[start + 1..start + len];
        if !matches!(name, "name" | "id") {
            return Err(invalid(
                "account_alias",
                t,
                format!("unknown placeholder `{{{name}}}`; use {{name}} or {{id}}"),
            ));
        }
        rest = &rest[start + len + 1..];
    }
    if rest.contains('}') {
        return Err(invalid("account_alias", t, "unmatched `}`"));
    }
    Ok(())
}

impl Config {
    /// How accounts are registered in Okta (`none` without an `[okta]` section).
    pub fn okta_mode(&self) -> OktaMode {
        self.okta.as_ref().map_or(OktaMode::None, |o| o.mode)
    }
}

impl SamlConfig {
    fn validate(&self, okta_mode: OktaMode) -> Result<(), ConfigError> {
        if !ids::is_saml_provider_name(&self.provider_name) {
            return Err(invalid(
                "saml.provider_name",
                &self.provider_name,
                "not a valid SAML provider name (1-128 of letters, digits, `.`, `_`, `-`)",
            ));
        }
        if okta_mode != OktaMode::None {
            // One source of truth: the provider trusts the very app users sign in through.
            return match (&self.metadata_file, &self.metadata_url) {
                (None, None) => Ok(()),
                (Some(f), _) => Err(invalid(
                    "saml.metadata_file",
                    &f.display().to_string(),
                    format!(
                        "not used with okta.mode = \"{okta_mode}\": the metadata comes from the Okta app"
                    ),
                )),
                (None, Some(u)) => Err(invalid(
                    "saml.metadata_url",
                    u,
                    format!(
                        "not used with okta.mode = \"{okta_mode}\": the metadata comes from the Okta app"
                    ),
                )),
            };
        }
        match (&self.metadata_file, &self.metadata_url) {
            (Some(_), Some(_)) => Err(invalid(
                "saml.metadata_url",
                self.metadata_url.as_deref().unwrap_or_default(),
                "set either saml.metadata_file or saml.metadata_url, not both",
            )),
            (None, None) => Err(invalid(
                "saml",
                "",
                "one of saml.metadata_file or saml.metadata_url is required",
            )),
            (None, Some(url)) if !url.starts_with("https://") && !is_loopback_http(url) => {
                Err(invalid(
                    "saml.metadata_url",
                    url,
                    "must be an https URL (the metadata carries the certificate every role trusts)",
                ))
            }
            _ => Ok(()),
        }
    }
}

impl RoleConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !ids::is_role_name(&self.name) {
            return Err(invalid(
                format!("{key}.name"),
                &self.name,
                "not a valid IAM role name (1-64 of letters, digits and _+=,.@-)",
            ));
        }
        if !ids::is_iam_path(&self.path) {
            return Err(invalid(
                format!("{key}.path"),
                &self.path,
                "an IAM path starts and ends with `/`",
            ));
        }
        for (j, arn) in self.managed_policy_arns.iter().enumerate() {
            if !is_policy_template(arn) {
                return Err(invalid(
                    format!("{key}.managed_policy_arns[{j}]"),
                    arn,
                    "not an IAM policy ARN (use {id} for the account's own id)",
                ));
            }
        }
        if self.managed_policy_arns.len() > 20 {
            return Err(invalid(
                format!("{key}.managed_policy_arns"),
                &self.managed_policy_arns.len().to_string(),
                "IAM allows at most 20 managed policies on a role",
            ));
        }
        if let Some(doc) = &self.inline_policy {
            let parsed: serde_json::Value = serde_json::from_str(doc).map_err(|e| {
                invalid(
                    format!("{key}.inline_policy"),
                    doc,
                    format!("not JSON: {e}"),
                )
            })?;
            if parsed.get("Statement").is_none() {
                return Err(invalid(
                    format!("{key}.inline_policy"),
                    doc,
                    "a policy document needs a `Statement`",
                ));
            }
        }
        if !(3600..=43200).contains(&self.max_session_duration) {
            return Err(invalid(
                format!("{key}.max_session_duration"),
                &self.max_session_duration.to_string(),
                "must be 3600 to 43200 seconds",
            ));
        }
        if let Some(b) = &self.permissions_boundary
            && !is_policy_template(b)
        {
            return Err(invalid(
                format!("{key}.permissions_boundary"),
                b,
                "not an IAM policy ARN (use {id} for the account's own id)",
            ));
        }
        if let Some(sel) = &self.accounts {
            sel.validate(&format!("{key}.accounts"))?;
        }
        Ok(())
    }
}

impl Default for IdentityCenterConfig {
    fn default() -> Self {
        Self {
            instance_arn: None,
            identity_store_id: None,
            max_in_flight: default_max_in_flight(),
            calls_per_second: default_calls_per_second(),
            assignments: Vec::new(),
            remove_unselected: true,
            deprovision: false,
        }
    }
}

impl IdentityCenterConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=sso::MAX_IN_FLIGHT).contains(&self.max_in_flight) {
            return Err(invalid(
                "identity_center.max_in_flight",
                &self.max_in_flight.to_string(),
                "must be 1 to 10 (Identity Center's limit of assignment creations in flight)",
            ));
        }
        if !(1..=sso::MAX_CALLS_PER_SECOND).contains(&self.calls_per_second) {
            return Err(invalid(
                "identity_center.calls_per_second",
                &self.calls_per_second.to_string(),
                "must be 1 to 20 (Identity Center's rate for the organization)",
            ));
        }
        if let Some(arn) = &self.instance_arn
            && !arn.contains(":sso:::instance/")
        {
            return Err(invalid(
                "identity_center.instance_arn",
                arn,
                "not an IAM Identity Center instance ARN",
            ));
        }
        if self.instance_arn.is_some() != self.identity_store_id.is_some() {
            return Err(invalid(
                "identity_center.identity_store_id",
                self.identity_store_id.as_deref().unwrap_or_default(),
                "set instance_arn and identity_store_id together, or neither",
            ));
        }
        for (i, rule) in self.assignments.iter().enumerate() {
            let key = format!("identity_center.assignments[{i}]");
            let named: Vec<&String> = [&rule.group, &rule.user, &rule.okta_group]
                .into_iter()
                .flatten()
                .collect();
            match named.as_slice() {
                [name] if name.trim().is_empty() => {
                    return Err(invalid(&key, name, "the principal name is empty"));
                }
                [_] => {}
                _ => {
                    return Err(invalid(
                        &key,
                        named.first().map(|n| n.as_str()).unwrap_or_default(),
                        "set exactly one of `group`, `user` or `okta_group`",
                    ));
                }
            }
            if rule.permission_set.trim().is_empty() {
                return Err(invalid(
                    format!("{key}.permission_set"),
                    &rule.permission_set,
                    "the permission set name is empty",
                ));
            }
            rule.accounts.validate(&format!("{key}.accounts"))?;
        }
        Ok(())
    }
}

impl RetryConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        // Bounded so that one delivery's AssumeRole retries stay well inside the function's
        // timeout, and no setting turns re-queueing into a tight loop.
        let bounds: [(&str, u64, u64, u64, &str); 9] = [
            (
                "retry.assume_attempts",
                self.assume_attempts.into(),
                1,
                10,
                "attempts",
            ),
            (
                "retry.assume_base_delay_ms",
                self.assume_base_delay_ms,
                1,
                10_000,
                "milliseconds",
            ),
            (
                "retry.requeue_base_delay_seconds",
                self.requeue_base_delay_seconds,
                1,
                43_200,
                "seconds",
            ),
            (
                "retry.requeue_max_delay_seconds",
                self.requeue_max_delay_seconds,
                1,
                43_200,
                "seconds (SQS's visibility limit)",
            ),
            (
                "retry.max_deliveries",
                self.max_deliveries.into(),
                1,
                1_000,
                "deliveries",
            ),
            (
                "retry.assignment_timeout_seconds",
                self.assignment_timeout_seconds,
                1,
                600,
                "seconds",
            ),
            (
                "retry.call_attempts",
                self.call_attempts.into(),
                1,
                10,
                "attempts",
            ),
            (
                "retry.call_base_delay_ms",
                self.call_base_delay_ms,
                1,
                10_000,
                "milliseconds",
            ),
            (
                "retry.call_timeout_ms",
                self.call_timeout_ms,
                100,
                120_000,
                "milliseconds",
            ),
        ];
        for (key, value, min, max, unit) in bounds {
            if !(min..=max).contains(&value) {
                return Err(invalid(
                    key,
                    &value.to_string(),
                    format!("must be {min} to {max} {unit}"),
                ));
            }
        }
        let waits = self.assume_base_delay_ms * ((1u64 << (self.assume_attempts - 1)) - 1);
        if waits > 120_000 {
            return Err(invalid(
                "retry.assume_attempts",
                &self.assume_attempts.to_string(),
                format!(
                    "with assume_base_delay_ms = {} the waits add up to {} s; keep them within 120 s",
                    self.assume_base_delay_ms,
                    waits / 1000
                ),
            ));
        }
        Ok(())
    }

    /// The AWS SDK's retries: standard mode (throttling, 5xx, resets and timeouts retried
    /// with jittered exponential backoff, bounded by the client's retry quota).
    pub fn aws_retries(&self) -> aws_config::retry::RetryConfig {
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(self.call_attempts)
            .with_initial_backoff(self.call_base_delay())
    }

    /// The AWS SDK's timeouts: one attempt may take `call_timeout_ms`; connecting, at most
    /// five seconds of that.
    pub fn aws_timeouts(&self) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(self.call_timeout())
            .connect_timeout(self.call_timeout().min(Duration::from_secs(5)))
            .build()
    }

    /// The first backoff between attempts of a call.
    pub fn call_base_delay(&self) -> Duration {
        Duration::from_millis(self.call_base_delay_ms)
    }

    /// The longest one attempt of a call may take.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [saml]
        metadata_file = "okta.xml"
    "#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, PathBuf::new())
    }

    #[test]
    fn a_minimal_file_gets_the_documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.execution_role, "OrganizationAccountAccessRole");
        assert_eq!(c.saml.provider_name, "Okta");
        assert!(!c.dry_run && !c.adopt && c.roles.is_empty());
    }

    #[test]
    fn an_unknown_key_is_rejected_with_its_path() {
        let err = parse(
            r#"
            [saml]
            metadata_file = "okta.xml"
            [[roles]]
            name = "Admin"
            max_sesion_duration = 7200
            "#,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("roles[0]"), "{msg}");
        assert!(msg.contains("max_sesion_duration"), "{msg}");
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let err = parse("dry_run = \"yes\"\n[saml]\nmetadata_file = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("`dry_run`"), "{err}");
    }

    #[test]
    fn invalid_values_name_key_and_value() {
        let cases = [
            (
                "[[roles]]\nname = \"Admin\"\npath = \"federated\"",
                "roles[0].path",
                "\"federated\"",
            ),
            (
                "[[roles]]\nname = \"bad name\"",
                "roles[0].name",
                "\"bad name\"",
            ),
            (
                "[[roles]]\nname = \"A\"\nmanaged_policy_arns = [\"ReadOnly\"]",
                "roles[0].managed_policy_arns[0]",
                "\"ReadOnly\"",
            ),
            (
                "[[roles]]\nname = \"A\"\nmax_session_duration = 60",
                "roles[0].max_session_duration",
                "\"60\"",
            ),
            (
                "[[roles]]\nname = \"A\"\ninline_policy = \"{\"",
                "roles[0].inline_policy",
                "\"{\"",
            ),
            (
                "[[roles]]\nname = \"A\"\n[roles.accounts]\nous = [\"Workloads\"]",
                "roles[0].accounts.ous[0]",
                "\"Workloads\"",
            ),
            (
                "[[roles]]\nname = \"A\"\n[roles.accounts]\nids = [\"12345\"]",
                "roles[0].accounts.ids[0]",
                "12-digit",
            ),
            (
                "[[roles]]\nname = \"A\"\n[[roles]]\nname = \"a\"",
                "roles[1].name",
                "\"a\"",
            ),
            (
                "[[identity_center.assignments]]\ngroup = \"G\"\nuser = \"u\"\npermission_set = \"P\"\naccounts = { all = true }",
                "identity_center.assignments[0]",
                "exactly one",
            ),
            (
                "[[identity_center.assignments]]\ngroup = \"G\"\npermission_set = \"P\"\naccounts = {}",
                "identity_center.assignments[0].accounts",
                "all = true",
            ),
        ];
        for (extra, key, value) in cases {
            let text =
                format!("account_alias = \"{{name}}\"\n[saml]\nmetadata_file = \"x\"\n{extra}\n");
            let msg = parse(&text).unwrap_err().to_string();
            assert!(msg.contains(&format!("`{key}`")), "{key}: {msg}");
            assert!(msg.contains(value), "{key}: {msg}");
        }
    }

    #[test]
    fn retry_bounds_are_enforced() {
        for (line, key) in [
            ("max_deliveries = 0", "retry.max_deliveries"),
            (
                "requeue_base_delay_seconds = 0",
                "retry.requeue_base_delay_seconds",
            ),
            ("assume_attempts = 50", "retry.assume_attempts"),
            (
                "assume_base_delay_ms = 600000",
                "retry.assume_base_delay_ms",
            ),
            (
                "assume_attempts = 10\nassume_base_delay_ms = 1000",
                "retry.assume_attempts",
            ),
            (
                "requeue_max_delay_seconds = 50000",
                "retry.requeue_max_delay_seconds",
            ),
        ] {
            let text = format!("[saml]\nmetadata_file = \"x\"\n[retry]\n{line}\n");
            let msg = parse(&text).unwrap_err().to_string();
            assert!(msg.contains(&format!("`{key}`")), "{line}: {msg}");
        }
    }

    #[test]
    fn policy_arns_may_name_the_account_being_onboarded() {
        let text = "[saml]\nmetadata_file = \"x\"\n[[roles]]\nname = \"A\"\npermissions_boundary = \"arn:aws:iam::{id}:policy/Boundary\"\n";
        assert!(parse(text).is_ok());
        assert_eq!(
            render_account("arn:aws:iam::{id}:policy/Boundary", "222222222222"),
            "arn:aws:iam::222222222222:policy/Boundary"
        );
        let bad = text.replace("{id}", "{account}");
        assert!(
            parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("permissions_boundary")
        );
    }

    #[test]
    fn alias_templates_must_render_a_valid_alias() {
        let text = "account_alias = \"Acme_{name}\"\n[saml]\nmetadata_file = \"x\"\n";
        let msg = parse(text).unwrap_err().to_string();
        assert!(
            msg.contains("`account_alias`") && msg.contains("Acme_"),
            "{msg}"
        );
    }

    #[test]
    fn alias_templates_accept_only_known_placeholders() {
        let text = "account_alias = \"acme-{nme}\"\n[saml]\nmetadata_file = \"x\"\n";
        let msg = parse(text).unwrap_err().to_string();
        assert!(
            msg.contains("account_alias") && msg.contains("{nme}"),
            "{msg}"
        );
    }

    #[test]
    fn metadata_urls_must_be_https_except_on_loopback() {
        let with = |url: &str| parse(&format!("[saml]\nmetadata_url = \"{url}\"\n"));
        assert!(with("https://acme.okta.com/app/exk1/sso/saml/metadata").is_ok());
        assert!(with("http://127.0.0.1:8080/metadata").is_ok());
        assert!(with("http://localhost/metadata").is_ok());
        for bad in [
            "http://acme.okta.com/metadata",
            "http://127.0.0.1.evil.com/m",
            "ftp://x/y",
            "okta.xml",
        ] {
            let msg = with(bad).unwrap_err().to_string();
            assert!(
                msg.contains("`saml.metadata_url`") && msg.contains("https"),
                "{bad}: {msg}"
            );
        }
    }

    #[test]
    fn metadata_needs_exactly_one_source() {
        assert!(parse("[saml]\n").unwrap_err().to_string().contains("saml"));
        let both = "[saml]\nmetadata_file = \"x\"\nmetadata_url = \"https://x\"\n";
        assert!(parse(both).unwrap_err().to_string().contains("not both"));
    }

    #[test]
    fn the_documented_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/config/autofed.toml");
        let c = Config::load(&path).unwrap();
        assert!(!c.roles.is_empty());
        assert!(!c.identity_center.assignments.is_empty());
    }
}
