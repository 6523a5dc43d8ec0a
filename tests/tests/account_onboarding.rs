//! The account onboarder end to end: events through the real handler, the real SDK clients
//! talking HTTP to moto (through the recording proxy), and the resulting state read back from
//! moto.

use autofed::{
    context::Needs,
    ids::AccountId,
    onboard::{self, Outcome},
    plan::ActionKind,
    policy::SAML_AUDIENCE,
    report::{Mode, Report, Status},
};
use autofed_tests::{
    bed::Bed,
    fixtures::{self, event},
    proxy::{Fault, Rewrite},
};
use serde_json::Value;

const MANAGED: (&str, &str) = ("autofed:managed-by", "autofed");

/// Onboards `account` in-process and returns its report.
async fn onboard_report(bed: &Bed, config: &str, account: &str, mode: Mode) -> Report {
    let ctx = bed.context(config);
    match onboard::onboard(&ctx, &AccountId::parse(account).unwrap(), mode)
        .await
        .unwrap()
    {
        Outcome::Reconciled(r) => *r,
        other => panic!("not reconciled: {other:?}"),
    }
}

/// Every IAM call of a run must be allowed by the session policy autofed passes to AssumeRole.
fn assert_within_session_policy(report: &Report) {
    for key in report.calls.by_operation.keys() {
        if let Some(op) = key.strip_prefix("IAM:") {
            let action = format!("iam:{op}");
            assert!(
                autofed::aws::sts::MEMBER_ACTIONS.contains(&action.as_str()),
                "{action} is called but not in the session policy"
            );
        }
    }
}

fn decode(doc: &str) -> Value {
    autofed::policy::decode(doc).expect("a policy document")
}

#[tokio::test]
async fn a_new_account_gets_its_provider_roles_and_matching_assignments() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let ctx = bed.context(&bed.config_text(|c| c));
    ctx.warm(Needs::ACCOUNT_ONBOARDER);

    let response = bed
        .deliver(&ctx, &event("create-account-result-succeeded.json", &id))
        .await;
    assert!(response.batch_item_failures.is_empty());

    let member = bed.member(&id).await;
    let iam = aws_sdk_iam::Client::new(&member);
    let provider_arn = format!("arn:aws:iam::{id}:saml-provider/Okta");
    let provider = iam
        .get_saml_provider()
        .saml_provider_arn(&provider_arn)
        .send()
        .await
        .unwrap();
    assert!(
        provider
            .saml_metadata_document()
            .unwrap()
            .contains("EntityDescriptor")
    );
    let tags: Vec<_> = provider
        .tags()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(tags, vec![MANAGED]);
    assert_eq!(
        iam.list_account_aliases()
            .send()
            .await
            .unwrap()
            .account_aliases(),
        ["acme-payments-staging"]
    );

    // Every configured role: the Workloads OU selects PowerUsers for an account in Dev.
    for (name, path, policy, max) in [
        ("Administrator", "/federated/", "AdministratorAccess", 3600),
        ("PowerUsers", "/federated/", "PowerUserAccess", 14400),
        ("ReadOnly", "/federated/readonly/", "ReadOnlyAccess", 43200),
    ] {
        let role = iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .unwrap()
            .role
            .unwrap();
        assert_eq!(role.path(), path, "{name}");
        assert_eq!(role.max_session_duration(), Some(max), "{name}");
        let tags: Vec<_> = role.tags().iter().map(|t| (t.key(), t.value())).collect();
        assert_eq!(tags, vec![MANAGED], "{name}");
        let trust = decode(role.assume_role_policy_document().unwrap());
        let statement = &trust["Statement"][0];
        assert_eq!(
            statement["Principal"]["Federated"],
            provider_arn.as_str(),
            "{name}"
        );
        assert_eq!(statement["Action"], "sts:AssumeRoleWithSAML", "{name}");
        assert_eq!(
            statement["Condition"]["StringEquals"]["SAML:aud"], SAML_AUDIENCE,
            "{name}"
        );
        let attached: Vec<_> = iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .unwrap()
            .attached_policies()
            .iter()
            .map(|p| p.policy_arn().unwrap().to_string())
            .collect();
        assert_eq!(
            attached,
            [format!("arn:aws:iam::aws:policy/{policy}")],
            "{name}"
        );
    }
    let power = iam
        .get_role()
        .role_name("PowerUsers")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(
        power
            .permissions_boundary()
            .unwrap()
            .permissions_boundary_arn(),
        Some("arn:aws:iam::aws:policy/PowerUserAccess")
    );
    let inline = iam
        .get_role_policy()
        .role_name("ReadOnly")
        .policy_name("autofed")
        .send()
        .await
        .unwrap();
    assert_eq!(
        decode(inline.policy_document())["Statement"][0]["Effect"],
        "Deny"
    );

    // Platform Engineers everywhere, Payments Developers by tag; the auditor only in Prod.
    let s = &bed.sandbox;
    let mut want = vec![
        (
            s.groups["Platform Engineers"].clone(),
            s.permission_sets["AdministratorAccess"].clone(),
        ),
        (
            s.groups["Payments Developers"].clone(),
            s.permission_sets["PowerUserAccess"].clone(),
        ),
    ];
    want.sort();
    assert_eq!(bed.assignments(&id).await, want);
    assert_eq!(bed.dlq.depth().await, 0);
    // SQS serves only re-queues and dead-letters: a batch that succeeds builds no client for it.
    assert!(!ctx.sqs.is_built());
}

