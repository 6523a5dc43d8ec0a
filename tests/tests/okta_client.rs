//! autofed's Okta client against the stateful Okta fake, and every exchange between them
//! checked against Okta's published contract (`../shared/okta-openapi/management-minimal.yaml`).

use std::{process::Command, time::Duration};

use autofed::{
    okta::{Client, Retries, Secret},
    tls::TrustRoots,
};
use autofed_tests::{
    OKTA_TOKEN as TOKEN,
    function::testbed_path,
    okta::{OktaFake, check_contract},
};
use reqwest::Method;
use serde_json::json;

fn client(fake: &OktaFake, token: &str) -> Client {
    autofed_tests::capture_logs("okta_client");
    let retries = Retries {
        attempts: 4,
        base_delay: Duration::from_millis(20),
        max_rate_limit_wait: Duration::from_secs(5),
        attempt_timeout: Duration::from_secs(5),
    };
    Client::new(
        &fake.url,
        Secret::new(token),
        retries,
        &TrustRoots::mozilla(),
    )
    .unwrap()
}

#[tokio::test]
async fn lists_follow_the_link_header_across_pages() {
    let fake = OktaFake::start(TOKEN, 2).await;
    for i in 0..5 {
        fake.seed_group(
            &format!("aws#acme-dev#Role{i}#222222222222"),
            "managed by autofed",
        );
    }
    fake.seed_group("Engineering", "not ours");
    let groups = client(&fake, TOKEN)
        .list("/api/v1/groups?search=profile.name%20sw%20%22aws%23%22")
        .await
        .unwrap();
    assert_eq!(groups.len(), 5);
    let pages: Vec<_> = fake
        .exchanges()
        .iter()
        .map(|e| e.query.get("after").cloned())
        .collect();
    assert_eq!(pages.len(), 3, "three pages of at most two");
    assert_eq!(pages[0], None);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_and_server_errors_are_retried() {
    let fake = OktaFake::start(TOKEN, 200).await;
    fake.seed_group("aws#acme-dev#Admin#222222222222", "x");
    fake.throttle(1);
    let okta = client(&fake, TOKEN);
    assert_eq!(okta.list("/api/v1/groups").await.unwrap().len(), 1);
    fake.fail(2);
    assert_eq!(okta.list("/api/v1/groups").await.unwrap().len(), 1);
    let statuses: Vec<u16> = fake.exchanges().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [429, 200, 500, 500, 200]);
}

#[tokio::test]
async fn a_wrong_token_is_a_clear_error_that_does_not_carry_the_token() {
    let fake = OktaFake::start(TOKEN, 200).await;
    let wrong = "00WRONGtokenAlsoSecret-1a2b3c";
    let err = client(&fake, wrong)
        .write(
            Method::POST,
            "/api/v1/groups",
            Some(&json!({ "profile": { "name": "aws#x#Admin#222222222222" } })),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("E0000011"));
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("Invalid token provided"), "{shown}");
    assert!(!shown.contains(wrong) && !shown.contains(TOKEN), "{shown}");
    assert!(fake.groups().is_empty(), "nothing changed");
    assert_eq!(fake.exchanges().len(), 1, "an auth failure is not retried");
}

