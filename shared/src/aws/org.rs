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

/// Describes a member account: name, status, its OU ancestry up to the root, and its tags.
/// An account that is not in the organization is [`Error::UnknownAccount`]. The parents of
/// OUs come from `ous` once known.
pub async fn describe_account(org: &Client, ous: &OuParents, id: &AccountId) -> Result<Account> {
    let described = match org.describe_account().account_id(id.as_str()).send().await {
        Ok(out) => out.account,
        Err(e) if e.as_service_error().is_some_and(not_found) => {
            return Err(Error::UnknownAccount {
                account_id: id.to_string(),
            });
        }
        Err(e) => return Err(Error::aws("organizations", "DescribeAccount", e)),
    };
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
        id: id.clone(),
        name: described
            .as_ref()
            .and_then(|a| a.name.clone())
            .unwrap_or_default(),
        status: described
            .and_then(|a| a.status)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "ACTIVE".into()),
        ancestors,
        tags,
    })
}
