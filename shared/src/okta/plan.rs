//! The Okta part of an account's plan: desired compared with observed, without I/O.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{
    desired::OktaDesired,
    observe::{OktaObserved, Rule},
};
use crate::{
    config::OktaMode,
    plan::{Action, ActionKind, Op},
};

/// The id the plan shows for an app that the same apply creates first.
pub const NEW_APP: &str = "(new app)";

/// A group, by id when it exists, by name when the same apply creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    /// An existing group.
    Id(String),
    /// A group created earlier in the same apply.
    Name(String),
}

/// One Okta write, with everything it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum OktaOp {
    /// `POST /api/v1/apps`: an AWS Account Federation app, active, marked as autofed's.
    CreateApp {
        /// Label.
        label: String,
        /// `settings.app`.
        settings: Value,
        /// `settings.notes.admin`, the marker.
        note: String,
    },
    /// `PUT /api/v1/apps/{id}` of the app as read, with the label and `settings.app` keys set
    /// (the `PUT` replaces the whole app, so everything else is sent back as it was).
    UpdateApp {
        /// App id.
        id: String,
        /// Label.
        label: String,
        /// The `settings.app` keys to set.
        settings: Value,
    },
    /// `POST /api/v1/groups`.
    CreateGroup {
        /// Name.
        name: String,
        /// Description, with the marker.
        description: String,
    },
    /// `PUT /api/v1/groups/{id}`: the description (adoption, or a marker that drifted).
    UpdateGroup {
        /// Group id.
        id: String,
        /// Name.
        name: String,
        /// Description, with the marker.
        description: String,
    },
    /// `PUT /api/v1/apps/{app}/groups/{group}`.
    AssignGroup {
        /// App id.
        app_id: String,
        /// The group.
        group: GroupRef,
        /// The assignment's profile (`samlRoles` for an account's app).
        profile: Value,
    },
    /// `DELETE /api/v1/apps/{app}/groups/{group}`.
    UnassignGroup {
        /// App id.
        app_id: String,
        /// Group id.
        group_id: String,
    },
    /// `POST /api/v1/groups/rules`, then activate it (Okta creates rules inactive).
    CreateRule {
        /// Name.
        name: String,
        /// The management group's id.
        management_group_id: String,
        /// The groups its members join.
        groups: Vec<GroupRef>,
    },
    /// Deactivate (Okta changes only inactive rules), `PUT`, activate.
    UpdateRule {
        /// Rule id.
        id: String,
        /// Name.
        name: String,
        /// The management group's id.
        management_group_id: String,
        /// The groups its members join.
        groups: Vec<GroupRef>,
    },
    /// `POST /api/v1/groups/rules/{id}/lifecycle/activate`.
    ActivateRule {
        /// Rule id.
        id: String,
    },
    /// Deactivate if active, then `DELETE /api/v1/groups/rules/{id}`.
    DeleteRule {
        /// Rule id.
        id: String,
        /// Whether it is active.
        active: bool,
    },
    /// `DELETE /api/v1/groups/{id}` (its app assignments go with it).
    DeleteGroup {
        /// Group id.
        id: String,
    },
    /// Deactivate if active, then `DELETE /api/v1/apps/{id}`.
    DeleteApp {
        /// App id.
        id: String,
        /// Whether it is active.
        active: bool,
    },
    /// `POST /api/v1/apps/{app}/group-push/mappings`: push the group to Identity Center under
    /// its own name.
    CreatePushMapping {
        /// The Identity Center app.
        app_id: String,
        /// The Okta group.
        group_id: String,
        /// Its name (the pushed group's name).
        name: String,
    },
}

impl OktaOp {
    /// Whether this op creates an app (applied first, so the rest can use the app's metadata).
    pub fn creates_app(&self) -> bool {
        matches!(self, OktaOp::CreateApp { .. })
    }
}

fn action(resource: String, kind: ActionKind, summary: String, op: Option<OktaOp>) -> Action {
    Action::new(&resource, kind, summary, op.map(Op::Okta))
}

/// The expression of a rule for `management_group_id`.
pub fn rule_expression(management_group_id: &str) -> String {
    format!("isMemberOfAnyGroup(\"{management_group_id}\")")
}

