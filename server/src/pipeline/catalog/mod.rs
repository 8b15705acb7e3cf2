//! The catalog of logical models: the names clients use, mapped to the Bedrock targets the platform
//! team chose, with each model's limits and lifecycle. Clients never see a Bedrock model id.

pub mod live;

use std::collections::BTreeMap;
use std::sync::Arc;

use bedrock_gateway_proto::v1;
use sha2::{Digest, Sha256};

use crate::config::{
    CapabilitiesConfig, GuardrailConfig, Modality, ModelConfig, ModelKind, ModelState, PromptCachingConfig,
    ReasoningStyle, StructuredOutputStyle, TargetConfig, utc_today,
};
use crate::error::GatewayError;
use crate::pipeline::convert::json;
use crate::pipeline::routing::{self, Target};
use crate::pipeline::tenants::Tenant;

/// One logical model, resolved.
#[derive(Debug, Clone)]
pub struct Model {
    /// The logical name.
    pub name: String,
    /// Where its requests go, by weight (one target for a model with a `model_id`).
    pub targets: Vec<Arc<Target>>,
    /// Where a request goes next, in order, when its target has no capacity for it.
    pub fallbacks: Vec<Arc<Target>>,
    /// The `request_metadata` key whose value picks the target.
    pub sticky_metadata_key: Option<String>,
    /// What the model is good for.
    pub description: String,
    /// Largest max_tokens a request may ask for.
    pub max_tokens_cap: u32,
    /// max_tokens of a request that sets none.
    pub default_max_tokens: u32,
    /// Temperature of a request that sets none.
    pub temperature: Option<f32>,
    /// top_p of a request that sets none.
    pub top_p: Option<f32>,
    /// The guardrail every request goes through.
    pub guardrail: Option<GuardrailConfig>,
    /// Where prompt-cache points go.
    pub prompt_caching: PromptCachingConfig,
    /// Lifecycle state as configured; [`Model::state_on`] applies `retires_on`.
    pub state: ModelState,
    /// Where to move to, for deprecated and retired models.
    pub replacement: Option<String>,
    /// The day from which the model is retired.
    pub retires_on: Option<time::Date>,
    /// Chat or embedding.
    pub kind: ModelKind,
    /// What it can take and do; `prompt_caching` is always set (resolved from the automatic
    /// cache points when the configuration leaves it unset).
    pub capabilities: CapabilitiesConfig,
}

impl Model {
    fn from_config(name: &str, config: &ModelConfig, home_region: &str) -> Model {
        let fields = |fields: &Option<serde_json::Map<String, serde_json::Value>>| {
            fields.as_ref().map(|fields| json::to_document(&serde_json::Value::Object(fields.clone())))
        };
        let target = |target: &TargetConfig, weight: u32| {
            Arc::new(Target {
                model_id: target.model_id.clone(),
                region: target.region.clone().unwrap_or_else(|| home_region.to_owned()),
                role_arn: target.role_arn.clone(),
                version: target.version.clone(),
                weight,
                additional_request_fields: fields(&target.additional_request_fields)
                    .or_else(|| fields(&config.additional_request_fields)),
            })
        };
        let targets = if config.targets.is_empty() {
            vec![Arc::new(Target {
                model_id: config.model_id.clone(),
                region: config.region.clone().unwrap_or_else(|| home_region.to_owned()),
                role_arn: config.role_arn.clone(),
                version: config.effective_version(name),
                weight: 1,
                additional_request_fields: fields(&config.additional_request_fields),
            })]
        } else {
            config.targets.iter().map(|t| target(t, t.weight.unwrap_or(1))).collect()
        };
        Model {
            name: name.to_owned(),
            targets,
            fallbacks: config.fallbacks.iter().map(|t| target(t, 0)).collect(),
            sticky_metadata_key: config.sticky_metadata_key.clone(),
            description: config.description.clone(),
            max_tokens_cap: config.max_tokens_cap,
            default_max_tokens: config.effective_default_max_tokens(),
            temperature: config.temperature,
            top_p: config.top_p,
            guardrail: config.guardrail.clone(),
            prompt_caching: config.prompt_caching,
            state: config.state,
            replacement: config.replacement.clone(),
            retires_on: config.retirement_day(),
            kind: config.kind,
            capabilities: CapabilitiesConfig {
                prompt_caching: Some(
                    config
                        .capabilities
                        .prompt_caching
                        .unwrap_or(config.prompt_caching.after_system || config.prompt_caching.after_tools),
                ),
                ..config.capabilities.clone()
            },
        }
    }

    /// Refuses a call meant for the other kind of model, saying which RPC the model takes.
    pub fn require_kind(&self, kind: ModelKind) -> Result<(), GatewayError> {
        if self.kind == kind {
            return Ok(());
        }
        let reason = match self.kind {
            ModelKind::Chat => format!("{:?} is a chat model: call Converse, ConverseStream or CountTokens", self.name),
            ModelKind::Embedding => format!("{:?} is an embedding model: call Embed", self.name),
        };
        Err(GatewayError::invalid("model", reason))
    }

