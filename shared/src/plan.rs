//! The plan: desired state compared with observed state, as an ordered list of actions. Pure,
//! deterministic, and free of I/O, so it can be tested exhaustively and shown before anything
//! is written.

use std::{collections::BTreeMap, sync::Arc};

use serde::Serialize;
use serde_json::Value;

use crate::{
    desired::{self, AssignmentSpec, Desired, DesiredRole},
    observe::{AssignmentTarget, Observed, ObservedAssignment, ObservedRole},
    okta::{self, plan::OktaOp},
    policy,
};

/// What an action does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Creates something that does not exist.
    Create,
    /// Changes something autofed owns (or adopts) to match the configuration.
    Update,
    /// Removes something autofed owns.
    Delete,
    /// Something autofed does not own stands in the way; it is left alone.
    Conflict,
    /// A person must act; autofed cannot.
    Manual,
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ActionKind::Create => "create",
            ActionKind::Update => "update",
            ActionKind::Delete => "delete",
            ActionKind::Conflict => "conflict",
            ActionKind::Manual => "manual",
        })
    }
}

/// One write call, with everything it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `iam:CreateAccountAlias`.
    CreateAccountAlias {
        /// The alias.
        alias: String,
    },
    /// `iam:CreateSAMLProvider`, tagged as autofed's.
    CreateSamlProvider {
        /// Provider name.
        name: String,
        /// The ARN it will have (to re-read it after "already exists").
        arn: String,
        /// Metadata document.
        metadata: Arc<str>,
    },
    /// `iam:UpdateSAMLProvider`.
    UpdateSamlProvider {
        /// Provider ARN.
        arn: String,
        /// Metadata document.
        metadata: Arc<str>,
    },
    /// `iam:TagSAMLProvider` with the managed tag (adoption).
    TagSamlProvider {
        /// Provider ARN.
        arn: String,
    },
    /// `iam:CreateRole`, tagged as autofed's.
    CreateRole {
        /// The role.
        role: Box<DesiredRole>,
    },
    /// `iam:TagRole` with the managed tag (adoption).
    TagRole {
        /// Role name.
        name: String,
    },
    /// `iam:UpdateAssumeRolePolicy`.
    UpdateAssumeRolePolicy {
        /// Role name.
        name: String,
        /// Trust policy.
        document: Value,
    },
    /// `iam:UpdateRole`.
    UpdateRole {
        /// Role name.
        name: String,
        /// Description.
        description: Option<String>,
        /// Maximum session duration.
        max_session_duration: i32,
    },
    /// `iam:PutRolePermissionsBoundary`.
    PutRolePermissionsBoundary {
        /// Role name.
        name: String,
        /// Boundary policy ARN.
        arn: String,
    },
    /// `iam:DeleteRolePermissionsBoundary`.
    DeleteRolePermissionsBoundary {
        /// Role name.
        name: String,
    },
    /// `iam:AttachRolePolicy`.
    AttachRolePolicy {
        /// Role name.
        name: String,
        /// Policy ARN.
        arn: String,
    },
    /// `iam:DetachRolePolicy`.
    DetachRolePolicy {
        /// Role name.
        name: String,
        /// Policy ARN.
        arn: String,
    },
    /// `iam:PutRolePolicy` of the `autofed` inline policy.
    PutRolePolicy {
        /// Role name.
        name: String,
        /// Policy document.
        document: Value,
    },
    /// `iam:DeleteRolePolicy` of the `autofed` inline policy.
    DeleteRolePolicy {
        /// Role name.
        name: String,
    },
    /// `sso:CreateAccountAssignment`, polled to completion.
    CreateAccountAssignment {
        /// What to assign.
        target: AssignmentTarget,
    },
    /// `sso:DeleteAccountAssignment`, polled to completion.
    DeleteAccountAssignment {
        /// What to unassign.
        target: AssignmentTarget,
    },
    /// The assignment of a group Okta pushes to Identity Center: the group is looked up when
    /// applied (the push may have happened since the plan), and its absence means "not ready,
    /// retry later", not failure.
    AssignPushedGroup {
        /// The group's display name.
        group: String,
        /// The assignment, with no principal id yet.
        target: AssignmentTarget,
    },
    /// A write in Okta.
    Okta(OktaOp),
    /// A write in an EKS cluster (EKS's API or the cluster's Kubernetes API).
    Cluster(crate::cluster::plan::ClusterOp),
    /// A write on the account's CloudFormation stack (`stack` deploy mode).
    Stack(crate::stack::StackOp),
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// The resource it concerns (`role/Admin`); later actions on a resource whose action failed
    /// are skipped.
    pub resource: String,
    /// What it does.
    pub kind: ActionKind,
    /// One human-readable line.
    pub summary: String,
    /// The write it makes; none for conflicts and manual steps.
    pub op: Option<Op>,
}

