//! Okta registration end to end: events through the real handler, the Okta client talking
//! HTTP to the stateful Okta fake and the SDK clients to moto; the outcome read back from both.
//! Seed 003 (`group-mapping`), seed 002 (`app-per-account`), seed 004 (the push to Identity
//! Center) and deprovisioning.

use autofed::{
    Context,
    ids::AccountId,
    onboard::{self, Outcome},
    report::{Mode, Report, Status},
};
use autofed_tests::{
    OKTA_TOKEN, OKTA_WRONG_TOKEN,
    bed::{Bed, OKTA_ADMINS, OKTA_PAYMENTS, OktaOrg},
    fixtures::event,
};
use serde_json::{Value, json};

async fn report(ctx: &Context, account: &str, mode: Mode) -> Report {
    match onboard::onboard(ctx, &AccountId::parse(account).unwrap(), mode)
        .await
        .unwrap()
    {
        Outcome::Reconciled(r) => *r,
        other => panic!("not reconciled: {other:?}"),
    }
}

fn group_named(okta: &OktaOrg, name: &str) -> Value {
    okta.fake
        .groups()
        .into_values()
        .find(|g| g["profile"]["name"] == name)
        .unwrap_or_else(|| panic!("no Okta group {name}"))
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn app_labelled(okta: &OktaOrg, label: &str) -> Value {
    let apps: Vec<Value> = okta
        .fake
        .apps()
        .into_values()
        .filter(|a| a["label"] == label)
        .collect();
    assert_eq!(apps.len(), 1, "one app labelled {label}: {apps:#?}");
    apps[0].clone()
}

async fn provider_metadata(bed: &Bed, account: &str) -> String {
    let member = bed.member(account).await;
    aws_sdk_iam::Client::new(&member)
        .get_saml_provider()
        .saml_provider_arn(format!("arn:aws:iam::{account}:saml-provider/Okta"))
        .send()
        .await
        .expect("the SAML provider exists")
        .saml_metadata_document
        .unwrap()
}

async fn role_exists(bed: &Bed, account: &str, name: &str) -> bool {
    let member = bed.member(account).await;
    aws_sdk_iam::Client::new(&member)
        .get_role()
        .role_name(name)
        .send()
        .await
        .is_ok_and(|r| r.role.is_some_and(|r| r.path == "/"))
}

#[tokio::test]
async fn group_mapping_registers_the_account_then_a_rerun_writes_nothing() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    // Pages of one: every list of the run crosses pages.
    let okta = bed.okta(1, OKTA_TOKEN).await;
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "group-mapping", ""))
        .unwrap();

    let response = bed
        .deliver(&ctx, &event("create-account-result-succeeded.json", &id))
        .await;
    // Everything is done but the pushed group's assignment: Okta has not pushed the group to
    // Identity Center yet, so the message is handed back for later, not dead-lettered.
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(bed.dlq.depth().await, 0);

    // The shared app, created because create_app = true, with Use Group Mapping.
    let app = app_labelled(&okta, "AWS Account Federation");
    let app_id = id_of(&app);
    assert_eq!(app["name"], "amazon_aws");
    assert_eq!(app["settings"]["notes"]["admin"], "managed by autofed");
    let s = &app["settings"]["app"];
    assert_eq!(s["useGroupMapping"], true);
    assert_eq!(s["joinAllRoles"], true);
    assert_eq!(s["sessionDuration"], 3600);
    assert_eq!(
        s["groupFilter"],
        r"^aws\#\S+\#(?{{role}}[\w\-]+)\#(?{{accountid}}\d+)$"
    );
    assert_eq!(
        s["roleValuePattern"],
        "arn:aws:iam::${accountid}:saml-provider/Okta,arn:aws:iam::${accountid}:role/${role}"
    );

    // A group per role, marked, assigned to the app.
    let alias = "acme-payments-staging";
    let mut role_groups = std::collections::BTreeMap::new();
    for role in ["Administrator", "PowerUsers", "ReadOnly"] {
        let g = group_named(&okta, &format!("aws#{alias}#{role}#{id}"));
        assert_eq!(
            g["profile"]["description"],
            format!("managed by autofed: AWS account {id}, role {role}")
        );
        role_groups.insert(role, id_of(&g));
    }
    let assigned: Vec<String> = okta.fake.app_groups(&app_id).into_keys().collect();
    let mut want: Vec<String> = role_groups.values().cloned().collect();
    want.sort();
    assert_eq!(assigned, want);

    // A rule per management group, active, adding its members to the role groups.
    let rules: Vec<Value> = okta.fake.rules().into_values().collect();
    assert_eq!(rules.len(), 2, "{rules:#?}");
    let admins = id_of(&group_named(&okta, OKTA_ADMINS));
    let payments = id_of(&group_named(&okta, OKTA_PAYMENTS));
    for (mgmt, mgmt_id, roles) in [
        (OKTA_ADMINS, &admins, vec!["Administrator", "ReadOnly"]),
        (OKTA_PAYMENTS, &payments, vec!["PowerUsers"]),
    ] {
        let rule = rules
            .iter()
            .find(|r| r["name"] == format!("autofed {id} {mgmt}"))
            .unwrap_or_else(|| panic!("a rule for {mgmt}"));
        assert_eq!(rule["status"], "ACTIVE");
        assert!(rule["name"].as_str().unwrap().chars().count() <= 50);
        assert_eq!(
            rule["conditions"]["expression"]["value"],
            format!("isMemberOfAnyGroup(\"{mgmt_id}\")")
        );
        let want: Vec<Value> = roles.iter().map(|r| json!(role_groups[r])).collect();
        assert_eq!(
            rule["actions"]["assignUserToGroups"]["groupIds"],
            json!(want)
        );
    }

    // The account trusts the app: its provider holds the app's own metadata.
    let metadata = provider_metadata(&bed, &id).await;
    assert!(metadata.contains(&app_id), "metadata of app {app_id}");
    for role in ["Administrator", "PowerUsers", "ReadOnly"] {
        assert!(role_exists(&bed, &id, role).await, "role {role} at /");
    }

    // Seed 004: the group is pushed to Identity Center, then assigned.
    assert_eq!(
        okta.fake.pushed_group_names(),
        vec![OKTA_PAYMENTS.to_string()]
    );
    let pushed = bed.push_okta_groups(&okta).await;
    assert_eq!(pushed.len(), 1);
    let response = bed
        .deliver(&ctx, &event("create-account-result-succeeded.json", &id))
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert!(bed.assignments(&id).await.contains(&(
        pushed[0].clone(),
        bed.sandbox.permission_sets["ReadOnlyAccess"].clone()
    )));

    // Rerun with nothing changed: zero writes anywhere, and lists followed across pages.
    okta.fake.clear_exchanges();
    bed.proxy.clear_calls();
    let again = report(&ctx, &id, Mode::Apply).await;
    assert_eq!(okta.fake.writes(), Vec::<String>::new());
    assert_eq!(again.calls.writes, 0, "{:?}", again.calls);
    assert!(again.actions.is_empty(), "{:#?}", again.actions);
    // The account's groups and the groups the configuration names are read in one search
    // (by its marker, or by the names of the groups its rule adds from, of the pushed group
    // and of its own groups, which a group without the marker may hold): its three groups and
    // the two named ones, pages of one.
    let group_searches: Vec<String> = okta
        .fake
        .exchanges()
        .iter()
        .filter(|e| e.path == "/api/v1/groups")
        .map(|e| e.query.get("search").cloned().unwrap_or_default())
        .collect();
    let search = format!(
        "profile.description sw \"managed by autofed: AWS account {id}\" or profile.name eq \"AWS Platform Admins\" or profile.name eq \"Payments Engineers\"{}",
        ["Administrator", "PowerUsers", "ReadOnly"]
            .map(|r| format!(" or profile.name eq \"aws#acme-payments-staging#{r}#{id}\""))
            .concat()
    );
    assert_eq!(group_searches, vec![search; 5], "one search, five pages");
    assert!(
        again
            .calls
            .by_operation
            .keys()
            .any(|k| k.starts_with("okta:GET")),
        "Okta reads are counted in the report: {:?}",
        again.calls
    );
}