    /// Whether cache points take effect with this model.
    pub fn prompt_caching(&self) -> bool {
        self.capabilities.prompt_caching == Some(true)
    }

    /// The version ListModels shows: the one of the target with the most weight (the first of
    /// equals), which most requests get.
    pub fn version(&self) -> &str {
        let primary = self.targets.iter().rev().max_by_key(|target| target.weight);
        primary.map_or(self.name.as_str(), |target| target.version.as_str())
    }

    /// The targets a request tries, in order: the one picked for it (by `sticky`'s value when the
    /// model has a sticky key and the request that metadata entry), then the fallbacks.
    pub fn route(&self, metadata: &std::collections::HashMap<String, String>) -> Vec<Arc<Target>> {
        let sticky = self.sticky_metadata_key.as_ref().and_then(|key| metadata.get(key)).map(String::as_str);
        let picked = routing::pick(&self.targets, sticky, &mut fastrand::Rng::new());
        std::iter::once(Arc::clone(picked)).chain(self.fallbacks.iter().cloned()).collect()
    }

    /// The state on `today` (UTC): from its `retires_on` day the model is retired, whatever its
    /// configured state, so a task running across midnight retires it without a reload.
    pub fn state_on(&self, today: time::Date) -> ModelState {
        self.state.on(self.retires_on, today)
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

    fn info(&self, today: time::Date) -> v1::ModelInfo {
        v1::ModelInfo {
            name: self.name.clone(),
            description: self.description.clone(),
            version: self.version().to_owned(),
            state: match self.state_on(today) {
                ModelState::Active => v1::ModelState::Active,
                ModelState::Deprecated => v1::ModelState::Deprecated,
                ModelState::Retired => v1::ModelState::Retired,
            } as i32,
            max_tokens_cap: self.max_tokens_cap,
            replacement: self.replacement.clone().unwrap_or_default(),
            retires_on: self.retires_on.map(|day| day.to_string()).unwrap_or_default(),
            kind: match self.kind {
                ModelKind::Chat => v1::ModelKind::Chat,
                ModelKind::Embedding => v1::ModelKind::Embedding,
            } as i32,
            capabilities: Some(self.capabilities_info()),
        }
    }

    fn capabilities_info(&self) -> v1::ModelCapabilities {
        let capabilities = &self.capabilities;
        let chat = self.kind == ModelKind::Chat;
        let input_modalities = match self.kind {
            ModelKind::Chat => capabilities.input_modalities.clone(),
            ModelKind::Embedding => vec![Modality::Text],
        };
        v1::ModelCapabilities {
            input_modalities: input_modalities
                .iter()
                .map(|modality| match modality {
                    Modality::Text => v1::Modality::Text as i32,
                    Modality::Image => v1::Modality::Image as i32,
                    Modality::Document => v1::Modality::Document as i32,
                })
                .collect(),
            tools: chat && capabilities.tools,
            reasoning: chat && capabilities.reasoning != ReasoningStyle::None,
            structured_output: chat && capabilities.structured_output != StructuredOutputStyle::None,
            prompt_caching: chat && self.prompt_caching(),
            count_tokens: chat && capabilities.count_tokens,
            context_window: capabilities.context_window,
            embedding_dimensions: if chat { Vec::new() } else { capabilities.embedding_dimensions.clone() },
            max_embed_texts: if chat { 0 } else { capabilities.max_embed_texts },
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
    /// Builds the catalog from the validated `[models]` table; targets without a region are in
    /// `home_region` (`bedrock.region`).
    pub fn from_config(config: &BTreeMap<String, ModelConfig>, home_region: &str) -> Catalog {
        let models = config
            .iter()
            .map(|(name, config)| (name.clone(), Arc::new(Model::from_config(name, config, home_region))))
            .collect();
        Catalog { models, revision: revision(config) }
    }

    /// Names this catalog's content: the same models and settings give the same revision, in
    /// every task and across restarts, so a fleet can be seen to have converged on one catalog.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The logical models' names, which the tenants' `models` and `model_quotas` must be among.
    pub fn model_names(&self) -> std::collections::BTreeSet<String> {
        self.models.keys().cloned().collect()
    }

    /// The model `tenant` asked for, if it may be called today. An unknown name's error lists only
    /// the models the tenant may use.
    pub fn resolve(&self, name: &str, tenant: &Tenant) -> Result<Arc<Model>, GatewayError> {
        self.resolve_on(name, tenant, utc_today())
    }

    fn resolve_on(&self, name: &str, tenant: &Tenant, today: time::Date) -> Result<Arc<Model>, GatewayError> {
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
        if model.state_on(today) == ModelState::Retired {
            return Err(GatewayError::ModelRetired {
                alias: model.name.clone(),
                replacement: model.replacement.clone().unwrap_or_default(),
            });
        }
        Ok(Arc::clone(model))
    }

    /// The catalog as `tenant` sees it (the models it may use, in their state today), sorted by
    /// name, with the catalog's revision.
    pub fn list(&self, tenant: &Tenant) -> v1::ListModelsResponse {
        let today = utc_today();
        let models = self.models.values().filter(|model| tenant.may_use(&model.name)).map(|model| model.info(today));
        v1::ListModelsResponse { models: models.collect(), catalog_revision: self.revision.clone() }
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
            retires_on = "2099-01-31"
            "#,
        )
        .unwrap();
        Catalog::from_config(&config.models, &config.bedrock.region)
    }

    #[test]
    fn the_revision_names_the_content() {
        assert_eq!(catalog().revision(), catalog().revision());
        assert_eq!(catalog().revision().len(), 12);
        let other =
            Config::from_toml("[models.chat]\nmodel_id = \"anthropic.claude-3-haiku-20240307-v1:0\"\n").unwrap();
        assert_ne!(Catalog::from_config(&other.models, &other.bedrock.region).revision(), catalog().revision());
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
            "model \"legacy\" is deprecated and retires on 2099-01-31; move to \"chat\""
        );
    }

    #[test]
    fn list_is_sorted_and_hides_bedrock_ids() {
        let listed = catalog().list(&everyone());
        let names: Vec<_> = listed.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["chat", "legacy", "old"]);
        assert_eq!(listed.models[0].version, "claude-3-haiku");
        assert_eq!(listed.models[1].version, "legacy", "the version defaults to the logical name, never the model id");
        assert_eq!(listed.catalog_revision, catalog().revision());
    }