/// Plans the app (its creation, or its drift); first in the account's plan, as the SAML
/// provider takes the app's metadata.
pub fn plan_app(desired: &OktaDesired, observed: &OktaObserved) -> Vec<Action> {
    let spec = &desired.app;
    if desired.mode == OktaMode::None {
        return Vec::new();
    }
    let resource = format!("okta-app/{}", spec.label);
    let Some(app) = &observed.app else {
        return vec![action(
            resource,
            ActionKind::Create,
            format!(
                "create Okta app {:?} (AWS Account Federation, SAML 2.0)",
                spec.label
            ),
            Some(OktaOp::CreateApp {
                label: spec.label.clone(),
                settings: spec.settings.clone(),
                note: spec.note.clone(),
            }),
        )];
    };
    let mut out = Vec::new();
    if app.status != "ACTIVE" {
        out.push(action(
            resource.clone(),
            ActionKind::Manual,
            format!(
                "Okta app {:?} ({}) is {}; activate it in Okta",
                app.label, app.id, app.status
            ),
            None,
        ));
    }
    let drift: Vec<String> = spec
        .settings
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, want)| !same(&app.settings[k.as_str()], want))
        .map(|(k, want)| format!("{k} is {}, configured {want}", app.settings[k.as_str()]))
        .chain(
            (!spec.shared && app.label != spec.label)
                .then(|| format!("label is {:?}, configured {:?}", app.label, spec.label)),
        )
        .collect();
    if drift.is_empty() {
        return out;
    }
    if app.is_managed() {
        out.push(action(
            resource,
            ActionKind::Update,
            format!(
                "update Okta app {} ({}): {}",
                app.label,
                app.id,
                drift.join("; ")
            ),
            Some(OktaOp::UpdateApp {
                id: app.id.clone(),
                label: spec.label.clone(),
                settings: spec.settings.clone(),
            }),
        ));
    } else {
        out.push(action(
            resource,
            ActionKind::Conflict,
            format!(
                "Okta app {} ({}) differs from the configuration and was not created by autofed; left alone: {}",
                app.label,
                app.id,
                drift.join("; ")
            ),
            None,
        ));
    }
    out
}

/// Okta answers numbers as numbers and flags as booleans, but an app created in the admin
/// console may hold them as strings.
fn same(have: &Value, want: &Value) -> bool {
    have == want
        || match (have, want) {
            (Value::String(h), Value::Number(n)) => h.parse::<f64>().ok() == n.as_f64(),
            (Value::String(h), Value::Bool(b)) => h.parse::<bool>().ok() == Some(*b),
            _ => false,
        }
}