impl Action {
    pub(crate) fn new(resource: &str, kind: ActionKind, summary: String, op: Option<Op>) -> Self {
        Self {
            resource: resource.to_string(),
            kind,
            summary,
            op,
        }
    }
}

/// Compares desired with observed state. `adopt` lets autofed take over same-named resources
/// it did not create (shown as `update` actions that tag them).
pub fn plan(desired: &Desired, observed: &Observed, adopt: bool) -> Vec<Action> {
    let mut actions = Vec::new();
    let okta = desired.okta.as_ref().zip(observed.okta.as_ref());
    if let Some((d, o)) = okta {
        actions.extend(okta::plan::plan_app(d, o));
    }
    plan_alias(desired, observed, &mut actions);
    if let Some(seen) = &observed.stack {
        actions.extend(crate::stack::plan(desired, observed, seen, adopt));
    } else {
        plan_direct(desired, observed, adopt, &mut actions);
    }
    if let Some((d, o)) = okta {
        actions.extend(okta::plan::plan_access(d, o, adopt));
        actions.extend(okta::plan::provisioning_step(d, o));
        actions.extend(okta::plan::plan_pushes(
            d,
            o,
            desired.okta_push_app.as_deref(),
            desired.create_push_mappings,
        ));
    }
    for (spec, seen) in desired.assignments.iter().zip(&observed.assignments) {
        let resource = format!("assignment/{}/{}", spec.principal, spec.permission_set);
        match seen {
            ObservedAssignment::Unresolved(reason) => actions.push(Action::new(
                &resource,
                ActionKind::Manual,
                format!(
                    "assignment of {} to {} in {} cannot be made: {reason}",
                    spec.permission_set, spec.principal, desired.account_id
                ),
                None,
            )),
            ObservedAssignment::NotPushed { target } => actions.push(Action::new(
                &resource,
                ActionKind::Create,
                format!(
                    "assign permission set {} to {} in account {} once Okta has pushed the group",
                    spec.permission_set, spec.principal, desired.account_id
                ),
                Some(Op::AssignPushedGroup {
                    group: spec.principal.name().to_string(),
                    target: target.clone(),
                }),
            )),
            ObservedAssignment::Resolved { exists: true, .. } => {}
            ObservedAssignment::Resolved {
                target,
                exists: false,
            } => actions.push(Action::new(
                &resource,
                ActionKind::Create,
                format!(
                    "assign permission set {} to {} in account {}",
                    spec.permission_set, spec.principal, desired.account_id
                ),
                Some(Op::CreateAccountAssignment {
                    target: target.clone(),
                }),
            )),
        }
    }
    actions.extend(plan_unassignments(
        &desired.unassigned,
        &observed.unassigned,
        desired.account_id.as_str(),
        "no assignment rule with this pair selects the account now",
    ));
    actions
}

/// The provider and roles in `direct` mode: one IAM call per change.
fn plan_direct(desired: &Desired, observed: &Observed, adopt: bool, actions: &mut Vec<Action>) {
    let provider_ok = plan_provider(desired, observed, adopt, actions);
    for role in &desired.roles {
        let resource = format!("role/{}", role.name);
        if !provider_ok {
            actions.push(Action::new(
                &resource,
                ActionKind::Conflict,
                format!(
                    "role {} not planned: it would trust SAML provider {}, which autofed does not manage",
                    role.name, desired.provider.name
                ),
                None,
            ));
            continue;
        }
        match observed.roles.get(&role.name) {
            None => plan_new_role(role, &resource, actions),
            Some(seen) => plan_existing_role(role, seen, &resource, adopt, actions),
        }
    }
}

