//! The certificate authorities autofed's HTTPS clients trust (`autofed::tls`): both TLS stacks a
//! function holds, the AWS SDK's and reqwest's, trust exactly the roots they are given, against
//! a real TLS server (the test bed's Kubernetes API, whose certificate its own CA signs).

use autofed::tls::TrustRoots;
use autofed_tests::bed::Bed;
use aws_config::retry::RetryConfig;
use aws_sdk_sts::error::SdkError;
use base64::Engine;

#[tokio::test]
async fn both_tls_stacks_trust_exactly_the_roots_given() {
    let bed = Bed::new().await;
    let eks = bed.eks().await;
    let url = eks.kube.url.clone();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(&eks.kube.ca_b64)
        .unwrap();
    let bundle = TrustRoots::from_pem(&ca).expect("the fake's CA is a usable root");
    let mozilla = TrustRoots::mozilla();

    // reqwest (Okta, SAML metadata): the fake answers (404: no cluster at that path) once its CA is
    // trusted; with Mozilla's roots the handshake fails on the unknown issuer.
    let get = |roots: &TrustRoots| {
        roots
            .reqwest()
            .build()
            .unwrap()
            .get(format!("{url}/version"))
            .send()
    };
    let answered = get(&bundle).await.expect("a handshake with the CA trusted");
    assert_eq!(answered.status(), reqwest::StatusCode::NOT_FOUND);
    let refused = get(&mozilla).await.unwrap_err();
    assert!(
        format!("{refused:?}").contains("UnknownIssuer"),
        "{refused:?}"
    );

    // The SDK's client: with the CA trusted the call reaches the server and gets an HTTP answer
    // (not STS's, so a service or response error); otherwise it is never sent.
    let sts = |roots: &TrustRoots| {
        let conf = aws_sdk_sts::config::Builder::from(&bed.aws)
            .http_client(roots.aws_http_client())
            .endpoint_url(&url)
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    };
    let answered = sts(&bundle).get_caller_identity().send().await.unwrap_err();
    assert!(
        answered.raw_response().is_some(),
        "an HTTP answer through TLS: {answered:?}"
    );
    let refused = sts(&mozilla)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SdkError::DispatchFailure(_))
            && format!("{refused:?}").contains("UnknownIssuer"),
        "{refused:?}"
    );
}
