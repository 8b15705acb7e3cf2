//! `bedrock-emulator`: serves the emulator until Ctrl-C or SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
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
    /// Serve TLS as Bedrock does (ALPN h2, then http/1.1) with a self-signed certificate for
    /// localhost, 127.0.0.1 and ::1, made at start.
    #[arg(long, requires = "tls_cert_out")]
    tls: bool,
    /// Where to write that certificate (PEM) for clients to trust; it is in place before the
    /// listening line is printed.
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_cert_out: Option<PathBuf>,
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
    let addr = SocketAddr::new(args.host, args.port);
    let emulator =
        if args.tls { Emulator::start_tls_on(config, addr).await? } else { Emulator::start_on(config, addr).await? };
    if let (Some(path), Some(pem)) = (&args.tls_cert_out, emulator.certificate_pem()) {
        write_certificate(path, pem)?;
    }
    println!("bedrock-emulator listening on {}", emulator.endpoint_url());
    shutdown_signal().await?;
    emulator.shutdown().await;
    Ok(())
}

/// Writes `pem` to `path` through a temporary file renamed into place, so a process waiting for
/// the file never reads half of it.
fn write_certificate(path: &Path, pem: &str) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, pem)?;
    std::fs::rename(&partial, path)
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