/// Plans groups, app assignments, rules and push mappings; after the AWS side, so that no
/// one is given a role group before the role exists.
pub fn plan_access(desired: &OktaDesired, observed: &OktaObserved, adopt: bool) -> Vec<Action> {
    let mut out = Vec::new();
    let app_id = observed
        .app
        .as_ref()
        .map_or(NEW_APP.to_string(), |a| a.id.clone());
    let app_label = &desired.app.label;
    // Role groups (group-mapping).
    let mut usable: BTreeSet<&str> = BTreeSet::new();
    for g in &desired.role_groups {
        let resource = format!("okta-group/{}", g.name);
        let (group, assigned) = match (
            observed.own_groups.get(&g.name),
            observed.foreign_groups.get(&g.name),
        ) {
            (Some(own), _) => {
                if own.description != g.description {
                    out.push(action(
                        resource.clone(),
                        ActionKind::Update,
                        format!(
                            "set the description of Okta group {} to {:?}",
                            g.name, g.description
                        ),
                        Some(OktaOp::UpdateGroup {
                            id: own.id.clone(),
                            name: g.name.clone(),
                            description: g.description.clone(),
                        }),
                    ));
                }
                (
                    GroupRef::Id(own.id.clone()),
                    observed.assignments.contains_key(&own.id),
                )
            }
            (None, Some(foreign)) if adopt => {
                out.push(action(
                    resource.clone(),
                    ActionKind::Update,
                    format!(
                        "adopt Okta group {} (mark its description as autofed's)",
                        g.name
                    ),
                    Some(OktaOp::UpdateGroup {
                        id: foreign.id.clone(),
                        name: g.name.clone(),
                        description: g.description.clone(),
                    }),
                ));
                (GroupRef::Id(foreign.id.clone()), false)
            }
            (None, Some(foreign)) => {
                out.push(action(
                    resource,
                    ActionKind::Conflict,
                    format!(
                        "Okta group {} ({}) exists and is not managed by autofed; left alone",
                        g.name, foreign.id
                    ),
                    None,
                ));
                continue;
            }
            (None, None) => {
                out.push(action(
                    resource.clone(),
                    ActionKind::Create,
                    format!("create Okta group {} for role {}", g.name, g.role),
                    Some(OktaOp::CreateGroup {
                        name: g.name.clone(),
                        description: g.description.clone(),
                    }),
                ));
                (GroupRef::Name(g.name.clone()), false)
            }
        };
        usable.insert(&g.name);
        if !assigned {
            out.push(action(
                resource,
                ActionKind::Create,
                format!("assign Okta group {} to app {app_label:?}", g.name),
                Some(OktaOp::AssignGroup {
                    app_id: app_id.clone(),
                    group,
                    profile: json!({}),
                }),
            ));
        }
    }
    // Existing groups on the account's own app (app per account).
    let mut wanted_on_app = BTreeSet::new();
    for g in &desired.app_groups {
        let resource = format!("okta-app-group/{}", g.group);
        let Some(Some(id)) = observed.named.get(&g.group) else {
            out.push(action(
                resource,
                ActionKind::Manual,
                format!(
                    "Okta group {:?} does not exist; create it, or fix okta.app_per_account.groups",
                    g.group
                ),
                None,
            ));
            continue;
        };
        wanted_on_app.insert(id.as_str());
        let profile = json!({ "samlRoles": g.roles });
        let have = observed.assignments.get(id);
        if have.is_some_and(|p| p["samlRoles"] == profile["samlRoles"]) {
            continue;
        }
        out.push(action(
            resource,
            if have.is_some() {
                ActionKind::Update
            } else {
                ActionKind::Create
            },
            format!(
                "assign Okta group {} to app {app_label:?} with roles {}",
                g.group,
                g.roles.join(", ")
            ),
            Some(OktaOp::AssignGroup {
                app_id: app_id.clone(),
                group: GroupRef::Id(id.clone()),
                profile,
            }),
        ));
    }
    if desired.mode == OktaMode::AppPerAccount
        && let Some(app) = observed.app.as_ref().filter(|a| a.is_managed())
    {
        for group_id in observed
            .assignments
            .keys()
            .filter(|id| !wanted_on_app.contains(id.as_str()))
        {
            out.push(action(
                format!("okta-app-group/{group_id}"),
                ActionKind::Delete,
                format!(
                    "unassign Okta group {group_id} from app {:?}: no rule selects it",
                    app.label
                ),
                Some(OktaOp::UnassignGroup {
                    app_id: app.id.clone(),
                    group_id: group_id.clone(),
                }),
            ));
        }
    }
    // Rules (group-mapping).
    for r in &desired.rules {
        let resource = format!("okta-rule/{}", r.name);
        let Some(Some(mgmt)) = observed.named.get(&r.management_group) else {
            out.push(action(
                resource,
                ActionKind::Manual,
                format!(
                    "management group {:?} does not exist in Okta; create it, or fix okta.group_mapping.rules",
                    r.management_group
                ),
                None,
            ));
            continue;
        };
        let groups: Vec<GroupRef> = r
            .role_groups
            .iter()
            .filter(|n| usable.contains(n.as_str()))
            .map(|n| {
                match observed
                    .own_groups
                    .get(n)
                    .or(observed.foreign_groups.get(n))
                {
                    Some(g) => GroupRef::Id(g.id.clone()),
                    None => GroupRef::Name(n.clone()),
                }
            })
            .collect();
        if groups.is_empty() {
            continue;
        }
        match observed.rules.iter().find(|o| o.name == r.name) {
            None => out.push(action(
                resource,
                ActionKind::Create,
                format!(
                    "create and activate Okta rule {:?}: members of {} join {}",
                    r.name,
                    r.management_group,
                    r.role_groups.join(", ")
                ),
                Some(OktaOp::CreateRule {
                    name: r.name.clone(),
                    management_group_id: mgmt.clone(),
                    groups,
                }),
            )),
            Some(seen) if !rule_matches(seen, mgmt, &groups) => out.push(action(
                resource,
                ActionKind::Update,
                format!(
                    "update Okta rule {:?}: members of {} join {}",
                    r.name,
                    r.management_group,
                    r.role_groups.join(", ")
                ),
                Some(OktaOp::UpdateRule {
                    id: seen.id.clone(),
                    name: r.name.clone(),
                    management_group_id: mgmt.clone(),
                    groups,
                }),
            )),
            Some(seen) if seen.status != "ACTIVE" => out.push(action(
                resource,
                ActionKind::Update,
                format!("activate Okta rule {:?} (it is {})", r.name, seen.status),
                Some(OktaOp::ActivateRule {
                    id: seen.id.clone(),
                }),
            )),
            Some(_) => {}
        }
    }
    let wanted_rules: BTreeSet<&str> = desired.rules.iter().map(|r| r.name.as_str()).collect();
    for rule in observed
        .rules
        .iter()
        .filter(|r| !wanted_rules.contains(r.name.as_str()))
    {
        out.push(delete_rule(rule, "no management rule selects it"));
    }
    let wanted_groups: BTreeSet<&str> = desired
        .role_groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    for g in observed
        .own_groups
        .values()
        .filter(|g| !wanted_groups.contains(g.name.as_str()))
    {
        out.push(action(
            format!("okta-group/{}", g.name),
            ActionKind::Delete,
            format!(
                "delete Okta group {} ({}): its role is no longer configured for the account",
                g.name, g.id
            ),
            Some(OktaOp::DeleteGroup { id: g.id.clone() }),
        ));
    }
    out
}

