//! The catalog's configuration: the `[models]` table (or the S3 object of the same shape), each
//! logical model's targets, request defaults, lifecycle and capabilities, and the checks of a
//! whole catalog. They need nothing else of the configuration, so a reload checks the catalog
//! alone (and the tenants that name its models: [`crate::config::TenantConfig::require_models`]).

mod capabilities;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use self::capabilities::{
    CapabilitiesConfig, EmbeddingFormat, Modality, ModelKind, ReasoningStyle, StructuredOutputStyle,
};
use crate::config::error::{ConfigError, at_least, invalid};

/// Where a logical model is in its lifecycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelState {
    /// Serving.
    #[default]
    Active,
    /// Serving, with a planned end.
    Deprecated,
    /// Not serving; requests fail with FAILED_PRECONDITION naming the replacement.
    Retired,
}

impl ModelState {
    /// The state on `today` (UTC) of a model in this state that retires on `retires_on`: from
    /// that day on it is retired, whatever its configured state.
    pub fn on(self, retires_on: Option<time::Date>, today: time::Date) -> ModelState {
        match retires_on {
            Some(day) if today >= day => ModelState::Retired,
            _ => self,
        }
    }
}

/// One logical model. [`ModelConfig::new`] (or `Default`, every key at its default) builds one in
/// code, the fields that differ set by struct update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Bedrock model id, inference profile id, or ARN of either. Never shown to clients. Exactly
    /// one of `model_id` and `targets` is set.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model_id: String,
    /// Version shown to clients (ListModels, `StreamStart.model_version`) when `model_id` answers;
    /// defaults to the model's logical name, never to `model_id`, which may name the platform's account.
    pub version: Option<String>,
    /// The region whose Bedrock runtime serves `model_id`. Unset: `bedrock.region`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The IAM role, in the account whose Bedrock serves `model_id`, that the gateway assumes to
    /// call it. Unset: the gateway's own credentials. Never shown to clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Weighted targets instead of `model_id`, for a canary: each request goes to one, by weight.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetConfig>,
    /// Tried in order when the chosen target is throttled, out of capacity, not ready or
    /// unavailable before it sent anything, within the caller's deadline.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<TargetConfig>,
    /// A `request_metadata` key (such as `conversation_id`) whose value picks the target instead of
    /// chance, so that one conversation stays on one target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky_metadata_key: Option<String>,
    /// What the model is good for, shown by ListModels.
    pub description: String,
    /// The largest max_tokens a request may ask for; a request above it is INVALID_ARGUMENT.
    pub max_tokens_cap: u32,
    /// The max_tokens of a request that sets none, at most `max_tokens_cap`. Bedrock reserves
    /// quota for max_tokens when a request starts, so this stays well below the cap. Unset: 1024,
    /// or `max_tokens_cap` when that is lower.
    pub default_max_tokens: Option<u32>,
    /// Temperature of a request that sets none, 0 to 1. Unset: the model's own default.
    pub temperature: Option<f32>,
    /// top_p of a request that sets none, 0 to 1. Unset: the model's own default.
    pub top_p: Option<f32>,
    /// A Bedrock guardrail applied to every request of this model.
    pub guardrail: Option<GuardrailConfig>,
    /// Where to put Bedrock prompt-cache points in every request of this model.
    pub prompt_caching: PromptCachingConfig,
    /// Model-specific request fields, sent as Bedrock's `additionalModelRequestFields`, such as
    /// `{ thinking = { type = "enabled", budget_tokens = 2048 } }`.
    pub additional_request_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Lifecycle state.
    pub state: ModelState,
    /// The logical model to move to; required for retired models and for models with `retires_on`.
    /// It must be active (not deprecated, not retired, not past its own `retires_on`).
    pub replacement: Option<String>,
    /// The day (YYYY-MM-DD, UTC) from which the model is retired, whatever its state: from its
    /// first second calls get FAILED_PRECONDITION naming the replacement, without a reload.
    pub retires_on: Option<String>,
    /// What the model does: `chat` (Converse, ConverseStream, CountTokens) or `embedding` (Embed).
    pub kind: ModelKind,
    /// What the model can take and do, shown by ListModels, and how the API's features map to its
    /// family's fields.
    pub capabilities: CapabilitiesConfig,
}

