//! `stack` deploy mode: the account's SAML provider and roles as one CloudFormation stack,
//! changed only through change sets.
//!
//! The plan renders the template from the desired state ([`template`]) and compares it with
//! the deployed one; a difference is one action whose change set must list exactly the
//! changes the plan named (apply checks this before executing it, so what runs is what was
//! shown). Same-named resources outside the stack are conflicts found before any change set is
//! made, unless they are autofed's own (made in `direct` mode) or `adopt` is on: then they are
//! imported first, as they are, and the update that follows brings them to the configuration.

pub mod template;

use std::{collections::BTreeSet, time::Duration};

use serde_json::Value;
use tracing::info;

use crate::{
    aws::cfn::{self, Change, ChangeSet, ChangeSetKind, Import, NewChangeSet, ResourceDrift},
    desired::{self, Desired, DesiredRole},
    error::{Error, Result},
    observe::Observed,
    plan::{Action, ActionKind, Op},
};

/// What is seen of an account's stack.
#[derive(Debug, Clone, PartialEq)]
pub struct StackObserved {
    /// The stack's name.
    pub name: String,
    /// The stack, if it exists.
    pub state: Option<cfn::StackState>,
    /// Its deployed template (read only for a stack autofed made that holds resources).
    pub template: Option<Value>,
    /// Its resources (likewise).
    pub resources: Vec<cfn::StackResource>,
    /// Its drifted resources, when drift was detected (plans only).
    pub drift: Vec<ResourceDrift>,
}

/// Reads the stack `name`; with `detect_drift`, runs CloudFormation's drift detection on it
/// too. A stack in progress (another run's change, a person's) is not ready: the message
/// comes back later.
pub async fn observe(
    client: &aws_sdk_cloudformation::Client,
    name: &str,
    detect_drift: bool,
    timeout: Duration,
) -> Result<StackObserved> {
    let state = cfn::stack(client, name).await?;
    let mut seen = StackObserved {
        name: name.to_string(),
        state: None,
        template: None,
        resources: Vec::new(),
        drift: Vec::new(),
    };
    let Some(state) = state else {
        return Ok(seen);
    };
    if !state.is_settled() && state.status != "REVIEW_IN_PROGRESS" {
        return Err(Error::NotReady {
            subject: format!("stack {name}"),
            reason: format!("it is {}", state.status),
        });
    }
    if desired::is_managed(&state.tags) && !state.is_empty_shell() {
        seen.template = cfn::template(client, name).await?;
        seen.resources = cfn::resources(client, name).await?;
        if detect_drift {
            seen.drift = cfn::detect_drift(client, name, timeout).await?;
        }
    }
    seen.state = Some(state);
    Ok(seen)
}

/// A write on an account's stack.
#[derive(Debug, Clone, PartialEq)]
pub enum StackOp {
    /// An import change set: resources that exist outside the stack, brought into it as they
    /// are (creating the stack if need be).
    Import {
        /// The stack.
        stack: String,
        /// The deployed template plus the imported resources.
        template: Value,
        /// The resources to import.
        imports: Vec<Import>,
        /// The changes the change set must list.
        expected: Vec<Change>,
        /// Whether an empty stack (a failed creation, an unexecuted change set) is deleted
        /// first.
        replace_shell: bool,
    },
    /// A create or update change set to the rendered template.
    Deploy {
        /// The stack.
        stack: String,
        /// The rendered template.
        template: Value,
        /// Create or update.
        kind: ChangeSetKind,
        /// The changes the change set must list.
        expected: Vec<Change>,
        /// As for [`StackOp::Import`].
        replace_shell: bool,
    },
    /// `UpdateTerminationProtection` on.
    Protect {
        /// The stack.
        stack: String,
    },
    /// Deletes the stack and its resources (deprovisioning).
    Delete {
        /// The stack.
        stack: String,
    },
}