#[tokio::test]
async fn app_per_account_gives_each_account_its_app_and_names_the_manual_step() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let okta = bed.okta(2, OKTA_TOKEN).await;
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "app-per-account", ""))
        .unwrap();

    let first = report(&ctx, &id, Mode::Apply).await;
    let label = format!("AWS payments-staging ({id})");
    let app = app_labelled(&okta, &label);
    let app_id = id_of(&app);
    assert_eq!(
        app["settings"]["app"]["identityProviderArn"],
        format!("arn:aws:iam::{id}:saml-provider/Okta")
    );
    assert_eq!(app["settings"]["app"]["useGroupMapping"], false);
    assert_eq!(
        app["settings"]["notes"]["admin"],
        format!("managed by autofed: AWS account {id}")
    );
    // The configured groups, with the roles they may choose.
    let assigned = okta.fake.app_groups(&app_id);
    let admins = id_of(&group_named(&okta, OKTA_ADMINS));
    let payments = id_of(&group_named(&okta, OKTA_PAYMENTS));
    assert_eq!(
        assigned[&admins]["profile"]["samlRoles"],
        json!(["Administrator", "ReadOnly"])
    );
    assert_eq!(
        assigned[&payments]["profile"]["samlRoles"],
        json!(["PowerUsers"])
    );
    assert_eq!(assigned.len(), 2);
    // No role groups and no rules in this mode.
    assert_eq!(okta.fake.rules().len(), 0);
    assert_eq!(okta.fake.groups().len(), 2);
    // The provider trusts this account's app.
    assert!(provider_metadata(&bed, &id).await.contains(&app_id));
    // The Provisioning tab has no API: a manual action with the steps.
    let manual: Vec<_> = first
        .actions
        .iter()
        .filter(|a| a.kind == autofed::plan::ActionKind::Manual)
        .collect();
    assert_eq!(manual.len(), 1, "{manual:#?}");
    assert!(manual[0].summary.contains("Provisioning"));
    assert!(manual[0].summary.contains("Enable API integration"));

    // Rerun: once Okta has pushed the group (its assignment is then made) and a person has
    // enabled provisioning, zero writes and no manual step.
    bed.push_okta_groups(&okta).await;
    report(&ctx, &id, Mode::Apply).await;
    okta.fake.clear_exchanges();
    okta.fake.enable_provisioning(&app_id);
    let again = report(&ctx, &id, Mode::Apply).await;
    assert_eq!(okta.fake.writes(), Vec::<String>::new());
    assert_eq!(again.calls.writes, 0);
    assert!(again.actions.is_empty(), "{:#?}", again.actions);

    // A second account gets its own app.
    let other = bed.sandbox.accounts["payments-dev"].clone();
    report(&ctx, &other, Mode::Apply).await;
    let apps = okta.fake.apps();
    assert_eq!(
        apps.values().filter(|a| a["name"] == "amazon_aws").count(),
        2
    );
    assert!(
        provider_metadata(&bed, &other)
            .await
            .contains(&id_of(&app_labelled(
                &okta,
                &format!("AWS payments-dev ({other})")
            )))
    );
}

