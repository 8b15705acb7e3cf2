//! The run profiles: every figure that differs between the full run (the published figures, a few
//! minutes) and the smoke run (every scenario, tiny, to check the bench works), in one place, below
//! the scenarios that read them.

use std::time::Duration;

use crate::load::Window;
use crate::processes::Pacing;

/// The gateway's `server.max_connections` in the one-source connection flood (the default, set so
/// the report states it), which the full run's flood fills.
pub const MAX_CONNECTIONS: usize = 10_000;

/// One load level of the time-to-first-token scenario.
#[derive(Debug, Clone, Copy)]
pub struct Level {
    /// Concurrent streams (closed loop) or, with `rate`, the expected concurrency.
    pub concurrency: usize,
    /// Open loop at this many streams per second instead of a closed loop.
    pub rate: Option<f64>,
    /// Tokens per stream, chosen so that `concurrency` streams are a rate the machine sustains.
    pub max_tokens: u32,
    /// Ramp-up and measurement time of one round.
    pub window: Window,
}

/// Everything that differs between the full run and the smoke run.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `full` or `smoke`.
    pub name: &'static str,
    /// Measured rounds per side (after one unmeasured warm-up round each).
    pub rounds: usize,
    /// Emulator pacing for the TTFT scenario: a small fixed TTFT so queuing is realistic.
    pub ttft_pacing: Pacing,
    /// TTFT load levels.
    pub ttft_levels: Vec<Level>,
    /// Levels of the side-by-side comparison with a peer proxy (closed loop, one answer length).
    pub peer_levels: Vec<Level>,
    /// Workers of the saturation scenario.
    pub saturation_workers: usize,
    /// Tokens per answer at saturation.
    pub saturation_tokens: usize,
    /// Round window at saturation.
    pub saturation_window: Window,
    /// Idle stream counts at which gateway memory is read.
    pub idle_streams: Vec<usize>,
    /// Counts of concurrent maximum-size requests whose peak memory is read, each on a fresh
    /// gateway: one alone shows a request's transient peak, many show the cost per request in flight.
    pub memory_requests: Vec<usize>,
    /// Cold starts to time.
    pub cold_starts: usize,
    /// The abuse scenario.
    pub abuse: AbuseProfile,
    /// The abuse scenario's memory floods.
    pub abuse_floods: FloodsProfile,
    /// The quota-check scenario.
    pub quota: QuotaProfile,
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

impl Profile {
    /// The full run: a few minutes on 2 cores.
    pub fn full() -> Profile {
        let window = |ramp, measure| Window { ramp: secs(ramp), measure: secs(measure) };
        Profile {
            name: "full",
            rounds: 3,
            ttft_pacing: Pacing { ttft_ms: 20, token_gap_ms: 25, answer_tokens: 64 },
            ttft_levels: vec![
                Level { concurrency: 1, rate: None, max_tokens: 1, window: window(0.1, 3.0) },
                Level { concurrency: 100, rate: None, max_tokens: 8, window: window(0.3, 3.0) },
                Level { concurrency: 1000, rate: None, max_tokens: 40, window: window(1.0, 3.0) },
                Level { concurrency: 1000, rate: Some(1000.0), max_tokens: 40, window: window(1.0, 3.0) },
            ],
            // 40 tokens (about 1 s) at every level: 10, 100 and 1,000 streams per second when
            // every side keeps up, the last being the TTFT scenario's 1,000-stream level.
            peer_levels: vec![
                Level { concurrency: 10, rate: None, max_tokens: 40, window: window(0.3, 5.0) },
                Level { concurrency: 100, rate: None, max_tokens: 40, window: window(0.5, 5.0) },
                Level { concurrency: 1000, rate: None, max_tokens: 40, window: window(2.0, 5.0) },
            ],
            saturation_workers: 32,
            saturation_tokens: 32,
            saturation_window: window(0.5, 3.0),
            idle_streams: vec![1000, 10_000],
            // 32 × 4 MiB: enough to dwarf the baseline and the allocator's noise, bounded on a
            // machine with 24 GiB.
            memory_requests: vec![1, 32],
            cold_starts: 5,
            abuse: AbuseProfile::full(),
            abuse_floods: FloodsProfile::full(),
            quota: QuotaProfile::full(),
        }
    }

    /// The smoke run: every scenario, tiny, in seconds; checks the bench still works, not speed.
    pub fn smoke() -> Profile {
        let window = |ramp, measure| Window { ramp: secs(ramp), measure: secs(measure) };
        Profile {
            name: "smoke",
            rounds: 1,
            ttft_pacing: Pacing { ttft_ms: 5, token_gap_ms: 5, answer_tokens: 16 },
            ttft_levels: vec![
                Level { concurrency: 1, rate: None, max_tokens: 1, window: window(0.05, 0.3) },
                Level { concurrency: 20, rate: None, max_tokens: 4, window: window(0.1, 0.3) },
                Level { concurrency: 20, rate: Some(200.0), max_tokens: 4, window: window(0.1, 0.3) },
            ],
            peer_levels: vec![
                Level { concurrency: 2, rate: None, max_tokens: 4, window: window(0.05, 0.5) },
                Level { concurrency: 10, rate: None, max_tokens: 4, window: window(0.1, 0.5) },
            ],
            saturation_workers: 8,
            saturation_tokens: 16,
            saturation_window: window(0.1, 0.5),
            idle_streams: vec![100, 300],
            memory_requests: vec![2],
            cold_starts: 1,
            abuse: AbuseProfile::smoke(),
            abuse_floods: FloodsProfile::smoke(),
            quota: QuotaProfile::smoke(),
        }
    }
}