/// Plans the provider and roles in `stack` mode (in place of `direct` mode's IAM actions).
pub fn plan(
    desired: &Desired,
    observed: &Observed,
    seen: &StackObserved,
    adopt: bool,
) -> Vec<Action> {
    let resource = format!("stack/{}", seen.name);
    let mut actions = Vec::new();
    let account = desired.account_id.as_str();
    if let Some(state) = &seen.state
        && !desired::is_managed(&state.tags)
    {
        actions.push(Action::new(
            &resource,
            ActionKind::Conflict,
            format!(
                "stack {} exists in account {account} and was not created by autofed; left alone",
                seen.name
            ),
            None,
        ));
        return actions;
    }
    let shell = seen.state.as_ref().is_some_and(|s| s.is_empty_shell());
    let deployed = if shell { None } else { seen.template.as_ref() };
    let in_stack: BTreeSet<&str> = seen
        .resources
        .iter()
        .map(|r| r.physical_id.as_str())
        .collect();
    let mut imports = Vec::new();
    let mut imported = Vec::new();

    let p = &desired.provider;
    if let Some(found) = &observed.provider
        && !in_stack.contains(p.arn.as_str())
    {
        if !(desired::is_managed(&found.tags) || adopt) {
            actions.push(Action::new(
                &format!("saml-provider/{}", p.name),
                ActionKind::Conflict,
                format!(
                    "SAML provider {} exists outside stack {} and is not managed by autofed; \
                     left alone (`adopt` imports it)",
                    p.name, seen.name
                ),
                None,
            ));
            for role in &desired.roles {
                actions.push(Action::new(
                    &format!("role/{}", role.name),
                    ActionKind::Conflict,
                    format!(
                        "role {} not planned: it would trust SAML provider {}, which autofed does not manage",
                        role.name, p.name
                    ),
                    None,
                ));
            }
            return actions;
        }
        imports.push(Import {
            resource_type: template::PROVIDER_TYPE.into(),
            logical_id: template::PROVIDER_ID.into(),
            identifier: ("Arn".into(), p.arn.clone()),
        });
        imported.push((
            template::PROVIDER_ID.to_string(),
            template::observed_provider_resource(&p.name, found),
        ));
    }
    let provider_in_base = !imports.is_empty()
        || deployed.is_some_and(|t| t["Resources"].get(template::PROVIDER_ID).is_some());

    let mut roles: Vec<&DesiredRole> = Vec::new();
    for role in &desired.roles {
        let Some(found) = observed.roles.get(&role.name) else {
            roles.push(role);
            continue;
        };
        if in_stack.contains(role.name.as_str()) {
            roles.push(role);
            continue;
        }
        let why = if found.path != role.path {
            Some(format!(
                "role {} exists outside stack {} at path {}, configured {}; IAM cannot move a role, left alone",
                role.name, seen.name, found.path, role.path
            ))
        } else if !(desired::is_managed(&found.tags) || adopt) {
            Some(format!(
                "role {} exists outside stack {} and is not managed by autofed; left alone \
                 (`adopt` imports it)",
                role.name, seen.name
            ))
        } else {
            None
        };
        if let Some(why) = why {
            actions.push(Action::new(
                &format!("role/{}", role.name),
                ActionKind::Conflict,
                why,
                None,
            ));
            continue;
        }
        let id = template::role_id(&role.name);
        imports.push(Import {
            resource_type: template::ROLE_TYPE.into(),
            logical_id: id.clone(),
            identifier: ("RoleName".into(), role.name.clone()),
        });
        imported.push((
            id,
            template::observed_role_resource(&role.name, found, provider_in_base),
        ));
        roles.push(role);
    }

    let mut base = deployed.cloned();
    let mut replace_shell = shell;
    if !imports.is_empty() {
        let with = template::with_resources(account, deployed, imported);
        let mut expected: Vec<Change> = imports
            .iter()
            .map(|i| Change {
                action: "Import".into(),
                logical_id: i.logical_id.clone(),
                resource_type: i.resource_type.clone(),
            })
            .collect();
        expected.sort();
        actions.push(Action::new(
            &resource,
            ActionKind::Update,
            format!(
                "import into stack {} what exists outside it: {}",
                seen.name,
                list(&expected)
            ),
            Some(Op::Stack(StackOp::Import {
                stack: seen.name.clone(),
                template: with.clone(),
                imports,
                expected,
                replace_shell,
            })),
        ));
        base = Some(with);
        replace_shell = false;
    }

    let target = template::render(account, Some(p), &roles);
    let changes = template::changes(base.as_ref(), &target);
    let exists = base.is_some();
    if !changes.is_empty() {
        let (kind, verb) = if exists {
            (ChangeSetKind::Update, "update")
        } else {
            (ChangeSetKind::Create, "create")
        };
        actions.push(Action::new(
            &resource,
            if exists {
                ActionKind::Update
            } else {
                ActionKind::Create
            },
            format!(
                "{verb} stack {} with a change set: {}{}",
                seen.name,
                list(&changes),
                if exists {
                    ""
                } else {
                    "; then turn on termination protection"
                }
            ),
            Some(Op::Stack(StackOp::Deploy {
                stack: seen.name.clone(),
                template: target,
                kind,
                expected: changes,
                replace_shell,
            })),
        ));
    }
    if let Some(state) = &seen.state
        && !shell
        && !state.termination_protection
    {
        actions.push(Action::new(
            &resource,
            ActionKind::Update,
            format!("turn on termination protection of stack {}", seen.name),
            Some(Op::Stack(StackOp::Protect {
                stack: seen.name.clone(),
            })),
        ));
    }
    for d in &seen.drift {
        let diffs: Vec<String> = d
            .differences
            .iter()
            .map(|p| {
                format!(
                    "{} {}: expected {}, actual {}",
                    p.path, p.kind, p.expected, p.actual
                )
            })
            .collect();
        actions.push(Action::new(
            &format!("{resource}/{}", d.logical_id),
            ActionKind::Manual,
            format!(
                "{} {} ({}) drifted from stack {}: {}{}",
                d.resource_type,
                d.physical_id,
                d.logical_id,
                seen.name,
                d.status,
                if diffs.is_empty() {
                    String::new()
                } else {
                    format!("; {}", diffs.join("; "))
                }
            ),
            None,
        ));
    }
    actions
}