#[tokio::test]
async fn the_report_counts_one_write_per_action_and_a_rerun_writes_nothing() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let config = bed.config_text(|c| c);

    let first = onboard_report(&bed, &config, &id, Mode::Apply).await;
    assert_within_session_policy(&first);
    // alias, provider, 3 roles + 3 attachments + 1 inline policy, 2 assignments
    assert_eq!(first.actions.len(), 11, "{:#?}", first.actions);
    assert!(first.actions.iter().all(|a| a.status == Status::Applied));
    assert_eq!(first.calls.writes, 11);
    assert_eq!(first.calls.by_operation["IAM:CreateRole"], 3);
    assert_eq!(
        first.calls.by_operation["SSO Admin:CreateAccountAssignment"],
        2
    );

    bed.proxy.clear_calls();
    let second = onboard_report(&bed, &config, &id, Mode::Apply).await;
    assert!(second.actions.is_empty(), "{:#?}", second.actions);
    assert_eq!(second.calls.writes, 0);
    assert_eq!(
        bed.writes(),
        Vec::<String>::new(),
        "the proxy saw writes on a rerun"
    );

    // And through the queue: the event delivered again changes nothing.
    let ctx = bed.context(&config);
    let response = bed
        .deliver(&ctx, &event("create-account-result-succeeded.json", &id))
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(bed.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn assignments_go_only_to_accounts_matched_by_ou_or_tag() {
    let bed = Bed::new().await;
    let config = bed.config_text(|c| c);
    let s = &bed.sandbox;
    for name in ["payments-prod", "sandbox-alice"] {
        let ctx = bed.context(&config);
        let body = event(
            "control-tower-create-managed-account.json",
            &s.accounts[name],
        );
        assert!(
            bed.deliver(&ctx, &body)
                .await
                .batch_item_failures
                .is_empty()
        );
    }
    let platform = (
        s.groups["Platform Engineers"].clone(),
        s.permission_sets["AdministratorAccess"].clone(),
    );
    let payments = (
        s.groups["Payments Developers"].clone(),
        s.permission_sets["PowerUserAccess"].clone(),
    );
    let auditor = (
        s.users["auditor@acme.example"].clone(),
        s.permission_sets["ReadOnlyAccess"].clone(),
    );
    let mut prod = vec![platform.clone(), payments, auditor];
    prod.sort();
    assert_eq!(bed.assignments(&s.accounts["payments-prod"]).await, prod);
    assert_eq!(
        bed.assignments(&s.accounts["sandbox-alice"]).await,
        vec![platform]
    );
    assert!(
        bed.assignments(&s.accounts["payments-dev"])
            .await
            .is_empty(),
        "no event, no change"
    );

    // The Workloads OU selector covers Prod (nested) but not Sandbox.
    let alice = aws_sdk_iam::Client::new(&bed.member(&s.accounts["sandbox-alice"]).await);
    assert!(
        alice
            .get_role()
            .role_name("PowerUsers")
            .send()
            .await
            .is_err()
    );
    assert!(
        alice
            .get_role()
            .role_name("Administrator")
            .send()
            .await
            .is_ok()
    );
    let prod_iam = aws_sdk_iam::Client::new(&bed.member(&s.accounts["payments-prod"]).await);
    assert!(
        prod_iam
            .get_role()
            .role_name("PowerUsers")
            .send()
            .await
            .is_ok()
    );
}

/// The sandbox configuration plus a rule for the Dev OU only: Payments Developers read in
/// every Dev account.
fn with_dev_rule(bed: &Bed) -> String {
    let dev_ou = bed.sandbox.ous["Dev"].clone();
    bed.config_text(|c| {
        format!(
            "{c}\n[[identity_center.assignments]]\ngroup = \"Payments Developers\"\npermission_set = \"ReadOnlyAccess\"\naccounts = {{ ous = [\"{dev_ou}\"] }}\n"
        )
    })
}

/// `(principal, permission set)` names assigned in `account`.
async fn assigned(bed: &Bed, account: &str) -> Vec<(String, String)> {
    let s = &bed.sandbox;
    let name = |id: &str, map: &std::collections::BTreeMap<String, String>| {
        map.iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let mut out: Vec<(String, String)> = bed
        .assignments(account)
        .await
        .into_iter()
        .map(|(principal, ps)| {
            let who = s
                .groups
                .iter()
                .chain(&s.users)
                .find(|(_, v)| **v == principal)
                .map_or(principal.clone(), |(k, _)| k.clone());
            (who, name(&ps, &s.permission_sets))
        })
        .collect();
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn moving_an_account_into_prod_adds_and_removes_assignments() {
    let bed = Bed::new().await;
    let config = with_dev_rule(&bed);
    let s = &bed.sandbox;
    let dev = s.accounts["payments-dev"].clone();
    let ctx = bed.context(&config);
    bed.deliver(&ctx, &event("create-account-result-succeeded.json", &dev))
        .await;
    assert_eq!(
        assigned(&bed, &dev).await,
        pairs(&[
            ("Platform Engineers", "AdministratorAccess"),
            ("Payments Developers", "PowerUserAccess"),
            ("Payments Developers", "ReadOnlyAccess"),
        ])
    );

    aws_sdk_organizations::Client::new(&bed.aws)
        .move_account()
        .account_id(&dev)
        .source_parent_id(&s.ous["Dev"])
        .destination_parent_id(&s.ous["Prod"])
        .send()
        .await
        .unwrap();
    bed.proxy.clear_calls();
    let response = bed.deliver(&ctx, &event("move-account.json", &dev)).await;
    assert!(response.batch_item_failures.is_empty());
    // The account's parent is read again (accounts move), and Prod's, new to this function
    // instance; Workloads' parent was learned by the first delivery (OUs never move).
    assert_eq!(bed.proxy.count("ListParents"), 2);
    // Prod's auditor rule now selects it; the Dev-only rule no longer does.
    assert_eq!(
        assigned(&bed, &dev).await,
        pairs(&[
            ("Platform Engineers", "AdministratorAccess"),
            ("Payments Developers", "PowerUserAccess"),
            (fixtures::AUDITOR, "ReadOnlyAccess"),
        ])
    );
    let mut writes = bed.writes();
    writes.sort();
    assert_eq!(
        writes,
        ["CreateAccountAssignment", "DeleteAccountAssignment"]
    );

    // A tag change re-evaluates too; with nothing to change it writes nothing.
    bed.proxy.clear_calls();
    for sample in ["tag-resource.json", "untag-resource.json"] {
        let response = bed.deliver(&ctx, &event(sample, &dev)).await;
        assert!(response.batch_item_failures.is_empty(), "{sample}");
    }
    assert_eq!(bed.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn an_assignment_of_a_pair_no_rule_names_is_never_removed() {
    let bed = Bed::new().await;
    let dev = bed.sandbox.accounts["payments-dev"].clone();
    // Made by hand: the auditor as administrator. No rule names that pair.
    let sso = aws_sdk_ssoadmin::Client::new(&bed.aws);
    sso.create_account_assignment()
        .instance_arn(&bed.sandbox.instance_arn)
        .target_id(&dev)
        .target_type(aws_sdk_ssoadmin::types::TargetType::AwsAccount)
        .permission_set_arn(&bed.sandbox.permission_sets["AdministratorAccess"])
        .principal_type(aws_sdk_ssoadmin::types::PrincipalType::User)
        .principal_id(&bed.sandbox.users[fixtures::AUDITOR])
        .send()
        .await
        .unwrap();
    let report = onboard_report(&bed, &bed.config_text(|c| c), &dev, Mode::Apply).await;
    assert!(
        report.actions.iter().all(|a| a.kind != ActionKind::Delete),
        "{:#?}",
        report.actions
    );
    assert!(assigned(&bed, &dev).await.contains(&(
        fixtures::AUDITOR.to_string(),
        "AdministratorAccess".to_string()
    )));
}

#[tokio::test]
async fn a_closed_account_loses_its_assignments_only_when_deprovisioning_is_on() {
    let bed = Bed::new().await;
    let dev = bed.sandbox.accounts["payments-dev"].clone();
    let config = bed.config_text(|c| c);
    let ctx = bed.context(&config);
    bed.deliver(&ctx, &event("create-account-result-succeeded.json", &dev))
        .await;
    let before = assigned(&bed, &dev).await;
    assert_eq!(before.len(), 2);

    // Off (the default): the removal is reported as planned; nothing is removed.
    bed.proxy.clear_calls();
    let response = bed.deliver(&ctx, &event("close-account.json", &dev)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(assigned(&bed, &dev).await, before);
    assert_eq!(bed.writes(), Vec::<String>::new());
    let outcome = onboard::remove(&ctx, &AccountId::parse(&dev).unwrap(), Mode::Apply)
        .await
        .unwrap();
    let Outcome::Reconciled(report) = outcome else {
        panic!("a removal report")
    };
    assert_eq!(report.mode, Mode::Plan);
    assert_eq!(
        report
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::Delete && a.status == Status::Planned)
            .count(),
        2
    );

    // On: both are removed, once; the rerun writes nothing.
    let on = bed.context(&config.replacen(
        "[[identity_center.assignments]]",
        "[identity_center]\ndeprovision = true\n\n[[identity_center.assignments]]",
        1,
    ));
    bed.proxy.clear_calls();
    let response = bed.deliver(&on, &event("close-account.json", &dev)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(assigned(&bed, &dev).await, Vec::<(String, String)>::new());
    assert_eq!(
        bed.writes(),
        ["DeleteAccountAssignment", "DeleteAccountAssignment"]
    );
    bed.proxy.clear_calls();
    bed.deliver(&on, &event("close-account.json", &dev)).await;
    assert_eq!(bed.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn every_aws_call_of_the_account_onboarder_is_on_its_action_list() {
    let bed = Bed::new().await;
    let dev = bed.sandbox.accounts["payments-dev"].clone();
    let config = with_dev_rule(&bed).replacen(
        "[[identity_center.assignments]]",
        "[identity_center]\ndeprovision = true\n\n[[identity_center.assignments]]",
        1,
    );
    let ctx = bed.context(&config);
    // Onboard, move (an assignment created and one deleted), a malformed event (dead-lettered),
    // then the account closes (its assignments removed).
    bed.deliver(&ctx, &event("create-account-result-succeeded.json", &dev))
        .await;
    aws_sdk_organizations::Client::new(&bed.aws)
        .move_account()
        .account_id(&dev)
        .source_parent_id(&bed.sandbox.ous["Dev"])
        .destination_parent_id(&bed.sandbox.ous["Prod"])
        .send()
        .await
        .unwrap();
    bed.deliver(&ctx, &event("move-account.json", &dev)).await;
    bed.deliver(&ctx, "{\"not\": \"an event\"}").await;
    bed.deliver(&ctx, &event("close-account.json", &dev)).await;
    let seen = bed.assert_actions_listed("account-onboarder");
    // The scenario reached every kind of call: own reads and writes, member writes.
    for action in [
        (false, "sts:AssumeRole"),
        (false, "sso:CreateAccountAssignment"),
        (false, "sso:DeleteAccountAssignment"),
        (false, "sqs:SendMessage"),
        (true, "iam:CreateRole"),
        (true, "iam:CreateSAMLProvider"),
    ] {
        assert!(
            seen.contains(&(action.0, action.1.to_string())),
            "{action:?} not seen: {seen:?}"
        );
    }
}

#[tokio::test]
async fn an_unmanaged_role_is_reported_as_a_conflict_and_left_unchanged() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    let theirs = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("Administrator")
        .path("/federated/")
        .assume_role_policy_document(theirs)
        .description("made by hand")
        .send()
        .await
        .unwrap();
    let before = iam
        .get_role()
        .role_name("Administrator")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();

    let report = onboard_report(&bed, &bed.config_text(|c| c), &id, Mode::Apply).await;
    let conflicts: Vec<_> = report
        .actions
        .iter()
        .filter(|a| a.kind == autofed::plan::ActionKind::Conflict)
        .collect();
    assert_eq!(conflicts.len(), 1, "{:#?}", report.actions);
    assert_eq!(conflicts[0].resource, "role/Administrator");
    assert!(matches!(conflicts[0].status, Status::Skipped { .. }));
    let writes_to_it: Vec<_> = bed
        .proxy
        .calls_with_bodies()
        .into_iter()
        .filter(|(op, body)| {
            !op.starts_with("Get")
                && !op.starts_with("List")
                && body.split('&').any(|kv| kv == "RoleName=Administrator")
        })
        .collect();
    assert_eq!(writes_to_it, vec![], "no write may name the unmanaged role");

    let after = iam
        .get_role()
        .role_name("Administrator")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(
        after.assume_role_policy_document(),
        before.assume_role_policy_document()
    );
    assert_eq!(after.description(), Some("made by hand"));
    assert!(after.tags().is_empty());
    let attached = iam
        .list_attached_role_policies()
        .role_name("Administrator")
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty());
    // The other roles were still created.
    assert!(iam.get_role().role_name("ReadOnly").send().await.is_ok());
}

#[tokio::test]
async fn an_unmanaged_saml_provider_is_a_conflict_and_no_role_trusts_it() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    let foreign =
        std::fs::read_to_string(autofed_tests::root().join("tests/sandbox/okta-metadata.xml"))
            .unwrap()
            .replace("acme-sandbox", "someone-else");
    iam.create_saml_provider()
        .name("Okta")
        .saml_metadata_document(&foreign)
        .send()
        .await
        .unwrap();

    let report = onboard_report(&bed, &bed.config_text(|c| c), &id, Mode::Apply).await;
    let kinds: Vec<_> = report
        .actions
        .iter()
        .filter(|a| a.resource != "alias" && !a.resource.starts_with("assignment/"))
        .map(|a| (a.resource.as_str(), a.kind))
        .collect();
    use autofed::plan::ActionKind::Conflict;
    assert_eq!(
        kinds,
        [
            ("saml-provider/Okta", Conflict),
            ("role/Administrator", Conflict),
            ("role/PowerUsers", Conflict),
            ("role/ReadOnly", Conflict)
        ]
    );
    let arn = format!("arn:aws:iam::{id}:saml-provider/Okta");
    let doc = iam
        .get_saml_provider()
        .saml_provider_arn(arn)
        .send()
        .await
        .unwrap();
    assert!(
        doc.saml_metadata_document()
            .unwrap()
            .contains("someone-else")
    );
    assert!(
        iam.list_roles()
            .path_prefix("/federated/")
            .send()
            .await
            .unwrap()
            .roles()
            .is_empty()
    );
}

#[tokio::test]
async fn dry_run_plans_everything_and_writes_nothing() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let config = bed.config_text(|c| format!("dry_run = true\n{c}"));
    let plan = onboard_report(&bed, &config, &id, Mode::Plan).await;
    assert_eq!(plan.actions.len(), 11);
    assert!(plan.actions.iter().all(|a| a.status == Status::Planned));
    assert_eq!(plan.calls.writes, 0);

    let ctx = bed.context(&config);
    bed.deliver(&ctx, &event("create-account-result-succeeded.json", &id))
        .await;
    assert_eq!(bed.writes(), Vec::<String>::new());
    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    assert!(
        iam.list_roles()
            .send()
            .await
            .unwrap()
            .roles()
            .iter()
            .all(|r| r.path() != "/federated/")
    );
    assert!(bed.assignments(&id).await.is_empty());
}

#[tokio::test]
async fn a_failed_creation_is_logged_and_skipped_without_a_single_aws_call() {
    let bed = Bed::new().await;
    let ctx = bed.context(&bed.config_text(|c| c));
    let body = std::fs::read_to_string(
        autofed_tests::root().join("events/create-account-result-failed.json"),
    )
    .unwrap();
    let response = bed.deliver(&ctx, &body).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(bed.proxy.calls(), Vec::<String>::new());
    assert_eq!(bed.work.depth().await, 0);
    assert_eq!(bed.dlq.depth().await, 0);
}

#[tokio::test]
async fn malformed_events_go_to_the_dead_letter_queue_and_touch_nothing() {
    let bed = Bed::new().await;
    let ctx = bed.context(&bed.config_text(|c| c));
    let good = event(
        "create-account-result-succeeded.json",
        &bed.sandbox.accounts["payments-dev"],
    );
    let outsider = event("create-account-result-succeeded.json", "999999999999");
    let cases = [
        (good[..good.len() / 3].to_string(), "malformed event"),
        (
            good.replace(&bed.sandbox.accounts["payments-dev"], "12345"),
            "createAccountStatus.accountId",
        ),
        (
            good.replace("aws.organizations", "aws.ec2"),
            "unsupported event",
        ),
        ("{}".to_string(), "malformed event"),
        (outsider, "not a member of the organization"),
    ];
    assert!(!ctx.sqs.is_built());
    for (body, needle) in &cases {
        bed.proxy.clear_calls();
        let response = bed.deliver(&ctx, body).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "dead-lettered, not retried: {needle}"
        );
        assert!(ctx.sqs.is_built(), "the dead-letter built SQS's client");
        let writes = bed.writes();
        assert_eq!(
            writes,
            ["SendMessage"],
            "only the dead-letter send: {needle}"
        );
        let dead = bed.dlq.take_dead_letters().await;
        assert_eq!(dead.len(), 1, "{needle}");
        let (dead_body, reason) = &dead[0];
        assert_eq!(dead_body, body);
        assert!(reason.contains(needle), "{reason:?} should name {needle:?}");
    }
    assert_eq!(bed.work.depth().await, 0);
    let iam = aws_sdk_iam::Client::new(&bed.member(&bed.sandbox.accounts["payments-dev"]).await);
    assert!(
        iam.list_roles()
            .path_prefix("/federated/")
            .send()
            .await
            .unwrap()
            .roles()
            .is_empty()
    );
}

#[tokio::test]
async fn a_not_yet_assumable_account_is_retried_then_requeued_then_onboarded() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let ctx = bed.context(&bed.config_text(|c| c));
    bed.proxy.inject(Fault::sts_access_denied(3));

    let response = bed
        .deliver(&ctx, &event("create-account-result-succeeded.json", &id))
        .await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "handed back to the queue"
    );
    assert_eq!(
        bed.proxy.count("AssumeRole"),
        3,
        "assume_attempts = 3 in one delivery"
    );
    assert_eq!(
        bed.proxy.count("ChangeMessageVisibility"),
        1,
        "re-queued with a delay"
    );
    assert!(
        !bed.writes().iter().any(|op| op.starts_with("Create")
            || op.starts_with("Put")
            || op.starts_with("Attach"))
    );
    assert!(
        bed.work.receive_raw().await.is_empty(),
        "invisible during the delay"
    );
    assert_eq!(bed.work.depth().await, 1);

    // The role becomes assumable; the message comes back after its delay (1 s) and succeeds.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let response = bed.deliver_pending(&ctx).await.expect("redelivered");
    assert!(response.batch_item_failures.is_empty());
    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    assert!(
        iam.get_role()
            .role_name("Administrator")
            .send()
            .await
            .is_ok()
    );
    assert_eq!(bed.work.depth().await, 0);
}

#[tokio::test]
async fn an_account_that_never_becomes_assumable_goes_to_the_dead_letter_queue() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let ctx = bed.context(&bed.config_text(|c| c));
    bed.proxy.inject(Fault::sts_access_denied(usize::MAX));
    bed.work
        .send(&event("create-account-result-succeeded.json", &id))
        .await;
    // max_deliveries = 3, delays 1 s then 2 s.
    for wait_ms in [0, 1500, 2500] {
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
        bed.deliver_pending(&ctx).await.expect("delivered");
    }
    assert_eq!(bed.work.depth().await, 0);
    let dead = bed.dlq.take_dead_letters().await;
    assert_eq!(dead.len(), 1);
    let reason = &dead[0].1;
    assert!(
        reason.contains("still not ready after 3 deliveries"),
        "{reason}"
    );
}

