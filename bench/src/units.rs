//! How the report writes figures: one spelling per unit, so that every section and every target
//! reads alike.

/// Milliseconds, to the microsecond.
pub fn ms(value: f64) -> String {
    format!("{value:.3} ms")
}

/// A ratio.
pub fn times(value: f64) -> String {
    format!("{value:.2}×")
}

/// Microseconds, to a tenth.
pub fn micros(value: f64) -> String {
    format!("{value:.1} µs")
}

/// KiB, to a tenth.
pub fn kib(value: f64) -> String {
    format!("{value:.1} KiB")
}

/// `bytes` in MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}