/// Plans the deletion of an account's stack (deprovisioning): only a stack autofed made.
pub fn plan_removal(seen: &StackObserved, account_id: &str) -> Vec<Action> {
    let resource = format!("stack/{}", seen.name);
    match &seen.state {
        None => Vec::new(),
        Some(s) if !desired::is_managed(&s.tags) => vec![Action::new(
            &resource,
            ActionKind::Conflict,
            format!(
                "stack {} in account {account_id} was not created by autofed; left alone",
                seen.name
            ),
            None,
        )],
        Some(_) => vec![Action::new(
            &resource,
            ActionKind::Delete,
            format!(
                "delete stack {} and the provider and roles it holds: the account left the organization",
                seen.name
            ),
            Some(Op::Stack(StackOp::Delete {
                stack: seen.name.clone(),
            })),
        )],
    }
}

fn list(changes: &[Change]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Carries out one stack operation and waits for CloudFormation to finish it. A change set
/// whose changes are not the planned ones is deleted unexecuted (the next delivery plans
/// again); a change that fails and rolls back is reported with CloudFormation's reasons.
pub async fn apply(
    client: &aws_sdk_cloudformation::Client,
    account_id: &str,
    op: &StackOp,
    timeout: Duration,
) -> Result<()> {
    match op {
        StackOp::Protect { stack } => cfn::set_termination_protection(client, stack, true).await,
        StackOp::Delete { stack } => delete(client, account_id, stack, timeout).await,
        StackOp::Import {
            stack,
            template,
            imports,
            expected,
            replace_shell,
        } => {
            let new = NewChangeSet {
                stack,
                name: &change_set_name(),
                kind: ChangeSetKind::Import,
                template,
                tags: &desired::managed_tags(),
                imports,
            };
            change(client, account_id, &new, expected, *replace_shell, timeout).await
        }
        StackOp::Deploy {
            stack,
            template,
            kind,
            expected,
            replace_shell,
        } => {
            let new = NewChangeSet {
                stack,
                name: &change_set_name(),
                kind: *kind,
                template,
                tags: &desired::managed_tags(),
                imports: &[],
            };
            change(client, account_id, &new, expected, *replace_shell, timeout).await
        }
    }
}

/// A change set name no earlier run used.
fn change_set_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("autofed-{}", now.as_millis())
}

