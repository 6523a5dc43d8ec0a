//! `stack` deploy mode against moto's CloudFormation (with the test bed's corrections in
//! `tests/testbed/moto_cfn.py`): the account's provider and roles as one stack, made and
//! changed through change sets, read back from moto's CloudFormation and IAM.

use std::collections::BTreeSet;

use autofed::{
    ids::AccountId,
    onboard::{self, Outcome},
    plan::ActionKind,
    report::{Mode, Report, Status},
};
use autofed_tests::{bed::Bed, proxy::Fault};

const STACK: &str = "autofed-federation";

/// The sandbox configuration in `stack` mode, with `extra` lines in `[deploy]`.
fn stack_config(bed: &Bed, extra: &str) -> String {
    bed.config_text(|c| format!("{c}\n[deploy]\nmode = \"stack\"\n{extra}\n"))
}

async fn run(bed: &Bed, config: &str, account: &str, mode: Mode) -> Report {
    let ctx = bed.context(config);
    match onboard::onboard(&ctx, &AccountId::parse(account).unwrap(), mode)
        .await
        .unwrap()
    {
        Outcome::Reconciled(r) => *r,
        other => panic!("not reconciled: {other:?}"),
    }
}

fn cfn(conf: &aws_config::SdkConfig) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(conf)
}

