//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "SecureScan", description = "SecureScan auth API"),
    paths(
        super::meta::health,
        super::meta::ready,
        super::keys::create,
        super::keys::list,
        super::keys::me,
        super::keys::revoke,
        super::scans::create,
        super::scans::list,
        super::scans::get,
        super::scans::findings,
        super::scans::cancel,
        super::scans::delete,
        super::scans::event_token,
        super::scans::events,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::get,
        super::webhooks::update,
        super::webhooks::delete,
        super::webhooks::deliveries,
        super::webhooks::test,
        super::policy_api::status,
        super::policy_api::upload,
        super::policy_api::rollback,
    ),
    components(schemas(
        super::keys::CreateKeyRequest,
        super::keys::CreatedKey,
        crate::store::KeyRecord,
        super::scans::CreateScanRequest,
        crate::store::ScanRecord,
        crate::store::FindingRecord,
        crate::store::Skipped,
        super::webhooks::WebhookRequest,
        super::webhooks::CreatedWebhook,
        super::webhooks::TestDelivery,
        crate::store::WebhookRecord,
        crate::store::DeliveryRecord,
        crate::store::AttemptRecord,
        crate::policy::registry::PolicyStatus,
        crate::policy::registry::BuildSummary,
        crate::policy::registry::Accepted
    )),
    modifiers(&Security)
)]
struct Doc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "api_key",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
            );
        }
    }
}

pub fn document() -> String {
    Doc::openapi().to_json().expect("openapi serializes")
}
