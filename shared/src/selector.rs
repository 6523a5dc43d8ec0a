//! Which accounts a role or an assignment rule applies to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    config::ConfigError,
    ids::{self, AccountId, quote},
};

/// Selects accounts by id, by organizational unit and by tag.
///
/// `all = true` selects every account. Otherwise an account is selected when it meets every
/// criterion that is given: its id is one of `ids`; one of `ous` is its parent *or any OU above
/// it* (an OU selector includes nested OUs); and it carries every tag in `tags` (the value `*`
/// matches any value). A selector with no criterion is an error, so that a rule cannot match
/// every account by accident.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Select every account.
    #[serde(default)]
    pub all: bool,
    /// Account ids.
    #[serde(default)]
    pub ids: Vec<AccountId>,
    /// OU (or root) ids; nested OUs are included.
    #[serde(default)]
    pub ous: Vec<String>,
    /// Account tags that must all be present; `*` matches any value.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a selector is matched against.
pub trait Selectable {
    /// The account id.
    fn id(&self) -> &AccountId;
    /// The account's ancestors, from its parent up to the root.
    fn ancestors(&self) -> &[String];
    /// The account's tags.
    fn tags(&self) -> &BTreeMap<String, String>;
}

impl Selector {
    /// Whether the account is selected.
    pub fn matches(&self, account: &impl Selectable) -> bool {
        if self.all {
            return true;
        }
        let by_id = self.ids.is_empty() || self.ids.contains(account.id());
        let by_ou = self.ous.is_empty() || account.ancestors().iter().any(|p| self.ous.contains(p));
        let by_tag = self.tags.iter().all(|(k, want)| {
            account
                .tags()
                .get(k)
                .is_some_and(|have| want == "*" || have == want)
        });
        by_id && by_ou && by_tag
    }

    /// Checks the selector; `key` is its place in the configuration.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let empty = self.ids.is_empty() && self.ous.is_empty() && self.tags.is_empty();
        if self.all && !empty {
            return Err(ConfigError::Invalid {
                key: format!("{key}.all"),
                value: "true".into(),
                reason: "`all = true` cannot be combined with ids, ous or tags".into(),
            });
        }
        if !self.all && empty {
            return Err(ConfigError::Invalid {
                key: key.into(),
                value: "{}".into(),
                reason: "the selector matches nothing; give ids, ous or tags, or all = true".into(),
            });
        }
        if let Some((i, ou)) = self
            .ous
            .iter()
            .enumerate()
            .find(|(_, o)| !ids::is_parent_id(o))
        {
            return Err(ConfigError::Invalid {
                key: format!("{key}.ous[{i}]"),
                value: quote(ou),
                reason: "not an OU id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)".into(),
            });
        }
        if let Some(k) = self.tags.keys().find(|k| k.is_empty() || k.len() > 128) {
            return Err(ConfigError::Invalid {
                key: format!("{key}.tags"),
                value: quote(k),
                reason: "a tag key is 1 to 128 characters".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Account;

    fn acct() -> Account {
        Account {
            id: AccountId::parse("222222222222").unwrap(),
            name: "payments-prod".into(),
            status: "ACTIVE".into(),
            ancestors: vec![
                "ou-ab12-prod0001".into(),
                "ou-ab12-work0001".into(),
                "r-ab12".into(),
            ],
            tags: [("env".to_string(), "prod".to_string())].into(),
        }
    }

    #[test]
    fn an_ou_selector_includes_nested_ous() {
        let sel = Selector {
            ous: vec!["ou-ab12-work0001".into()],
            ..Default::default()
        };
        assert!(sel.matches(&acct()));
    }

    #[test]
    fn all_given_criteria_must_hold() {
        let sel = Selector {
            ous: vec!["ou-ab12-work0001".into()],
            tags: [("env".to_string(), "dev".to_string())].into(),
            ..Default::default()
        };
        assert!(!sel.matches(&acct()));
        let any = Selector {
            tags: [("env".to_string(), "*".to_string())].into(),
            ..Default::default()
        };
        assert!(any.matches(&acct()));
    }

    #[test]
    fn ids_select_exact_accounts() {
        let other = Selector {
            ids: vec![AccountId::parse("333333333333").unwrap()],
            ..Default::default()
        };
        assert!(!other.matches(&acct()));
    }
}