/// One Bedrock target of a model: one of its weighted `targets`, or one of its `fallbacks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Bedrock model id, inference profile id, or ARN of either. Never shown to clients.
    pub model_id: String,
    /// The region whose Bedrock runtime serves it. Unset: `bedrock.region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The IAM role, in the account whose Bedrock serves it, that the gateway assumes to call it.
    /// Unset: the gateway's own credentials. Never shown to clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The version clients see when this target answers; distinct among the model's targets.
    pub version: String,
    /// Its share of the model's requests, relative to the other targets'; 0 takes none (for
    /// `targets` only; unset: 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Replaces the model's `additional_request_fields` for this target (its model family may
    /// take other fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_request_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `default_max_tokens` when unset (and the cap allows it).
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            model_id: String::new(),
            version: None,
            region: None,
            role_arn: None,
            targets: Vec::new(),
            fallbacks: Vec::new(),
            sticky_metadata_key: None,
            description: String::new(),
            max_tokens_cap: 4096,
            default_max_tokens: None,
            temperature: None,
            top_p: None,
            guardrail: None,
            prompt_caching: PromptCachingConfig::default(),
            additional_request_fields: None,
            state: ModelState::Active,
            replacement: None,
            retires_on: None,
            kind: ModelKind::Chat,
            capabilities: CapabilitiesConfig::default(),
        }
    }
}

impl ModelConfig {
    /// A model served by `model_id`, every other key at its default.
    pub fn new(model_id: impl Into<String>) -> ModelConfig {
        ModelConfig { model_id: model_id.into(), ..ModelConfig::default() }
    }

    /// The version clients see: `version`, else the logical name.
    pub fn effective_version(&self, name: &str) -> String {
        self.version.clone().unwrap_or_else(|| name.to_owned())
    }

    /// The max_tokens of a request that sets none.
    pub fn effective_default_max_tokens(&self) -> u32 {
        self.default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS.min(self.max_tokens_cap))
    }

    /// The retirement day, once `retires_on` is validated.
    pub fn retirement_day(&self) -> Option<time::Date> {
        self.retires_on.as_deref().and_then(calendar_date)
    }

    /// The state the model is in on `today` (UTC).
    pub fn state_on(&self, today: time::Date) -> ModelState {
        self.state.on(self.retirement_day(), today)
    }
}

/// A Bedrock guardrail (`guardrailConfig` of Converse, its stream variant for ConverseStream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailConfig {
    /// The guardrail's id or ARN.
    pub id: String,
    /// Its version: a number, or `DRAFT`.
    pub version: String,
    /// For ConverseStream: `sync` checks each chunk before it is sent (the default), `async`
    /// sends chunks at once and checks them in the background.
    #[serde(default)]
    pub stream_processing_mode: StreamProcessingMode,
}

/// How a guardrail checks a ConverseStream answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamProcessingMode {
    /// Each chunk is checked before it is sent: nothing the guardrail blocks reaches the client.
    #[default]
    Sync,
    /// Chunks are sent at once and checked in the background: lower latency, but blocked content
    /// may already have been sent.
    Async,
}

/// Where the gateway inserts Bedrock prompt-cache points (`cachePoint`, type `default`), so that
/// the unchanged start of requests is read from the cache. Both off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptCachingConfig {
    /// After the last system prompt block (when the request has one).
    pub after_system: bool,
    /// After the last tool definition (when the request offers tools).
    pub after_tools: bool,
}

/// Checks a whole catalog (`[models]`), alone: at start-up, and each catalog a reload brings.
pub fn validate(models: &BTreeMap<String, ModelConfig>) -> Result<(), ConfigError> {
    if models.is_empty() {
        return Err(invalid("models", "at least one model must be configured, as [models.<name>]".to_owned()));
    }
    for (name, model) in models {
        let key = |field: &str| format!("models.{name}.{field}");
        if !valid_model_name(name) {
            return Err(invalid(
                &format!("models.{name}"),
                "a model name is 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
                    .to_owned(),
            ));
        }
        validate_targets(name, model)?;
        at_least(&key("max_tokens_cap"), u64::from(model.max_tokens_cap), 1)?;
        if let Some(tokens) = model.default_max_tokens
            && !(1..=model.max_tokens_cap).contains(&tokens)
        {
            return Err(invalid(
                &key("default_max_tokens"),
                format!("is {tokens}, must be from 1 to models.{name}.max_tokens_cap ({})", model.max_tokens_cap),
            ));
        }
        for (field, value) in [("temperature", model.temperature), ("top_p", model.top_p)] {
            if let Some(value) = value
                && !(0.0..=1.0).contains(&value)
            {
                return Err(invalid(&key(field), format!("is {value}, must be from 0.0 to 1.0")));
            }
        }
        if let Some(guardrail) = &model.guardrail {
            check_guardrail(&key("guardrail"), guardrail)?;
        }
        let automatic_cache_points = model.prompt_caching.after_system || model.prompt_caching.after_tools;
        model.capabilities.validate(name, model.kind, automatic_cache_points)?;
        validate_lifecycle(models, name, model)?;
    }
    refuse_replacement_cycles(models)
}

