//! The programs the tests start, installed here when they are missing, so that a fresh machine
//! with only the Rust toolchain passes the suite, and a machine where this cannot install them is
//! told exactly what to install rather than failing test after test. (The tests never skip a
//! missing program: testkit panics naming it and this command.)
//!
//! - `redis-server`, for the quota store's tests: Debian's package, installed with apt-get as root.
//! - `moto_server`, for the S3 catalog's and the STS roles' tests: `moto[server]` at a pinned version in a virtualenv
//!   under `$BGW_TOOLS_DIR` (default `~/.cache/bedrock-gateway-ci`); `terraform/ci.sh` uses the
//!   same one, so it is installed once. The tests find it through `MOTO_SERVER`; a `MOTO_SERVER`
//!   already set is used as it is.
//! - The clients no one here wrote, for the HTTP doors' tests (`server/tests/clients.rs`): boto3,
//!   openai and LangChain in a virtualenv `clients` pinned by `xtask/clients/requirements.txt`
//!   (its python is `BGW_CLIENTS_PYTHON`), the AWS SDK for JavaScript's Bedrock runtime client
//!   pinned by `xtask/clients/package-lock.json` (its `node_modules` is
//!   `BGW_CLIENTS_NODE_MODULES`), and the programs `node` and `curl` (Debian's `nodejs`, `npm`
//!   and `curl` when missing). Either variable already set is used as it is. About 40 s the first
//!   time, most of it pip's.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::npm::NodePackages;
use crate::venv::{Virtualenv, python_makes_venvs};

/// What the moto virtualenv holds; `terraform/ci.sh` pins the same.
const MOTO_REQUIREMENT: &str = "moto[server]==5.2.1";
/// What the clients' virtualenv holds.
const CLIENT_REQUIREMENTS: &str = include_str!("../clients/requirements.txt");

/// What the tests are given, each as an environment variable.
#[derive(Debug)]
pub struct Tools {
    /// `(name, value)` for every variable.
    pub env: Vec<(&'static str, PathBuf)>,
}

/// A Debian package the tests need, and what for.
#[derive(Debug, Clone, Copy)]
struct Package {
    name: &'static str,
    why: &'static str,
}

const REDIS_SERVER: Package = Package { name: "redis-server", why: "the quota store's tests start redis-server" };
const PYTHON3_VENV: Package = Package {
    name: "python3-venv",
    why: "virtualenvs for moto[server] (the S3 catalog's and STS roles' tests) and the Python clients (boto3, openai, LangChain)",
};
const NODEJS: Package = Package { name: "nodejs", why: "the HTTP doors' tests run the AWS SDK for JavaScript" };
const NPM: Package = Package { name: "npm", why: "installs the AWS SDK for JavaScript's Bedrock runtime client" };
const CURL: Package = Package { name: "curl", why: "README's curl examples are run by a test" };

/// Something this command installs for the tests.
pub trait Installable {
    /// Whether it is installed as wanted.
    fn is_ready(&self) -> bool;
    /// Installs it anew.
    fn install(&self) -> Result<(), String>;
    /// What the tests are given: a program or a folder.
    fn location(&self) -> PathBuf;
    /// `given` as the tests' value, if it is the kind of thing `location` is.
    fn accept(&self, given: &Path) -> Option<PathBuf>;
}

/// A tool the tests find through the environment variable `variable`: its value when set, else
/// what this command installs.
struct Wanted {
    variable: &'static str,
    given: Option<PathBuf>,
    installed: Box<dyn Installable>,
}

impl Wanted {
    fn new(variable: &'static str, installed: impl Installable + 'static) -> Wanted {
        Wanted { variable, given: given(variable), installed: Box::new(installed) }
    }

    fn to_install(&self) -> bool {
        self.given.is_none() && !self.installed.is_ready()
    }

    /// The variable and its value, installing the tool first if it is not ready.
    fn provide(self) -> Result<(&'static str, PathBuf), String> {
        let value = match &self.given {
            Some(given) => self.installed.accept(given).ok_or_else(|| {
                format!("{}={} is not usable; unset it to have it installed", self.variable, given.display())
            })?,
            None => {
                if !self.installed.is_ready() {
                    self.installed.install()?;
                }
                self.installed.location()
            }
        };
        Ok((self.variable, value))
    }
}

/// Finds or installs everything; an error says what to install by hand.
pub fn provision() -> Result<Tools, String> {
    let tools = tools_dir()?;
    let moto = Wanted::new("MOTO_SERVER", Virtualenv::new(tools.join("moto"), MOTO_REQUIREMENT, "moto_server"));
    let python =
        Wanted::new("BGW_CLIENTS_PYTHON", Virtualenv::new(tools.join("clients"), CLIENT_REQUIREMENTS, "python"));
    let node_modules = Wanted::new("BGW_CLIENTS_NODE_MODULES", NodePackages { dir: tools.join("clients-js") });

    let mut missing = Vec::new();
    let mut need = |program: &str, package: Package| {
        if find_program(Path::new(program)).is_none() {
            missing.push(package);
        }
    };
    need("redis-server", REDIS_SERVER);
    need("node", NODEJS);
    need("curl", CURL);
    if node_modules.to_install() {
        need("npm", NPM);
    }
    if (moto.to_install() || python.to_install()) && !python_makes_venvs() {
        missing.push(PYTHON3_VENV);
    }
    if !missing.is_empty() {
        apt_install(&missing)?;
    }
    Ok(Tools { env: vec![moto.provide()?, python.provide()?, node_modules.provide()?] })
}

/// The value of the environment variable `name`, when it is set and not empty.
fn given(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from)
}

fn tools_dir() -> Result<PathBuf, String> {
    if let Some(dir) = given("BGW_TOOLS_DIR") {
        return Ok(dir);
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set: set BGW_TOOLS_DIR to where the test tools may live")?;
    Ok(Path::new(&home).join(".cache/bedrock-gateway-ci"))
}

/// Installs `packages` with apt-get when this runs as root on a machine that has it; otherwise
/// says what to install.
fn apt_install(packages: &[Package]) -> Result<(), String> {
    let names: Vec<&str> = packages.iter().map(|package| package.name).collect();
    if !is_root() || find_program(Path::new("apt-get")).is_none() {
        let mut message = String::from(
            "the tests need programs this machine lacks, and only root with apt-get can install them here:\n",
        );
        for package in packages {
            message.push_str(&format!("    {:<14}{}\n", package.name, package.why));
        }
        message.push_str(&format!(
            "Install them (Debian/Ubuntu: sudo apt-get install {}), then run `cargo xtask test` again.",
            names.join(" ")
        ));
        return Err(message);
    }
    eprintln!("cargo xtask test: installing {} with apt-get", names.join(" "));
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    // dpkg reports every file on stdout even with -qq; errors still reach stderr.
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&names)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.status.success() && output.stdout.trim_ascii() == b"0")
}

/// `program` itself when it holds a `/`, else the first executable of that name on the PATH.
pub(crate) fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return is_executable(program).then(|| program.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

pub(crate) fn quiet(command: &mut Command) -> bool {
    command.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|status| status.success())
}

pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{shown} failed ({status})")),
        Err(err) => Err(format!("cannot run {shown}: {err}")),
    }
}
