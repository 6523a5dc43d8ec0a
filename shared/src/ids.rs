//! Validated identifiers, so that a malformed id is rejected where it enters (an event or the
//! configuration) and never reaches an AWS call.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// Parses an account id: exactly 12 ASCII digits.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_string()))
        } else {
            Err(format!("expected a 12-digit account id, got {}", quote(s)))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Quotes a value for an error message, cut to a readable length so that a hostile input
/// cannot flood a log line.
pub fn quote(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}… ({} characters)", s.chars().count())
    } else {
        format!("{s:?}")
    }
}

/// Whether `s` is an Organizations OU id (`ou-xxxx-xxxxxxxx`) or root id (`r-xxxx`).
pub fn is_parent_id(s: &str) -> bool {
    let lower_alnum = |p: &str, min: usize, max: usize| {
        (min..=max).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    if let Some(rest) = s.strip_prefix("ou-") {
        match rest.split_once('-') {
            Some((a, b)) => lower_alnum(a, 4, 32) && lower_alnum(b, 8, 32),
            None => false,
        }
    } else if let Some(rest) = s.strip_prefix("r-") {
        lower_alnum(rest, 4, 32)
    } else {
        false
    }
}

/// Whether `s` is a valid IAM role name (`[\w+=,.@-]{1,64}`).
pub fn is_role_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(is_iam_name_byte)
}

/// Whether `s` is a valid IAM SAML provider name (`[\w._-]{1,128}`).
pub fn is_saml_provider_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn is_iam_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b)
}

/// Whether `s` is a valid IAM path: `/` alone, or `/`-delimited segments starting and ending
/// with `/`, at most 512 characters of printable ASCII.
pub fn is_iam_path(s: &str) -> bool {
    s.len() <= 512
        && s.starts_with('/')
        && s.ends_with('/')
        && !s.contains("//")
        && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Whether `s` is an IAM managed policy ARN in the `aws` partition family, owned by AWS or by
/// an account.
pub fn is_policy_arn(s: &str) -> bool {
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(owner), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    is_partition(partition)
        && (owner == "aws" || AccountId::parse(owner).is_ok())
        && resource
            .strip_prefix("policy/")
            .is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
}

/// Whether `s` is one of AWS's partitions.
pub fn is_partition(s: &str) -> bool {
    matches!(
        s,
        "aws"
            | "aws-cn"
            | "aws-us-gov"
            | "aws-iso"
            | "aws-iso-b"
            | "aws-iso-e"
            | "aws-iso-f"
            | "aws-eusc"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_exactly_twelve_digits() {
        assert!(AccountId::parse("123456789012").is_ok());
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "",
            "１２３４５６７８９０１２",
        ] {
            assert!(AccountId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parent_ids_follow_organizations_patterns() {
        assert!(is_parent_id("ou-ab12-cd34ef56"));
        assert!(is_parent_id("r-ab12"));
        assert!(!is_parent_id("ou-AB12-cd34ef56"));
        assert!(!is_parent_id("ou-ab12"));
        assert!(!is_parent_id("Workloads"));
    }

    #[test]
    fn iam_paths_and_names() {
        assert!(is_iam_path("/"));
        assert!(is_iam_path("/federated/okta/"));
        assert!(!is_iam_path("federated/"));
        assert!(!is_iam_path("/a//b/"));
        assert!(is_role_name("Okta-Admin_1.x@y"));
        assert!(!is_role_name("has space"));
        assert!(!is_role_name(&"x".repeat(65)));
    }

    #[test]
    fn policy_arns_name_an_owner_and_a_policy() {
        assert!(is_policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess"));
        assert!(is_policy_arn(
            "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
        ));
        assert!(is_policy_arn(
            "arn:aws-us-gov:iam::123456789012:policy/Boundary"
        ));
        assert!(!is_policy_arn("arn:aws:iam::aws:role/ReadOnlyAccess"));
        assert!(!is_policy_arn("arn:evil:iam::aws:policy/ReadOnlyAccess"));
        assert!(!is_policy_arn("ReadOnlyAccess"));
    }
}