#[tokio::test]
async fn okta_error_codes_and_causes_are_surfaced() {
    let fake = OktaFake::start(TOKEN, 200).await;
    let okta = client(&fake, TOKEN);
    let long = "aws#a-very-long-account-alias#PowerUsers#222222222222";
    let err = okta
        .write(
            Method::POST,
            "/api/v1/groups/rules",
            Some(&json!({ "type": "group_rule", "name": long })),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("E0000001"));
    assert!(
        err.to_string().contains("between 1 and 50 characters"),
        "{err}"
    );
    assert_eq!(
        okta.get("/api/v1/groups/00gDoesNotExist").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn the_token_comes_from_secrets_manager_as_text_or_json() {
    let session = autofed_tests::moto::session().await;
    let conf = autofed_tests::sdk_config(&session.moto.url);
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    sm.create_secret()
        .name("autofed/okta-plain")
        .secret_string(TOKEN)
        .send()
        .await
        .unwrap();
    sm.create_secret()
        .name("autofed/okta-json")
        .secret_string(json!({ "apiToken": TOKEN, "orgUrl": "https://acme.okta.com" }).to_string())
        .send()
        .await
        .unwrap();
    let fake = OktaFake::start(TOKEN, 200).await;
    for id in ["autofed/okta-plain", "autofed/okta-json"] {
        let token = Client::token_from_secret(&sm, id).await.unwrap();
        assert!(!format!("{token:?}").contains(TOKEN));
        let okta =
            Client::new(&fake.url, token, Retries::default(), &TrustRoots::mozilla()).unwrap();
        assert!(
            okta.list("/api/v1/groups").await.unwrap().is_empty(),
            "{id}"
        );
    }
    let err = Client::token_from_secret(&sm, "autofed/missing")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("autofed/missing")
            && err.to_string().contains("ResourceNotFoundException"),
        "{err}"
    );
}

/// A client built from the configuration reads its token when its first request needs it, not
/// when it is built; and reads it again, once, when Okta refuses it: a token rotated in the
/// secret is picked up by a running instance, and a token that the secret still holds fails
/// at once, naming what Okta said and never the token.
#[tokio::test]
async fn the_token_is_read_by_the_first_request_and_again_when_okta_refuses_it() {
    autofed_tests::capture_logs("okta_client");
    const ROTATED: &str = "00ROTATEDtokenAlsoSecret-4d5e6f";
    const REVOKED_TOO: &str = "00THIRDtokenAlsoSecret-7a8b9c";
    let session = autofed_tests::moto::session().await;
    let sm = aws_sdk_secretsmanager::Client::new(&autofed_tests::sdk_config(&session.moto.url));
    let fake = OktaFake::start(TOKEN, 200).await;
    fake.seed_group("aws#acme-dev#Admin#222222222222", "x");
    let config: autofed::config::OktaConfig = serde_json::from_value(json!({
        "org_url": fake.url,
        "mode": "group-mapping",
        "api_token_secret": "autofed/okta-rotating",
    }))
    .unwrap();
    let okta = Client::from_config(&config, &sm, Retries::default(), &TrustRoots::mozilla())
        .expect("built without the secret");

    // No secret yet: the first request fails naming it, and nothing reached Okta.
    let err = okta.list("/api/v1/groups").await.unwrap_err();
    assert!(
        err.to_string().contains("autofed/okta-rotating")
            && err.to_string().contains("ResourceNotFoundException"),
        "{err}"
    );
    assert!(!err.is_retryable(), "a missing secret waits for a person");
    assert!(fake.exchanges().is_empty());

    sm.create_secret()
        .name("autofed/okta-rotating")
        .secret_string(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(okta.list("/api/v1/groups").await.unwrap().len(), 1);

    // Rotated in Okta and in the secret: the refused request is sent again with the new token.
    fake.rotate_token(ROTATED);
    sm.put_secret_value()
        .secret_id("autofed/okta-rotating")
        .secret_string(ROTATED)
        .send()
        .await
        .unwrap();
    assert_eq!(okta.list("/api/v1/groups").await.unwrap().len(), 1);
    assert_eq!(okta.list("/api/v1/groups").await.unwrap().len(), 1);

    // Rotated in Okta only: one more read, then the refusal is the answer.
    fake.rotate_token(REVOKED_TOO);
    let err = okta.list("/api/v1/groups").await.unwrap_err();
    assert_eq!(err.code(), Some("E0000011"));
    let shown = format!("{err} {err:?} {okta:?}");
    for token in [TOKEN, ROTATED, REVOKED_TOO] {
        assert!(!shown.contains(token), "{shown}");
    }

    let statuses: Vec<u16> = fake.exchanges().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [200, 401, 200, 200, 401, 401]);
}

/// The client's requests and the fake's responses over every operation autofed uses conform
/// to Okta's published contract; and the check fails on a response that does not.
#[tokio::test]
async fn every_exchange_conforms_to_the_okta_contract() {
    let fake = OktaFake::start(TOKEN, 2).await;
    let app = fake.seed_app("amazon_aws", "AWS Account Federation");
    let okta = client(&fake, TOKEN);
    let group = okta
        .write(
            Method::POST,
            "/api/v1/groups",
            Some(&json!({ "profile": { "name": "aws#acme-dev#Admin#222222222222", "description": "managed by autofed" } })),
        )
        .await
        .unwrap();
    let gid = group["id"].as_str().unwrap().to_string();
    for i in 0..4 {
        okta.write(
            Method::POST,
            "/api/v1/groups",
            Some(&json!({ "profile": { "name": format!("aws#acme-dev#R{i}#222222222222") } })),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        okta.list("/api/v1/groups?search=profile.name%20sw%20%22aws%23%22")
            .await
            .unwrap()
            .len(),
        5
    );
    assert!(
        okta.get(&format!("/api/v1/groups/{gid}"))
            .await
            .unwrap()
            .is_some()
    );
    okta.write(
        Method::PUT,
        &format!("/api/v1/apps/{app}/groups/{gid}"),
        Some(&json!({ "priority": 0, "profile": { "role": "Admin", "samlRoles": ["Admin"] } })),
    )
    .await
    .unwrap();
    assert_eq!(
        okta.list(&format!("/api/v1/apps/{app}/groups"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        okta.get(&format!("/api/v1/apps/{app}/groups/{gid}"))
            .await
            .unwrap()
            .is_some()
    );
    let app_object = okta
        .get(&format!("/api/v1/apps/{app}"))
        .await
        .unwrap()
        .expect("the app");
    let kid = app_object["credentials"]["signing"]["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let metadata = okta
        .get_text(&format!("/api/v1/apps/{app}/sso/saml/metadata?kid={kid}"))
        .await
        .unwrap();
    assert!(metadata.contains("EntityDescriptor"));
    let rule = okta
        .write(
            Method::POST,
            "/api/v1/groups/rules",
            Some(&json!({
                "type": "group_rule",
                "name": "autofed acme-dev Admin",
                "conditions": { "expression": { "type": "urn:okta:expression:1.0", "value": "isMemberOfAnyGroup(\"00gPlatformAdmins0000\")" } },
                "actions": { "assignUserToGroups": { "groupIds": [gid.clone()] } }
            })),
        )
        .await
        .unwrap();
    assert_eq!(rule["status"], "INACTIVE", "rules are created inactive");
    let rid = rule["id"].as_str().unwrap().to_string();
    okta.write(
        Method::POST,
        &format!("/api/v1/groups/rules/{rid}/lifecycle/activate"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(fake.rules()[&rid]["status"], "ACTIVE");
    assert_eq!(
        okta.list("/api/v1/groups/rules?limit=2")
            .await
            .unwrap()
            .len(),
        1
    );
    okta.write(
        Method::POST,
        &format!("/api/v1/groups/rules/{rid}/lifecycle/deactivate"),
        None,
    )
    .await
    .unwrap();
    okta.delete(&format!("/api/v1/groups/rules/{rid}"))
        .await
        .unwrap();
    okta.delete(&format!("/api/v1/apps/{app}/groups/{gid}"))
        .await
        .unwrap();
    okta.delete(&format!("/api/v1/groups/{gid}")).await.unwrap();
    okta.delete(&format!("/api/v1/groups/{gid}")).await.unwrap(); // gone already: still fine

    // Error answers the contract documents: 429 and 404. (A 400 needs a request that breaks
    // the contract, which the check rightly refuses; it has its own test above.)
    fake.throttle(1);
    assert!(
        okta.get(&format!("/api/v1/groups/{gid}"))
            .await
            .unwrap()
            .is_none()
    );
    let statuses: Vec<u16> = fake.exchanges().iter().map(|e| e.status).collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&404),
        "{statuses:?}"
    );

    let exchanges = fake.exchanges();
    let (ok, report) = check_contract("all", &exchanges);
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!("{} exchanges, 0 failures", exchanges.len())),
        "{report}"
    );

    // The check can fail: a group whose type is not one Okta defines.
    let mut tampered = exchanges.clone();
    let first_post = tampered
        .iter_mut()
        .find(|e| e.method == "post" && e.path == "/api/v1/groups")
        .unwrap();
    first_post.response["type"] = json!("NOT_A_GROUP_TYPE");
    let (ok, report) = check_contract("tampered", &tampered);
    assert!(
        !ok,
        "a non-conforming response must fail the check: {report}"
    );
    assert!(
        report.contains("1 failures") && report.contains("NOT_A_GROUP_TYPE"),
        "{report}"
    );
}

/// A fresh RSA key pair (private PKCS#8 PEM, public SPKI PEM), made by openssl for the test.
fn key_pair(name: &str) -> (String, String) {
    let private = testbed_path(name, "pem");
    let public = testbed_path(name, "pub.pem");
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        private.to_str().unwrap(),
    ]);
    run(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (
        std::fs::read_to_string(private).unwrap(),
        std::fs::read_to_string(public).unwrap(),
    )
}

fn service_app(private_key: &str) -> autofed::okta::Credentials {
    autofed::okta::Credentials::ServiceApp(autofed::okta::ServiceApp {
        client_id: "0oaServiceAppAutofed1".into(),
        key_id: Some("autofed-key-1".into()),
        private_key: Secret::new(private_key),
        scopes: autofed::okta::SCOPES.map(String::from).to_vec(),
    })
}

#[tokio::test]
async fn a_service_app_gets_one_access_token_with_a_signed_assertion_and_uses_it() {
    let fake = OktaFake::start(TOKEN, 200).await;
    let (private, public) = key_pair("service-app");
    fake.register_service_app("0oaServiceAppAutofed1", &public);
    fake.seed_group("aws#acme-dev#Admin#222222222222", "x");
    let okta = Client::with_credentials(
        &fake.url,
        service_app(&private),
        Retries::default(),
        &TrustRoots::mozilla(),
    )
    .unwrap();
    assert_eq!(okta.list("/api/v1/groups").await.unwrap().len(), 1);
    assert_eq!(okta.list("/api/v1/groups").await.unwrap().len(), 1);
    assert_eq!(
        fake.tokens_issued(),
        1,
        "the access token is reused until it nears expiry"
    );
    assert!(
        !format!("{okta:?}").contains("PRIVATE KEY"),
        "the key never prints"
    );
}

#[tokio::test]
async fn an_assertion_signed_with_the_wrong_key_is_refused_clearly() {
    let fake = OktaFake::start(TOKEN, 200).await;
    let (_, registered) = key_pair("registered");
    let (other_private, _) = key_pair("other");
    fake.register_service_app("0oaServiceAppAutofed1", &registered);
    let okta = Client::with_credentials(
        &fake.url,
        service_app(&other_private),
        Retries::default(),
        &TrustRoots::mozilla(),
    )
    .unwrap();
    let err = okta.list("/api/v1/groups").await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_client"));
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("signature is invalid"), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert_eq!(fake.tokens_issued(), 0);
}

/// A service app configured with its key in Secrets Manager: the key is read by the first
/// request, not when the client is built; when the key is rotated (Okta knows only the new
/// one, the secret holds it, the old access token is revoked), the refused request reads the
/// key again and gets a new access token with it.
#[tokio::test]
async fn a_service_app_key_in_secrets_manager_is_read_on_first_use_and_again_when_rotated() {
    autofed_tests::capture_logs("okta_client");
    let session = autofed_tests::moto::session().await;
    let sm = aws_sdk_secretsmanager::Client::new(&autofed_tests::sdk_config(&session.moto.url));
    let fake = OktaFake::start(TOKEN, 200).await;
    fake.seed_group("aws#acme-dev#Admin#222222222222", "x");
    let (first_private, first_public) = key_pair("rotating-first");
    fake.register_service_app("0oaServiceAppAutofed1", &first_public);
    let config: autofed::config::OktaConfig = serde_json::from_value(json!({
        "org_url": fake.url,
        "mode": "group-mapping",
        "service_app": {
            "client_id": "0oaServiceAppAutofed1",
            "key_id": "autofed-key-1",
            "private_key_secret": "autofed/okta-service-app-key",
        },
    }))
    .unwrap();
    let okta = Client::from_config(&config, &sm, Retries::default(), &TrustRoots::mozilla())
        .expect("built without the secret");
    sm.create_secret()
        .name("autofed/okta-service-app-key")
        .secret_string(&first_private)
        .send()
        .await
        .unwrap();
    assert_eq!(okta.list("/api/v1/groups").await.unwrap().len(), 1);
    assert_eq!(fake.tokens_issued(), 1);

    let (second_private, second_public) = key_pair("rotating-second");
    fake.register_service_app("0oaServiceAppAutofed1", &second_public);
    fake.revoke_access_tokens();
    sm.put_secret_value()
        .secret_id("autofed/okta-service-app-key")
        .secret_string(&second_private)
        .send()
        .await
        .unwrap();
    assert_eq!(okta.list("/api/v1/groups").await.unwrap().len(), 1);
    assert_eq!(
        fake.tokens_issued(),
        1,
        "one token, signed with the new key"
    );
    let statuses: Vec<u16> = fake.exchanges().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [200, 401, 200]);
    assert!(!format!("{okta:?}").contains("PRIVATE KEY"));
}
