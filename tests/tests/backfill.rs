//! The backfill end to end: a plan over a sandbox organization names exactly what needs
//! attention and writes nothing; an apply enqueues one message per account (and cluster) on
//! the onboarders' own queues; after the onboarders take them, a plan finds nothing left.

use std::collections::BTreeSet;

use autofed::{
    backfill::{self, Outbox, Request},
    batch,
    ids::AccountId,
    onboard::{self, Outcome},
    report::Mode,
};
use autofed_tests::{bed::Bed, esm::Queue};
use serde_json::{Value, json};

/// Runs the backfill as the function does: input checked, then run.
async fn backfill(ctx: &autofed::Context, outbox: &Outbox, input: Value) -> autofed::Result<Value> {
    let request = Request::parse(input)?;
    backfill::run(ctx, outbox, &request).await
}

/// The ids of the plan's items in `state`, accounts or clusters.
fn named(plan: &Value, state: &str, clusters: bool) -> BTreeSet<String> {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == state && i["cluster"].is_string() == clusters)
        .map(|i| {
            i[if clusters { "cluster" } else { "account_id" }]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Delivers every visible batch of `queue` to `handle` until it is empty.
async fn drain<F, Fut>(queue: &Queue, handle: F) -> usize
where
    F: Fn(aws_lambda_events::event::sqs::SqsEvent) -> Fut,
    Fut: Future<Output = aws_lambda_events::event::sqs::SqsBatchResponse>,
{
    let mut failures = 0;
    while let Some(response) = queue.deliver(&handle).await {
        failures += response.batch_item_failures.len();
    }
    failures
}

#[tokio::test]
async fn a_plan_over_fifty_accounts_names_exactly_the_new_and_the_drifted_then_apply_leaves_nothing()
 {
    let mut bed = Bed::new().await;
    // 50 member accounts: the sandbox's 3 and 47 more across the OUs, some tagged.
    for n in 0..47 {
        let ou = ["Prod", "Dev", "Sandbox"][n % 3];
        let tags: &[(&str, &str)] = if n % 2 == 0 {
            &[("team", "payments")]
        } else {
            &[]
        };
        bed.sandbox
            .add_account(&bed.aws, &format!("acct-{n:02}"), ou, tags)
            .await;
    }
    let mut members: Vec<String> = bed.sandbox.accounts.values().cloned().collect();
    members.sort();
    assert_eq!(members.len(), 50);
    let config = bed.config_text(|c| c);
    let ctx = bed.context(&config);
    let sqs = aws_sdk_sqs::Client::new(&bed.aws);
    let clusters = Queue::create(&sqs, "autofed-cluster-events").await;
    let outbox = Outbox {
        forwarding: None,
        accounts_url: bed.work.url.clone(),
        clusters_url: clusters.url.clone(),
    };

    // 10 onboarded; then 2 of them drift: a role loses its policy, an assignment is removed.
    let onboarded = &members[..10];
    for id in onboarded {
        let outcome = onboard::onboard(&ctx, &AccountId::parse(id).unwrap(), Mode::Apply)
            .await
            .unwrap();
        assert!(outcome.error().is_none(), "{outcome:?}");
    }
    let (drift_role, drift_assignment) = (&members[3], &members[7]);
    aws_sdk_iam::Client::new(&bed.member(drift_role).await)
        .detach_role_policy()
        .role_name("ReadOnly")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    aws_sdk_ssoadmin::Client::new(&bed.aws)
        .delete_account_assignment()
        .instance_arn(&bed.sandbox.instance_arn)
        .target_id(drift_assignment)
        .target_type(aws_sdk_ssoadmin::types::TargetType::AwsAccount)
        .permission_set_arn(&bed.sandbox.permission_sets["AdministratorAccess"])
        .principal_type(aws_sdk_ssoadmin::types::PrincipalType::Group)
        .principal_id(&bed.sandbox.groups["Platform Engineers"])
        .send()
        .await
        .unwrap();

    bed.proxy.clear_calls();
    let plan = backfill(&ctx, &outbox, json!({"mode": "plan", "accounts": "all"}))
        .await
        .unwrap();
    let new: BTreeSet<String> = members[10..].iter().cloned().collect();
    assert_eq!(named(&plan, "new", false), new);
    assert_eq!(
        named(&plan, "drifted", false),
        [drift_role.clone(), drift_assignment.clone()].into()
    );
    assert_eq!(
        plan["items"].as_array().unwrap().len(),
        42,
        "nothing else is named"
    );
    assert_eq!(
        plan["accounts"],
        json!({"planned": 50, "in_sync": 8, "new": 40, "drifted": 2, "failed": 0})
    );
    assert_eq!(plan["drifted_resources"], 2);
    let drifted: Vec<&Value> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == "drifted")
        .collect();
    for item in &drifted {
        assert_eq!(item["actions"].as_array().unwrap().len(), 1, "{item}");
    }
    // The management account is left out, and says why.
    assert_eq!(plan["skipped"].as_array().unwrap().len(), 1);
    // A plan only reads: no write anywhere, nothing enqueued.
    assert_eq!(bed.writes(), Vec::<String>::new());
    assert_eq!(bed.work.depth().await, 0);
    bed.assert_actions_listed("backfill");

    // Apply enqueues every account once, on the account onboarder's queue.
    bed.proxy.clear_calls();
    let applied = backfill(&ctx, &outbox, json!({"mode": "apply", "accounts": "all"}))
        .await
        .unwrap();
    let enqueued: BTreeSet<String> = applied["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(enqueued, members.iter().cloned().collect());
    assert_eq!(bed.work.depth().await, 50);
    assert_eq!(bed.proxy.count("SendMessageBatch"), 5);
    bed.assert_actions_listed("backfill");

    // The onboarder takes them (as its event source would); then nothing is left.
    let failures = drain(&bed.work, |e| batch::handle(&ctx, e, None)).await;
    assert_eq!(failures, 0);
    assert_eq!(bed.dlq.depth().await, 0);
    let again = backfill(&ctx, &outbox, json!({"mode": "plan", "accounts": "all"}))
        .await
        .unwrap();
    assert_eq!(again["items"], json!([]));
    assert_eq!(
        again["accounts"],
        json!({"planned": 50, "in_sync": 50, "new": 0, "drifted": 0, "failed": 0})
    );
}

#[tokio::test]
async fn a_plan_of_named_accounts_covers_only_them_and_an_unknown_one_touches_nothing() {
    let bed = Bed::new().await;
    let config = bed.config_text(|c| c);
    let ctx = bed.context(&config);
    let outbox = Outbox {
        forwarding: None,
        accounts_url: bed.work.url.clone(),
        clusters_url: bed.work.url.clone(),
    };
    let dev = bed.sandbox.accounts["payments-dev"].clone();
    let plan = backfill(&ctx, &outbox, json!({"mode": "plan", "accounts": [dev]}))
        .await
        .unwrap();
    assert_eq!(named(&plan, "new", false), [dev.clone()].into());
    assert_eq!(plan["accounts"]["planned"], 1);

    bed.proxy.clear_calls();
    let err = backfill(
        &ctx,
        &outbox,
        json!({"mode": "apply", "accounts": [dev, "999999999999"]}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "account 999999999999 is not a member of the organization"
    );
    // Only the organization was read; nothing was sent or written.
    let calls = bed.proxy.calls();
    assert_eq!(calls, ["ListAccounts"]);
    assert_eq!(bed.work.depth().await, 0);

    let err = backfill(
        &ctx,
        &outbox,
        json!({"mode": "apply", "accounts": "everything"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "backfill input `accounts`: expected \"all\" or a list of account ids, got \"everything\""
    );
}

#[tokio::test]
async fn a_plan_covers_clusters_and_the_cluster_onboarder_takes_what_apply_enqueues() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let config = bed.config_text(|c| c);
    let ctx = bed.context(&config);
    let outcome = onboard::onboard(&ctx, &AccountId::parse(&id).unwrap(), Mode::Apply)
        .await
        .unwrap();
    assert!(outcome.error().is_none());
    // Identity Center's role for the EKSClusterAdminAccess permission set.
    aws_sdk_iam::Client::new(&bed.member(&id).await)
        .create_role()
        .role_name("AWSReservedSSO_EKSClusterAdminAccess_4ffa4321e413c0b0")
        .path("/aws-reserved/sso.amazonaws.com/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    let eks = bed.eks().await;
    let creator = format!("arn:aws:iam::{id}:role/OrganizationAccountAccessRole");
    for (region, name) in [
        ("eu-west-1", "payments-prod"),
        ("eu-west-1", "payments-dev"),
        ("us-west-2", "elsewhere"),
    ] {
        eks.add_cluster(&id, region, name, "API", 0, &creator);
    }
    // payments-dev is already onboarded.
    let sqs = aws_sdk_sqs::Client::new(&bed.aws);
    let clusters = Queue::create(&sqs, "autofed-cluster-events").await;
    let outbox = Outbox {
        forwarding: None,
        accounts_url: bed.work.url.clone(),
        clusters_url: clusters.url.clone(),
    };
    let dev = autofed::events::ClusterRef {
        account_id: AccountId::parse(&id).unwrap(),
        region: "eu-west-1".into(),
        name: "payments-dev".into(),
    };
    let Outcome::Reconciled(_) = autofed::cluster::onboard::onboard(&ctx, &dev, Mode::Apply)
        .await
        .unwrap()
    else {
        panic!("payments-dev onboarded")
    };

    let input =
        json!({"mode": "plan", "accounts": [id], "clusters": true, "regions": ["eu-west-1"]});
    bed.proxy.clear_calls();
    eks.clear_calls();
    let plan = backfill(&ctx, &outbox, input.clone()).await.unwrap();
    assert_eq!(
        named(&plan, "new", true),
        [format!("{id}/eu-west-1/payments-prod")].into()
    );
    assert_eq!(
        plan["clusters"],
        json!({"planned": 2, "in_sync": 1, "new": 1, "drifted": 0, "failed": 0})
    );
    assert_eq!(bed.writes(), Vec::<String>::new());
    assert!(
        eks.kube_requests().iter().all(|r| r.starts_with("GET ")),
        "{:?}",
        eks.kube_requests()
    );
    bed.assert_actions_listed("backfill");

    let mut apply = input.clone();
    apply["mode"] = json!("apply");
    let applied = backfill(&ctx, &outbox, apply).await.unwrap();
    assert_eq!(
        applied["clusters"],
        json!([
            format!("{id}/eu-west-1/payments-dev"),
            format!("{id}/eu-west-1/payments-prod")
        ])
    );
    assert_eq!(clusters.depth().await, 2);
    assert_eq!(bed.work.depth().await, 1);
    let failures = drain(&clusters, |e| batch::handle_clusters(&ctx, e, None)).await;
    assert_eq!(failures, 0);
    let prod = eks.cluster(&id, "eu-west-1", "payments-prod");
    assert!(
        prod.entries
            .contains_key(&format!("arn:aws:iam::{id}:role/federated/Administrator"))
    );
    let again = backfill(&ctx, &outbox, input).await.unwrap();
    assert_eq!(again["items"], json!([]));
    eks.check_contract();
}

/// The StackSet's (account, region) pairs.
async fn instance_pairs(bed: &Bed, name: &str) -> BTreeSet<(String, String)> {
    aws_sdk_cloudformation::Client::new(&bed.aws)
        .list_stack_instances()
        .stack_set_name(name)
        .send()
        .await
        .unwrap()
        .summaries()
        .iter()
        .map(|s| {
            (
                s.account().unwrap().to_string(),
                s.region().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_plan_names_exactly_the_pairs_without_a_forwarding_instance_and_apply_fills_them() {
    let bed = Bed::new().await;
    let regions = ["eu-west-1", "us-east-1"];
    let name = "autofed-cluster-event-forwarding".to_string();
    let mut members: Vec<String> = bed.sandbox.accounts.values().cloned().collect();
    members.sort();
    assert_eq!(members.len(), 3);
    // Three pairs lose their instance: one account in both regions, another in one.
    let gone = [
        (members[0].clone(), "eu-west-1"),
        (members[0].clone(), "us-east-1"),
        (members[2].clone(), "us-east-1"),
    ];
    autofed_tests::fixtures::forwarding_stack_set(&bed.aws, &bed.sandbox, &name, &regions, &gone)
        .await;
    let before = instance_pairs(&bed, &name).await;
    for (account, region) in &gone {
        assert!(!before.contains(&(account.clone(), region.to_string())));
    }
    let ctx = bed.context(&bed.config_text(|c| c));
    let outbox = Outbox {
        accounts_url: bed.work.url.clone(),
        clusters_url: bed.work.url.clone(),
        forwarding: Some(backfill::coverage::Forwarding {
            stack_set: name.clone(),
            targets: vec![bed.sandbox.root.clone()],
            regions: regions.iter().map(|r| r.to_string()).collect(),
        }),
    };

    bed.proxy.clear_calls();
    let plan = backfill(&ctx, &outbox, json!({"mode": "plan", "accounts": "all"}))
        .await
        .unwrap();
    let coverage = &plan["coverage"];
    assert_eq!(coverage["expected"], 6, "{coverage}");
    assert_eq!(coverage["current"], 3, "{coverage}");
    let mut want: Vec<Value> = gone
        .iter()
        .map(|(a, r)| json!({"account_id": a, "region": r, "state": "missing"}))
        .collect();
    want.sort_by_key(|v| v.to_string());
    assert_eq!(coverage["gaps"], json!(want));
    assert_eq!(bed.writes(), Vec::<String>::new(), "a plan writes nothing");

    let applied = backfill(&ctx, &outbox, json!({"mode": "apply", "accounts": "all"}))
        .await
        .unwrap();
    let operations = applied["coverage"]["operations"].as_array().unwrap();
    // members[0] lacks both regions, members[2] one: two operations, both succeeded.
    assert_eq!(operations.len(), 2, "{operations:?}");
    assert!(
        operations
            .iter()
            .all(|o| o["status"] == "SUCCEEDED" && o["failed"] == json!([]))
    );
    assert_eq!(bed.proxy.count("CreateStackInstances"), 2);
    let after = instance_pairs(&bed, &name).await;
    for (account, region) in &gone {
        assert!(
            after.contains(&(account.clone(), region.to_string())),
            "{after:?}"
        );
    }
    // Only the gaps were deployed: nothing else was added.
    assert_eq!(after.len(), before.len() + 3, "{after:?}");
    bed.assert_actions_listed("backfill");

    let again = backfill(&ctx, &outbox, json!({"mode": "plan", "accounts": "all"}))
        .await
        .unwrap();
    assert_eq!(again["coverage"]["gaps"], json!([]));
    assert_eq!(again["coverage"]["current"], 6);
}
