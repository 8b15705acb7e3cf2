//! An issue target judged against a measurement: what each scenario (and the pinned run) hands the
//! report for its table of targets.

use serde::Serialize;

use crate::units::ms;

/// One issue target and where it stands.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    /// What is measured.
    pub name: String,
    /// The bound, as text.
    pub target: String,
    /// The measurement, as text.
    pub measured: String,
    /// Whether the bound holds.
    pub met: bool,
    /// Why the measurement cannot be judged, when it cannot (then `met` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_measurable: Option<String>,
}

impl TargetCheck {
    /// `value` judged against an upper `bound`, written with `unit`.
    pub fn at_most(name: String, target: &str, value: f64, bound: f64, unit: fn(f64) -> String) -> TargetCheck {
        TargetCheck {
            name,
            target: target.to_owned(),
            measured: unit(value),
            met: value <= bound,
            not_measurable: None,
        }
    }

    /// An added-TTFT check. The gateway side cannot be faster than the direct SDK it wraps by more
    /// than noise: when it seems faster by more than the bound itself, the two sides did not run
    /// under the same conditions (the load CPU saturated, or the machine was disturbed), and the
    /// figure judges nothing.
    pub fn added_ttft(name: String, target: &str, added_ms: f64, bound_ms: f64) -> TargetCheck {
        let mut check = TargetCheck::at_most(name, target, added_ms, bound_ms, ms);
        if added_ms < -bound_ms {
            check.met = false;
            check.not_measurable = Some(
                "the direct side was slower than the gateway's, so the two sides ran under different conditions"
                    .to_owned(),
            );
        }
        check
    }
}