/// Removes the assignments of `pairs` that exist (`seen`, in the same order), for `why`.
pub fn plan_unassignments(
    pairs: &[AssignmentSpec],
    seen: &[ObservedAssignment],
    account_id: &str,
    why: &str,
) -> Vec<Action> {
    pairs
        .iter()
        .zip(seen)
        .filter_map(|(spec, seen)| match seen {
            ObservedAssignment::Resolved {
                target,
                exists: true,
            } => Some(Action::new(
                &format!("assignment/{}/{}", spec.principal, spec.permission_set),
                ActionKind::Delete,
                format!(
                    "remove permission set {} from {} in account {account_id}: {why}",
                    spec.permission_set, spec.principal
                ),
                Some(Op::DeleteAccountAssignment {
                    target: target.clone(),
                }),
            )),
            _ => None,
        })
        .collect()
}

fn plan_alias(desired: &Desired, observed: &Observed, actions: &mut Vec<Action>) {
    match &desired.alias {
        None => {}
        Some(Err(problem)) => actions.push(Action::new(
            "alias",
            ActionKind::Manual,
            format!("no account alias set: {problem}"),
            None,
        )),
        Some(Ok(alias)) if observed.aliases.contains(alias) => {}
        Some(Ok(alias)) => match observed.aliases.first() {
            None => actions.push(Action::new(
                "alias",
                ActionKind::Create,
                format!("set account alias {alias}"),
                Some(Op::CreateAccountAlias {
                    alias: alias.clone(),
                }),
            )),
            Some(other) => actions.push(Action::new(
                "alias",
                ActionKind::Conflict,
                format!("account alias is {other}, configured {alias}; left alone"),
                None,
            )),
        },
    }
}

/// Plans the provider; returns whether roles may trust it.
fn plan_provider(
    desired: &Desired,
    observed: &Observed,
    adopt: bool,
    actions: &mut Vec<Action>,
) -> bool {
    let p = &desired.provider;
    let resource = format!("saml-provider/{}", p.name);
    let Some(seen) = &observed.provider else {
        actions.push(Action::new(
            &resource,
            ActionKind::Create,
            format!("create SAML provider {}", p.name),
            Some(Op::CreateSamlProvider {
                name: p.name.clone(),
                arn: p.arn.clone(),
                metadata: p.metadata.clone(),
            }),
        ));
        return true;
    };
    if !desired::is_managed(&seen.tags) {
        if !adopt {
            actions.push(Action::new(
                &resource,
                ActionKind::Conflict,
                format!(
                    "SAML provider {} exists and is not managed by autofed; left alone",
                    p.name
                ),
                None,
            ));
            return false;
        }
        actions.push(Action::new(
            &resource,
            ActionKind::Update,
            format!(
                "adopt SAML provider {} (tag it as managed by autofed)",
                p.name
            ),
            Some(Op::TagSamlProvider { arn: p.arn.clone() }),
        ));
    }
    if seen.metadata.trim() != p.metadata.trim() {
        actions.push(Action::new(
            &resource,
            ActionKind::Update,
            format!("update SAML provider {} metadata", p.name),
            Some(Op::UpdateSamlProvider {
                arn: p.arn.clone(),
                metadata: p.metadata.clone(),
            }),
        ));
    }
    true
}

fn plan_new_role(role: &DesiredRole, resource: &str, actions: &mut Vec<Action>) {
    actions.push(Action::new(
        resource,
        ActionKind::Create,
        format!("create role {}{}", role.path, role.name),
        Some(Op::CreateRole {
            role: Box::new(role.clone()),
        }),
    ));
    for arn in &role.managed_policy_arns {
        actions.push(attach(role, resource, arn, ActionKind::Create));
    }
    if let Some(doc) = &role.inline_policy {
        actions.push(Action::new(
            resource,
            ActionKind::Create,
            format!(
                "put inline policy {} on role {}",
                desired::INLINE_POLICY_NAME,
                role.name
            ),
            Some(Op::PutRolePolicy {
                name: role.name.clone(),
                document: doc.clone(),
            }),
        ));
    }
}