#[tokio::test]
async fn assignment_creations_stay_within_their_share_and_what_it_borrows() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    // Six assignments for one account: 3 permission sets x 2 groups, a share of 2 in flight.
    // The creations after the first two wait, and none is refused, so the instance borrows
    // (a quarter of a slot per admitted creation), up to twice its share and no more.
    let mut rules = String::from("[identity_center]\nmax_in_flight = 2\n");
    for ps in autofed_tests::fixtures::PERMISSION_SETS {
        for group in autofed_tests::fixtures::GROUPS {
            rules.push_str(&format!(
                "[[identity_center.assignments]]\ngroup = \"{group}\"\npermission_set = \"{ps}\"\naccounts = {{ all = true }}\n"
            ));
        }
    }
    let config = bed.config_text(|c| {
        let cut = c.find("[[identity_center.assignments]]").unwrap();
        let retry = c.find("[retry]").unwrap();
        format!("{}{rules}{}", &c[..cut], &c[retry..])
    });
    bed.proxy.delay(
        "CreateAccountAssignment",
        std::time::Duration::from_millis(300),
    );
    let report = onboard_report(&bed, &config, &id, Mode::Apply).await;
    assert_eq!(
        report.calls.by_operation["SSO Admin:CreateAccountAssignment"],
        6
    );
    assert!(report.actions.iter().all(|a| a.status == Status::Applied));
    assert_eq!(bed.assignments(&id).await.len(), 6);
    let peak = bed.proxy.peak_in_flight("CreateAccountAssignment");
    assert!((2..=4).contains(&peak), "{peak} in flight");
}