/// The stack's resources: (logical id, physical id).
async fn stack_resources(bed: &Bed, id: &str) -> BTreeSet<(String, String)> {
    cfn(&bed.member(id).await)
        .list_stack_resources()
        .stack_name(STACK)
        .send()
        .await
        .unwrap()
        .stack_resource_summaries()
        .iter()
        .map(|r| {
            (
                r.logical_resource_id().unwrap().to_string(),
                r.physical_resource_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn role_names(bed: &Bed, id: &str) -> BTreeSet<String> {
    aws_sdk_iam::Client::new(&bed.member(id).await)
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name().to_string())
        .filter(|n| n != "OrganizationAccountAccessRole")
        .collect()
}

/// Every member-account call of a run must be allowed by the session policy autofed passes to
/// AssumeRole in stack mode.
fn assert_within_session_policy(report: &Report) {
    for key in report.calls.by_operation.keys() {
        let action = match key.split_once(':') {
            Some(("IAM", op)) => format!("iam:{op}"),
            Some(("CloudFormation", op)) => format!("cloudformation:{op}"),
            _ => continue,
        };
        assert!(
            autofed::aws::sts::STACK_ACTIONS.contains(&action.as_str()),
            "{action} is called but not in the stack-mode session policy"
        );
    }
}

fn stack_actions(report: &Report) -> Vec<(ActionKind, String, Status)> {
    report
        .actions
        .iter()
        .filter(|a| a.resource.starts_with("stack/") || a.resource.starts_with("role/"))
        .map(|a| (a.kind, a.summary.clone(), a.status.clone()))
        .collect()
}

/// The writes the proxy saw, CloudFormation's and IAM's, without the queue's.
fn account_writes(bed: &Bed) -> Vec<String> {
    bed.writes()
        .into_iter()
        .filter(|w| {
            !matches!(
                w.as_str(),
                "SendMessage" | "ChangeMessageVisibility" | "DeleteMessage"
            )
        })
        .collect()
}

#[tokio::test]
async fn the_provider_and_roles_live_in_one_protected_stack_and_a_rerun_makes_no_change_set() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let config = stack_config(&bed, "");

    let report = run(&bed, &config, &id, Mode::Apply).await;
    assert_within_session_policy(&report);
    let stack = stack_actions(&report);
    assert_eq!(stack.len(), 1, "{stack:?}");
    let (kind, summary, status) = &stack[0];
    assert_eq!((*kind, status), (ActionKind::Create, &Status::Applied));
    assert_eq!(
        summary,
        "create stack autofed-federation with a change set: \
         Add RoleAdministrator (AWS::IAM::Role), Add RolePowerUsers (AWS::IAM::Role), \
         Add RoleReadOnly (AWS::IAM::Role), Add SamlProvider (AWS::IAM::SAMLProvider); \
         then turn on termination protection"
    );
    // No IAM write of its own: CloudFormation made the provider and roles.
    let writes = account_writes(&bed);
    assert!(
        !writes.iter().any(|w| w.starts_with("Create")
            && w != "CreateChangeSet"
            && w != "CreateAccountAlias"
            && w != "CreateAccountAssignment"),
        "{writes:?}"
    );
    assert_eq!(bed.proxy.count("ExecuteChangeSet"), 1);

    let member = bed.member(&id).await;
    let described = cfn(&member)
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await
        .unwrap();
    let s = &described.stacks()[0];
    assert_eq!(s.stack_status().unwrap().as_str(), "CREATE_COMPLETE");
    assert_eq!(s.enable_termination_protection(), Some(true));
    assert!(
        s.tags()
            .iter()
            .any(|t| t.key() == Some("autofed:managed-by") && t.value() == Some("autofed"))
    );
    let provider_arn = format!("arn:aws:iam::{id}:saml-provider/Okta");
    assert_eq!(
        stack_resources(&bed, &id).await,
        BTreeSet::from([
            ("RoleAdministrator".to_string(), "Administrator".to_string()),
            ("RolePowerUsers".to_string(), "PowerUsers".to_string()),
            ("RoleReadOnly".to_string(), "ReadOnly".to_string()),
            ("SamlProvider".to_string(), provider_arn.clone()),
        ])
    );
    let iam = aws_sdk_iam::Client::new(&member);
    let readonly = iam.get_role().role_name("ReadOnly").send().await.unwrap();
    let readonly = readonly.role().unwrap();
    assert_eq!(readonly.path(), "/federated/readonly/");
    assert_eq!(readonly.max_session_duration(), Some(43200));
    let trust = autofed::policy::decode(readonly.assume_role_policy_document().unwrap()).unwrap();
    assert_eq!(trust, autofed::policy::saml_trust(&provider_arn));
    assert!(
        iam.get_saml_provider()
            .saml_provider_arn(&provider_arn)
            .send()
            .await
            .unwrap()
            .saml_metadata_document()
            .unwrap()
            .contains("EntityDescriptor")
    );

    // The rerun: nothing differs, so no change set and no write of any kind.
    bed.proxy.clear_calls();
    let report = run(&bed, &config, &id, Mode::Apply).await;
    assert!(report.actions.is_empty(), "{:?}", report.actions);
    assert_eq!(account_writes(&bed), Vec::<String>::new());
    assert_eq!(report.calls.writes, 0);
    bed.assert_actions_listed("account-onboarder");
}

#[tokio::test]
async fn a_role_added_and_one_removed_make_a_change_set_of_exactly_those_two() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    run(&bed, &stack_config(&bed, ""), &id, Mode::Apply).await;

    // ReadOnly leaves the configuration; Auditors joins it.
    let edited = bed.config_text(|c| {
        let c = autofed_tests::fixtures::without_role(&c, "ReadOnly");
        format!(
            "{c}\n[[roles]]\nname = \"Auditors\"\nmanaged_policy_arns = [\"arn:aws:iam::aws:policy/SecurityAudit\"]\n\n[deploy]\nmode = \"stack\"\n"
        )
    });
    bed.proxy.clear_calls();
    let plan = run(&bed, &edited, &id, Mode::Plan).await;
    assert_eq!(
        stack_actions(&plan),
        [(
            ActionKind::Update,
            "update stack autofed-federation with a change set: \
             Add RoleAuditors (AWS::IAM::Role), Remove RoleReadOnly (AWS::IAM::Role)"
                .to_string(),
            Status::Planned
        )]
    );
    assert_eq!(
        account_writes(&bed),
        Vec::<String>::new(),
        "a plan writes nothing"
    );

    let report = run(&bed, &edited, &id, Mode::Apply).await;
    assert_eq!(stack_actions(&report)[0].2, Status::Applied);
    assert_eq!(
        role_names(&bed, &id).await,
        BTreeSet::from([
            "Administrator".into(),
            "Auditors".into(),
            "PowerUsers".into()
        ])
    );
    let ids: BTreeSet<String> = stack_resources(&bed, &id)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            "RoleAdministrator".into(),
            "RoleAuditors".into(),
            "RolePowerUsers".into(),
            "SamlProvider".into()
        ])
    );
    // And the next run finds nothing to do.
    bed.proxy.clear_calls();
    assert!(
        run(&bed, &edited, &id, Mode::Apply)
            .await
            .actions
            .is_empty()
    );
    assert_eq!(account_writes(&bed), Vec::<String>::new());
}

