//! A corpus of malformed and hostile inputs, each of which must get a clear error naming the
//! problem, touch nothing, and (from a queue) go to the dead-letter queue at once: account
//! events, EKS events, backfill messages and inputs, and configurations.

use autofed::{backfill::Request, config::Config};
use autofed_tests::{bed::Bed, fixtures::event};
use serde_json::{Value, json};

/// A sample event as JSON, to be edited.
fn sample(file: &str, account: &str) -> Value {
    serde_json::from_str(&event(file, account)).unwrap()
}

/// `v` with the field at `path` (`/`-separated) set to `to`.
fn with(mut v: Value, path: &str, to: Value) -> String {
    *v.pointer_mut(path).unwrap_or_else(|| panic!("no {path}")) = to;
    v.to_string()
}

/// `v` without the field at `path`.
fn without(mut v: Value, path: &str) -> String {
    let (parent, key) = path.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    v.to_string()
}

/// Delivers each body to `handler` (through the work queue, as Lambda would) and checks that
/// each is dead-lettered with a reason containing its needle, with no write but that send.
async fn each_dead_lettered(bed: &Bed, clusters: bool, cases: &[(String, &str)]) {
    let ctx = bed.context(&bed.config_text(|c| c));
    for (body, needle) in cases {
        bed.proxy.clear_calls();
        bed.work.send(body).await;
        let response = bed
            .work
            .deliver(|e| async {
                if clusters {
                    autofed::batch::handle_clusters(&ctx, e, None).await
                } else {
                    autofed::batch::handle(&ctx, e, None).await
                }
            })
            .await
            .expect("a message");
        assert!(
            response.batch_item_failures.is_empty(),
            "dead-lettered, not retried: {needle}"
        );
        assert_eq!(
            bed.writes(),
            ["SendMessage"],
            "only the dead-letter send: {needle}"
        );
        let dead = bed.dlq.take_dead_letters().await;
        assert_eq!(dead.len(), 1, "{needle}");
        let reason = &dead[0].1;
        assert!(reason.contains(needle), "{reason:?} should name {needle:?}");
        // A hostile value is quoted cut short: the reason stays readable.
        assert!(
            reason.len() < 1_000,
            "{} bytes: {reason:.200}",
            reason.len()
        );
    }
    assert_eq!(bed.work.depth().await, 0);
}

#[tokio::test]
async fn bad_account_events_are_dead_lettered_naming_the_problem() {
    let bed = Bed::new().await;
    let dev = bed.sandbox.accounts["payments-dev"].clone();
    let good = event("create-account-result-succeeded.json", &dev);
    let created = || sample("create-account-result-succeeded.json", &dev);
    let moved = || sample("move-account.json", &dev);
    let closed = || sample("close-account.json", &dev);
    let tagged = || sample("tag-resource.json", &dev);
    let ct = || sample("control-tower-create-managed-account.json", &dev);
    let status = "/detail/serviceEventDetails/createAccountStatus";
    let huge = "9".repeat(200_000);
    let cases: Vec<(String, &str)> = vec![
        (good[..good.len() / 2].to_string(), "malformed event"),
        (good[..1].to_string(), "malformed event"),
        (String::new(), "malformed event"),
        ("null".into(), "malformed event"),
        ("[]".into(), "malformed event"),
        ("42".into(), "malformed event"),
        ("\"CreateAccountResult\"".into(), "malformed event"),
        ("{}".into(), "malformed event"),
        (format!("{good}garbage"), "malformed event"),
        (without(created(), "/detail-type"), "malformed event"),
        (with(created(), "/source", json!(7)), "malformed event"),
        (with(created(), "/source", json!("aws.ec2")), "unsupported event"),
        (with(created(), "/detail-type", json!("Object Created")), "unsupported event"),
        (with(created(), "/detail/eventName", json!("DeleteOrganization")), "unsupported event"),
        (with(created(), "/detail", json!("a string")), "event field `detail`"),
        (with(created(), &format!("{status}/accountId"), json!("12345")), "createAccountStatus.accountId"),
        (with(created(), &format!("{status}/accountId"), json!("2222222222223")), "createAccountStatus.accountId"),
        (with(created(), &format!("{status}/accountId"), json!("22222222222a")), "createAccountStatus.accountId"),
        // Full-width digits: twelve characters, none of them ASCII.
        (with(created(), &format!("{status}/accountId"), json!("２２２２２２２２２２２２")), "createAccountStatus.accountId"),
        (with(created(), &format!("{status}/accountId"), json!(222222222222u64)), "createAccountStatus.accountId"),
        (with(created(), &format!("{status}/accountId"), json!(huge)), "createAccountStatus.accountId"),
        (with(created(), &format!("{status}/accountId"), json!(".*")), "createAccountStatus.accountId"),
        (without(created(), &format!("{status}/accountId")), "createAccountStatus.accountId"),
        (with(created(), &format!("{status}/state"), json!(["SUCCEEDED"])), "createAccountStatus.state"),
        (with(created(), "/detail/serviceEventDetails", json!(null)), "serviceEventDetails"),
        (with(created(), &format!("{status}/accountId"), json!("999999999999")), "not a member of the organization"),
        (with(ct(), "/detail/serviceEventDetails/createManagedAccountStatus/account/accountId", json!("abc")), "accountId"),
        (with(moved(), "/detail/requestParameters/accountId", json!("1")), "detail.requestParameters.accountId"),
        (without(moved(), "/detail/requestParameters/destinationParentId"), "detail.requestParameters"),
        (with(moved(), "/detail/requestParameters", json!(null)), "detail.requestParameters"),
        (with(closed(), "/detail/requestParameters/accountId", json!("$(rm -rf /)")), "detail.requestParameters.accountId"),
        (with(tagged(), "/detail/requestParameters/resourceId", json!(12)), "detail.requestParameters.resourceId"),
        (json!({"source": "autofed.backfill", "detail-type": "Backfill Account", "detail": {"accountId": "1234"}}).to_string(), "detail.accountId"),
        (json!({"source": "autofed.backfill", "detail-type": "Backfill Account", "detail": {"accountId": dev, "sneaky": true}}).to_string(), "detail.sneaky"),
        (json!({"source": "autofed.backfill", "detail-type": "Backfill Account", "detail": {}}).to_string(), "accountId"),
    ];
    assert!(cases.len() >= 30);
    each_dead_lettered(&bed, false, &cases).await;
}

