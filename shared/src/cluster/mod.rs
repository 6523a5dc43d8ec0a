//! EKS clusters (seeds 000 and 001): who gets access to each new cluster, as access entries
//! with access policies, or as aws-auth rows with RBAC bindings, and the namespaced RBAC roles
//! the configuration defines. Desired state, observation, plan and apply, as for accounts.

pub mod apply;
pub mod aws_auth;
pub mod desired;
pub mod observe;
pub mod onboard;
pub mod plan;
