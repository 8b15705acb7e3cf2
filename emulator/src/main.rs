//! `bedrock-emulator`: serves the emulator until Ctrl-C or SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bedrock_emulator::{Emulator, EmulatorConfig};
use clap::Parser;

/// A local Bedrock runtime speaking Bedrock's wire protocol.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Port to listen on.
    #[arg(long, default_value_t = 4510)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Milliseconds before the first token of a stream.
    #[arg(long, default_value_t = 0)]
    ttft_ms: u64,
    /// Milliseconds between tokens.
    #[arg(long, default_value_t = 0)]
    token_gap_ms: u64,
    /// Tokens per answer.
    #[arg(long, default_value_t = 32)]
    answer_tokens: usize,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = EmulatorConfig {
        time_to_first_token: Duration::from_millis(args.ttft_ms),
        inter_token_gap: Duration::from_millis(args.token_gap_ms),
        answer_tokens: args.answer_tokens,
    };
    let emulator = Emulator::start_on(config, SocketAddr::new(args.host, args.port)).await?;
    println!("bedrock-emulator listening on {}", emulator.endpoint_url());
    shutdown_signal().await?;
    emulator.shutdown().await;
    Ok(())
}

async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