#[tokio::test]
async fn bad_cluster_events_are_dead_lettered_naming_the_problem() {
    let bed = Bed::new().await;
    let dev = bed.sandbox.accounts["payments-dev"].clone();
    let good =
        autofed_tests::fixtures::cluster_event("eks-create-cluster.json", &dev, "payments-prod");
    let created = || serde_json::from_str::<Value>(&good).unwrap();
    let name = "/detail/requestParameters/name";
    let cases: Vec<(String, &str)> = vec![
        (good[..good.len() - 10].to_string(), "malformed event"),
        (with(created(), "/source", json!("aws.organizations")), "unsupported event"),
        (with(created(), "/detail/eventName", json!("ListClusters")), "unsupported event"),
        (with(created(), name, json!("")), "detail.requestParameters.name"),
        (with(created(), name, json!("-starts-with-dash")), "detail.requestParameters.name"),
        (with(created(), name, json!("x".repeat(101))), "detail.requestParameters.name"),
        (with(created(), name, json!("prod.*")), "detail.requestParameters.name"),
        (with(created(), name, json!("a|b(c)")), "detail.requestParameters.name"),
        (with(created(), name, json!("prød")), "detail.requestParameters.name"),
        (with(created(), name, json!("../../etc/passwd")), "detail.requestParameters.name"),
        (with(created(), name, json!(7)), "detail.requestParameters.name"),
        (with(created(), "/detail/awsRegion", json!("eu-west-1; rm -rf /")), "detail.awsRegion"),
        (with(created(), "/detail/awsRegion", json!("EU-WEST-1")), "detail.awsRegion"),
        (with(created(), "/detail/recipientAccountId", json!("22222222222")), "detail.recipientAccountId"),
        (with(created(), "/detail/requestParameters", json!(null)), "detail.requestParameters"),
        (json!({"source": "autofed.backfill", "detail-type": "Backfill Cluster", "detail": {"accountId": dev, "region": "eu-west-1", "name": "a b"}}).to_string(), "detail.name"),
        (json!({"source": "autofed.backfill", "detail-type": "Backfill Cluster", "detail": {"accountId": dev, "region": "nowhere", "name": "ok"}}).to_string(), "detail.region"),
    ];
    each_dead_lettered(&bed, true, &cases).await;
}

