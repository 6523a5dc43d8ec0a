//! What autofed works on: an account of the organization, as Organizations describes it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{ids::AccountId, selector::Selectable};

/// A member account, with everything selectors read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The account id.
    pub id: AccountId,
    /// The account name.
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`.
    pub status: String,
    /// Its parents, nearest first: the OU that holds it, the OUs above, then the root.
    pub ancestors: Vec<String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

impl Account {
    /// Whether autofed may work on the account (suspended and closing accounts are left alone).
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

impl Selectable for Account {
    fn id(&self) -> &AccountId {
        &self.id
    }
    fn ancestors(&self) -> &[String] {
        &self.ancestors
    }
    fn tags(&self) -> &BTreeMap<String, String> {
        &self.tags
    }
}
