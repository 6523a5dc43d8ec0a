//! How an account's SAML provider and roles are deployed: by IAM calls, or as one
//! CloudFormation stack per account (seed 002's way).

use serde::Deserialize;

use super::{ConfigError, invalid};

/// The `[deploy]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// `direct` (IAM calls, the default) or `stack`.
    #[serde(default)]
    pub mode: DeployMode,
    /// The stack's name in each account (`stack` mode). It lives in the region the account
    /// onboarder runs in; IAM resources are global, so one stack per account is enough.
    #[serde(default = "default_stack_name")]
    pub stack_name: String,
    /// Whether the stack is deleted when its account is closed or leaves the organization.
    /// Off: the deletion is planned (reported), not applied.
    #[serde(default)]
    pub deprovision: bool,
    /// How long one change set's execution (or a stack's deletion) is waited for, in seconds.
    /// IAM roles take seconds; past this the message goes back to the queue, and the next
    /// delivery finds the stack still in progress and waits again.
    #[serde(default = "default_stack_timeout")]
    pub stack_timeout_seconds: u64,
}

/// Where the provider and roles are deployed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployMode {
    /// IAM calls, one per change.
    #[default]
    Direct,
    /// One CloudFormation stack per account, changed through change sets.
    Stack,
}

fn default_stack_name() -> String {
    "autofed-federation".into()
}

fn default_stack_timeout() -> u64 {
    600
}

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            mode: DeployMode::default(),
            stack_name: default_stack_name(),
            deprovision: false,
            stack_timeout_seconds: default_stack_timeout(),
        }
    }
}

impl DeployConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        // CloudFormation: a letter, then letters, digits and hyphens, at most 128.
        let name = &self.stack_name;
        let ok = name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(invalid(
                "deploy.stack_name",
                name,
                "not a valid stack name (a letter, then letters, digits and `-`; at most 128)",
            ));
        }
        if !(30..=840).contains(&self.stack_timeout_seconds) {
            return Err(invalid(
                "deploy.stack_timeout_seconds",
                &self.stack_timeout_seconds.to_string(),
                "must be 30 to 840 (within the function's 15 minutes)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DeployConfig, ConfigError> {
        let c: DeployConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            key: ".".into(),
            message: e.to_string(),
        })?;
        c.validate().map(|()| c)
    }

    #[test]
    fn defaults_are_direct_with_a_named_stack() {
        let c = parse("").unwrap();
        assert_eq!(c.mode, DeployMode::Direct);
        assert_eq!(c.stack_name, "autofed-federation");
        assert!(!c.deprovision);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("stack_name = \"1abc\"", "deploy.stack_name"),
            ("stack_name = \"a_b\"", "deploy.stack_name"),
            ("stack_timeout_seconds = 5", "deploy.stack_timeout_seconds"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        let e = parse("mode = \"stacks\"").unwrap_err().to_string();
        assert!(e.contains("direct") && e.contains("stack"), "{e}");
        assert!(parse("stack = 1").is_err());
    }
}
