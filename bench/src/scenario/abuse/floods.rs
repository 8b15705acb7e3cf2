//! The abuse scenario's memory floods (issue 22, findings 1 and 2): can a caller make the gateway
//! hold memory that others need? A gateway of its own, configured as production is where it
//! matters here: API keys for two tenants (so its gateway service refuses callers without one),
//! the default request memory budget (`server.max_buffered_request_bytes`, 128 MiB, instead of the
//! bench's 1 GiB) and its default per-caller share (a quarter). The floods are [`crate::floods`].
//!
//! - **No-key health/reflection flood**: callers without a key on gRPC health and reflection,
//!   which need none, each stream declaring a 4,000,000-byte message and never finishing it, in
//!   the red team's shapes (one connection of 100 streams; three of 200), one after the other.
//!   Figure: the gateway's RSS growth, its peak during the flood minus its RSS before. The peak is
//!   the higher of `VmRSS` polled every 10 ms and `VmHWM` (reset before the flood through
//!   `/proc/PID/clear_refs`, so a spike between polls counts too). Target ≤ 50 MiB.
//! - **One-tenant budget fill**: one tenant keeps never-finished maximum-size requests open (the
//!   red team's 32 × 4 MiB, the whole default budget: each a whole valid message, the stream never
//!   ended), renewed as the gateway refuses them or their receive timeout ends them, while another
//!   tenant runs the TTFT scenario's closed loop. Figure: the share of the other tenant's requests
//!   served. Target ≥ 99 %.
//!
//! A flood that grows the gateway's RSS by more than 1 GiB (a gateway without these bounds) is
//! stopped there, so the bench cannot exhaust the machine's memory.

mod watch;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use self::watch::{Before, POLL, RSS_GROWTH_CAP, Rss, watch_rss};
use crate::floods::{CONTROL_PATHS, CONVERSE_STREAM_PATHS, Flood, FloodSeen, Flooding, Message};
use crate::grpc_wire::{MESSAGE_PREFIX_BYTES, frame};
use crate::processes::{BedrockEndpoint, ChildProcess, GatewaySettings, Layout, free_port};
use crate::profile::FloodsProfile;
use crate::scenario::memory::{MAX_REQUEST_BYTES, Shape};
use crate::scenario::ttft;
use crate::stats::Summary;
use crate::target_check::TargetCheck;
use crate::targets::Target;
use crate::units::mib;

/// The gateway's default `server.max_buffered_request_bytes`, which these floods run against.
const REQUEST_MEMORY_BUDGET: u64 = 128 * 1024 * 1024;
/// What each no-key stream's message declares, as the red team's did.
const NO_KEY_DECLARED_BYTES: u32 = 4_000_000;
/// Where the no-key floods connect from: callers without a key are told apart by address.
const NO_KEY_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// The tenant filling the budget, and its API key.
const FILLER: (&str, &str) = ("filler", "bench-filler-key");
/// The tenant served meanwhile, and its API key.
const OTHER: (&str, &str) = ("other", "bench-other-key");
/// Target: RSS growth under a no-key flood, MiB.
const RSS_GROWTH_TARGET_MIB: f64 = 50.0;
/// Target: the other tenant's requests served during the budget fill, percent.
const SERVED_TARGET_PERCENT: f64 = 99.0;

/// One no-key flood.
#[derive(Debug, Clone, Serialize)]
pub struct NoKeyFlood {
    /// The loopback address it came from.
    pub source: String,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Streams open at once on each.
    pub streams_per_connection: usize,
    /// The message length each call declared.
    pub declared_bytes: u32,
    /// How long it ran.
    pub flood_secs: f64,
    /// The gateway's memory around it.
    pub rss: Rss,
    /// What the flood's streams saw.
    pub seen: FloodSeen,
    /// The gateway's refusals meanwhile, by reason (`bedrock_gateway_rejections_total`).
    pub rejections: BTreeMap<String, u64>,
}

/// The one-tenant budget fill.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetFill {
    /// Never-finished requests the filling tenant kept open.
    pub requests: usize,
    /// Bytes of each request (its gRPC prefix and message), all sent, the request never ended.
    pub request_bytes: usize,
    /// How long the fill ran before the other tenant started.
    pub ramp_secs: f64,
    /// How long the fill ran in all.
    pub fill_secs: f64,
    /// What the filling tenant's streams saw.
    pub filler: FloodSeen,
    /// The other tenant's closed-loop concurrency.
    pub other_concurrency: usize,
    /// Tokens per stream of the other tenant.
    pub other_tokens_per_stream: u32,
    /// The other tenant's requests during the fill (ramp-up included).
    pub other_requests: u64,
    /// Of those, served: streams that ended with their answer.
    pub other_served: u64,
    /// `other_served / other_requests`, percent; none without requests.
    pub other_served_percent: Option<f64>,
    /// The first of the other tenant's failures, if any.
    pub other_first_failure: Option<String>,
    /// The other tenant's time to first token (measured window).
    pub other_ttft: Summary,
    /// The gateway's memory around the fill.
    pub rss: Rss,
    /// The gateway's refusals meanwhile, by reason.
    pub rejections: BTreeMap<String, u64>,
}

