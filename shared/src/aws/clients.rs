//! Client construction: one place, so that every client carries the call recorder.

use aws_config::SdkConfig;

use crate::calls::RecordCalls;

macro_rules! client {
    ($(#[$doc:meta])* $fn_name:ident, $krate:ident) => {
        $(#[$doc])*
        pub fn $fn_name(conf: &SdkConfig) -> $krate::Client {
            $krate::Client::from_conf(
                $krate::config::Builder::from(conf)
                    .interceptor(RecordCalls)
                    .build(),
            )
        }
    };
}

client!(
    /// CloudFormation, in the region of the configuration it is built from.
    cloudformation,
    aws_sdk_cloudformation
);
client!(
    /// IAM, in the account the configuration's credentials belong to.
    iam,
    aws_sdk_iam
);
client!(
    /// IAM Identity Center's identity store.
    identity_store,
    aws_sdk_identitystore
);
client!(
    /// Organizations.
    organizations,
    aws_sdk_organizations
);
client!(
    /// Secrets Manager.
    secrets_manager,
    aws_sdk_secretsmanager
);
client!(
    /// SQS.
    sqs,
    aws_sdk_sqs
);
/// IAM Identity Center administration. Its whole API shares one rate (20 TPS) among every
/// caller, so its retries are adaptive: once throttled, the client paces its own requests with
/// the SDK's client-side rate limiter instead of spending its attempts against the limit.
pub fn sso_admin(conf: &SdkConfig) -> aws_sdk_ssoadmin::Client {
    use aws_config::retry::{RetryConfig, RetryMode};
    let retry = conf
        .retry_config()
        .cloned()
        .unwrap_or_else(RetryConfig::standard)
        .with_retry_mode(RetryMode::Adaptive);
    aws_sdk_ssoadmin::Client::from_conf(
        aws_sdk_ssoadmin::config::Builder::from(conf)
            .retry_config(retry)
            .interceptor(RecordCalls)
            .build(),
    )
}
client!(
    /// STS.
    sts,
    aws_sdk_sts
);
client!(
    /// EKS, in the region of the configuration it is built from.
    eks,
    aws_sdk_eks
);
