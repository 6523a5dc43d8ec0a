//! IAM in a member account: reads of the alias, SAML provider and roles, and the writes that
//! the plan's IAM operations make.

use std::collections::BTreeMap;

use aws_sdk_iam::{Client, types::Tag};
use aws_smithy_runtime_api::{client::result::SdkError, http::Response as HttpResponse};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::{
    desired::{self, INLINE_POLICY_NAME},
    error::{Error, Result},
    observe::{ObservedProvider, ObservedRole},
    plan::Op,
    policy,
};

fn tag_map(tags: Option<Vec<Tag>>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect()
}

fn managed_tags() -> Vec<Tag> {
    desired::managed_tags()
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value set")
        })
        .collect()
}

/// The account's aliases.
pub async fn aliases(iam: &Client) -> Result<Vec<String>> {
    let out = iam
        .list_account_aliases()
        .send()
        .await
        .map_err(|e| Error::aws("iam", "ListAccountAliases", e))?;
    Ok(out.account_aliases)
}

/// The SAML provider with this ARN, if it exists.
pub async fn saml_provider(iam: &Client, arn: &str) -> Result<Option<ObservedProvider>> {
    match iam.get_saml_provider().saml_provider_arn(arn).send().await {
        Ok(out) => Ok(Some(ObservedProvider {
            metadata: out.saml_metadata_document.unwrap_or_default(),
            tags: tag_map(out.tags),
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::aws("iam", "GetSAMLProvider", e)),
    }
}

/// The role with this name, if it exists (attachments and inline policy not yet read).
pub async fn role(iam: &Client, name: &str) -> Result<Option<ObservedRole>> {
    let role = match iam.get_role().role_name(name).send().await {
        Ok(out) => out.role,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(Error::aws("iam", "GetRole", e)),
    };
    let Some(role) = role else { return Ok(None) };
    Ok(Some(ObservedRole {
        path: role.path,
        trust: role
            .assume_role_policy_document
            .as_deref()
            .and_then(policy::decode),
        description: role.description.filter(|d| !d.is_empty()),
        max_session_duration: role.max_session_duration.unwrap_or(3600),
        permissions_boundary: role
            .permissions_boundary
            .and_then(|b| b.permissions_boundary_arn),
        tags: tag_map(role.tags),
        attached: Default::default(),
        inline_policy: None,
    }))
}

/// Reads a role's attached managed policies and its `autofed` inline policy into `seen`.
pub async fn role_policies(iam: &Client, name: &str, seen: &mut ObservedRole) -> Result<()> {
    seen.attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::aws("iam", "ListAttachedRolePolicies", e))?
        .into_iter()
        .filter_map(|p| p.policy_arn)
        .collect();
    seen.inline_policy = match iam
        .get_role_policy()
        .role_name(name)
        .policy_name(INLINE_POLICY_NAME)
        .send()
        .await
    {
        Ok(out) => policy::decode(&out.policy_document),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            None
        }
        Err(e) => return Err(Error::aws("iam", "GetRolePolicy", e)),
    };
    Ok(())
}