/// The pace of Identity Center calls borrows past its share while calls wait and are
/// answered, and falls back when one is throttled: the SDK's own retry classification of the
/// service's `ThrottlingException`, fed back from the client (`shared/src/aws/pace.rs`).
#[tokio::test]
async fn identity_center_pacing_borrows_while_answered_and_backs_off_when_throttled() {
    use autofed::aws::pace;
    use autofed_tests::faults::{Kind, Service, Site};
    let bed = Bed::new().await;
    let pacer = std::sync::Arc::new(pace::Pacer::new(10, 20));
    // Through the proxy, which can throttle a chosen call.
    let conf = autofed_tests::sdk_config(&bed.proxy.url);
    let admin = aws_sdk_ssoadmin::Client::from_conf(
        aws_sdk_ssoadmin::config::Builder::from(&conf)
            .http_client(pace::paced(
                pace::base_client(&conf).unwrap(),
                pacer.clone(),
            ))
            .interceptor(pace::Feedback(pacer.clone()))
            .build(),
    );
    // Twenty calls at once: all but the first wait for their slot, and each answer adds to
    // the rate.
    let calls = (0..20).map(|_| admin.list_instances().send());
    for answer in futures::future::join_all(calls).await {
        answer.unwrap();
    }
    let borrowed = pacer.rate();
    assert!(borrowed > 10.0 && borrowed <= 20.0, "{borrowed}");
    // The next call is throttled once, then answered on its retry: a fifth less, not below
    // the share, and no growth from the retry's answer within the hold.
    let site = Site {
        service: Service::Aws,
        call: "ListInstances".into(),
    };
    bed.proxy.faults.clear_seen();
    bed.proxy.faults.inject(&site, Kind::Throttle, 1);
    admin.list_instances().send().await.unwrap();
    assert_eq!(
        bed.proxy
            .faults
            .calls()
            .iter()
            .filter(|s| **s == site)
            .count(),
        2,
        "a throttled attempt and its retry"
    );
    let after = pacer.rate();
    assert!(
        (after - (borrowed * 0.8).max(10.0)).abs() < 1e-9,
        "{borrowed} -> {after}"
    );
}