#[tokio::test]
async fn an_app_made_twice_at_once_keeps_the_older_and_the_account_trusts_it() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let okta = bed.okta(2, OKTA_TOKEN).await;
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "app-per-account", ""))
        .unwrap();
    // Another delivery of the same event makes the same app a moment before this one does.
    okta.fake.twin_next_app();

    report(&ctx, &id, Mode::Apply).await;

    // The newer app (this delivery's) was deleted; the older one is the account's.
    let label = format!("AWS payments-staging ({id})");
    let kept = id_of(&app_labelled(&okta, &label));
    let deleted: Vec<String> = okta
        .fake
        .writes()
        .into_iter()
        .filter(|w| w.starts_with("DELETE /api/v1/apps/"))
        .collect();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert!(!deleted[0].ends_with(&kept), "{deleted:?} kept {kept}");
    // Okta was read again for the kept app: its metadata is the provider's, its groups are
    // assigned.
    assert!(provider_metadata(&bed, &id).await.contains(&kept));
    assert_eq!(okta.fake.app_groups(&kept).len(), 2);

    // Nothing left to do in Okta.
    okta.fake.clear_exchanges();
    report(&ctx, &id, Mode::Apply).await;
    assert_eq!(okta.fake.writes(), Vec::<String>::new());
}