/// Makes the write of one IAM operation. "Already exists" after a crash or a concurrent run is
/// checked: a resource that turns out to be autofed's counts as done, any other is an error.
pub async fn apply(iam: &Client, op: &Op) -> Result<()> {
    match op {
        Op::CreateAccountAlias { alias } => {
            iam.create_account_alias()
                .account_alias(alias)
                .send()
                .await
                .map_err(err("CreateAccountAlias"))?;
        }
        Op::CreateSamlProvider {
            name,
            arn,
            metadata,
        } => {
            let res = iam
                .create_saml_provider()
                .name(name)
                .saml_metadata_document(metadata.as_ref())
                .set_tags(Some(managed_tags()))
                .send()
                .await;
            if let Err(e) = res {
                if !e
                    .as_service_error()
                    .is_some_and(|s| s.is_entity_already_exists_exception())
                {
                    return Err(err("CreateSAMLProvider")(e));
                }
                let seen = saml_provider(iam, arn).await?;
                if !seen.is_some_and(|p| desired::is_managed(&p.tags)) {
                    return Err(already_exists("SAML provider", name));
                }
            }
        }
        Op::UpdateSamlProvider { arn, metadata } => {
            iam.update_saml_provider()
                .saml_provider_arn(arn)
                .saml_metadata_document(metadata.as_ref())
                .send()
                .await
                .map_err(err("UpdateSAMLProvider"))?;
        }
        Op::TagSamlProvider { arn } => {
            iam.tag_saml_provider()
                .saml_provider_arn(arn)
                .set_tags(Some(managed_tags()))
                .send()
                .await
                .map_err(err("TagSAMLProvider"))?;
        }
        Op::CreateRole { role } => {
            let res = iam
                .create_role()
                .role_name(&role.name)
                .path(&role.path)
                .assume_role_policy_document(policy::to_text(&role.trust))
                .set_description(role.description.clone())
                .max_session_duration(role.max_session_duration)
                .set_permissions_boundary(role.permissions_boundary.clone())
                .set_tags(Some(managed_tags()))
                .send()
                .await;
            if let Err(e) = res {
                if !e
                    .as_service_error()
                    .is_some_and(|s| s.is_entity_already_exists_exception())
                {
                    return Err(err("CreateRole")(e));
                }
                let seen = self::role(iam, &role.name).await?;
                if !seen.is_some_and(|r| desired::is_managed(&r.tags)) {
                    return Err(already_exists("role", &role.name));
                }
            }
        }
        Op::TagRole { name } => {
            iam.tag_role()
                .role_name(name)
                .set_tags(Some(managed_tags()))
                .send()
                .await
                .map_err(err("TagRole"))?;
        }
        Op::UpdateAssumeRolePolicy { name, document } => {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(policy::to_text(document))
                .send()
                .await
                .map_err(err("UpdateAssumeRolePolicy"))?;
        }
        Op::UpdateRole {
            name,
            description,
            max_session_duration,
        } => {
            iam.update_role()
                .role_name(name)
                .description(description.clone().unwrap_or_default())
                .max_session_duration(*max_session_duration)
                .send()
                .await
                .map_err(err("UpdateRole"))?;
        }
        Op::PutRolePermissionsBoundary { name, arn } => {
            iam.put_role_permissions_boundary()
                .role_name(name)
                .permissions_boundary(arn)
                .send()
                .await
                .map_err(err("PutRolePermissionsBoundary"))?;
        }
        Op::DeleteRolePermissionsBoundary { name } => {
            iam.delete_role_permissions_boundary()
                .role_name(name)
                .send()
                .await
                .map_err(err("DeleteRolePermissionsBoundary"))?;
        }
        Op::AttachRolePolicy { name, arn } => {
            iam.attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(err("AttachRolePolicy"))?;
        }
        Op::DetachRolePolicy { name, arn } => {
            iam.detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(err("DetachRolePolicy"))?;
        }
        Op::PutRolePolicy { name, document } => {
            iam.put_role_policy()
                .role_name(name)
                .policy_name(INLINE_POLICY_NAME)
                .policy_document(policy::to_text(document))
                .send()
                .await
                .map_err(err("PutRolePolicy"))?;
        }
        Op::DeleteRolePolicy { name } => {
            iam.delete_role_policy()
                .role_name(name)
                .policy_name(INLINE_POLICY_NAME)
                .send()
                .await
                .map_err(err("DeleteRolePolicy"))?;
        }
        Op::CreateAccountAssignment { .. }
        | Op::DeleteAccountAssignment { .. }
        | Op::AssignPushedGroup { .. }
        | Op::Okta(_)
        | Op::Cluster(_)
        | Op::Stack(_) => {
            unreachable!(
                "Identity Center, Okta and cluster operations are applied by their own modules"
            )
        }
    }
    Ok(())
}

fn err<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| Error::aws("iam", operation, e)
}

fn already_exists(what: &str, name: &str) -> Error {
    Error::Aws {
        service: "iam",
        operation: "Create",
        code: "EntityAlreadyExists".into(),
        message: format!(
            "{what} {name} appeared meanwhile and is not managed by autofed; left alone"
        ),
        retryable: false,
    }
}

/// The path under which IAM Identity Center provisions its roles; a region segment follows
/// when Identity Center is not in us-east-1.
pub const RESERVED_SSO_PATH: &str = "/aws-reserved/sso.amazonaws.com/";

/// IAM's largest page of `ListRoles`.
const ROLES_PER_PAGE: i32 = 1000;

/// Every role of the account, as `(name, path, ARN)`: one call for an account of up to 1000
/// roles. A cluster's grants name several roles (autofed's federated roles, Identity Center's
/// `AWSReservedSSO_*` roles); one listing finds them all, where a `GetRole` for each and a
/// listing of the reserved path would take a call per role more.
pub async fn roles(iam: &Client) -> Result<Vec<(String, String, String)>> {
    let roles: Vec<_> = iam
        .list_roles()
        .max_items(ROLES_PER_PAGE)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::aws("iam", "ListRoles", e))?;
    Ok(roles
        .into_iter()
        .map(|r| (r.role_name, r.path, r.arn))
        .collect())
}