/// Serves `body` at `/app/exk1/sso/saml/metadata` on a free loopback port.
async fn serve_metadata(body: String) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/app/exk1/sso/saml/metadata",
        axum::routing::get(move || async move { ([("content-type", "application/xml")], body) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/app/exk1/sso/saml/metadata",
        listener.local_addr().unwrap()
    );
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, task)
}

#[tokio::test]
async fn metadata_from_a_url_becomes_the_provider_and_a_bad_one_touches_nothing() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let metadata =
        std::fs::read_to_string(autofed_tests::root().join("tests/sandbox/okta-metadata.xml"))
            .unwrap()
            .replace("exk1sandbox0AWSfed0x7", "exk1fromTheUrl0000x9");
    let (url, server) = serve_metadata(metadata).await;
    let with_url = |url: &str| {
        bed.config_text(|c| {
            let file_line = c
                .lines()
                .find(|l| l.starts_with("metadata_file"))
                .unwrap()
                .to_string();
            c.replace(&file_line, &format!("metadata_url = \"{url}\""))
        })
    };

    // An error page instead of metadata: the run fails before any AWS write.
    let (bad_url, bad_server) =
        serve_metadata(format!("<html>{}</html>", "sign in ".repeat(200))).await;
    let ctx = bed.context(&with_url(&bad_url));
    let err = onboard::onboard(&ctx, &AccountId::parse(&id).unwrap(), Mode::Apply)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not SAML IdP metadata"), "{err}");
    assert_eq!(bed.writes(), Vec::<String>::new());
    bad_server.abort();

    let report = onboard_report(&bed, &with_url(&url), &id, Mode::Apply).await;
    assert_eq!(report.failed(), 0);
    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    let doc = iam
        .get_saml_provider()
        .saml_provider_arn(format!("arn:aws:iam::{id}:saml-provider/Okta"))
        .send()
        .await
        .unwrap();
    assert!(
        doc.saml_metadata_document()
            .unwrap()
            .contains("exk1fromTheUrl0000x9")
    );
    server.abort();
}

