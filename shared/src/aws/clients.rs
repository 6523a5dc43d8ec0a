//! Client construction: one place, so that every client carries the call recorder.

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::{aws::pace, calls::RecordCalls};

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
/// caller: the client sends `calls_per_second`, this instance's share, and borrows up to
/// twice that (at most the service's 20) while nothing is throttled (see [`pace`]). What is
/// throttled all the same is retried as any throttling is, with twice the attempts of other
/// clients (`retry.call_attempts`): a throttle here is how instances learn they borrow too
/// much, so throttles are expected, and while two instances probe, one call can meet several
/// in a row (a 1000-account backfill once handed an account back after four).
pub fn sso_admin(conf: &SdkConfig, calls_per_second: u32) -> aws_sdk_ssoadmin::Client {
    let mut builder = aws_sdk_ssoadmin::config::Builder::from(conf).interceptor(RecordCalls);
    if let Some(retry) = conf.retry_config() {
        let attempts = retry.max_attempts().saturating_mul(2);
        builder = builder.retry_config(retry.clone().with_max_attempts(attempts));
    }
    if let Some(base) = pace::base_client(conf) {
        let pacer = Arc::new(pace::Pacer::new(
            calls_per_second,
            crate::aws::sso::MAX_CALLS_PER_SECOND,
        ));
        builder = builder
            .http_client(pace::paced(base, pacer.clone()))
            .interceptor(pace::Feedback(pacer));
    }
    aws_sdk_ssoadmin::Client::from_conf(builder.build())
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
