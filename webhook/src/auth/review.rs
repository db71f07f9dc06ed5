//! TokenReview and SubjectAccessReview, through kube-rs's `Api::create`.
//!
//! A TokenReview carries the caller's token: the request object is built here, sent, and
//! dropped, never formatted.

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use super::error::AuthError;
use super::identity::{AccessAttributes, AccessDecision, UserInfo};
use crate::cluster::bounded;

/// What to grant when the API server refuses a review: kube-apiserver's ClusterRole for
/// delegated authentication and authorisation.
const AUTH_DELEGATOR: &str = "bind the webhook's service account to the ClusterRole \
                              system:auth-delegator (create tokenreviews and \
                              subjectaccessreviews)";

/// Who `token` belongs to; `None` when the API server does not authenticate it.
pub(crate) async fn token_review(
    client: &kube::Client,
    token: &str,
) -> Result<Option<UserInfo>, AuthError> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_owned()),
            ..TokenReviewSpec::default()
        },
        ..TokenReview::default()
    };
    let api: Api<TokenReview> = Api::all(client.clone());
    let answer = bounded(api.create(&PostParams::default(), &review))
        .await
        .map_err(|e| AuthError::kube("TokenReview", AUTH_DELEGATOR, e))?;
    let Some(status) = answer.status else {
        return Ok(None);
    };
    let user = status.user.filter(|_| status.authenticated == Some(true));
    Ok(user.and_then(|user| {
        let username = user.username.filter(|name| !name.is_empty())?;
        Some(UserInfo {
            username,
            uid: user.uid.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
            extra: user.extra.unwrap_or_default(),
        })
    }))
}

/// Whether `user` may do what `attributes` describe, by a SubjectAccessReview.
pub(crate) async fn subject_access_review(
    client: &kube::Client,
    user: &UserInfo,
    attributes: &AccessAttributes,
) -> Result<AccessDecision, AuthError> {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let (resource_attributes, non_resource_attributes) = match attributes {
        AccessAttributes::Resource {
            verb,
            group,
            version,
            resource,
        } => (
            Some(ResourceAttributes {
                verb: Some(verb.clone()),
                group: Some(group.clone()),
                version: non_empty(version),
                resource: Some(resource.clone()),
                ..ResourceAttributes::default()
            }),
            None,
        ),
        AccessAttributes::NonResource { path, verb } => (
            None,
            Some(NonResourceAttributes {
                path: Some(path.clone()),
                verb: Some(verb.clone()),
            }),
        ),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.username.clone()),
            uid: non_empty(&user.uid),
            groups: Some(user.groups.clone()),
            extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
            resource_attributes,
            non_resource_attributes,
        },
        ..SubjectAccessReview::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = bounded(api.create(&PostParams::default(), &review))
        .await
        .map_err(|e| AuthError::kube("SubjectAccessReview", AUTH_DELEGATOR, e))?;
    let status = answer.status.unwrap_or_default();
    let reason = status
        .reason
        .filter(|r| !r.is_empty())
        .or(status.evaluation_error)
        .unwrap_or_default();
    Ok(AccessDecision {
        allowed: status.allowed,
        reason,
    })
}