#[tokio::test]
async fn changed_metadata_updates_the_managed_provider_and_nothing_else() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    onboard_report(&bed, &bed.config_text(|c| c), &id, Mode::Apply).await;

    let rotated = autofed_tests::function::testbed_path("rotated", "xml");
    let text =
        std::fs::read_to_string(autofed_tests::root().join("tests/sandbox/okta-metadata.xml"))
            .unwrap();
    std::fs::write(
        &rotated,
        text.replace("exk1sandbox0AWSfed0x7", "exk1rotated000000x7"),
    )
    .unwrap();
    let config = bed.config_text(|c| {
        let file_line = c
            .lines()
            .find(|l| l.starts_with("metadata_file"))
            .unwrap()
            .to_string();
        c.replace(
            &file_line,
            &format!("metadata_file = \"{}\"", rotated.display()),
        )
    });
    bed.proxy.clear_calls();
    let second = onboard_report(&bed, &config, &id, Mode::Apply).await;
    let kinds: Vec<_> = second
        .actions
        .iter()
        .map(|a| (a.resource.as_str(), a.kind))
        .collect();
    assert_eq!(
        kinds,
        [("saml-provider/Okta", autofed::plan::ActionKind::Update)]
    );
    assert_eq!(bed.writes(), ["UpdateSAMLProvider"]);
}