/// Plans the group push mappings the account's Identity Center assignments rely on.
pub fn plan_pushes(
    desired: &OktaDesired,
    observed: &OktaObserved,
    ic_app: Option<&str>,
    create: bool,
) -> Vec<Action> {
    let Some(ic_app) = ic_app else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in &desired.pushes {
        let resource = format!("okta-push/{name}");
        let Some(Some(group_id)) = observed.named.get(name) else {
            out.push(action(
                resource,
                ActionKind::Manual,
                format!(
                    "Okta group {name:?} does not exist, so it cannot be pushed to Identity Center"
                ),
                None,
            ));
            continue;
        };
        let mappings = observed
            .pushes
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        match mappings.iter().find(|m| m.status == "ACTIVE").or(mappings.first()) {
            None if create => out.push(action(
                resource,
                ActionKind::Create,
                format!("push Okta group {name} to IAM Identity Center (app {ic_app})"),
                Some(OktaOp::CreatePushMapping {
                    app_id: ic_app.to_string(),
                    group_id: group_id.clone(),
                    name: name.clone(),
                }),
            )),
            None => out.push(action(
                resource,
                ActionKind::Manual,
                format!(
                    "Okta group {name} is not pushed to IAM Identity Center: in Okta, open app {ic_app}, Push Groups, and push it (or set okta.identity_center.create_push_mappings)"
                ),
                None,
            )),
            Some(m) if m.status == "ACTIVE" => {}
            Some(m) => out.push(action(
                resource,
                ActionKind::Manual,
                format!(
                    "the push of Okta group {name} to IAM Identity Center is {}{}; fix it in Okta",
                    m.status,
                    m.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                ),
                None,
            )),
        }
    }
    out
}

/// Plans the removal of everything autofed made in Okta for an account that is gone.
pub fn plan_removal(account_id: &str, observed: &OktaObserved) -> Vec<Action> {
    let mut out: Vec<Action> = observed
        .rules
        .iter()
        .map(|r| {
            delete_rule(
                r,
                &format!("account {account_id} is closed or left the organization"),
            )
        })
        .collect();
    for g in observed.own_groups.values() {
        out.push(action(
            format!("okta-group/{}", g.name),
            ActionKind::Delete,
            format!(
                "delete Okta group {} ({}) of account {account_id}",
                g.name, g.id
            ),
            Some(OktaOp::DeleteGroup { id: g.id.clone() }),
        ));
    }
    if let Some(app) = observed.app.as_ref().filter(|a| a.is_managed()) {
        out.push(action(
            format!("okta-app/{}", app.label),
            ActionKind::Delete,
            format!(
                "deactivate and delete Okta app {:?} ({}) of account {account_id}",
                app.label, app.id
            ),
            Some(OktaOp::DeleteApp {
                id: app.id.clone(),
                active: app.status == "ACTIVE",
            }),
        ));
    }
    out
}

fn delete_rule(rule: &Rule, why: &str) -> Action {
    action(
        format!("okta-rule/{}", rule.name),
        ActionKind::Delete,
        format!("delete Okta rule {:?} ({}): {why}", rule.name, rule.id),
        Some(OktaOp::DeleteRule {
            id: rule.id.clone(),
            active: rule.status == "ACTIVE",
        }),
    )
}

fn rule_matches(seen: &Rule, mgmt: &str, groups: &[GroupRef]) -> bool {
    let want: Option<BTreeSet<&str>> = groups
        .iter()
        .map(|g| match g {
            GroupRef::Id(id) => Some(id.as_str()),
            GroupRef::Name(_) => None,
        })
        .collect();
    let have: BTreeSet<&str> = seen.group_ids.iter().map(String::as_str).collect();
    seen.expression == rule_expression(mgmt) && want.is_some_and(|w| w == have)
}

/// The manual step seed 002 leaves after creating an account's app: Okta has no API for the
/// Provisioning tab. Shown until the app has provisioning features enabled.
pub fn provisioning_step(desired: &OktaDesired, observed: &OktaObserved) -> Option<Action> {
    if desired.mode != OktaMode::AppPerAccount {
        return None;
    }
    if observed
        .app
        .as_ref()
        .is_some_and(|a| !a.features.is_empty())
    {
        return None;
    }
    let app = observed.app.as_ref().map_or(NEW_APP, |a| a.id.as_str());
    Some(action(
        format!("okta-app/{}", desired.app.label),
        ActionKind::Manual,
        format!(
            "Okta has no API for the Provisioning tab of app {:?} ({app}): in the Okta admin console open Applications > {} > Provisioning, click Configure API Integration, check Enable API integration, enter the access key of an IAM user or role in account {} allowed iam:ListRoles and iam:ListAccountAliases, click Test API Credentials, then Save",
            desired.app.label, desired.app.label, desired.account_id
        ),
        None,
    ))
}
