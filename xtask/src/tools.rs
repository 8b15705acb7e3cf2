//! The programs the tests start, installed here when they are missing, so that a fresh machine
//! with only the Rust toolchain passes the suite, and a machine where this cannot install them is
//! told exactly what to install rather than failing test after test. (The tests never skip a
//! missing program: testkit panics naming it and this command.)
//!
//! - `redis-server`, for the quota store's tests: Debian's package, installed with apt-get as root.
//! - `moto_server`, for the S3 catalog's tests: `moto[server]` at a pinned version in a virtualenv
//!   under `$BGW_TOOLS_DIR` (default `~/.cache/bedrock-gateway-ci`), whose `.requirements` file
//!   records what it holds; `terraform/ci.sh` uses the same one, so it is installed once. The tests
//!   find it through `MOTO_SERVER`; a `MOTO_SERVER` already set is used as it is.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the moto virtualenv holds; `terraform/ci.sh` pins the same.
const MOTO_REQUIREMENT: &str = "moto[server]==5.2.1";

/// What the tests are given.
#[derive(Debug)]
pub struct Tools {
    /// The `moto_server` program, for `MOTO_SERVER`.
    pub moto_server: PathBuf,
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
    why: "a virtualenv for moto[server]==5.2.1, the S3 catalog's tests' moto_server (or set MOTO_SERVER to one)",
};

/// Finds or installs everything; an error says what to install by hand.
pub fn provision() -> Result<Tools, String> {
    let given_moto = std::env::var_os("MOTO_SERVER").filter(|program| !program.is_empty()).map(PathBuf::from);
    let venv = tools_dir()?.join("moto");
    let moto_ready = given_moto.is_some() || venv_holds_moto(&venv);

    let mut missing = Vec::new();
    if find_program(Path::new("redis-server")).is_none() {
        missing.push(REDIS_SERVER);
    }
    if !moto_ready && !python_makes_venvs() {
        missing.push(PYTHON3_VENV);
    }
    if !missing.is_empty() {
        apt_install(&missing)?;
    }

    let moto_server = match given_moto {
        Some(program) => find_program(&program).ok_or_else(|| {
            format!("MOTO_SERVER={} is not a program; unset it to have moto installed", program.display())
        })?,
        None => {
            if !moto_ready {
                install_moto(&venv)?;
            }
            venv.join("bin/moto_server")
        }
    };
    Ok(Tools { moto_server })
}

fn tools_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("BGW_TOOLS_DIR").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set: set BGW_TOOLS_DIR to where the test tools may live")?;
    Ok(Path::new(&home).join(".cache/bedrock-gateway-ci"))
}

fn venv_holds_moto(venv: &Path) -> bool {
    let holds = std::fs::read_to_string(venv.join(".requirements")).unwrap_or_default();
    holds.trim() == MOTO_REQUIREMENT && is_executable(&venv.join("bin/moto_server"))
}

/// Whether `python3 -m venv` can make a virtualenv with pip (Debian ships `ensurepip` apart, in
/// python3-venv).
fn python_makes_venvs() -> bool {
    quiet(Command::new("python3").args(["-c", "import ensurepip, venv"]))
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

/// A fresh virtualenv at `venv` holding [`MOTO_REQUIREMENT`]; removed again if that fails.
fn install_moto(venv: &Path) -> Result<(), String> {
    eprintln!("cargo xtask test: installing {MOTO_REQUIREMENT} into {}", venv.display());
    let _ = std::fs::remove_dir_all(venv);
    let installed = run(Command::new("python3").arg("-m").arg("venv").arg(venv))
        .and_then(|()| {
            run(Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                MOTO_REQUIREMENT,
            ]))
        })
        .and_then(|()| {
            std::fs::write(venv.join(".requirements"), format!("{MOTO_REQUIREMENT}\n"))
                .map_err(|err| format!("cannot write {}/.requirements: {err}", venv.display()))
        });
    if installed.is_err() {
        let _ = std::fs::remove_dir_all(venv);
    }
    installed
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.status.success() && output.stdout.trim_ascii() == b"0")
}

/// `program` itself when it holds a `/`, else the first executable of that name on the PATH.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return is_executable(program).then(|| program.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn quiet(command: &mut Command) -> bool {
    command.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|status| status.success())
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{shown} failed ({status})")),
        Err(err) => Err(format!("cannot run {shown}: {err}")),
    }
}