fn status_rewrite(operation: &str, times: usize, to: &str) -> Rewrite {
    Rewrite {
        operation: operation.into(),
        times,
        from: "\"Status\": \"SUCCEEDED\"".into(),
        to: to.into(),
    }
}

#[tokio::test]
async fn assignments_are_polled_until_identity_center_says_succeeded() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    // As Identity Center does: IN_PROGRESS on creation and on the first status read.
    bed.proxy.rewrite(status_rewrite(
        "CreateAccountAssignment",
        2,
        "\"Status\": \"IN_PROGRESS\"",
    ));
    bed.proxy.rewrite(status_rewrite(
        "DescribeAccountAssignmentCreationStatus",
        2,
        "\"Status\": \"IN_PROGRESS\"",
    ));
    let report = onboard_report(&bed, &bed.config_text(|c| c), &id, Mode::Apply).await;
    assert!(
        report.actions.iter().all(|a| a.status == Status::Applied),
        "{:#?}",
        report.actions
    );
    assert_eq!(
        report.calls.by_operation["SSO Admin:DescribeAccountAssignmentCreationStatus"],
        4
    );
    assert_eq!(bed.assignments(&id).await.len(), 2);
}

#[tokio::test]
async fn a_failed_assignment_is_reported_with_its_reason_and_left_for_a_retry() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    bed.proxy.rewrite(status_rewrite(
        "CreateAccountAssignment",
        2,
        "\"Status\": \"IN_PROGRESS\"",
    ));
    bed.proxy.rewrite(status_rewrite(
        "DescribeAccountAssignmentCreationStatus",
        1,
        "\"Status\": \"FAILED\", \"FailureReason\": \"Received a 403 status error: Not authorized to create role\"",
    ));
    let ctx = bed.context(&bed.config_text(|c| c));
    let outcome = onboard::onboard(&ctx, &AccountId::parse(&id).unwrap(), Mode::Apply)
        .await
        .unwrap();
    let Outcome::Reconciled(report) = &outcome else {
        panic!("{outcome:?}")
    };
    let failed: Vec<_> = report
        .actions
        .iter()
        .filter(|a| matches!(a.status, Status::Failed { .. }))
        .collect();
    assert_eq!(failed.len(), 1, "{:#?}", report.actions);
    assert!(failed[0].resource.starts_with("assignment/"));
    assert!(
        matches!(&failed[0].status, Status::Failed { reason, retryable: true, .. } if reason.contains("Not authorized to create role"))
    );
    let err = outcome.error().expect("an incomplete run is an error");
    assert_eq!(err.disposition(), autofed::error::Disposition::Retry);
}

#[tokio::test]
async fn in_one_batch_each_message_meets_its_own_fate() {
    let mut bed = Bed::new().await;
    let ready = bed.sandbox.accounts["payments-dev"].clone();
    let waiting = bed.new_account(&[]).await;
    let ctx = bed.context(&bed.config_text(|c| c));
    bed.proxy
        .inject(Fault::sts_access_denied(usize::MAX).matching(&waiting));
    bed.work
        .send(&event("create-account-result-succeeded.json", &ready))
        .await;
    bed.work
        .send("{\"version\": \"0\", \"detail-type\": 7}")
        .await;
    bed.work
        .send(&event("create-account-result-succeeded.json", &waiting))
        .await;

    let response = bed.deliver_pending(&ctx).await.expect("a batch");
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "only the not-ready account is handed back"
    );
    let dead = bed.dlq.receive_raw().await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body().unwrap().contains("detail-type"));
    let iam = aws_sdk_iam::Client::new(&bed.member(&ready).await);
    assert!(
        iam.get_role()
            .role_name("Administrator")
            .send()
            .await
            .is_ok()
    );
    let iam = aws_sdk_iam::Client::new(&bed.member(&waiting).await);
    assert!(
        iam.get_role()
            .role_name("Administrator")
            .send()
            .await
            .is_err()
    );

    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let back = bed.work.receive_raw().await;
    assert_eq!(back.len(), 1);
    assert!(back[0].body().unwrap().contains(&waiting));
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_recognised_as_done_on_retry() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    // The provider and a role are created in moto, but autofed hears "already exists", as if a
    // first attempt had succeeded and its answer was lost.
    bed.proxy.inject(
        Fault::iam_error(
            "CreateSAMLProvider",
            409,
            "EntityAlreadyExists",
            "SAMLProvider Okta already exists.",
        )
        .after_forwarding(),
    );
    bed.proxy.inject(
        Fault::iam_error(
            "CreateRole",
            409,
            "EntityAlreadyExists",
            "Role with name Administrator already exists.",
        )
        .after_forwarding(),
    );
    let report = onboard_report(&bed, &bed.config_text(|c| c), &id, Mode::Apply).await;
    assert!(
        report.actions.iter().all(|a| a.status == Status::Applied),
        "{:#?}",
        report.actions
    );
    assert_within_session_policy(&report);
    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    let attached = iam
        .list_attached_role_policies()
        .role_name("Administrator")
        .send()
        .await
        .unwrap();
    assert_eq!(
        attached.attached_policies().len(),
        1,
        "the role's later actions still ran"
    );
    assert_eq!(
        iam.list_roles()
            .path_prefix("/federated/")
            .send()
            .await
            .unwrap()
            .roles()
            .len(),
        3
    );
    // And the next run finds nothing to do.
    let again = onboard_report(&bed, &bed.config_text(|c| c), &id, Mode::Apply).await;
    assert!(again.actions.is_empty());
}