#[tokio::test]
async fn a_failed_stack_is_reported_with_cloudformations_reasons_and_dead_lettered() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let bad = bed.config_text(|c| {
        format!(
            "{}\n[deploy]\nmode = \"stack\"\n",
            c.replace(
                "arn:aws:iam::aws:policy/PowerUserAccess\"]",
                "arn:aws:iam::aws:policy/NoSuchPolicy\"]"
            )
        )
    });
    let ctx = bed.context(&bad);
    let outcome = onboard::onboard(&ctx, &AccountId::parse(&id).unwrap(), Mode::Apply)
        .await
        .unwrap();
    let Outcome::Reconciled(report) = &outcome else {
        panic!("{outcome:?}")
    };
    let (_, _, status) = &stack_actions(report)[0];
    let Status::Failed {
        reason, retryable, ..
    } = status
    else {
        panic!("{status:?}")
    };
    assert!(!retryable, "{reason}");
    assert!(reason.contains("ROLLBACK_COMPLETE"), "{reason}");
    assert!(reason.contains("RolePowerUsers"), "{reason}");
    assert!(reason.contains("NoSuchPolicy"), "{reason}");
    let err = outcome.error().unwrap();
    assert_eq!(
        err.disposition(),
        autofed::error::Disposition::DeadLetter,
        "{err}"
    );
    // Rolled back: no role is left behind.
    assert_eq!(role_names(&bed, &id).await, BTreeSet::new());

    // The configuration mended, the next run replaces the empty stack and succeeds.
    let report = run(&bed, &stack_config(&bed, ""), &id, Mode::Apply).await;
    assert!(
        report
            .actions
            .iter()
            .all(|a| !matches!(a.status, Status::Failed { .. })),
        "{:?}",
        report.actions
    );
    assert_eq!(stack_resources(&bed, &id).await.len(), 4);
}

#[tokio::test]
async fn a_same_named_role_outside_the_stack_is_a_conflict_until_adopted() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    iam.create_role()
        .role_name("Administrator")
        .path("/federated/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .description("made by hand")
        .send()
        .await
        .unwrap();

    let report = run(&bed, &stack_config(&bed, ""), &id, Mode::Apply).await;
    let actions = stack_actions(&report);
    assert_eq!(actions[0].0, ActionKind::Conflict, "{actions:?}");
    assert!(
        actions[0]
            .1
            .contains("role Administrator exists outside stack"),
        "{actions:?}"
    );
    // The stack was made without it; the hand-made role is as it was.
    assert!(actions[1].1.starts_with("create stack"), "{actions:?}");
    assert!(!actions[1].1.contains("RoleAdministrator"), "{actions:?}");
    let ids: BTreeSet<String> = stack_resources(&bed, &id)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert!(!ids.contains("RoleAdministrator"), "{ids:?}");
    let role = iam
        .get_role()
        .role_name("Administrator")
        .send()
        .await
        .unwrap();
    assert_eq!(role.role().unwrap().description(), Some("made by hand"));
    assert!(role.role().unwrap().tags().is_empty());

    // With adopt on, the plan imports it as it is, then updates it to the configuration.
    let adopt = bed.config_text(|c| format!("adopt = true\n{c}\n[deploy]\nmode = \"stack\"\n"));
    bed.proxy.clear_calls();
    let plan = run(&bed, &adopt, &id, Mode::Plan).await;
    let summaries: Vec<String> = stack_actions(&plan).into_iter().map(|a| a.1).collect();
    assert_eq!(
        summaries,
        [
            "import into stack autofed-federation what exists outside it: Import RoleAdministrator (AWS::IAM::Role)",
            "update stack autofed-federation with a change set: Modify RoleAdministrator (AWS::IAM::Role)",
        ]
    );
    assert_eq!(account_writes(&bed), Vec::<String>::new());
    let report = run(&bed, &adopt, &id, Mode::Apply).await;
    assert_within_session_policy(&report);
    assert!(
        stack_actions(&report)
            .iter()
            .all(|a| a.2 == Status::Applied),
        "{:?}",
        report.actions
    );
    assert!(
        stack_resources(&bed, &id)
            .await
            .contains(&("RoleAdministrator".into(), "Administrator".into()))
    );
    let role = iam
        .get_role()
        .role_name("Administrator")
        .send()
        .await
        .unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.description(), Some("Okta-federated administrators"));
    assert!(role.tags().iter().any(|t| t.key() == "autofed:managed-by"));
    bed.proxy.clear_calls();
    assert!(run(&bed, &adopt, &id, Mode::Apply).await.actions.is_empty());
    assert_eq!(account_writes(&bed), Vec::<String>::new());
}

