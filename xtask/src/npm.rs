//! The JavaScript client the tests run, `@aws-sdk/client-bedrock-runtime`: installed with `npm ci`
//! from `xtask/clients/package-lock.json`, which pins it and everything it needs, into a folder of
//! the tools directory whose `.package-lock.json` records what it holds (a changed lock file
//! installs it anew, once; `npm ci` refuses a lock file out of step with package.json). The tests
//! find its `node_modules` through `BGW_CLIENTS_NODE_MODULES`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{Installable, run};

const PACKAGE_JSON: &str = include_str!("../clients/package.json");
const PACKAGE_LOCK: &str = include_str!("../clients/package-lock.json");

/// The package whose presence shows the folder is installed.
const CLIENT: &str = "@aws-sdk/client-bedrock-runtime";

/// The node packages wanted at `dir`.
#[derive(Debug)]
pub struct NodePackages {
    /// Where they live (`node_modules` inside).
    pub dir: PathBuf,
}

impl Installable for NodePackages {
    /// Whether it holds exactly what the lock file pins.
    fn is_ready(&self) -> bool {
        let holds = std::fs::read_to_string(self.dir.join(".package-lock.json")).unwrap_or_default();
        holds == PACKAGE_LOCK && self.location().join(CLIENT).join("package.json").is_file()
    }

    /// Installs them anew with `npm ci`; removed again if that fails.
    fn install(&self) -> Result<(), String> {
        let dir = &self.dir;
        eprintln!(
            "cargo xtask test: installing {CLIENT} (pinned by xtask/clients/package-lock.json) into {}",
            dir.display()
        );
        let started = std::time::Instant::now();
        let _ = std::fs::remove_dir_all(dir);
        let installed = write(dir, "package.json", PACKAGE_JSON)
            .and_then(|()| write(dir, "package-lock.json", PACKAGE_LOCK))
            .and_then(|()| {
                run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--silent"]).current_dir(dir))
            })
            .and_then(|()| write(dir, ".package-lock.json", PACKAGE_LOCK));
        if installed.is_err() {
            let _ = std::fs::remove_dir_all(dir);
        } else {
            eprintln!("cargo xtask test: installed into {} in {:.0} s", dir.display(), started.elapsed().as_secs_f64());
        }
        installed
    }

    /// Its `node_modules`.
    fn location(&self) -> PathBuf {
        self.dir.join("node_modules")
    }

    fn accept(&self, given: &Path) -> Option<PathBuf> {
        given.is_dir().then(|| given.to_owned())
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(dir.join(name), contents))
        .map_err(|err| format!("cannot write {}/{name}: {err}", dir.display()))
}
