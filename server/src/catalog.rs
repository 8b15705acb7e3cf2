//! The catalog of logical models: the names clients use, mapped to the Bedrock targets the platform
//! team chose, with each model's limits and lifecycle. Clients never see a Bedrock model id.

use std::collections::BTreeMap;
use std::sync::Arc;

use bedrock_gateway_proto::v1;
use sha2::{Digest, Sha256};

use crate::config::{ModelConfig, ModelState};
use crate::error::GatewayError;
use crate::tenants::Tenant;

/// One logical model, resolved.
#[derive(Debug, Clone)]
pub struct Model {
    /// The logical name.
    pub name: String,
    /// Bedrock model id, inference profile id or ARN.
    pub model_id: String,
    /// Version shown to clients.
    pub version: String,
    /// What the model is good for.
    pub description: String,
    /// Largest max_tokens a request may ask for.
    pub max_tokens_cap: u32,
    /// Lifecycle state.
    pub state: ModelState,
    /// Where to move to, for deprecated and retired models.
    pub replacement: Option<String>,
    /// When a deprecated model retires.
    pub retires_on: Option<String>,
}

impl Model {
    fn from_config(name: &str, config: &ModelConfig) -> Model {
        Model {
            name: name.to_owned(),
            model_id: config.model_id.clone(),
            version: config.version.clone().unwrap_or_else(|| config.model_id.clone()),
            description: config.description.clone(),
            max_tokens_cap: config.max_tokens_cap,
            state: config.state,
            replacement: config.replacement.clone(),
            retires_on: config.retires_on.clone(),
        }
    }

    /// A note for clients of a deprecated model, sent as response metadata.
    pub fn deprecation_notice(&self) -> Option<String> {
        if self.state != ModelState::Deprecated {
            return None;
        }
        let mut notice = format!("model {:?} is deprecated", self.name);
        if let Some(day) = &self.retires_on {
            notice.push_str(&format!(" and retires on {day}"));
        }
        if let Some(replacement) = &self.replacement {
            notice.push_str(&format!("; move to {replacement:?}"));
        }
        Some(notice)
    }

    fn info(&self) -> v1::ModelInfo {
        v1::ModelInfo {
            name: self.name.clone(),
            description: self.description.clone(),
            version: self.version.clone(),
            state: match self.state {
                ModelState::Active => v1::ModelState::Active,
                ModelState::Deprecated => v1::ModelState::Deprecated,
                ModelState::Retired => v1::ModelState::Retired,
            } as i32,
            max_tokens_cap: self.max_tokens_cap,
            replacement: self.replacement.clone().unwrap_or_default(),
            retires_on: self.retires_on.clone().unwrap_or_default(),
        }
    }
}

/// All logical models, by name.
#[derive(Debug, Clone)]
pub struct Catalog {
    models: BTreeMap<String, Arc<Model>>,
    revision: String,
}

impl Catalog {
    /// Builds the catalog from the validated `[models]` table.
    pub fn from_config(config: &BTreeMap<String, ModelConfig>) -> Catalog {
        let models =
            config.iter().map(|(name, config)| (name.clone(), Arc::new(Model::from_config(name, config)))).collect();
        Catalog { models, revision: revision(config) }
    }

    /// Names this catalog's content: the same models and settings give the same revision, in
    /// every task and across restarts, so a fleet can be seen to have converged on one catalog.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The model `tenant` asked for, if it may be called. An unknown name's error lists only the
    /// models the tenant may use.
    pub fn resolve(&self, name: &str, tenant: &Tenant) -> Result<Arc<Model>, GatewayError> {
        let Some(model) = self.models.get(name) else {
            let known = self.models.keys().filter(|name| tenant.may_use(name)).map(String::as_str);
            return Err(GatewayError::UnknownModel {
                alias: name.to_owned(),
                known: known.collect::<Vec<_>>().join(", "),
            });
        };
        if !tenant.may_use(name) {
            return Err(GatewayError::ModelNotAllowed { alias: name.to_owned() });
        }
        if model.state == ModelState::Retired {
            return Err(GatewayError::ModelRetired {
                alias: model.name.clone(),
                replacement: model.replacement.clone().unwrap_or_default(),
            });
        }
        Ok(Arc::clone(model))
    }

    /// The catalog as `tenant` sees it (the models it may use), sorted by name.
    pub fn list(&self, tenant: &Tenant) -> v1::ListModelsResponse {
        let models = self.models.values().filter(|model| tenant.may_use(&model.name)).map(|model| model.info());
        v1::ListModelsResponse { models: models.collect() }
    }
}

/// The first 12 hex digits of the SHA-256 of the models' canonical JSON (maps sorted by key).
fn revision(config: &BTreeMap<String, ModelConfig>) -> String {
    let canonical = serde_json::to_vec(config).expect("a model config serializes to JSON");
    Sha256::digest(canonical).iter().take(6).map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, TenantConfig};

    fn everyone() -> Tenant {
        Tenant::from_config("default", &TenantConfig::default())
    }

    fn chat_only() -> Tenant {
        Tenant::from_config("payments", &TenantConfig { models: Some(vec!["chat".into()]), ..TenantConfig::default() })
    }

    fn catalog() -> Catalog {
        let config = Config::from_toml(
            r#"
            [models.chat]
            model_id = "anthropic.claude-3-haiku-20240307-v1:0"
            version = "claude-3-haiku"
            [models.old]
            model_id = "x"
            state = "retired"
            replacement = "chat"
            [models.legacy]
            model_id = "y"
            state = "deprecated"
            replacement = "chat"
            retires_on = "2027-01-31"
            "#,
        )
        .unwrap();
        Catalog::from_config(&config.models)
    }

    #[test]
    fn the_revision_names_the_content() {
        assert_eq!(catalog().revision(), catalog().revision());
        assert_eq!(catalog().revision().len(), 12);
        let other =
            Config::from_toml("[models.chat]\nmodel_id = \"anthropic.claude-3-haiku-20240307-v1:0\"\n").unwrap();
        assert_ne!(Catalog::from_config(&other.models).revision(), catalog().revision());
    }

    #[test]
    fn unknown_model_lists_the_valid_ones() {
        let err = catalog().resolve("gpt", &everyone()).unwrap_err();
        assert_eq!(err.to_string(), "model: unknown model \"gpt\"; this gateway offers: chat, legacy, old");
        let err = catalog().resolve("gpt", &chat_only()).unwrap_err();
        assert_eq!(err.to_string(), "model: unknown model \"gpt\"; this gateway offers: chat");
    }

    #[test]
    fn a_tenant_sees_and_calls_only_its_models() {
        let err = catalog().resolve("legacy", &chat_only()).unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        assert!(catalog().resolve("chat", &chat_only()).is_ok());
        let names: Vec<_> = catalog().list(&chat_only()).models.into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["chat"]);
    }

    #[test]
    fn retired_model_names_its_replacement() {
        let err = catalog().resolve("old", &everyone()).unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
        assert!(err.to_string().contains("\"chat\""), "{err}");
    }

    #[test]
    fn deprecated_model_serves_with_a_notice() {
        let model = catalog().resolve("legacy", &everyone()).unwrap();
        assert_eq!(
            model.deprecation_notice().unwrap(),
            "model \"legacy\" is deprecated and retires on 2027-01-31; move to \"chat\""
        );
    }

    #[test]
    fn list_is_sorted_and_hides_bedrock_ids() {
        let models = catalog().list(&everyone()).models;
        let names: Vec<_> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["chat", "legacy", "old"]);
        assert_eq!(models[0].version, "claude-3-haiku");
    }
}