/// The floods' results.
#[derive(Debug, Clone, Serialize)]
pub struct Floods {
    /// The gateway's `server.max_buffered_request_bytes` (its per-caller share is the default).
    pub max_buffered_request_bytes: u64,
    /// The gateway's `server.request_receive_timeout_secs`.
    pub request_receive_timeout_secs: u64,
    /// Each no-key flood.
    pub no_key: Vec<NoKeyFlood>,
    /// The budget fill.
    pub budget_fill: BudgetFill,
}

/// Runs the floods against a gateway of their own in front of `bedrock`.
pub async fn run(
    profile: &FloodsProfile,
    layout: &Layout,
    bedrock: &BedrockEndpoint,
) -> Result<Floods, Box<dyn std::error::Error>> {
    let admin = free_port()?;
    let settings = GatewaySettings {
        server: vec![
            format!("max_buffered_request_bytes = {REQUEST_MEMORY_BUDGET}"),
            format!("request_receive_timeout_secs = {}", profile.receive_timeout_secs),
        ],
        admin: Some(admin),
        tables: [FILLER, OTHER]
            .iter()
            .map(|(tenant, key)| format!("\n[tenants.{tenant}]\napi_keys = {{ {tenant} = \"{}\" }}\n", digest(key)))
            .collect(),
    };
    let mut gateway = layout.gateway_with("abuse-floods", bedrock, "warn", &settings)?;
    gateway.wait_listening().await?;
    let other = Arc::new(Target::gateway_with_key(gateway.addr, profile.other.concurrency, OTHER.1).await?);
    ttft::round(Arc::clone(&other), profile.other, false).await;
    let mut no_key = Vec::new();
    for &(connections, streams_per_connection) in &profile.no_key {
        eprintln!("abuse: no-key health/reflection flood, {connections} x {streams_per_connection} streams");
        let flood = Flood {
            source: NO_KEY_SOURCE,
            connections,
            streams_per_connection,
            paths: CONTROL_PATHS,
            authorization: None,
            message: Message::Unfinished(NO_KEY_DECLARED_BYTES),
        };
        let before = Before::read(&gateway, admin).await?;
        let flooding = Flooding::start(gateway.addr, flood);
        let watched = watch_rss(&gateway, before.rss, tokio::time::sleep(profile.no_key_duration)).await?;
        let seen = flooding.stop().await;
        let (rss, rejections) = before.after(&gateway, admin, &watched).await?;
        no_key.push(NoKeyFlood {
            source: NO_KEY_SOURCE.to_string(),
            connections,
            streams_per_connection,
            declared_bytes: NO_KEY_DECLARED_BYTES,
            flood_secs: watched.elapsed.as_secs_f64(),
            rss,
            seen,
            rejections,
        });
    }
    eprintln!(
        "abuse: one tenant filling the request memory with {} never-finished requests, another served",
        profile.fill_requests
    );
    let budget_fill = budget_fill(profile, &gateway, admin, other).await?;
    Ok(Floods {
        max_buffered_request_bytes: REQUEST_MEMORY_BUDGET,
        request_receive_timeout_secs: profile.receive_timeout_secs,
        no_key,
        budget_fill,
    })
}

