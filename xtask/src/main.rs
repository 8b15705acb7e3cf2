//! `cargo xtask <command>`: the project's own commands, written in Rust so that they need nothing
//! but the toolchain (`.cargo/config.toml` makes `cargo xtask` run this crate).
//!
//! `cargo xtask test [ARGS...]` is README's test command. A fresh clone on a machine with only the
//! Rust toolchain passes it: it provisions the programs the tests start ([`tools`]) and runs the
//! workspace's tests ([`runner`]). ARGS go to the test runner, so
//! `cargo xtask test -p bedrock-gateway --test quotas` runs one test file.

mod npm;
mod runner;
mod tools;
mod venv;

use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask test [ARGS...]

Installs what the tests need when it is missing (redis-server, node and curl with apt-get as root;
moto[server] and the Python clients in virtualenvs, the JavaScript client with npm) and runs the
workspace's tests: with cargo-nextest and the doctests when nextest is installed, else with
`cargo test`. ARGS go to that runner and narrow the run:
    cargo xtask test -p bedrock-gateway --test quotas
    cargo xtask test -p bedrock-gateway --lib config::";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("test") => test(&args.collect::<Vec<_>>()),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn test(args: &[String]) -> ExitCode {
    let tools = match tools::provision() {
        Ok(tools) => tools,
        Err(problem) => {
            eprintln!("cargo xtask test: {problem}");
            return ExitCode::FAILURE;
        }
    };
    let cargo = cargo();
    let runner = if runner::nextest_installed(&cargo) { runner::Runner::Nextest } else { runner::Runner::CargoTest };
    for arguments in runner.commands(args) {
        eprintln!("cargo xtask test: cargo {}", arguments.join(" "));
        let status = Command::new(&cargo)
            .args(&arguments)
            .envs(tools.env.iter().map(|(name, value)| (name, value)))
            .current_dir(workspace_root())
            .status();
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => return ExitCode::from(status.code().and_then(|code| u8::try_from(code).ok()).unwrap_or(1)),
            Err(err) => {
                eprintln!("cargo xtask test: cannot run {cargo}: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// The cargo that runs this command (cargo sets `CARGO` for what it runs), so a toolchain chosen
/// with `cargo +VERSION xtask` runs the tests too.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn workspace_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ sits in the workspace root")
}