/// A basic TOML string.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[tokio::test]
async fn groups_with_hostile_names_are_found_exactly_a_few_names_a_search() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let okta = bed.okta(2, OKTA_TOKEN).await;
    // Names that break a naive filter: quotes, the grammar's own words and parentheses,
    // backslashes, regex metacharacters, unicode. Each has a near twin that must not be taken.
    let hostile = [
        r#"Ops "on-call" or admins"#,
        r#"a) or (profile.name sw """#,
        r"back\slash\",
        "regex .*+?[]{}|^$",
        "Ünïcödé 管理者",
        "and",
        "x eq y",
        "Finance",
        "Finance ",
        "Finance Auditors",
    ];
    let mut want = std::collections::BTreeSet::new();
    for name in hostile {
        want.insert(okta.fake.seed_group(name, ""));
        okta.fake.seed_group(&format!("{name} (old)"), "");
    }
    let groups: String = hostile
        .iter()
        .map(|name| {
            format!(
                "\n[[okta.app_per_account.groups]]\ngroup = {}\nroles = [\"ReadOnly\"]\naccounts = {{ all = true }}",
                toml_string(name)
            )
        })
        .collect();
    let config = bed.okta_config(&okta, "app-per-account", "");
    let label = "label = \"AWS {name} ({id})\"";
    let config = config.replace(label, &format!("{label}{groups}"));
    let ctx = bed.okta_context(&config).unwrap();

    report(&ctx, &id, Mode::Apply).await;

    let app_id = id_of(&app_labelled(
        &okta,
        &format!("AWS payments-staging ({id})"),
    ));
    let assigned: std::collections::BTreeSet<String> =
        okta.fake.app_groups(&app_id).into_keys().collect();
    want.insert(id_of(&group_named(&okta, OKTA_ADMINS)));
    want.insert(id_of(&group_named(&okta, OKTA_PAYMENTS)));
    assert_eq!(assigned, want, "exactly the named groups, no near twin");
    // 12 names (and the account's marker): two searches of up to 8 names, each followed
    // across its pages.
    let searches: std::collections::BTreeSet<String> = okta
        .fake
        .exchanges()
        .into_iter()
        .filter(|e| e.method == "get" && e.path == "/api/v1/groups")
        .map(|e| e.query["search"].clone())
        .collect();
    assert_eq!(searches.len(), 2, "{searches:#?}");
    assert!(
        searches
            .iter()
            .all(|s| s.matches(" or profile.name eq ").count() <= 8),
        "{searches:#?}"
    );
}

/// The app-list searches Okta was sent (their first pages): their `q` or `filter` parameter.
fn app_searches(okta: &OktaOrg) -> Vec<String> {
    okta.fake
        .exchanges()
        .into_iter()
        .filter(|e| e.method == "get" && e.path == "/api/v1/apps" && !e.query.contains_key("after"))
        .map(|e| {
            e.query
                .iter()
                .filter(|(k, _)| *k == "q" || *k == "filter")
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        })
        .collect()
}