async fn budget_fill(
    profile: &FloodsProfile,
    gateway: &ChildProcess,
    admin: std::net::SocketAddr,
    other: Arc<Target>,
) -> Result<BudgetFill, Box<dyn std::error::Error>> {
    let frame = fill_request();
    let request_bytes = frame.len();
    let fill = Flood {
        source: Ipv4Addr::LOCALHOST,
        connections: 1,
        streams_per_connection: profile.fill_requests,
        paths: CONVERSE_STREAM_PATHS,
        authorization: Some(format!("Bearer {}", FILLER.1)),
        message: Message::Whole(frame),
    };
    let before = Before::read(gateway, admin).await?;
    let filling = Flooding::start(gateway.addr, fill);
    let served = async {
        tokio::time::sleep(profile.fill_ramp).await;
        ttft::round(other, profile.other, true).await
    };
    let watched = watch_rss(gateway, before.rss, served).await?;
    let filler = filling.stop().await;
    let (rss, rejections) = before.after(gateway, admin, &watched).await?;
    let tally = watched.outcome.unwrap_or_default();
    let other_requests = tally.all_streams + tally.all_errors;
    Ok(BudgetFill {
        requests: profile.fill_requests,
        request_bytes,
        ramp_secs: profile.fill_ramp.as_secs_f64(),
        fill_secs: watched.elapsed.as_secs_f64(),
        filler,
        other_concurrency: profile.other.concurrency,
        other_tokens_per_stream: profile.other.max_tokens,
        other_requests,
        other_served: tally.all_streams,
        other_served_percent: (other_requests > 0).then(|| tally.all_streams as f64 * 100.0 / other_requests as f64),
        other_first_failure: tally.first_error,
        other_ttft: tally.ttft.summary(),
        rss,
        rejections,
    })
}

/// The filling tenant's request as a gRPC frame: a valid ConverseRequest (one image) whose frame
/// is `max_request_bytes` to within a byte or two, so that 32 of them fill the default budget and a
/// normal request does not fit beside them.
fn fill_request() -> Bytes {
    frame(&Shape::Image.request(MAX_REQUEST_BYTES - MESSAGE_PREFIX_BYTES).encode_to_vec())
}

impl Floods {
    /// The two targets: RSS growth under each no-key flood, and the other tenant served.
    pub fn checks(&self) -> Vec<TargetCheck> {
        let mut checks: Vec<TargetCheck> = self
            .no_key
            .iter()
            .map(|flood| {
                let rss = &flood.rss;
                TargetCheck {
                    name: format!(
                        "gateway RSS growth under a no-key health/reflection flood, {} × {} streams",
                        connections(flood.connections),
                        flood.streams_per_connection
                    ),
                    target: format!("≤ {RSS_GROWTH_TARGET_MIB:.0} MiB"),
                    measured: if rss.capped {
                        format!("over {} MiB: stopped after {:.1} s", RSS_GROWTH_CAP >> 20, flood.flood_secs)
                    } else {
                        format!(
                            "{:.1} MiB (peak {:.1} MiB, before {:.1} MiB)",
                            rss.growth_mib(),
                            mib(rss.peak_bytes),
                            mib(rss.before_bytes)
                        )
                    },
                    met: !rss.capped && rss.growth_mib() <= RSS_GROWTH_TARGET_MIB,
                    not_measurable: None,
                }
            })
            .collect();
        let fill = &self.budget_fill;
        checks.push(TargetCheck {
            name: format!(
                "other tenant's requests served while one tenant fills the request memory ({} never-finished \
                 {:.0} MiB requests)",
                fill.requests,
                mib(fill.request_bytes as u64)
            ),
            target: format!("≥ {SERVED_TARGET_PERCENT:.0} %"),
            measured: fill.other_served_percent.map_or("-".to_owned(), |percent| {
                format!("{percent:.2} % ({} of {})", fill.other_served, fill.other_requests)
            }),
            met: fill.other_served_percent.is_some_and(|percent| percent >= SERVED_TARGET_PERCENT),
            not_measurable: fill.other_served_percent.is_none().then(|| "the other tenant sent no request".to_owned()),
        });
        checks
    }