/// Dates are real dates, and a model that retires names an existing model that serves today.
fn validate_lifecycle(
    models: &BTreeMap<String, ModelConfig>,
    name: &str,
    model: &ModelConfig,
) -> Result<(), ConfigError> {
    let key = |field: &str| format!("models.{name}.{field}");
    if let Some(day) = &model.retires_on
        && calendar_date(day).is_none()
    {
        return Err(invalid(&key("retires_on"), format!("{day:?} is not a calendar date as YYYY-MM-DD")));
    }
    let Some(replacement) = &model.replacement else {
        if model.state == ModelState::Retired || model.retires_on.is_some() {
            return Err(invalid(
                &key("replacement"),
                "a retired model, or one with retires_on, must name its replacement".to_owned(),
            ));
        }
        return Ok(());
    };
    if replacement == name {
        return Err(invalid(&key("replacement"), format!("{replacement:?} is this model itself")));
    }
    let Some(target) = models.get(replacement) else {
        let known = models.keys().cloned().collect::<Vec<_>>().join(", ");
        return Err(invalid(
            &key("replacement"),
            format!("{replacement:?} is not a configured model (configured: {known})"),
        ));
    };
    let today = utc_today();
    match target.state_on(today) {
        ModelState::Active => Ok(()),
        state => {
            let why = match (state, target.retirement_day()) {
                (ModelState::Retired, Some(day)) if today >= day => format!("retired on {day}"),
                (ModelState::Retired, _) => "retired".to_owned(),
                _ => "deprecated".to_owned(),
            };
            Err(invalid(&key("replacement"), format!("{replacement:?} is {why}; name an active model")))
        }
    }
}

/// Replacements are active models, so only active models could form a cycle; one that does
/// would send clients round in circles.
fn refuse_replacement_cycles(models: &BTreeMap<String, ModelConfig>) -> Result<(), ConfigError> {
    for name in models.keys() {
        let mut chain = vec![name.as_str()];
        let mut current = name.as_str();
        while let Some(next) = models.get(current).and_then(|model| model.replacement.as_deref()) {
            if next == name {
                chain.push(next);
                return Err(invalid(
                    &format!("models.{name}.replacement"),
                    format!("replacements form a cycle: {}", chain.join(" -> ")),
                ));
            }
            if chain.contains(&next) {
                break;
            }
            chain.push(next);
            current = next;
        }
    }
    Ok(())
}

fn valid_model_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    first_ok
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// `day` as a calendar date, when it is one written YYYY-MM-DD (`2027-02-31` is not).
pub fn calendar_date(day: &str) -> Option<time::Date> {
    let numeric = |part: &str, len: usize| part.len() == len && part.chars().all(|c| c.is_ascii_digit());
    let mut parts = day.split('-');
    let (year, month, date) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !numeric(year, 4) || !numeric(month, 2) || !numeric(date, 2) {
        return None;
    }
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(year.parse().ok()?, month, date.parse().ok()?).ok()
}