#[tokio::test]
async fn the_drift_run_reports_drifted_resources_with_expected_and_actual_values() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let config = stack_config(&bed, "");
    run(&bed, &config, &id, Mode::Apply).await;
    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    iam.update_role()
        .role_name("Administrator")
        .max_session_duration(7200)
        .send()
        .await
        .unwrap();

    bed.proxy.clear_calls();
    let plan = run(&bed, &config, &id, Mode::Plan).await;
    let drift: Vec<_> = plan
        .actions
        .iter()
        .filter(|a| a.resource.starts_with("stack/"))
        .collect();
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(
        drift[0].resource,
        "stack/autofed-federation/RoleAdministrator"
    );
    assert_eq!(drift[0].kind, ActionKind::Manual);
    assert!(
        drift[0]
            .summary
            .contains("/MaxSessionDuration NOT_EQUAL: expected 3600, actual 7200"),
        "{}",
        drift[0].summary
    );
    assert_eq!(
        account_writes(&bed),
        Vec::<String>::new(),
        "drift detection writes nothing"
    );
    assert_within_session_policy(&plan);
    bed.assert_actions_listed("backfill");
}

#[tokio::test]
async fn deprovisioning_deletes_the_stack_only_when_enabled() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    run(&bed, &stack_config(&bed, ""), &id, Mode::Apply).await;
    let account = AccountId::parse(&id).unwrap();

    let off = bed.context(&stack_config(&bed, ""));
    let Outcome::Reconciled(report) = onboard::remove(&off, &account, Mode::Apply).await.unwrap()
    else {
        panic!()
    };
    let stack: Vec<_> = report
        .actions
        .iter()
        .filter(|a| a.resource == "stack/autofed-federation")
        .collect();
    assert_eq!(stack.len(), 1);
    assert_eq!(
        (stack[0].kind, &stack[0].status),
        (ActionKind::Delete, &Status::Planned)
    );
    assert_eq!(stack_resources(&bed, &id).await.len(), 4);

    let on = bed.context(&stack_config(&bed, "deprovision = true"));
    let Outcome::Reconciled(report) = onboard::remove(&on, &account, Mode::Apply).await.unwrap()
    else {
        panic!()
    };
    let stack: Vec<_> = report
        .actions
        .iter()
        .filter(|a| a.resource == "stack/autofed-federation")
        .collect();
    assert_eq!(stack[0].status, Status::Applied, "{stack:?}");
    assert_eq!(role_names(&bed, &id).await, BTreeSet::new());
    let gone = cfn(&bed.member(&id).await)
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await;
    assert!(gone.is_err(), "{gone:?}");
}

#[tokio::test]
async fn a_stack_busy_with_another_operation_is_not_ready_and_the_change_waits() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    run(&bed, &stack_config(&bed, ""), &id, Mode::Apply).await;
    let edited = bed.config_text(|c| {
        format!(
            "{}\n[deploy]\nmode = \"stack\"\n",
            autofed_tests::fixtures::without_role(&c, "ReadOnly")
        )
    });
    // Between this run's read and its change set, another operation began on the stack.
    bed.proxy.inject(Fault::iam_error(
        "CreateChangeSet",
        400,
        "ValidationError",
        &format!(
            "Stack:arn:aws:cloudformation:eu-west-1:{id}:stack/autofed-federation/1 is in \
             UPDATE_IN_PROGRESS state and can not be updated."
        ),
    ));
    let ctx = bed.context(&edited);
    let account = AccountId::parse(&id).unwrap();
    let outcome = onboard::onboard(&ctx, &account, Mode::Apply).await.unwrap();
    let err = outcome.error().expect("the change did not happen");
    assert_eq!(
        err.disposition(),
        autofed::error::Disposition::RetryLater,
        "{err}"
    );
    assert!(err.to_string().contains("UPDATE_IN_PROGRESS"), "{err}");
    assert!(role_names(&bed, &id).await.contains("ReadOnly"));

    // Delivered again, it is planned afresh and made.
    let Outcome::Reconciled(report) = onboard::onboard(&ctx, &account, Mode::Apply).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(stack_actions(&report)[0].2, Status::Applied, "{report:?}");
    assert!(!role_names(&bed, &id).await.contains("ReadOnly"));
}