    /// What makes the floods' figures meaningless: a flood that opened no call, a fill without
    /// the other tenant's requests.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let floods = self.no_key.iter().map(|flood| {
            (
                format!("the no-key flood {} × {}", connections(flood.connections), flood.streams_per_connection),
                &flood.seen,
            )
        });
        for (name, seen) in floods.chain([("the budget fill".to_owned(), &self.budget_fill.filler)]) {
            if seen.opened == 0 {
                problems.push(format!(
                    "abuse floods: {name} opened no call ({})",
                    seen.first_failure.as_deref().unwrap_or("-")
                ));
            }
        }
        if self.budget_fill.other_requests == 0 {
            problems.push("abuse floods: the other tenant sent no request during the budget fill".to_owned());
        }
        problems
    }

    /// The floods' sub-section of the abuse section.
    pub fn markdown(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "### Memory floods\n\nA gateway of its own with API keys for two tenants (its gateway service refuses \
             callers without one), `max_buffered_request_bytes = {}` (the default) with the default per-caller \
             share (a quarter), `request_receive_timeout_secs = {}`. Its RSS is polled every {} ms and its `VmHWM` \
             reset before each flood; growth = the higher peak − RSS before.\n",
            self.max_buffered_request_bytes,
            self.request_receive_timeout_secs,
            POLL.as_millis()
        );
        let _ = writeln!(
            out,
            "**No-key health/reflection flood**: streams without a key from {}, alternately on `{}` and `{}`, each \
             declaring a {}-byte message, sending as much of it as the gateway's flow control takes and never \
             finishing it, re-opened as soon as the gateway ends it.\n\n\
             | connections × streams | flood | RSS before | peak RSS | growth | RSS 1 s after | calls opened | ended, by \
             status | reset | open at stop | MiB sent | gateway's refusals | connections lost |\n\
             |---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|",
            NO_KEY_SOURCE, CONTROL_PATHS[0], CONTROL_PATHS[1], NO_KEY_DECLARED_BYTES
        );
        for flood in &self.no_key {
            let (rss, seen) = (&flood.rss, &flood.seen);
            let _ = writeln!(
                out,
                "| {} × {} | {:.1} s | {:.1} MiB | {:.1} MiB | {:.1} MiB{} | {:.1} MiB | {} | {} | {} | {} | {:.1} | {} | {} |",
                flood.connections,
                flood.streams_per_connection,
                flood.flood_secs,
                mib(rss.before_bytes),
                mib(rss.peak_bytes),
                rss.growth_mib(),
                if rss.capped { " (stopped at the cap)" } else { "" },
                mib(rss.after_bytes),
                seen.opened,
                counts(&seen.ended),
                seen.reset,
                seen.open_at_stop(),
                mib(seen.bytes_sent),
                counts(&flood.rejections),
                seen.connection_failures
            );
        }
        let fill = &self.budget_fill;
        let _ = writeln!(
            out,
            "\n**One-tenant budget fill**: tenant `{}` keeps {} ConverseStream calls open on one connection, each \
             sending a whole valid {}-byte request (`max_request_bytes` with its gRPC prefix) as fast as the gateway \
             takes it and never ending it, renewed as soon as the gateway ends one (refused, or at the receive \
             timeout); after {:.1} s, tenant `{}` runs a closed loop of {} streams of {} tokens while the fill goes \
             on ({:.1} s in all).\n\n\
             | other tenant's requests | served | not served | share served | TTFT p50 | TTFT p99 | first failure |\n\
             |---:|---:|---:|---:|---:|---:|---|\n\
             | {} | {} | {} | {} | {:.3} ms | {:.3} ms | {} |\n\n\
             | filling tenant's calls | ended, by status | reset | open at stop | MiB sent | gateway's refusals | \
             connections lost | RSS before | peak RSS | growth |\n\
             |---:|---|---:|---:|---:|---|---:|---:|---:|---:|\n\
             | {} | {} | {} | {} | {:.1} | {} | {} | {:.1} MiB | {:.1} MiB | {:.1} MiB{} |\n",
            FILLER.0,
            fill.requests,
            fill.request_bytes,
            fill.ramp_secs,
            OTHER.0,
            fill.other_concurrency,
            fill.other_tokens_per_stream,
            fill.fill_secs,
            fill.other_requests,
            fill.other_served,
            fill.other_requests - fill.other_served,
            fill.other_served_percent.map_or("-".to_owned(), |percent| format!("{percent:.2} %")),
            fill.other_ttft.p50_ms,
            fill.other_ttft.p99_ms,
            fill.other_first_failure.as_deref().unwrap_or("-"),
            fill.filler.opened,
            counts(&fill.filler.ended),
            fill.filler.reset,
            fill.filler.open_at_stop(),
            mib(fill.filler.bytes_sent),
            counts(&fill.rejections),
            fill.filler.connection_failures,
            mib(fill.rss.before_bytes),
            mib(fill.rss.peak_bytes),
            fill.rss.growth_mib(),
            if fill.rss.capped { " (stopped at the cap)" } else { "" },
        );
    }
}

fn connections(count: usize) -> String {
    format!("{count} connection{}", if count == 1 { "" } else { "s" })
}

/// `name count, ...`, or `-`.
fn counts(counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "-".to_owned();
    }
    counts.iter().map(|(name, count)| format!("{name} {count}")).collect::<Vec<_>>().join(", ")
}