#[test]
fn bad_backfill_inputs_name_the_field() {
    let cases = [
        (json!(null), "`input`"),
        (json!("plan"), "`input`"),
        (json!({}), "missing field `mode`"),
        (json!({"mode": "PLAN"}), "`mode`"),
        (
            json!({"mode": "plan", "accounts": ["22222222222"]}),
            "`accounts[0]`",
        ),
        (
            json!({"mode": "plan", "accounts": ["222222222222", null]}),
            "`accounts[1]`",
        ),
        (json!({"mode": "plan", "accounts": "ALL"}), "`accounts`"),
        (
            json!({"mode": "plan", "clusters": true, "regions": ["*"]}),
            "`regions[0]`",
        ),
        (json!({"mode": "plan", "regions": "eu-west-1"}), "`regions`"),
        (json!({"mode": "apply", "dry_run": true}), "`dry_run`"),
    ];
    for (input, needle) in cases {
        let err = Request::parse(input.clone()).unwrap_err().to_string();
        assert!(
            err.contains(needle),
            "{input}: {err:?} should name {needle}"
        );
    }
}

#[tokio::test]
async fn bad_configurations_name_the_key_and_value() {
    let bed = Bed::new().await;
    let good = bed.config_text(|c| c);
    Config::from_toml(&good, std::path::PathBuf::new()).expect("the sandbox config is valid");
    let cases: Vec<(String, &str)> = vec![
        (
            good.replace("execution_role =", "execution_rol ="),
            "execution_rol",
        ),
        (
            good.replace("name = \"Administrator\"", "name = \"Admin istrator\""),
            "roles[0].name",
        ),
        (
            good.replace("path = \"/federated/\"", "path = \"federated\""),
            "roles[0].path",
        ),
        (
            good.replace(
                "max_session_duration = 14400",
                "max_session_duration = 99999999",
            ),
            "roles[1].max_session_duration",
        ),
        (
            good.replace(
                "max_session_duration = 14400",
                "max_session_duration = \"4h\"",
            ),
            "max_session_duration",
        ),
        (
            good.replace(
                "arn:aws:iam::aws:policy/AdministratorAccess",
                "arn:aws-mars:iam::aws:policy/AdministratorAccess",
            ),
            "managed_policy_arns",
        ),
        (
            good.replace(
                "arn:aws:iam::aws:policy/AdministratorAccess",
                "arn:aws:s3:::bucket",
            ),
            "managed_policy_arns",
        ),
        (
            good.replace(
                "accounts = { all = true }",
                "accounts = { ous = [\"ou-*\"] }",
            ),
            "accounts",
        ),
        (
            good.replace("accounts = { all = true }", "accounts = { tags = 7 }"),
            "accounts",
        ),
        (
            good.replace(
                "accounts = { all = true }",
                "accounts = { all = true, everything = true }",
            ),
            "everything",
        ),
        (
            good.replace("access = \"cluster-admin\"", "access = \"root\""),
            "clusters.access[0].access",
        ),
        (
            good.replace("names = [\"payments-*\"]", "names = [\"\"]"),
            "names",
        ),
        (
            good.replace("provider_name = \"Okta\"", "provider_name = \"Ok ta/\""),
            "saml.provider_name",
        ),
        (format!("{good}\n[nonsense]\nx = 1\n"), "nonsense"),
        (
            format!("{good}\n[deploy]\nmode = \"cloudformation\"\n"),
            "deploy.mode",
        ),
        (
            format!("{good}\n[deploy]\nmode = \"stack\"\nstack_name = \"autofed_federation\"\n"),
            "deploy.stack_name",
        ),
        (
            format!("{good}\n[deploy]\nmode = \"stack\"\nstack = \"x\"\n"),
            "stack",
        ),
        (
            good.replacen(
                "[[identity_center.assignments]]",
                "[identity_center]\ncalls_per_second = 0\n\n[[identity_center.assignments]]",
                1,
            ),
            "identity_center.calls_per_second",
        ),
        (
            good.replacen(
                "[[identity_center.assignments]]",
                "[identity_center]\ncalls_per_second = 21\n\n[[identity_center.assignments]]",
                1,
            ),
            "identity_center.calls_per_second",
        ),
        (good[..good.len() / 2].to_string(), "configuration"),
    ];
    for (text, needle) in &cases {
        match Config::from_toml(text, std::path::PathBuf::new()) {
            Ok(_) => panic!("accepted a bad configuration ({needle})"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(needle), "{msg:?} should name {needle:?}");
            }
        }
    }
}