    #[test]
    fn a_model_retires_at_the_start_of_its_retires_on_day() {
        let day = |date: u8| time::Date::from_calendar_date(2099, time::Month::January, date).unwrap();
        let catalog = catalog();
        let model = catalog.resolve_on("legacy", &everyone(), day(30)).unwrap();
        assert_eq!(model.state_on(day(30)), ModelState::Deprecated);
        for today in [day(31), time::Date::from_calendar_date(2100, time::Month::March, 1).unwrap()] {
            let err = catalog.resolve_on("legacy", &everyone(), today).unwrap_err();
            assert_eq!(err.code(), tonic::Code::FailedPrecondition);
            assert_eq!(err.to_string(), "model: \"legacy\" is retired; use \"chat\" instead");
            assert_eq!(model.state_on(today), ModelState::Retired);
        }
        let info = model.info(day(31));
        assert_eq!((info.state(), info.retires_on.as_str()), (v1::ModelState::Retired, "2099-01-31"));
    }

    #[test]
    fn configured_request_fields_become_a_document() {
        let config = Config::from_toml(
            "[models.chat]\nmodel_id = \"m\"\nadditional_request_fields = { thinking = { type = \"enabled\", budget_tokens = 2048 } }\n",
        )
        .unwrap();
        let model = Catalog::from_config(&config.models, &config.bedrock.region).resolve("chat", &everyone()).unwrap();
        let fields = json::from_document(model.targets[0].additional_request_fields.as_ref().unwrap());
        assert_eq!(fields, serde_json::json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}));
        assert_eq!((model.default_max_tokens, model.version()), (1024, "chat"));
    }

    #[test]
    fn targets_carry_their_region_version_and_fields_and_fallbacks_follow_the_pick() {
        let config = Config::from_toml(
            r#"
            [bedrock]
            region = "eu-west-1"
            [models.chat]
            sticky_metadata_key = "conversation_id"
            additional_request_fields = { top_k = 5 }
            targets = [
                { model_id = "a", version = "stable", weight = 3 },
                { model_id = "b", version = "canary", region = "eu-central-1", additional_request_fields = { x = 1 } },
            ]
            fallbacks = [{ model_id = "c", version = "backup", region = "us-east-1" }]
            "#,
        )
        .unwrap();
        let model = Catalog::from_config(&config.models, &config.bedrock.region).resolve("chat", &everyone()).unwrap();
        assert_eq!(model.version(), "stable", "ListModels shows the version most requests get");
        let [stable, canary] = [&model.targets[0], &model.targets[1]];
        assert_eq!((stable.region.as_str(), canary.region.as_str()), ("eu-west-1", "eu-central-1"));
        let fields = |target: &Target| json::from_document(target.additional_request_fields.as_ref().unwrap());
        assert_eq!((fields(stable), fields(canary)), (serde_json::json!({"top_k": 5}), serde_json::json!({"x": 1})));
        let metadata = std::collections::HashMap::from([("conversation_id".to_owned(), "c-42".to_owned())]);
        let route = model.route(&metadata);
        assert_eq!(route.len(), 2);
        assert_eq!(route[1].version, "backup");
        assert!((0..20).all(|_| model.route(&metadata)[0].version == route[0].version), "sticky");
    }
}