fn digest(key: &str) -> String {
    Sha256::digest(key).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss(before_mib: u64, peak_mib: u64, capped: bool) -> Rss {
        Rss {
            before_bytes: before_mib << 20,
            peak_bytes: peak_mib << 20,
            growth_bytes: (peak_mib - before_mib) << 20,
            after_bytes: before_mib << 20,
            capped,
        }
    }

    fn seen(opened: u64) -> FloodSeen {
        FloodSeen {
            opened,
            ended: BTreeMap::from([("ResourceExhausted".to_owned(), opened.saturating_sub(100))]),
            bytes_sent: 3 << 20,
            ..FloodSeen::default()
        }
    }

    fn no_key(connections: usize, streams_per_connection: usize, rss: Rss) -> NoKeyFlood {
        NoKeyFlood {
            source: NO_KEY_SOURCE.to_string(),
            connections,
            streams_per_connection,
            declared_bytes: NO_KEY_DECLARED_BYTES,
            flood_secs: 10.0,
            rss,
            seen: seen(5000),
            rejections: BTreeMap::from([("size".to_owned(), 4900)]),
        }
    }

    fn floods(other_served: u64, other_requests: u64) -> Floods {
        Floods {
            max_buffered_request_bytes: REQUEST_MEMORY_BUDGET,
            request_receive_timeout_secs: 10,
            no_key: vec![no_key(1, 100, rss(20, 31, false)), no_key(3, 200, rss(20, 1100, true))],
            budget_fill: BudgetFill {
                requests: 32,
                request_bytes: 4 << 20,
                ramp_secs: 2.0,
                fill_secs: 17.3,
                filler: seen(400),
                other_concurrency: 100,
                other_tokens_per_stream: 8,
                other_requests,
                other_served,
                other_served_percent: (other_requests > 0).then(|| other_served as f64 * 100.0 / other_requests as f64),
                other_first_failure: None,
                other_ttft: Summary::default(),
                rss: rss(30, 70, false),
                rejections: BTreeMap::from([("caller_request_memory".to_owned(), 300)]),
            },
        }
    }

    #[test]
    fn each_flood_is_judged_against_its_target_and_a_capped_flood_is_missed() {
        let checks = floods(985, 1000).checks();
        let lines: Vec<(&str, &str, bool)> =
            checks.iter().map(|c| (c.name.as_str(), c.measured.as_str(), c.met)).collect();
        assert_eq!(
            lines,
            [
                (
                    "gateway RSS growth under a no-key health/reflection flood, 1 connection × 100 streams",
                    "11.0 MiB (peak 31.0 MiB, before 20.0 MiB)",
                    true
                ),
                (
                    "gateway RSS growth under a no-key health/reflection flood, 3 connections × 200 streams",
                    "over 1024 MiB: stopped after 10.0 s",
                    false
                ),
                (
                    "other tenant's requests served while one tenant fills the request memory (32 never-finished 4 \
                     MiB requests)",
                    "98.50 % (985 of 1000)",
                    false
                ),
            ]
        );
        assert!(checks.iter().all(|c| c.not_measurable.is_none()));
        assert!(floods(990, 1000).checks()[2].met, "99 % is enough");
        let idle = floods(0, 0).checks();
        assert!(!idle[2].met && idle[2].not_measurable.is_some(), "{:?}", idle[2]);
    }

    #[test]
    fn the_floods_are_shown_with_what_the_gateway_counted_and_a_flood_that_did_nothing_is_a_problem() {
        let mut floods = floods(1000, 1000);
        let mut markdown = String::new();
        floods.markdown(&mut markdown);
        for line in [
            "### Memory floods\n",
            "| 1 × 100 | 10.0 s | 20.0 MiB | 31.0 MiB | 11.0 MiB | 20.0 MiB | 5000 | ResourceExhausted 4900 | 0 | 100 | 3.0 \
             | size 4900 | 0 |",
            "| 3 × 200 | 10.0 s | 20.0 MiB | 1100.0 MiB | 1080.0 MiB (stopped at the cap) |",
            "| 1000 | 1000 | 0 | 100.00 % |",
            "| 400 | ResourceExhausted 300 | 0 | 100 | 3.0 | caller_request_memory 300 | 0 | 30.0 MiB | 70.0 MiB | 40.0 \
             MiB |",
        ] {
            assert!(markdown.contains(line), "{line}\n{markdown}");
        }
        assert!(floods.problems().is_empty(), "{:?}", floods.problems());
        floods.no_key[0].seen = FloodSeen { first_failure: Some("refused".to_owned()), ..FloodSeen::default() };
        floods.budget_fill.other_requests = 0;
        assert_eq!(
            floods.problems(),
            [
                "abuse floods: the no-key flood 1 connection × 100 opened no call (refused)",
                "abuse floods: the other tenant sent no request during the budget fill"
            ]
        );
    }
}