async fn change(
    client: &aws_sdk_cloudformation::Client,
    account_id: &str,
    new: &NewChangeSet<'_>,
    expected: &[Change],
    replace_shell: bool,
    timeout: Duration,
) -> Result<()> {
    let stack = new.stack;
    if replace_shell {
        // Nothing lives in it; CloudFormation takes a new creation only once it is gone.
        cfn::delete_stack(client, stack).await?;
        cfn::settle(client, stack, timeout).await?;
    }
    let (id, changes) = match cfn::create_change_set(client, new, timeout)
        .await
        .map_err(|e| busy(stack, account_id, e))?
    {
        ChangeSet::Ready { id, changes } => (id, changes),
        ChangeSet::Failed { id, reason } => {
            cfn::delete_change_set(client, &id).await?;
            // NB: CloudFormation refuses a change set without changes ("The submitted
            // information didn't contain changes"): the stack already is as planned.
            if reason.contains("didn't contain changes") {
                info!(account_id, stack, "the stack already matches the plan");
                return Ok(());
            }
            return Err(Error::StackFailed {
                stack: stack.to_string(),
                account_id: account_id.to_string(),
                status: "change set FAILED".into(),
                reasons: reason,
            });
        }
    };
    if changes != expected {
        cfn::delete_change_set(client, &id).await?;
        return Err(Error::Aws {
            service: "cloudformation",
            operation: "CreateChangeSet",
            code: "UnplannedChanges".into(),
            message: format!(
                "the change set lists [{}], the plan [{}]; not executed (the stack changed since it was read)",
                list(&changes),
                list(expected)
            ),
            retryable: true,
        });
    }
    info!(account_id, stack, change_set = %id, changes = %list(&changes), "executing change set");
    cfn::execute_change_set(client, &id)
        .await
        .map_err(|e| busy(stack, account_id, e))?;
    let state = cfn::settle(client, stack, timeout).await?;
    match state {
        Some(s) if s.status.ends_with("_COMPLETE") && !s.status.contains("ROLLBACK") => {
            if !s.termination_protection {
                cfn::set_termination_protection(client, stack, true).await?;
            }
            Ok(())
        }
        Some(s) => {
            let reasons = cfn::failure_reasons(client, &s.id).await?;
            Err(Error::StackFailed {
                stack: stack.to_string(),
                account_id: account_id.to_string(),
                reasons: if reasons.is_empty() {
                    s.reason.unwrap_or_default()
                } else {
                    reasons.join("; ")
                },
                status: s.status,
            })
        }
        None => Err(Error::StackFailed {
            stack: stack.to_string(),
            account_id: account_id.to_string(),
            status: "DELETE_COMPLETE".into(),
            reasons: "the stack was deleted while its change set ran".into(),
        }),
    }
}

/// CloudFormation refuses a change while another operation runs on the stack (a person's, or
/// another delivery's that began after this run read the stack): that is "not ready", to be
/// tried again after a delay and planned afresh, not a refusal of the change itself.
fn busy(stack: &str, account_id: &str, e: Error) -> Error {
    match &e {
        Error::Aws {
            service: "cloudformation",
            message,
            ..
        } if message.contains("_IN_PROGRESS state")
            || message.contains("in its current status")
            || message.contains("operation in progress") =>
        {
            Error::NotReady {
                subject: format!("stack {stack} in account {account_id}"),
                reason: message.clone(),
            }
        }
        _ => e,
    }
}