#[tokio::test]
async fn an_accounts_app_is_found_by_its_marker_once_the_label_changes_and_a_new_account_costs_no_scan()
 {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let okta = bed.okta(2, OKTA_TOKEN).await;
    // Other accounts' apps, which a scan of every AWS app would page through.
    for n in 0..3 {
        okta.fake.seed_app("amazon_aws", &format!("AWS other-{n}"));
    }
    let config = bed.okta_config(&okta, "app-per-account", "");
    let ctx = bed.okta_context(&config).unwrap();

    report(&ctx, &id, Mode::Apply).await;
    let label = format!("AWS payments-staging ({id})");
    let app_id = id_of(&app_labelled(&okta, &label));
    // A new account (no SAML provider yet) is looked up by its label alone, never by reading
    // every app: before the app is made, and for twins from a concurrent delivery once it is
    // (the app as Okta answered its creation names its metadata: no search after that).
    assert_eq!(
        app_searches(&okta),
        vec![format!("q={label}"); 2],
        "{:#?}",
        okta.fake.exchanges()
    );

    // The label template changes: the account's app no longer has its label, and is found by
    // its marker, relabelled in place, not made again.
    let renamed = config.replace("label = \"AWS {name} ({id})\"", "label = \"{name} on AWS\"");
    assert_ne!(renamed, config);
    let ctx = bed.okta_context(&renamed).unwrap();
    okta.fake.clear_exchanges();
    let again = report(&ctx, &id, Mode::Apply).await;
    let new_label = "payments-staging on AWS";
    assert_eq!(id_of(&app_labelled(&okta, new_label)), app_id);
    assert_eq!(
        okta.fake
            .apps()
            .values()
            .filter(|a| a["name"] == "amazon_aws")
            .count(),
        4
    );
    assert_eq!(
        okta.fake.writes(),
        vec![format!("PUT /api/v1/apps/{app_id}")]
    );
    assert_eq!(
        app_searches(&okta),
        vec![
            format!("q={new_label}"),
            "filter=name eq \"amazon_aws\"".to_string()
        ]
    );
    assert_eq!(again.calls.writes, 1, "{:#?}", again.actions);
    // The provider still trusts the same app.
    assert!(provider_metadata(&bed, &id).await.contains(&app_id));
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_and_the_run_succeeds() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let okta = bed.okta(50, OKTA_TOKEN).await;
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "group-mapping", ""))
        .unwrap();
    okta.fake.throttle(1);
    let r = report(&ctx, &id, Mode::Apply).await;
    let statuses: Vec<_> = r
        .actions
        .iter()
        .filter(|a| a.resource.starts_with("okta-"))
        .map(|a| &a.status)
        .collect();
    assert!(
        statuses.iter().all(|s| **s == Status::Applied),
        "{statuses:#?}"
    );
    let exchanges = okta.fake.exchanges();
    assert_eq!(exchanges[0].status, 429);
    assert_eq!(exchanges[1].path, exchanges[0].path, "the same call, again");
    assert_eq!(exchanges[1].status, 200);
}

#[tokio::test]
async fn a_wrong_token_is_a_clear_error_and_nothing_changes() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let wrong = OKTA_WRONG_TOKEN;
    let okta = bed.okta(50, wrong).await;
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "group-mapping", ""))
        .unwrap();
    bed.proxy.clear_calls();
    let response = bed
        .deliver(&ctx, &event("create-account-result-succeeded.json", &id))
        .await;
    // Dead-lettered at once with Okta's own error; nothing written in AWS or Okta.
    assert!(response.batch_item_failures.is_empty());
    let dead = bed.dlq.take_dead_letters().await;
    assert_eq!(dead.len(), 1);
    let reason = &dead[0].1;
    assert!(reason.contains("HTTP 401 E0000011"), "{reason}");
    assert!(
        !reason.contains(wrong) && !reason.contains(OKTA_TOKEN),
        "{reason}"
    );
    assert_eq!(okta.fake.writes(), Vec::<String>::new());
    let aws_writes: Vec<String> = bed
        .writes()
        .into_iter()
        .filter(|w| {
            !["SendMessage", "DeleteMessage", "ChangeMessageVisibility"].contains(&w.as_str())
        })
        .collect();
    assert_eq!(aws_writes, Vec::<String>::new());
    let member = bed.member(&id).await;
    let roles = aws_sdk_iam::Client::new(&member)
        .list_roles()
        .send()
        .await
        .unwrap();
    assert!(roles.roles.iter().all(|r| r.role_name != "Administrator"));
}

