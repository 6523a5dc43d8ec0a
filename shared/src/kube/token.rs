//! The EKS bearer token: `k8s-aws-v1.` and the base64url of an STS `GetCallerIdentity` URL,
//! presigned with the `x-k8s-aws-id` header set to the cluster's name. The API server's
//! authenticator replays the URL with that header to STS, so a token works only for the
//! cluster it names, and only for a minute.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign},
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;

/// The prefix of every EKS token.
pub const PREFIX: &str = "k8s-aws-v1.";

/// The header that binds a token to one cluster.
pub const CLUSTER_HEADER: &str = "x-k8s-aws-id";

/// SigV4's URI encoding: everything but `A-Z a-z 0-9 - _ . ~`.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How long a token's presigned URL is valid (what `aws eks get-token` uses).
pub const EXPIRES_IN: Duration = Duration::from_secs(60);

/// Builds a token for `cluster_name` from the session's credentials, signed for STS in
/// `region`. `sts_endpoint` is the STS endpoint the session uses (its `AWS_ENDPOINT_URL*`
/// setting), or the regional one.
pub async fn token(
    session: &SdkConfig,
    region: &str,
    cluster_name: &str,
) -> Result<String, String> {
    let provider = session
        .credentials_provider()
        .ok_or("the session has no credentials")?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| format!("no credentials: {e}"))?;
    let endpoint = sts_endpoint(session, region);
    presign(
        &credentials.into(),
        &endpoint,
        region,
        cluster_name,
        SystemTime::now(),
    )
}

/// The STS endpoint a token is signed for: the configured endpoint (`AWS_ENDPOINT_URL_STS`
/// or `AWS_ENDPOINT_URL`), else STS in `region`.
pub fn sts_endpoint(session: &SdkConfig, region: &str) -> String {
    let configured = session
        .service_config()
        .and_then(|c| {
            // The key the STS client itself reads (`AWS_ENDPOINT_URL_STS`, or `endpoint_url`
            // in the profile's `sts` services section).
            let key = aws_types::service_config::ServiceConfigKey::builder()
                .service_id("STS")
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .ok()?;
            c.load_config(key)
        })
        .or_else(|| session.endpoint_url().map(str::to_string));
    match configured {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://sts.{region}.{suffix}")
        }
    }
}

/// Presigns `GetCallerIdentity` at `endpoint` for `cluster_name` at `time`.
pub fn presign(
    identity: &Identity,
    endpoint: &str,
    region: &str,
    cluster_name: &str,
    time: SystemTime,
) -> Result<String, String> {
    let url = format!("{endpoint}/?Action=GetCallerIdentity&Version=2011-06-15");
    let host = endpoint
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
        .ok_or_else(|| format!("not a URL: {endpoint}"))?;
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(EXPIRES_IN);
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        [("host", host), (CLUSTER_HEADER, cluster_name)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut signed = url;
    for (name, value) in instructions.params() {
        signed.push('&');
        signed.push_str(name);
        signed.push('=');
        signed.push_str(&percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string());
    }
    Ok(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    #[test]
    fn a_token_is_a_presigned_get_caller_identity_bound_to_the_cluster() {
        let identity: Identity =
            Credentials::new("AKIDEXAMPLE", "secret", Some("session".into()), None, "t").into();
        let token = presign(
            &identity,
            "https://sts.eu-west-1.amazonaws.com",
            "eu-west-1",
            "payments-prod",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )
        .unwrap();
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.strip_prefix(PREFIX).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(url.starts_with(
            "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
        ));
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20270115%2Feu-west-1%2Fsts%2Faws4_request",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Security-Token=session",
        ] {
            assert!(url.contains(part), "{part} missing from {url}");
        }
        assert!(!url.contains("secret"));
    }
}
