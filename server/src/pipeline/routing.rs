//! Which Bedrock target answers a request for an alias, and where it goes when that target cannot.
//!
//! An alias lists weighted targets, so the platform team can send a tenth of `chat` to a new model
//! before moving all of it (a canary), and fallbacks, tried in order when a target is throttled,
//! out of capacity, not ready or unavailable before it sent anything. A request picks by weight;
//! with the alias's sticky key in its `request_metadata`, it picks by rendezvous hashing of that
//! value instead, so a conversation stays on one target in every task, and moving weight moves
//! only the conversations it must.

use std::sync::Arc;

use aws_smithy_types::Document;
use sha2::{Digest, Sha256};

use crate::error::{BedrockFailure, GatewayError};

/// One Bedrock model (or inference profile) in one region, as the catalog publishes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Bedrock model id, inference profile id, or ARN of either.
    pub model_id: String,
    /// The region whose Bedrock runtime is called.
    pub region: String,
    /// The role assumed to call it, in the account whose Bedrock serves it; `None`: the gateway's
    /// own credentials.
    pub role_arn: Option<String>,
    /// The version clients see (`StreamStart.model_version`) when this target answers.
    pub version: String,
    /// Its share of the alias's requests, relative to the other targets' (0 for fallbacks).
    pub weight: u32,
    /// Sent as `additionalModelRequestFields` when it answers: its own, else the alias's.
    pub additional_request_fields: Option<Document>,
}

/// The target for one request among `targets` (at least one with a weight): by the rendezvous
/// hash of `sticky` when given, else at random by weight.
pub fn pick<'a>(targets: &'a [Arc<Target>], sticky: Option<&str>, rng: &mut fastrand::Rng) -> &'a Arc<Target> {
    let mut weighted = targets.iter().filter(|target| target.weight > 0);
    let picked = match sticky {
        Some(key) => weighted.min_by(|a, b| rendezvous_score(key, a).total_cmp(&rendezvous_score(key, b))),
        None => {
            let total: u64 = targets.iter().map(|target| u64::from(target.weight)).sum();
            // A point below the total weight lies within exactly one target's share.
            let mut point = rng.u64(0..total.max(1));
            weighted.find(|target| {
                let weight = u64::from(target.weight);
                let inside = point < weight;
                point = point.saturating_sub(weight);
                inside
            })
        }
    };
    picked.expect("a validated alias has a target with a weight")
}

/// Weighted rendezvous hashing: each target draws `-ln(u) / weight` for a `u` in (0, 1] derived
/// from the key and the target; the smallest wins. A target's chance is its share of the weight,
/// and a change of weights moves only the keys whose winner changed.
fn rendezvous_score(key: &str, target: &Target) -> f64 {
    let mut hasher = Sha256::new();
    for part in [key, &target.model_id, &target.region, &target.version] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let bits = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 8 bytes"));
    // 53 random bits, shifted into (0, 1].
    let unit = ((bits >> 11) + 1) as f64 / (1u64 << 53) as f64;
    -unit.ln() / f64::from(target.weight)
}

/// Whether a failure to open a call on one target should be retried on the next: the target had
/// no capacity for it (or, for one in another account, no credentials), not the request a
/// problem. Never true once part of an answer was streamed.
pub fn falls_back(err: &GatewayError) -> bool {
    matches!(
        err,
        GatewayError::Bedrock {
            kind: BedrockFailure::Throttled
                | BedrockFailure::Unavailable
                | BedrockFailure::Credentials
                | BedrockFailure::ModelTimeout,
            incomplete: false,
            ..
        } | GatewayError::BedrockOpenTimeout { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, weight: u32) -> Arc<Target> {
        Arc::new(Target {
            model_id: format!("{name}-id"),
            region: "us-east-1".into(),
            role_arn: None,
            version: name.into(),
            weight,
            additional_request_fields: None,
        })
    }

    #[test]
    fn a_90_10_split_over_2000_calls_lands_within_3_percent() {
        let targets = [target("stable", 90), target("canary", 10)];
        let mut rng = fastrand::Rng::with_seed(7);
        let canary = (0..2000).filter(|_| pick(&targets, None, &mut rng).version == "canary").count();
        assert!((140..=260).contains(&canary), "{canary} of 2000 on the canary, 200 ± 60 expected");
    }

    #[test]
    fn sticky_keys_never_switch_and_spread_by_weight() {
        let targets = [target("stable", 90), target("canary", 10)];
        let mut rng = fastrand::Rng::with_seed(1);
        let mut canary = 0;
        for conversation in 0..2000 {
            let key = format!("conversation-{conversation}");
            let first = pick(&targets, Some(&key), &mut rng).version.clone();
            for _ in 0..5 {
                assert_eq!(pick(&targets, Some(&key), &mut rng).version, first, "{key} switched");
            }
            canary += usize::from(first == "canary");
        }
        assert!((140..=260).contains(&canary), "{canary} of 2000 conversations on the canary");
    }

    #[test]
    fn more_weight_for_the_canary_moves_conversations_only_onto_it() {
        let before = [target("stable", 90), target("canary", 10)];
        let after = [target("stable", 50), target("canary", 50)];
        let mut rng = fastrand::Rng::with_seed(1);
        for conversation in 0..1000 {
            let key = format!("conversation-{conversation}");
            if pick(&before, Some(&key), &mut rng).version == "canary" {
                assert_eq!(pick(&after, Some(&key), &mut rng).version, "canary", "{key} left the canary");
            }
        }
    }

    #[test]
    fn weightless_targets_are_never_picked() {
        let targets = [target("fallback", 0), target("only", 1)];
        let mut rng = fastrand::Rng::with_seed(3);
        assert!((0..100).all(|_| pick(&targets, None, &mut rng).version == "only"));
        assert_eq!(pick(&targets, Some("k"), &mut rng).version, "only");
    }
}