fn attach(role: &DesiredRole, resource: &str, arn: &str, kind: ActionKind) -> Action {
    Action::new(
        resource,
        kind,
        format!("attach {arn} to role {}", role.name),
        Some(Op::AttachRolePolicy {
            name: role.name.clone(),
            arn: arn.to_string(),
        }),
    )
}

fn plan_existing_role(
    role: &DesiredRole,
    seen: &ObservedRole,
    resource: &str,
    adopt: bool,
    actions: &mut Vec<Action>,
) {
    let update =
        |summary: String, op: Op| Action::new(resource, ActionKind::Update, summary, Some(op));
    let managed = desired::is_managed(&seen.tags);
    if !managed && !adopt {
        actions.push(Action::new(
            resource,
            ActionKind::Conflict,
            format!(
                "role {} exists and is not managed by autofed; left alone",
                role.name
            ),
            None,
        ));
        return;
    }
    if seen.path != role.path {
        actions.push(Action::new(
            resource,
            ActionKind::Conflict,
            format!(
                "role {} exists at path {}, configured {}; IAM cannot move a role, left alone",
                role.name, seen.path, role.path
            ),
            None,
        ));
        return;
    }
    if !managed {
        actions.push(update(
            format!("adopt role {} (tag it as managed by autofed)", role.name),
            Op::TagRole {
                name: role.name.clone(),
            },
        ));
    }
    if !seen
        .trust
        .as_ref()
        .is_some_and(|t| policy::equivalent(t, &role.trust))
    {
        actions.push(update(
            format!(
                "set trust policy of role {} to SAML provider with SAML:aud",
                role.name
            ),
            Op::UpdateAssumeRolePolicy {
                name: role.name.clone(),
                document: role.trust.clone(),
            },
        ));
    }
    if seen.max_session_duration != role.max_session_duration
        || seen.description.as_deref().unwrap_or_default()
            != role.description.as_deref().unwrap_or_default()
    {
        actions.push(update(
            format!(
                "update role {} (max session {}s, description)",
                role.name, role.max_session_duration
            ),
            Op::UpdateRole {
                name: role.name.clone(),
                description: role.description.clone(),
                max_session_duration: role.max_session_duration,
            },
        ));
    }
    match (&seen.permissions_boundary, &role.permissions_boundary) {
        (have, Some(want)) if have.as_ref() != Some(want) => actions.push(update(
            format!("set permissions boundary {want} on role {}", role.name),
            Op::PutRolePermissionsBoundary {
                name: role.name.clone(),
                arn: want.clone(),
            },
        )),
        (Some(have), None) => actions.push(update(
            format!("remove permissions boundary {have} from role {}", role.name),
            Op::DeleteRolePermissionsBoundary {
                name: role.name.clone(),
            },
        )),
        _ => {}
    }
    for arn in role.managed_policy_arns.difference(&seen.attached) {
        actions.push(attach(role, resource, arn, ActionKind::Update));
    }
    for arn in seen.attached.difference(&role.managed_policy_arns) {
        actions.push(update(
            format!("detach {arn} from role {}", role.name),
            Op::DetachRolePolicy {
                name: role.name.clone(),
                arn: arn.clone(),
            },
        ));
    }
    match (&seen.inline_policy, &role.inline_policy) {
        (have, Some(want)) if !have.as_ref().is_some_and(|h| policy::equivalent(h, want)) => {
            actions.push(update(
                format!(
                    "put inline policy {} on role {}",
                    desired::INLINE_POLICY_NAME,
                    role.name
                ),
                Op::PutRolePolicy {
                    name: role.name.clone(),
                    document: want.clone(),
                },
            ))
        }
        (Some(_), None) => actions.push(Action::new(
            resource,
            ActionKind::Delete,
            format!(
                "delete inline policy {} from role {}",
                desired::INLINE_POLICY_NAME,
                role.name
            ),
            Some(Op::DeleteRolePolicy {
                name: role.name.clone(),
            }),
        )),
        _ => {}
    }
}

