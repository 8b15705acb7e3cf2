//! Python virtualenvs holding pinned packages, each under the tools directory with a
//! `.requirements` file that records what it holds: a virtualenv whose record differs from what is
//! wanted now (or that lacks its program) is made anew, so a change of pins reinstalls it once.
//! `terraform/ci.sh` keeps the same record in the moto virtualenv, which both use.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{Installable, find_program, is_executable, run};

/// A virtualenv wanted at `dir` holding `requirements` (pip's requirement lines), with
/// `bin/<program>`.
#[derive(Debug)]
pub struct Virtualenv {
    /// Where it lives.
    dir: PathBuf,
    /// Its requirement lines, comments and blank lines left out.
    requirements: Vec<String>,
    /// The program of `bin/` that shows it is installed.
    program: &'static str,
}

impl Virtualenv {
    /// The virtualenv at `dir` holding the requirement lines of `requirements` (a requirements
    /// file's text: `#` comments and blank lines are left out) and `bin/<program>`.
    pub fn new(dir: PathBuf, requirements: &str, program: &'static str) -> Virtualenv {
        let requirements = requirements
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default().trim())
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        Virtualenv { dir, requirements, program }
    }

    /// What `.requirements` holds once it is installed: one requirement a line.
    fn record(&self) -> String {
        self.requirements.iter().map(|line| format!("{line}\n")).collect()
    }
}

impl Installable for Virtualenv {
    /// Whether it holds exactly what is wanted.
    fn is_ready(&self) -> bool {
        let holds = std::fs::read_to_string(self.dir.join(".requirements")).unwrap_or_default();
        holds == self.record() && is_executable(&self.location())
    }

    /// Makes it anew; removed again if that fails.
    fn install(&self) -> Result<(), String> {
        let dir = &self.dir;
        let what = match self.requirements.as_slice() {
            [one] => one.clone(),
            [first, ..] => format!("{first} and the rest of {} pinned packages", self.requirements.len()),
            [] => "nothing".to_owned(),
        };
        eprintln!("cargo xtask test: installing {what} into {}", dir.display());
        let started = std::time::Instant::now();
        let _ = std::fs::remove_dir_all(dir);
        let installed = run(Command::new("python3").arg("-m").arg("venv").arg(dir))
            .and_then(|()| {
                run(Command::new(dir.join("bin/pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check"])
                    .args(&self.requirements))
            })
            .and_then(|()| {
                std::fs::write(dir.join(".requirements"), self.record())
                    .map_err(|err| format!("cannot write {}/.requirements: {err}", dir.display()))
            });
        if installed.is_err() {
            let _ = std::fs::remove_dir_all(dir);
        } else {
            eprintln!("cargo xtask test: installed into {} in {:.0} s", dir.display(), started.elapsed().as_secs_f64());
        }
        installed
    }

    /// Its program.
    fn location(&self) -> PathBuf {
        self.dir.join("bin").join(self.program)
    }

    fn accept(&self, given: &Path) -> Option<PathBuf> {
        find_program(given)
    }
}

/// Whether `python3 -m venv` can make a virtualenv with pip (Debian ships `ensurepip` apart, in
/// python3-venv).
pub fn python_makes_venvs() -> bool {
    crate::tools::quiet(Command::new("python3").args(["-c", "import ensurepip, venv"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_are_not_requirements() {
        let venv =
            Virtualenv::new(PathBuf::from("/nowhere"), "# pins\nboto3==1.0 # the SDK\n\nopenai==2.0\n", "python");
        assert_eq!(venv.record(), "boto3==1.0\nopenai==2.0\n");
        assert_eq!(venv.location(), Path::new("/nowhere/bin/python"));
    }

    #[test]
    fn a_single_requirement_is_recorded_as_terraform_ci_records_it() {
        // terraform/ci.sh writes `echo "moto[server]==X"` to the same file.
        let venv = Virtualenv::new(PathBuf::from("/nowhere"), "moto[server]==5.2.1", "moto_server");
        assert_eq!(venv.record(), "moto[server]==5.2.1\n");
    }
}