async fn delete(
    client: &aws_sdk_cloudformation::Client,
    account_id: &str,
    stack: &str,
    timeout: Duration,
) -> Result<()> {
    let Some(state) = cfn::stack(client, stack).await? else {
        return Ok(());
    };
    if state.termination_protection {
        cfn::set_termination_protection(client, stack, false).await?;
    }
    cfn::delete_stack(client, stack)
        .await
        .map_err(|e| busy(stack, account_id, e))?;
    match cfn::settle(client, stack, timeout).await? {
        None => Ok(()),
        Some(s) => {
            let reasons = cfn::failure_reasons(client, &s.id).await?;
            Err(Error::StackFailed {
                stack: stack.to_string(),
                account_id: account_id.to_string(),
                reasons: reasons.join("; "),
                status: s.status,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{
        desired::{DesiredProvider, managed_tags},
        ids::AccountId,
        observe::{ObservedProvider, ObservedRole},
        policy,
    };

    const PROVIDER: &str = "arn:aws:iam::222222222222:saml-provider/Okta";

    fn role(name: &str) -> DesiredRole {
        DesiredRole {
            name: name.into(),
            path: "/".into(),
            description: None,
            trust: policy::saml_trust(PROVIDER),
            managed_policy_arns: Default::default(),
            inline_policy: None,
            max_session_duration: 3600,
            permissions_boundary: None,
        }
    }

    fn desired() -> Desired {
        Desired {
            account_id: AccountId::parse("222222222222").unwrap(),
            alias: None,
            provider: DesiredProvider {
                name: "Okta".into(),
                arn: PROVIDER.into(),
                metadata: "<md/>".into(),
            },
            roles: vec![role("Admin"), role("ReadOnly")],
            assignments: Vec::new(),
            unassigned: Vec::new(),
            okta: None,
            okta_push_app: None,
            create_push_mappings: false,
        }
    }

    fn nothing() -> Observed {
        Observed {
            aliases: Vec::new(),
            provider: None,
            roles: BTreeMap::new(),
            assignments: Vec::new(),
            unassigned: Vec::new(),
            okta: None,
            stack: None,
        }
    }

    fn stack(status: &str, protected: bool, tags: BTreeMap<String, String>) -> StackObserved {
        StackObserved {
            name: "autofed-federation".into(),
            state: Some(cfn::StackState {
                id: "arn:aws:cloudformation:eu-west-1:222222222222:stack/autofed-federation/1"
                    .into(),
                status: status.into(),
                reason: None,
                tags,
                termination_protection: protected,
            }),
            template: None,
            resources: Vec::new(),
            drift: Vec::new(),
        }
    }

    /// The stack as autofed made it for `desired()`.
    fn deployed() -> StackObserved {
        let d = desired();
        let roles: Vec<&DesiredRole> = d.roles.iter().collect();
        StackObserved {
            template: Some(template::render("222222222222", Some(&d.provider), &roles)),
            resources: vec![
                cfn::StackResource {
                    logical_id: "RoleAdmin".into(),
                    physical_id: "Admin".into(),
                    resource_type: template::ROLE_TYPE.into(),
                },
                cfn::StackResource {
                    logical_id: "RoleReadOnly".into(),
                    physical_id: "ReadOnly".into(),
                    resource_type: template::ROLE_TYPE.into(),
                },
                cfn::StackResource {
                    logical_id: template::PROVIDER_ID.into(),
                    physical_id: PROVIDER.into(),
                    resource_type: template::PROVIDER_TYPE.into(),
                },
            ],
            ..stack("UPDATE_COMPLETE", true, managed_tags())
        }
    }

    fn observed_role(tags: BTreeMap<String, String>, path: &str) -> ObservedRole {
        ObservedRole {
            path: path.into(),
            tags,
            trust: Some(policy::saml_trust(PROVIDER)),
            description: None,
            max_session_duration: 3600,
            permissions_boundary: None,
            attached: Default::default(),
            inline_policy: None,
        }
    }

    fn summaries(actions: &[Action]) -> Vec<(ActionKind, String)> {
        actions
            .iter()
            .map(|a| (a.kind, a.summary.clone()))
            .collect()
    }

    #[test]
    fn a_new_account_gets_one_create_change_set() {
        let none = StackObserved {
            state: None,
            ..stack("", false, BTreeMap::new())
        };
        let actions = plan(&desired(), &nothing(), &none, false);
        assert_eq!(actions.len(), 1);
        let Some(Op::Stack(StackOp::Deploy {
            kind,
            expected,
            replace_shell,
            ..
        })) = &actions[0].op
        else {
            panic!("{actions:?}")
        };
        assert_eq!(*kind, ChangeSetKind::Create);
        assert!(!replace_shell);
        assert_eq!(
            list(expected),
            "Add RoleAdmin (AWS::IAM::Role), Add RoleReadOnly (AWS::IAM::Role), Add SamlProvider (AWS::IAM::SAMLProvider)"
        );
    }

    #[test]
    fn a_stack_as_configured_plans_nothing_and_one_without_protection_is_protected() {
        assert!(plan(&desired(), &nothing(), &deployed(), false).is_empty());
        let unprotected = StackObserved {
            state: deployed().state.map(|s| cfn::StackState {
                termination_protection: false,
                ..s
            }),
            ..deployed()
        };
        assert_eq!(
            summaries(&plan(&desired(), &nothing(), &unprotected, false)),
            [(
                ActionKind::Update,
                "turn on termination protection of stack autofed-federation".to_string()
            )]
        );
    }

    #[test]
    fn a_stack_autofed_did_not_make_is_a_conflict_and_nothing_else() {
        let foreign = stack("CREATE_COMPLETE", false, BTreeMap::new());
        let actions = plan(&desired(), &nothing(), &foreign, true);
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].kind, ActionKind::Conflict);
        assert!(actions[0].op.is_none());
    }

    #[test]
    fn an_empty_stack_left_by_a_failed_creation_is_replaced() {
        let shell = stack("ROLLBACK_COMPLETE", false, managed_tags());
        let actions = plan(&desired(), &nothing(), &shell, false);
        assert_eq!(actions.len(), 1, "{actions:?}");
        assert!(matches!(
            &actions[0].op,
            Some(Op::Stack(StackOp::Deploy {
                kind: ChangeSetKind::Create,
                replace_shell: true,
                ..
            }))
        ));
    }

    #[test]
    fn resources_outside_the_stack_are_conflicts_unless_autofeds_or_adopted() {
        let mut observed = nothing();
        observed
            .roles
            .insert("Admin".into(), observed_role(BTreeMap::new(), "/"));
        observed
            .roles
            .insert("ReadOnly".into(), observed_role(managed_tags(), "/"));
        let none = StackObserved {
            state: None,
            ..stack("", false, BTreeMap::new())
        };
        // Admin is someone else's: a conflict, and out of the template. ReadOnly is autofed's
        // (direct mode): imported, then the stack is brought to the configuration.
        let actions = plan(&desired(), &observed, &none, false);
        assert_eq!(actions[0].kind, ActionKind::Conflict);
        assert!(
            actions[0]
                .summary
                .contains("role Admin exists outside stack")
        );
        let Some(Op::Stack(StackOp::Import { imports, .. })) = &actions[1].op else {
            panic!("{actions:?}")
        };
        assert_eq!(
            imports,
            &[Import {
                resource_type: template::ROLE_TYPE.into(),
                logical_id: "RoleReadOnly".into(),
                identifier: ("RoleName".into(), "ReadOnly".into()),
            }]
        );
        let Some(Op::Stack(StackOp::Deploy { kind, expected, .. })) = &actions[2].op else {
            panic!("{actions:?}")
        };
        assert_eq!(*kind, ChangeSetKind::Update);
        assert_eq!(
            list(expected),
            "Add SamlProvider (AWS::IAM::SAMLProvider), Modify RoleReadOnly (AWS::IAM::Role)"
        );
        // With adopt, Admin is imported too; a role at another path never is.
        let actions = plan(&desired(), &observed, &none, true);
        let Some(Op::Stack(StackOp::Import { imports, .. })) = &actions[0].op else {
            panic!("{actions:?}")
        };
        assert_eq!(imports.len(), 2);
        observed
            .roles
            .insert("Admin".into(), observed_role(managed_tags(), "/other/"));
        let actions = plan(&desired(), &observed, &none, true);
        assert!(
            actions[0].summary.contains("IAM cannot move a role"),
            "{actions:?}"
        );
    }

    #[test]
    fn a_foreign_provider_stops_the_stack() {
        let mut observed = nothing();
        observed.provider = Some(ObservedProvider {
            metadata: "<md/>".into(),
            tags: BTreeMap::new(),
        });
        let none = StackObserved {
            state: None,
            ..stack("", false, BTreeMap::new())
        };
        let actions = plan(&desired(), &observed, &none, false);
        assert_eq!(actions.len(), 3);
        assert!(
            actions
                .iter()
                .all(|a| a.kind == ActionKind::Conflict && a.op.is_none())
        );
    }

    #[test]
    fn drifted_resources_are_reported_with_their_differences() {
        let mut seen = deployed();
        seen.drift = vec![ResourceDrift {
            logical_id: "RoleAdmin".into(),
            physical_id: "Admin".into(),
            resource_type: template::ROLE_TYPE.into(),
            status: "MODIFIED".into(),
            differences: vec![cfn::PropertyDifference {
                path: "/MaxSessionDuration".into(),
                expected: "3600".into(),
                actual: "7200".into(),
                kind: "NOT_EQUAL".into(),
            }],
        }];
        let actions = plan(&desired(), &nothing(), &seen, false);
        assert_eq!(
            summaries(&actions),
            [(
                ActionKind::Manual,
                "AWS::IAM::Role Admin (RoleAdmin) drifted from stack autofed-federation: MODIFIED; \
                 /MaxSessionDuration NOT_EQUAL: expected 3600, actual 7200"
                    .to_string()
            )]
        );
        assert_eq!(actions[0].resource, "stack/autofed-federation/RoleAdmin");
    }
}