/// The abuse scenario's part of a run profile.
#[derive(Debug, Clone)]
pub struct AbuseProfile {
    /// The normal clients' closed loop.
    pub level: Level,
    /// Measured rounds per condition (after one unmeasured warm-up round per side).
    pub rounds: usize,
    /// Never-finishing abusers.
    pub never_finishing: usize,
    /// Never-reading abusers.
    pub never_reading: usize,
    /// HTTP/2 connections per kind of abuser.
    pub connections: usize,
    /// `server.max_concurrent_requests_per_caller`: above the normal clients' concurrency and
    /// below the never-reading abusers' count, so the bound refuses abusers and nobody else.
    pub per_caller_limit: usize,
    /// Connections the one-source flood tries to hold.
    pub flood_connections: usize,
    /// The flood gateway's `server.max_connections_per_address`.
    pub flood_per_address_limit: usize,
    /// Normal callers from other addresses during the flood.
    pub flood_callers: usize,
    /// The flood's connections open over `ramp`; the normal callers run for `measure`.
    pub flood_window: Window,
}

impl AbuseProfile {
    /// The full run: the TTFT scenario's 100-concurrent level against 200 abusers of each kind.
    pub fn full() -> AbuseProfile {
        AbuseProfile {
            level: Level {
                concurrency: 100,
                rate: None,
                max_tokens: 8,
                window: Window { ramp: Duration::from_millis(300), measure: Duration::from_secs(3) },
            },
            rounds: 4,
            never_finishing: 200,
            never_reading: 200,
            connections: 4,
            per_caller_limit: 128,
            flood_connections: MAX_CONNECTIONS,
            // What the default is with the PROXY protocol: 1% of max_connections.
            flood_per_address_limit: MAX_CONNECTIONS / 100,
            flood_callers: 8,
            flood_window: Window { ramp: Duration::from_secs(2), measure: Duration::from_secs(10) },
        }
    }

    /// The smoke run: seconds.
    pub fn smoke() -> AbuseProfile {
        AbuseProfile {
            level: Level {
                concurrency: 10,
                rate: None,
                max_tokens: 4,
                window: Window { ramp: Duration::from_millis(100), measure: Duration::from_millis(400) },
            },
            rounds: 1,
            never_finishing: 20,
            never_reading: 24,
            connections: 1,
            per_caller_limit: 16,
            flood_connections: 200,
            flood_per_address_limit: 20,
            flood_callers: 2,
            flood_window: Window { ramp: Duration::from_millis(200), measure: Duration::from_secs(1) },
        }
    }
}

/// The floods' part of a run profile.
#[derive(Debug, Clone)]
pub struct FloodsProfile {
    /// The no-key floods, run one after the other: (connections, streams per connection).
    pub no_key: Vec<(usize, usize)>,
    /// How long each no-key flood runs.
    pub no_key_duration: Duration,
    /// Never-finished maximum-size requests the filling tenant keeps open.
    pub fill_requests: usize,
    /// The gateway's `server.request_receive_timeout_secs`: the fill's requests end at it and are
    /// renewed.
    pub receive_timeout_secs: u64,
    /// How long the fill runs before the other tenant starts.
    pub fill_ramp: Duration,
    /// The other tenant's closed loop during the fill.
    pub other: Level,
}

impl FloodsProfile {
    /// The full run: the red team's shapes and counts, 10 s per no-key flood, the default receive
    /// timeout (10 s) so the fill's requests are renewed within the other tenant's 15 s.
    pub fn full() -> FloodsProfile {
        FloodsProfile {
            no_key: vec![(1, 100), (3, 200)],
            no_key_duration: Duration::from_secs(10),
            fill_requests: 32,
            receive_timeout_secs: 10,
            fill_ramp: Duration::from_secs(2),
            other: Level {
                concurrency: 100,
                rate: None,
                max_tokens: 8,
                window: Window { ramp: Duration::from_millis(300), measure: Duration::from_secs(15) },
            },
        }
    }

    /// The smoke run: seconds; the fill still passes the filler's share (12 × 4 MiB of 32 MiB).
    pub fn smoke() -> FloodsProfile {
        FloodsProfile {
            no_key: vec![(1, 10), (2, 20)],
            no_key_duration: Duration::from_secs(1),
            fill_requests: 12,
            receive_timeout_secs: 1,
            fill_ramp: Duration::from_millis(500),
            other: Level {
                concurrency: 10,
                rate: None,
                max_tokens: 4,
                window: Window { ramp: Duration::from_millis(100), measure: Duration::from_secs(1) },
            },
        }
    }
}

/// The quota scenario's part of a run profile.
#[derive(Debug, Clone)]
pub struct QuotaProfile {
    /// The closed loop, the same in every condition.
    pub level: Level,
    /// Measured rounds per condition (after one unmeasured warm-up round each).
    pub rounds: usize,
}

impl QuotaProfile {
    /// The full run: the TTFT scenario's 100-concurrent level, eight rounds of each condition.
    pub fn full() -> QuotaProfile {
        QuotaProfile {
            level: Level {
                concurrency: 100,
                rate: None,
                max_tokens: 8,
                window: Window { ramp: Duration::from_millis(300), measure: Duration::from_secs(3) },
            },
            rounds: 8,
        }
    }

    /// The smoke run: seconds.
    pub fn smoke() -> QuotaProfile {
        QuotaProfile {
            level: Level {
                concurrency: 10,
                rate: None,
                max_tokens: 4,
                window: Window { ramp: Duration::from_millis(100), measure: Duration::from_millis(400) },
            },
            rounds: 2,
        }
    }
}