#[tokio::test]
async fn an_app_autofed_did_not_create_has_its_drift_reported_and_left_alone() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let okta = bed.okta(50, OKTA_TOKEN).await;
    let theirs = okta.fake.seed_app_with(
        "amazon_aws",
        "AWS Account Federation",
        json!({ "useGroupMapping": true, "groupFilter": "^aws_(?{{accountid}}\\d+)_(?{{role}}.+)$",
                "roleValuePattern": "arn:aws:iam::${accountid}:saml-provider/Okta,arn:aws:iam::${accountid}:role/${role}",
                "joinAllRoles": true, "sessionDuration": 3600, "awsEnvironmentType": "aws.amazon" }),
    );
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "group-mapping", ""))
        .unwrap();
    let r = report(&ctx, &id, Mode::Apply).await;
    let app = r
        .actions
        .iter()
        .find(|a| a.resource == "okta-app/AWS Account Federation")
        .expect("the app's drift is reported");
    assert_eq!(app.kind, autofed::plan::ActionKind::Conflict);
    assert!(app.summary.contains("groupFilter"), "{}", app.summary);
    assert!(
        okta.fake
            .writes()
            .iter()
            .all(|w| !w.contains("/api/v1/apps/0oa") || w.contains("/groups/")),
        "{:?}",
        okta.fake.writes()
    );
    assert_eq!(
        okta.fake.apps()[&theirs]["settings"]["app"]["groupFilter"],
        "^aws_(?{{accountid}}\\d+)_(?{{role}}.+)$"
    );
}

#[tokio::test]
async fn drift_on_autofeds_own_app_is_put_back_with_the_rest_of_the_app_kept() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let okta = bed.okta(50, OKTA_TOKEN).await;
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "group-mapping", ""))
        .unwrap();
    report(&ctx, &id, Mode::Apply).await;
    let app_id = id_of(&app_labelled(&okta, "AWS Account Federation"));
    // A person changes the session and adds a setting autofed does not manage.
    okta.fake
        .set_app_setting(&app_id, "sessionDuration", json!(900));
    okta.fake.set_app_setting(
        &app_id,
        "loginURL",
        json!("https://console.aws.amazon.com/"),
    );
    okta.fake.clear_exchanges();
    let r = report(&ctx, &id, Mode::Apply).await;
    let kinds: Vec<_> = r
        .actions
        .iter()
        .map(|a| (a.resource.as_str(), a.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![(
            "okta-app/AWS Account Federation",
            autofed::plan::ActionKind::Update
        )]
    );
    assert_eq!(
        okta.fake.writes(),
        vec![format!("PUT /api/v1/apps/{app_id}")]
    );
    let app = &okta.fake.apps()[&app_id];
    assert_eq!(app["settings"]["app"]["sessionDuration"], 3600);
    assert_eq!(
        app["settings"]["app"]["loginURL"], "https://console.aws.amazon.com/",
        "the full-replace PUT keeps what autofed does not manage"
    );
    assert_eq!(app["settings"]["notes"]["admin"], "managed by autofed");
}

#[tokio::test]
async fn a_same_named_group_autofed_did_not_create_is_a_conflict_left_alone() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let okta = bed.okta(50, OKTA_TOKEN).await;
    let name = format!("aws#acme-payments-staging#Administrator#{id}");
    let theirs = okta.fake.seed_group(&name, "made by hand");
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "group-mapping", ""))
        .unwrap();
    let r = report(&ctx, &id, Mode::Apply).await;
    let conflict = r
        .actions
        .iter()
        .find(|a| a.resource == format!("okta-group/{name}"))
        .unwrap();
    assert_eq!(conflict.kind, autofed::plan::ActionKind::Conflict);
    let g = &okta.fake.groups()[&theirs];
    assert_eq!(g["profile"]["description"], "made by hand");
    let app_id = id_of(&app_labelled(&okta, "AWS Account Federation"));
    assert!(!okta.fake.app_groups(&app_id).contains_key(&theirs));
    // The admins' rule covers the role group autofed does own, not the foreign one.
    let rule = okta
        .fake
        .rules()
        .into_values()
        .find(|r| r["name"] == format!("autofed {id} {OKTA_ADMINS}"))
        .unwrap();
    let ids = rule["actions"]["assignUserToGroups"]["groupIds"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], json!(theirs));

    // With adopt, the group is marked as autofed's and used.
    let ctx = bed
        .okta_context(
            &bed.okta_config(&okta, "group-mapping", "")
                .replace("account_alias = ", "adopt = true\naccount_alias = "),
        )
        .unwrap();
    report(&ctx, &id, Mode::Apply).await;
    let g = &okta.fake.groups()[&theirs];
    assert_eq!(
        g["profile"]["description"],
        format!("managed by autofed: AWS account {id}, role Administrator")
    );
    assert!(okta.fake.app_groups(&app_id).contains_key(&theirs));
}

