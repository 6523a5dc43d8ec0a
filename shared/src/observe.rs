//! What exists in an account now. Reads only.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::{
    aws::{iam, sso},
    desired::{self, Desired},
    error::Result,
    okta::observe::OktaObserved,
};

/// The state of everything autofed maintains in one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The account's aliases (IAM allows one).
    pub aliases: Vec<String>,
    /// The SAML provider of the configured name, if it exists.
    pub provider: Option<ObservedProvider>,
    /// The configured roles that exist, by name.
    pub roles: BTreeMap<String, ObservedRole>,
    /// One entry per desired assignment, in the same order.
    pub assignments: Vec<ObservedAssignment>,
    /// One entry per pair that must not be assigned ([`Desired::unassigned`]), in order.
    pub unassigned: Vec<ObservedAssignment>,
    /// What autofed keeps in Okta, when configured.
    pub okta: Option<OktaObserved>,
    /// The account's stack, in `stack` deploy mode.
    pub stack: Option<crate::stack::StackObserved>,
}

/// A SAML provider as IAM describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedProvider {
    /// Its metadata document.
    pub metadata: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// A role as IAM describes it. Attachments and the inline policy are read only for roles
/// autofed manages (or may adopt); for others they are empty.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRole {
    /// Path.
    pub path: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Trust policy, decoded.
    pub trust: Option<Value>,
    /// Description.
    pub description: Option<String>,
    /// Maximum session duration.
    pub max_session_duration: i32,
    /// Permissions boundary ARN.
    pub permissions_boundary: Option<String>,
    /// Attached managed policy ARNs.
    pub attached: BTreeSet<String>,
    /// The `autofed` inline policy, decoded.
    pub inline_policy: Option<Value>,
}

/// An Identity Center assignment, resolved from names to ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssignmentTarget {
    /// The account.
    pub account_id: String,
    /// The Identity Center instance.
    pub instance_arn: String,
    /// The permission set.
    pub permission_set_arn: String,
    /// `GROUP` or `USER`.
    pub principal_type: String,
    /// The identity store id of the principal.
    pub principal_id: String,
}

/// A desired assignment as found.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservedAssignment {
    /// The principal or permission set does not exist.
    Unresolved(String),
    /// An Okta group not (yet) pushed to the identity store.
    NotPushed {
        /// The assignment, with no principal id.
        target: AssignmentTarget,
    },
    /// Resolved; `exists` says whether the assignment is already there.
    Resolved {
        /// The ids.
        target: AssignmentTarget,
        /// Whether it exists.
        exists: bool,
    },
}

/// Reads the current state of everything `desired` names. The provider and Okta are read
/// before (the provider's existence decides how far Okta's app is looked for).
#[tracing::instrument(skip_all, fields(account_id = %desired.account_id))]
pub async fn observe(
    iam_client: &aws_sdk_iam::Client,
    identity_center: &sso::IdentityCenter<'_>,
    desired: &Desired,
    provider: Option<ObservedProvider>,
    okta: Option<OktaObserved>,
    adopt: bool,
) -> Result<Observed> {
    let aliases = if desired.alias.is_some() {
        iam::aliases(iam_client).await?
    } else {
        Vec::new()
    };
    let mut roles = BTreeMap::new();
    for role in &desired.roles {
        if let Some(mut seen) = iam::role(iam_client, &role.name).await? {
            if desired::is_managed(&seen.tags) || adopt {
                iam::role_policies(iam_client, &role.name, &mut seen).await?;
            }
            roles.insert(role.name.clone(), seen);
        }
    }
    let assignments = identity_center
        .observe(desired.account_id.as_str(), &desired.assignments)
        .await?;
    let unassigned = identity_center
        .observe(desired.account_id.as_str(), &desired.unassigned)
        .await?;
    Ok(Observed {
        aliases,
        provider,
        roles,
        assignments,
        unassigned,
        okta,
        stack: None,
    })
}
