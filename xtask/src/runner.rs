//! Which runner runs the tests, and with which cargo arguments.
//!
//! cargo-nextest runs every test in its own process, all test files' tests in one pool, so one slow
//! file does not hold the others back; it runs no doctests, so a whole-suite run adds
//! `cargo test --doc`, first. Without nextest, `cargo test` runs both. Both get `--locked`: the
//! tests build against exactly the committed Cargo.lock, as CI's builds do.

use std::process::{Command, Stdio};

/// The test runner of this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    Nextest,
    CargoTest,
}

/// Whether `cargo nextest` runs here.
pub fn nextest_installed(cargo: &str) -> bool {
    Command::new(cargo)
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

impl Runner {
    /// The cargo invocations, in order, that run the tests `args` select: the whole workspace
    /// unless `args` name packages.
    pub fn commands(self, args: &[String]) -> Vec<Vec<String>> {
        let mut selection = Vec::new();
        if !selects_packages(args) {
            selection.push("--workspace".to_owned());
        }
        selection.extend(args.iter().cloned());
        match self {
            Runner::Nextest => {
                let mut commands = Vec::new();
                // Doctests belong to the whole suite; a narrowed run asked for other tests. They
                // run first, so the run ends on nextest's summary of every other test.
                if args.is_empty() {
                    commands.push(words(&["test", "--locked", "--doc", "--workspace"], &[]));
                }
                commands.push(words(&["nextest", "run", "--locked"], &selection));
                commands
            }
            Runner::CargoTest => vec![words(&["test", "--locked"], &selection)],
        }
    }
}

/// Whether `args`, before a `--`, choose the packages themselves.
fn selects_packages(args: &[String]) -> bool {
    args.iter().take_while(|arg| *arg != "--").any(|arg| {
        arg.starts_with("-p")
            || arg.starts_with("--package")
            || arg == "--workspace"
            || arg == "--all"
            || arg.starts_with("--manifest-path")
    })
}

fn words(head: &[&str], tail: &[String]) -> Vec<String> {
    head.iter().map(|word| (*word).to_owned()).chain(tail.iter().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn lines(commands: Vec<Vec<String>>) -> Vec<String> {
        commands.into_iter().map(|command| command.join(" ")).collect()
    }

    #[test]
    fn the_whole_suite_runs_the_workspace_and_its_doctests() {
        assert_eq!(
            lines(Runner::Nextest.commands(&[])),
            ["test --locked --doc --workspace", "nextest run --locked --workspace"]
        );
        assert_eq!(lines(Runner::CargoTest.commands(&[])), ["test --locked --workspace"]);
    }

    #[test]
    fn named_packages_replace_the_workspace_and_leave_out_the_doctests() {
        let narrowed = args("-p bedrock-gateway --test quotas");
        assert_eq!(
            lines(Runner::Nextest.commands(&narrowed)),
            ["nextest run --locked -p bedrock-gateway --test quotas"]
        );
        assert_eq!(lines(Runner::CargoTest.commands(&narrowed)), ["test --locked -p bedrock-gateway --test quotas"]);
        assert_eq!(lines(Runner::CargoTest.commands(&args("--package=xtask"))), ["test --locked --package=xtask"]);
    }

    #[test]
    fn a_filter_alone_runs_over_the_workspace() {
        assert_eq!(
            lines(Runner::Nextest.commands(&args("quota_store"))),
            ["nextest run --locked --workspace quota_store"]
        );
        // After `--`, `-p...` belongs to the test binaries, not to cargo.
        assert_eq!(lines(Runner::CargoTest.commands(&args("-- -pattern"))), ["test --locked --workspace -- -pattern"]);
    }
}