#[tokio::test]
async fn a_closed_account_loses_its_okta_groups_and_rules_only_when_enabled() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let okta = bed.okta(50, OKTA_TOKEN).await;
    let other = bed.sandbox.accounts["payments-dev"].clone();
    // Deprovisioning off (the default): planned and reported, nothing removed.
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "group-mapping", ""))
        .unwrap();
    report(&ctx, &id, Mode::Apply).await;
    report(&ctx, &other, Mode::Apply).await;
    let groups_before = okta.fake.groups().len();
    let response = bed.deliver(&ctx, &event("close-account.json", &id)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(okta.fake.groups().len(), groups_before);
    assert_eq!(okta.fake.rules().len(), 4);

    // Enabled: the closed account's groups and rules go; the other account's stay.
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "group-mapping", "deprovision = true"))
        .unwrap();
    okta.fake.clear_exchanges();
    let response = bed
        .deliver(&ctx, &event("remove-account-from-organization.json", &id))
        .await;
    assert!(response.batch_item_failures.is_empty());
    let left: Vec<String> = okta
        .fake
        .groups()
        .values()
        .map(|g| g["profile"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(left.iter().all(|n| !n.ends_with(&id)), "{left:?}");
    assert_eq!(left.iter().filter(|n| n.ends_with(&other)).count(), 3);
    assert!(left.contains(&OKTA_ADMINS.to_string()));
    let rules: Vec<Value> = okta.fake.rules().into_values().collect();
    assert_eq!(rules.len(), 2);
    assert!(
        rules
            .iter()
            .all(|r| r["name"].as_str().unwrap().contains(&other))
    );
    // Active rules are deactivated before deletion, as Okta requires.
    let writes = okta.fake.writes();
    assert!(
        writes.iter().any(|w| w.ends_with("/lifecycle/deactivate")),
        "{writes:?}"
    );
    // A second delivery finds nothing left: no writes.
    okta.fake.clear_exchanges();
    bed.deliver(&ctx, &event("close-account.json", &id)).await;
    assert_eq!(okta.fake.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_closed_accounts_own_app_is_deactivated_and_deleted() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[]).await;
    let okta = bed.okta(50, OKTA_TOKEN).await;
    let ctx = bed
        .okta_context(&bed.okta_config(&okta, "app-per-account", "deprovision = true"))
        .unwrap();
    report(&ctx, &id, Mode::Apply).await;
    let app_id = id_of(&app_labelled(
        &okta,
        &format!("AWS payments-staging ({id})"),
    ));
    okta.fake.clear_exchanges();
    bed.deliver(&ctx, &event("close-account.json", &id)).await;
    assert_eq!(
        okta.fake.writes(),
        vec![
            format!("POST /api/v1/apps/{app_id}/lifecycle/deactivate"),
            format!("DELETE /api/v1/apps/{app_id}"),
        ]
    );
    assert!(!okta.fake.apps().contains_key(&app_id));
    assert!(okta.fake.apps().contains_key(&okta.ic_app));
}

/// Every request autofed's Okta code sends and every answer the fake gives, over both modes,
/// drift, a rule change, adoption, the push to Identity Center and deprovisioning, conforms to
/// Okta's published contract; every operation autofed uses is among them.
#[tokio::test]
async fn every_okta_exchange_of_every_flow_conforms_to_the_contract() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let dev = bed.sandbox.accounts["payments-dev"].clone();
    let okta = bed.okta(2, OKTA_TOKEN).await;
    let gm = bed.okta_config(&okta, "group-mapping", "deprovision = true");
    let ctx = bed.okta_context(&gm).unwrap();
    okta.fake.throttle(1);
    report(&ctx, &id, Mode::Apply).await;
    bed.push_okta_groups(&okta).await;
    report(&ctx, &id, Mode::Apply).await;
    // Drift on autofed's own app, then a management rule that changes.
    let app_id = id_of(&app_labelled(&okta, "AWS Account Federation"));
    okta.fake
        .set_app_setting(&app_id, "sessionDuration", json!(900));
    let changed = gm.replacen(
        "roles = [\"Administrator\", \"ReadOnly\"]",
        "roles = [\"Administrator\"]",
        1,
    );
    let ctx = bed.okta_context(&changed).unwrap();
    let r = report(&ctx, &id, Mode::Apply).await;
    assert!(
        r.actions
            .iter()
            .any(|a| a.summary.starts_with("update Okta rule")),
        "{:#?}",
        r.actions
    );
    // Adoption of a same-named group.
    okta.fake.seed_group(
        &format!("aws#acme-payments-dev#Administrator#{dev}"),
        "by hand",
    );
    let ctx = bed
        .okta_context(&changed.replace("account_alias = ", "adopt = true\naccount_alias = "))
        .unwrap();
    report(&ctx, &dev, Mode::Apply).await;
    // App per account, then a group taken off the account's app.
    let apa = bed.okta_config(&okta, "app-per-account", "deprovision = true");
    let ctx = bed.okta_context(&apa).unwrap();
    let other = bed.sandbox.accounts["sandbox-alice"].clone();
    report(&ctx, &other, Mode::Apply).await;
    let fewer = apa.replace(
        &format!("[[okta.app_per_account.groups]]\ngroup = \"{OKTA_ADMINS}\""),
        &format!("[[okta.app_per_account.groups]]\ngroup = \"{OKTA_PAYMENTS}\""),
    );
    let ctx = bed.okta_context(&fewer).unwrap();
    let r = report(&ctx, &other, Mode::Apply).await;
    assert!(
        r.actions
            .iter()
            .any(|a| a.summary.starts_with("unassign Okta group")),
        "{:#?}",
        r.actions
    );
    // Deprovisioning in both modes.
    bed.deliver(&ctx, &event("close-account.json", &other))
        .await;
    let ctx = bed.okta_context(&gm).unwrap();
    bed.deliver(&ctx, &event("close-account.json", &id)).await;

    let exchanges = okta.fake.exchanges();
    let (ok, out) = autofed_tests::okta::check_contract("flows", &exchanges);
    assert!(ok, "{out}");
    let covered = out
        .lines()
        .find_map(|l| l.strip_prefix("covered: "))
        .unwrap_or_default()
        .split(' ')
        .collect::<Vec<_>>();
    for op in [
        "listApplications",
        "createApplication",
        "getApplication",
        "replaceApplication",
        "deactivateApplication",
        "deleteApplication",
        "listGroups",
        "addGroup",
        "replaceGroup",
        "deleteGroup",
        "listGroupRules",
        "createGroupRule",
        "replaceGroupRule",
        "activateGroupRule",
        "deactivateGroupRule",
        "deleteGroupRule",
        "listApplicationGroupAssignments",
        "assignGroupToApplication",
        "getApplicationGroupAssignment",
        "unassignApplicationFromGroup",
        "listGroupPushMappings",
        "createGroupPushMapping",
    ] {
        assert!(covered.contains(&op), "{op} not exercised: {covered:?}");
    }
    assert!(
        covered.iter().all(|op| !op.starts_with("(no operation)")),
        "{covered:?}"
    );
    assert!(exchanges.iter().any(|e| e.status == 429));
}
