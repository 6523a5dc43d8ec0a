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
client!(
    /// IAM Identity Center administration.
    sso_admin,
    aws_sdk_ssoadmin
);
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