/// Today in UTC, the calendar `retires_on` is written in.
pub fn utc_today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// A model has `model_id` or weighted `targets` (one at least with a weight), and every target
/// and fallback names a model and a version clients can tell apart.
fn validate_targets(name: &str, model: &ModelConfig) -> Result<(), ConfigError> {
    let key = |field: &str| format!("models.{name}.{field}");
    match (model.model_id.trim().is_empty(), model.targets.is_empty()) {
        (true, true) => return Err(invalid(&key("model_id"), "must be set (or targets)".to_owned())),
        (false, false) => {
            return Err(invalid(&key("targets"), "set either model_id (one target) or targets, not both".to_owned()));
        }
        (false, true) => {
            if let Some(version) = model.version.as_ref().filter(|version| !valid_version(version, &model.model_id)) {
                return Err(invalid(
                    &key("version"),
                    format!(
                        "{version:?} must be a name for clients, not empty and not a Bedrock model id or ARN (unset: \"{name}\")"
                    ),
                ));
            }
        }
        (true, false) => {
            if model.version.is_some() {
                return Err(invalid(&key("version"), "with targets, each target has its own version".to_owned()));
            }
            if model.region.is_some() {
                return Err(invalid(&key("region"), "with targets, each target has its own region".to_owned()));
            }
            if model.role_arn.is_some() {
                return Err(invalid(&key("role_arn"), "with targets, each target has its own role_arn".to_owned()));
            }
            if model.targets.iter().all(|target| target.weight == Some(0)) {
                return Err(invalid(&key("targets"), "at least one target needs a weight above 0".to_owned()));
            }
        }
    }
    let mut versions = Vec::new();
    for (list, targets) in [("targets", &model.targets), ("fallbacks", &model.fallbacks)] {
        for (index, target) in targets.iter().enumerate() {
            let key = |field: &str| format!("models.{name}.{list}[{index}].{field}");
            if target.model_id.trim().is_empty() {
                return Err(invalid(&key("model_id"), "must not be empty".to_owned()));
            }
            if !valid_version(&target.version, &target.model_id) {
                return Err(invalid(
                    &key("version"),
                    "must be a name for clients, not empty and not a Bedrock model id or ARN".to_owned(),
                ));
            }
            if list == "targets" && versions.contains(&target.version) {
                return Err(invalid(&key("version"), format!("{:?} is another target's version", target.version)));
            }
            versions.push(target.version.clone());
            if list == "fallbacks" && target.weight.is_some() {
                return Err(invalid(&key("weight"), "fallbacks are tried in order and have no weight".to_owned()));
            }
            if target.region.as_ref().is_some_and(|region| region.trim().is_empty()) {
                return Err(invalid(&key("region"), "must not be empty (unset: bedrock.region)".to_owned()));
            }
            check_role_arn(&key("role_arn"), target.role_arn.as_deref())?;
        }
    }
    if model.region.as_ref().is_some_and(|region| region.trim().is_empty()) {
        return Err(invalid(&key("region"), "must not be empty (unset: bedrock.region)".to_owned()));
    }
    check_role_arn(&key("role_arn"), model.role_arn.as_deref())?;
    if let Some(sticky) = &model.sticky_metadata_key
        && !(1..=64).contains(&sticky.chars().count())
    {
        return Err(invalid(&key("sticky_metadata_key"), "must have 1 to 64 characters".to_owned()));
    }
    Ok(())
}

/// An IAM role's ARN, `arn:<partition>:iam::<account>:role/<path/>name`, as STS takes it, so that a
/// typo fails when the catalog is loaded rather than on every request to the target.
fn check_role_arn(key: &str, role_arn: Option<&str>) -> Result<(), ConfigError> {
    let Some(arn) = role_arn else {
        return Ok(());
    };
    let valid = || {
        let partition = arn.strip_prefix("arn:")?.split(':').next()?;
        let rest = arn.strip_prefix(&format!("arn:{partition}:iam::"))?;
        let (account, resource) = rest.split_once(':')?;
        let path_and_name = resource.strip_prefix("role/")?;
        let (path, name) = match path_and_name.rsplit_once('/') {
            Some((path, name)) => (Some(path), name),
            None => (None, path_and_name),
        };
        let iam_chars = |part: &str| part.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        let partition_ok = (partition == "aws" || partition.starts_with("aws-"))
            && partition.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
        let path_ok = path.is_none_or(|path| {
            path.len() < 512 && path.split('/').all(|segment| !segment.is_empty() && iam_chars(segment))
        });
        let name_ok = (1..=64).contains(&name.len()) && iam_chars(name);
        (partition_ok && account_ok && path_ok && name_ok).then_some(())
    };
    valid().ok_or_else(|| {
        invalid(
            key,
            format!(
                "{arn:?} is not an IAM role ARN: arn:<partition>:iam::<12-digit account>:role/<optional path/>name, \
                 like \"arn:aws:iam::111122223333:role/bedrock-gateway-invoker\""
            ),
        )
    })
}

/// A version clients can be shown: not empty, not the Bedrock id, not an ARN.
fn valid_version(version: &str, model_id: &str) -> bool {
    !version.trim().is_empty() && version != model_id && !version.starts_with("arn:")
}

/// Bedrock's own rules for a guardrail identifier and version, so a typo fails at start-up rather
/// than on every request.
fn check_guardrail(key: &str, guardrail: &GuardrailConfig) -> Result<(), ConfigError> {
    let id = &guardrail.id;
    let plain_id = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let arn = id.starts_with("arn:aws") && id.contains(":bedrock:") && id.contains(":guardrail/");
    if !(plain_id || arn) {
        return Err(invalid(
            &format!("{key}.id"),
            format!("{id:?} is not a guardrail id (lowercase letters and digits) or guardrail ARN"),
        ));
    }
    let version = &guardrail.version;
    let numbered =
        (1..=8).contains(&version.len()) && !version.starts_with('0') && version.chars().all(|c| c.is_ascii_digit());
    if !(numbered || version == "DRAFT") {
        return Err(invalid(
            &format!("{key}.version"),
            format!("{version:?} is not a guardrail version: a number or DRAFT"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