/// Counts of a plan's actions by kind, for summaries.
pub fn tally(actions: &[Action]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for a in actions {
        *out.entry(a.kind.to_string()).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::{
        desired::{AssignmentSpec, DesiredProvider, Principal, managed_tags},
        ids::AccountId,
        observe::ObservedProvider,
    };

    const PROVIDER: &str = "arn:aws:iam::222222222222:saml-provider/Okta";

    fn role(name: &str) -> DesiredRole {
        DesiredRole {
            name: name.into(),
            path: "/federated/".into(),
            description: Some("federated".into()),
            trust: policy::saml_trust(PROVIDER),
            managed_policy_arns: ["arn:aws:iam::aws:policy/ReadOnlyAccess".to_string()].into(),
            inline_policy: None,
            max_session_duration: 3600,
            permissions_boundary: Some("arn:aws:iam::222222222222:policy/Boundary".into()),
        }
    }

    fn desired() -> Desired {
        Desired {
            account_id: AccountId::parse("222222222222").unwrap(),
            alias: Some(Ok("acme-dev".into())),
            provider: DesiredProvider {
                name: "Okta".into(),
                arn: PROVIDER.into(),
                metadata: "<md/>".into(),
            },
            roles: vec![role("ReadOnly")],
            assignments: vec![AssignmentSpec {
                principal: Principal::Group("Platform".into()),
                permission_set: "Admin".into(),
            }],
            unassigned: vec![AssignmentSpec {
                principal: Principal::Group("Payments".into()),
                permission_set: "PowerUser".into(),
            }],
            okta: None,
            okta_push_app: None,
            create_push_mappings: false,
        }
    }

    fn target() -> AssignmentTarget {
        AssignmentTarget {
            account_id: "222222222222".into(),
            instance_arn: "arn:aws:sso:::instance/ssoins-1".into(),
            permission_set_arn: "arn:aws:sso:::permissionSet/ssoins-1/ps-1".into(),
            principal_type: "GROUP".into(),
            principal_id: "g-1".into(),
        }
    }

    /// What a fully onboarded account looks like.
    fn converged() -> Observed {
        let r = role("ReadOnly");
        Observed {
            aliases: vec!["acme-dev".into()],
            provider: Some(ObservedProvider {
                metadata: "<md/>".into(),
                tags: managed_tags(),
            }),
            roles: [(
                "ReadOnly".to_string(),
                ObservedRole {
                    path: r.path.clone(),
                    tags: managed_tags(),
                    trust: Some(r.trust.clone()),
                    description: r.description.clone(),
                    max_session_duration: 3600,
                    permissions_boundary: r.permissions_boundary.clone(),
                    attached: r.managed_policy_arns.clone(),
                    inline_policy: None,
                },
            )]
            .into(),
            assignments: vec![ObservedAssignment::Resolved {
                target: target(),
                exists: true,
            }],
            unassigned: vec![ObservedAssignment::Resolved {
                target: target(),
                exists: false,
            }],
            okta: None,
            stack: None,
        }
    }

    fn kinds(actions: &[Action]) -> Vec<(String, ActionKind)> {
        actions
            .iter()
            .map(|a| (a.resource.clone(), a.kind))
            .collect()
    }

    #[test]
    fn a_new_account_gets_everything_in_dependency_order() {
        let observed = Observed {
            aliases: vec![],
            provider: None,
            roles: BTreeMap::new(),
            assignments: vec![ObservedAssignment::Resolved {
                target: target(),
                exists: false,
            }],
            unassigned: vec![ObservedAssignment::Unresolved("no such group".into())],
            okta: None,
            stack: None,
        };
        let actions = plan(&desired(), &observed, false);
        let ops: Vec<_> = actions.iter().map(|a| a.op.clone().unwrap()).collect();
        assert!(matches!(ops[0], Op::CreateAccountAlias { .. }));
        assert!(matches!(ops[1], Op::CreateSamlProvider { .. }));
        assert!(matches!(ops[2], Op::CreateRole { .. }));
        assert!(matches!(ops[3], Op::AttachRolePolicy { .. }));
        assert!(matches!(ops[4], Op::CreateAccountAssignment { .. }));
        assert_eq!(ops.len(), 5);
    }

    #[test]
    fn a_converged_account_plans_nothing() {
        assert_eq!(plan(&desired(), &converged(), false), vec![]);
    }

    #[test]
    fn an_assignment_no_rule_selects_any_more_is_removed() {
        let mut observed = converged();
        observed.unassigned = vec![ObservedAssignment::Resolved {
            target: target(),
            exists: true,
        }];
        let actions = plan(&desired(), &observed, false);
        assert_eq!(
            kinds(&actions),
            [(
                "assignment/group \"Payments\"/PowerUser".to_string(),
                ActionKind::Delete
            )]
        );
        assert!(matches!(
            actions[0].op,
            Some(Op::DeleteAccountAssignment { .. })
        ));
    }

    #[test]
    fn an_unmanaged_role_is_a_conflict_and_nothing_else() {
        let mut observed = converged();
        let seen = observed.roles.get_mut("ReadOnly").unwrap();
        seen.tags = BTreeMap::new();
        seen.attached = BTreeSet::new();
        let actions = plan(&desired(), &observed, false);
        assert_eq!(
            kinds(&actions),
            vec![("role/ReadOnly".into(), ActionKind::Conflict)]
        );
        assert!(actions[0].op.is_none());
    }

    #[test]
    fn adopt_tags_then_corrects() {
        let mut observed = converged();
        let seen = observed.roles.get_mut("ReadOnly").unwrap();
        seen.tags = BTreeMap::new();
        seen.attached = BTreeSet::new();
        let actions = plan(&desired(), &observed, true);
        assert!(matches!(actions[0].op, Some(Op::TagRole { .. })));
        assert!(matches!(actions[1].op, Some(Op::AttachRolePolicy { .. })));
        assert_eq!(actions.len(), 2);
    }

    #[test]
    fn an_unmanaged_provider_blocks_roles_that_would_trust_it() {
        let mut observed = converged();
        observed.provider.as_mut().unwrap().tags = BTreeMap::new();
        let actions = plan(&desired(), &observed, false);
        assert_eq!(
            kinds(&actions),
            vec![
                ("saml-provider/Okta".into(), ActionKind::Conflict),
                ("role/ReadOnly".into(), ActionKind::Conflict)
            ]
        );
    }

    #[test]
    fn drift_in_a_managed_role_is_corrected_field_by_field() {
        let mut observed = converged();
        let seen = observed.roles.get_mut("ReadOnly").unwrap();
        seen.trust = Some(policy::saml_trust(
            "arn:aws:iam::222222222222:saml-provider/Other",
        ));
        seen.max_session_duration = 7200;
        seen.permissions_boundary = None;
        seen.attached
            .insert("arn:aws:iam::aws:policy/AdministratorAccess".into());
        seen.inline_policy = Some(serde_json::json!({"Statement": []}));
        let ops: Vec<_> = plan(&desired(), &observed, false)
            .into_iter()
            .map(|a| a.op.unwrap())
            .collect();
        assert!(matches!(ops[0], Op::UpdateAssumeRolePolicy { .. }));
        assert!(matches!(
            ops[1],
            Op::UpdateRole {
                max_session_duration: 3600,
                ..
            }
        ));
        assert!(matches!(ops[2], Op::PutRolePermissionsBoundary { .. }));
        assert!(
            matches!(&ops[3], Op::DetachRolePolicy { arn, .. } if arn.ends_with("AdministratorAccess"))
        );
        assert!(matches!(ops[4], Op::DeleteRolePolicy { .. }));
        assert_eq!(ops.len(), 5);
    }

    #[test]
    fn a_moved_path_is_a_conflict() {
        let mut observed = converged();
        observed.roles.get_mut("ReadOnly").unwrap().path = "/".into();
        assert_eq!(
            kinds(&plan(&desired(), &observed, false)),
            vec![("role/ReadOnly".into(), ActionKind::Conflict)]
        );
    }

    #[test]
    fn a_foreign_alias_is_a_conflict_and_an_unresolved_assignment_is_manual() {
        let mut observed = converged();
        observed.aliases = vec!["someone-else".into()];
        observed.assignments = vec![ObservedAssignment::Unresolved(
            "no group named Platform".into(),
        )];
        assert_eq!(
            kinds(&plan(&desired(), &observed, false)),
            vec![
                ("alias".into(), ActionKind::Conflict),
                (
                    "assignment/group \"Platform\"/Admin".into(),
                    ActionKind::Manual
                )
            ]
        );
    }
}
