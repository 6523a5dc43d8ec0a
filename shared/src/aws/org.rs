//! Organizations: who an account is, where it sits and how it is tagged.

use std::{collections::HashMap, sync::Mutex};

use aws_sdk_organizations::{
    Client, operation::describe_account::DescribeAccountError, types::ParentType,
};

use crate::{
    error::{Error, Result},
    ids::AccountId,
    target::Account,
};

fn not_found(e: &DescribeAccountError) -> bool {
    e.is_account_not_found_exception()
}

/// The parent of each organizational unit met so far, and whether that parent is the root,
/// kept for a function instance's life. An account's parent is read on every delivery
/// (accounts move), an OU's only once: Organizations has no operation that moves an OU
/// (`MoveAccount` moves accounts; an OU "moved" by CloudFormation is a new OU with a new id),
/// and OU ids are not reused, so an OU's parent never changes.
#[derive(Default)]
pub struct OuParents(Mutex<HashMap<String, (String, bool)>>);

impl OuParents {
    fn get(&self, ou: &str) -> Option<(String, bool)> {
        self.lock().get(ou).cloned()
    }

    fn insert(&self, ou: String, parent: (String, bool)) {
        self.lock().insert(ou, parent);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, bool)>> {
        // A panic while holding the lock cannot leave the map inconsistent (one insert).
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An account as `DescribeAccount` gives it, before its place and tags are read.
#[derive(Debug, Clone)]
pub struct Described {
    /// The account id.
    pub id: AccountId,
    /// The account name.
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE` (its `State`, else its `Status`).
    pub status: String,
    /// The organization's management account, from the account's ARN.
    pub management_account: String,
}

impl Described {
    /// Whether this is the organization's management account, where autofed runs: it has no
    /// execution role to assume and is not onboarded.
    pub fn is_management(&self) -> bool {
        self.id.as_str() == self.management_account
    }

    /// Whether autofed may work on the account (suspended and closing accounts are left alone).
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// The management account named by a member account's ARN,
/// `arn:<partition>:organizations::<management account>:account/<org id>/<account id>`: every
/// account's ARN is in the management account's namespace, so `DescribeAccount` and
/// `ListAccounts` name it without a `GetCallerIdentity` or a `DescribeOrganization`.
pub fn management_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    match (
        parts.next(),
        parts.nth(1),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("arn"), Some("organizations"), Some(""), Some(owner), Some(rest))
            if rest.starts_with("account/") && AccountId::parse(owner).is_ok() =>
        {
            Some(owner)
        }
        _ => None,
    }
}

/// An account's state as `DescribeAccount` and `ListAccounts` give it: its `State`, which
/// replaces the deprecated `Status` (and adds `PENDING_ACTIVATION`, `CLOSED`), else its
/// `Status`, else `ACTIVE`.
pub fn state_of(account: &aws_sdk_organizations::types::Account) -> String {
    account
        .state
        .as_ref()
        .map(|s| s.as_str().to_string())
        .or_else(|| account.status.as_ref().map(|s| s.as_str().to_string()))
        .unwrap_or_else(|| "ACTIVE".into())
}

/// Describes an account of the organization. One that is not in the organization is
/// [`Error::UnknownAccount`].
pub async fn describe_account(org: &Client, id: &AccountId) -> Result<Described> {
    let described = match org.describe_account().account_id(id.as_str()).send().await {
        Ok(out) => out.account,
        Err(e) if e.as_service_error().is_some_and(not_found) => {
            return Err(Error::UnknownAccount {
                account_id: id.to_string(),
            });
        }
        Err(e) => return Err(Error::aws("organizations", "DescribeAccount", e)),
    };
    let arn = described
        .as_ref()
        .and_then(|a| a.arn.clone())
        .unwrap_or_default();
    let Some(management) = management_account(&arn) else {
        return Err(Error::Aws {
            service: "organizations",
            operation: "DescribeAccount",
            code: "UnexpectedArn".into(),
            message: format!("account {id} has an ARN that names no management account: {arn:?}"),
            retryable: false,
        });
    };
    Ok(Described {
        id: id.clone(),
        name: described
            .as_ref()
            .and_then(|a| a.name.clone())
            .unwrap_or_default(),
        status: described.as_ref().map_or_else(|| "ACTIVE".into(), state_of),
        management_account: management.to_string(),
    })
}

/// Where a described account sits, its OU ancestry up to the root, and its tags. The parents
/// of OUs come from `ous` once known.
pub async fn locate(org: &Client, ous: &OuParents, described: Described) -> Result<Account> {
    let id = &described.id;
    let mut ancestors = Vec::new();
    let mut child = id.to_string();
    // NB: ListParents returns exactly one parent for an account or OU
    // (https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListParents.html);
    // walking it up gives nested OUs to selectors. Depth is at most five OUs plus the root.
    for _ in 0..8 {
        let is_ou = child != id.as_str();
        let known = if is_ou { ous.get(&child) } else { None };
        let (pid, is_root) = match known {
            Some(parent) => parent,
            None => {
                let out = org
                    .list_parents()
                    .child_id(&child)
                    .send()
                    .await
                    .map_err(|e| Error::aws("organizations", "ListParents", e))?;
                let Some(parent) = out.parents.unwrap_or_default().into_iter().next() else {
                    break;
                };
                let found = (
                    parent.id.unwrap_or_default(),
                    parent.r#type == Some(ParentType::Root),
                );
                if is_ou {
                    ous.insert(child.clone(), found.clone());
                }
                found
            }
        };
        ancestors.push(pid.clone());
        if is_root {
            break;
        }
        child = pid;
    }
    let tags = org
        .list_tags_for_resource()
        .resource_id(id.as_str())
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::aws("organizations", "ListTagsForResource", e))?
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    Ok(Account {
        name: described.name,
        status: described.status,
        id: described.id,
        ancestors,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::management_account;

    #[test]
    fn the_management_account_is_read_from_a_member_accounts_arn() {
        let arn = "arn:aws:organizations::111111111111:account/o-exampleorgid/222222222222";
        assert_eq!(management_account(arn), Some("111111111111"));
        let gov = "arn:aws-us-gov:organizations::111111111111:account/o-x/111111111111";
        assert_eq!(management_account(gov), Some("111111111111"));
        for bad in [
            "",
            "arn:aws:organizations::111111111111:ou/o-x/ou-ab12-cdef3456",
            "arn:aws:iam::111111111111:account/o-x/222222222222",
            "arn:aws:organizations::11111111111:account/o-x/222222222222",
            "arn:aws:organizations:us-east-1:111111111111:account/o-x/222222222222",
        ] {
            assert_eq!(management_account(bad), None, "{bad}");
        }
    }
}