#[tokio::test]
async fn adopt_takes_over_a_same_named_role_and_corrects_it() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    let theirs = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("Administrator")
        .path("/federated/")
        .assume_role_policy_document(theirs)
        .send()
        .await
        .unwrap();

    let config = bed.config_text(|c| format!("adopt = true\n{c}"));
    let report = onboard_report(&bed, &config, &id, Mode::Apply).await;
    assert_within_session_policy(&report);
    let admin: Vec<_> = report
        .actions
        .iter()
        .filter(|a| a.resource == "role/Administrator")
        .map(|a| a.summary.as_str())
        .collect();
    assert!(
        admin[0].starts_with("adopt role Administrator"),
        "{admin:?}"
    );
    assert_eq!(
        admin.len(),
        4,
        "adopt, trust, description, attach: {admin:?}"
    );
    let role = iam
        .get_role()
        .role_name("Administrator")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let tags: Vec<_> = role.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, vec![MANAGED]);
    let trust = decode(role.assume_role_policy_document().unwrap());
    assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRoleWithSAML");
    assert!(
        onboard_report(&bed, &config, &id, Mode::Apply)
            .await
            .actions
            .is_empty()
    );
}

#[tokio::test]
async fn a_taken_alias_is_refused_once_and_dead_lettered_with_the_reason() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let ctx = bed.context(&bed.config_text(|c| c));
    bed.proxy.inject(Fault::iam_error(
        "CreateAccountAlias",
        409,
        "EntityAlreadyExists",
        "The account alias acme-payments-staging already exists.",
    ));
    let response = bed
        .deliver(&ctx, &event("create-account-result-succeeded.json", &id))
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "not retried: retrying cannot free the alias"
    );
    let dead = bed.dlq.take_dead_letters().await;
    assert_eq!(dead.len(), 1);
    let reason = &dead[0].1;
    assert!(
        reason.contains("need a person") && reason.contains("EntityAlreadyExists"),
        "{reason}"
    );
    // Everything else was still done.
    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    assert_eq!(
        iam.list_roles()
            .path_prefix("/federated/")
            .send()
            .await
            .unwrap()
            .roles()
            .len(),
        3
    );
}

#[tokio::test]
async fn an_event_for_the_management_account_is_skipped() {
    let bed = Bed::new().await;
    let ctx = bed.context(&bed.config_text(|c| c));
    let body = event(
        "create-account-result-succeeded.json",
        autofed_tests::MANAGEMENT_ACCOUNT,
    );
    let response = bed.deliver(&ctx, &body).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(bed.proxy.calls(), ["DescribeAccount"]);
    assert_eq!(bed.dlq.depth().await, 0);
}

#[tokio::test]
async fn a_control_tower_account_is_reached_through_the_fallback_role() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let config = bed
        .config_text(|c| format!("fallback_execution_roles = [\"AWSControlTowerExecution\"]\n{c}"));
    // The account has no OrganizationAccountAccessRole: STS denies it, every time.
    bed.proxy
        .inject(Fault::sts_access_denied(usize::MAX).matching("OrganizationAccountAccessRole"));
    let report = onboard_report(&bed, &config, &id, Mode::Apply).await;
    assert_eq!(report.failed(), 0);
    let assumed: Vec<_> = bed
        .proxy
        .calls_with_bodies()
        .into_iter()
        .filter(|(op, _)| op == "AssumeRole")
        .map(|(_, body)| {
            if body.contains("AWSControlTowerExecution") {
                "AWSControlTowerExecution"
            } else {
                "OrganizationAccountAccessRole"
            }
        })
        .collect();
    assert_eq!(
        assumed,
        ["OrganizationAccountAccessRole", "AWSControlTowerExecution"]
    );
}

#[tokio::test]
async fn records_are_handed_back_untouched_when_the_invocation_is_nearly_out_of_time() {
    let bed = Bed::new().await;
    let ctx = bed.context(&bed.config_text(|c| c));
    for name in ["payments-dev", "payments-prod"] {
        bed.work
            .send(&event(
                "create-account-result-succeeded.json",
                &bed.sandbox.accounts[name],
            ))
            .await;
    }
    let deadline = std::time::SystemTime::now() + std::time::Duration::from_secs(30);
    let response = bed
        .work
        .deliver(|e| autofed::batch::handle(&ctx, e, Some(deadline)))
        .await
        .expect("a batch");
    assert_eq!(response.batch_item_failures.len(), 2);
    assert_eq!(
        bed.proxy.calls(),
        ["ChangeMessageVisibility", "ChangeMessageVisibility"]
    );
    assert_eq!(
        bed.work.receive_raw().await.len(),
        2,
        "visible again at once"
    );
}
