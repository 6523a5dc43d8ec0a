//! STS: a session in a member account through its execution role.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::{Credentials, provider::SharedCredentialsProvider};
use aws_sdk_sts::Client;
use tracing::{info, warn};

use crate::{
    config::RetryConfig,
    error::{Error, Result},
    ids::AccountId,
};

/// The session name autofed's calls carry in each member account's CloudTrail.
pub const SESSION_NAME: &str = "autofed";

/// Every IAM action autofed makes in a member account. The execution role is usually an
/// administrator; passing these as the session policy limits the session to them (the
/// effective permissions are the intersection), so a bug cannot reach anything else.
pub const MEMBER_ACTIONS: &[&str] = &[
    "iam:ListAccountAliases",
    "iam:CreateAccountAlias",
    "iam:GetSAMLProvider",
    "iam:CreateSAMLProvider",
    "iam:UpdateSAMLProvider",
    "iam:TagSAMLProvider",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:CreateRole",
    "iam:TagRole",
    "iam:UpdateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
];

/// Every action autofed makes in a member account in `stack` deploy mode: the stack's
/// operations, and the IAM actions CloudFormation makes with the session's credentials to
/// create, change, delete and check (drift) the provider and roles, on top of the alias.
pub const STACK_ACTIONS: &[&str] = &[
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:DescribeStackResource",
    "cloudformation:GetTemplate",
    "cloudformation:ListStackResources",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet",
    "cloudformation:UpdateTerminationProtection",
    "cloudformation:DeleteStack",
    "cloudformation:DetectStackDrift",
    "cloudformation:DescribeStackDriftDetectionStatus",
    "cloudformation:DescribeStackResourceDrifts",
    "iam:ListAccountAliases",
    "iam:CreateAccountAlias",
    "iam:GetSAMLProvider",
    "iam:CreateSAMLProvider",
    "iam:UpdateSAMLProvider",
    "iam:DeleteSAMLProvider",
    "iam:TagSAMLProvider",
    "iam:UntagSAMLProvider",
    "iam:ListSAMLProviderTags",
    "iam:GetRole",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:ListRoleTags",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
];

/// Every action a cluster's onboarding makes in the cluster's account: reads of the roles it
/// grants access to, and EKS's access-entry API; the backfill lists the clusters. (The
/// Kubernetes API authenticates the session with a presigned `sts:GetCallerIdentity`, which no
/// policy can deny.)
pub const CLUSTER_ACTIONS: &[&str] = &[
    "eks:ListClusters",
    "iam:ListRoles",
    "eks:DescribeCluster",
    "eks:UpdateClusterConfig",
    "eks:ListAccessEntries",
    "eks:DescribeAccessEntry",
    "eks:CreateAccessEntry",
    "eks:UpdateAccessEntry",
    "eks:DeleteAccessEntry",
    "eks:TagResource",
    "eks:ListAssociatedAccessPolicies",
    "eks:AssociateAccessPolicy",
    "eks:DisassociateAccessPolicy",
];

/// The session policy: `actions` on any resource of the account.
pub fn session_policy(actions: &[&str]) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": actions, "Resource": "*" }]
    })
    .to_string()
}

/// Assumes the first of `role_names` that can be assumed in `account`, limited to `actions`
/// (the session policy), returning an SDK configuration with that session's credentials and
/// the base configuration's region and endpoints.
///
/// NB: a brand-new account's execution role is not assumable for a while (STS answers
/// `AccessDenied`); attempts are retried with a doubling delay, and then the account is
/// reported [`Error::NotReady`] so that the message is re-queued with a delay.
pub async fn assume(
    sts: &Client,
    base: &SdkConfig,
    partition: &str,
    account: &AccountId,
    role_names: &[&str],
    actions: &[&str],
    retry: &RetryConfig,
) -> Result<SdkConfig> {
    let mut delay = Duration::from_millis(retry.assume_base_delay_ms);
    let mut attempt = 1;
    let policy = session_policy(actions);
    loop {
        let mut denied = Vec::new();
        for role_name in role_names {
            let role_arn = format!("arn:{partition}:iam::{account}:role/{role_name}");
            match sts
                .assume_role()
                .role_arn(&role_arn)
                .role_session_name(SESSION_NAME)
                .policy(&policy)
                .duration_seconds(900)
                .send()
                .await
            {
                Ok(out) => {
                    let c = out.credentials.ok_or_else(|| Error::Aws {
                        service: "sts",
                        operation: "AssumeRole",
                        code: "NoCredentials".into(),
                        message: "the response carried no credentials".into(),
                        retryable: true,
                    })?;
                    let expiry = SystemTime::try_from(c.expiration).ok();
                    let creds = Credentials::new(
                        c.access_key_id,
                        c.secret_access_key,
                        Some(c.session_token),
                        expiry,
                        "autofed-assume-role",
                    );
                    info!(account_id = %account, role = role_name, attempt, "assumed execution role");
                    return Ok(base
                        .to_builder()
                        .credentials_provider(SharedCredentialsProvider::new(creds))
                        .build());
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| is_not_assumable(s.meta().code())) =>
                {
                    let reason = e
                        .as_service_error()
                        .and_then(|s| s.meta().message())
                        .unwrap_or("access denied");
                    denied.push(format!("{role_name}: {reason}"));
                }
                Err(e) => return Err(Error::aws("sts", "AssumeRole", e)),
            }
        }
        if attempt >= retry.assume_attempts {
            return Err(Error::NotReady {
                subject: format!("account {account}"),
                reason: denied.join("; "),
            });
        }
        warn!(account_id = %account, attempt, delay_ms = delay.as_millis() as u64, "execution role not assumable yet");
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2);
        attempt += 1;
    }
}

// NB: the code is not modelled by STS's AssumeRole errors, so it is matched here by name.
fn is_not_assumable(code: Option<&str>) -> bool {
    matches!(code, Some("AccessDenied"))
}

/// The partition of a region (`us-gov-west-1` is in `aws-us-gov`).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_policies_allow_exactly_their_actions() {
        for list in [MEMBER_ACTIONS, STACK_ACTIONS, CLUSTER_ACTIONS] {
            let text = session_policy(list);
            let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
            let actions: Vec<&str> = policy["Statement"][0]["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(actions, list);
            assert!(
                text.len() < 2048,
                "STS limits session policies to 2048 characters"
            );
        }
    }
}
