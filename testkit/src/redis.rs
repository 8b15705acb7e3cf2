//! A real `redis-server` for the quota store's tests.

use std::time::Duration;

use crate::programs::{free_port, missing_program};

/// A real `redis-server` (Debian package `redis-server`) on a free loopback port, in a temporary
/// directory, without persistence; killed when dropped. Tests skip nothing when it is missing:
/// they fail, naming `cargo xtask test`, which installs it.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    /// The TLS port, with `start_tls`.
    tls_port: Option<u16>,
    cluster: bool,
    dir: tempfile::TempDir,
    process: Option<std::process::Child>,
}

impl RedisServer {
    /// A plain server.
    pub async fn start() -> RedisServer {
        RedisServer::launch(false, false).await
    }

    /// A server that also serves TLS ([`RedisServer::tls_url`]) with a certificate for
    /// `localhost` issued by a CA of its own ([`RedisServer::ca_file`]).
    pub async fn start_tls() -> RedisServer {
        RedisServer::launch(true, false).await
    }

    /// A server in cluster mode, a cluster of one node that owns every slot.
    pub async fn start_cluster() -> RedisServer {
        RedisServer::launch(false, true).await
    }

    async fn launch(tls: bool, cluster: bool) -> RedisServer {
        let dir = tempfile::Builder::new().prefix("redis-test").tempdir().unwrap();
        if tls {
            write_tls_files(dir.path());
        }
        let mut server = RedisServer { port: free_port(), tls_port: tls.then(free_port), cluster, dir, process: None };
        server.spawn().await;
        if cluster {
            let answer = server.command(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]).await;
            assert!(answer.starts_with("+OK"), "CLUSTER ADDSLOTSRANGE: {answer}");
            server.wait_for_cluster().await;
        }
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `rediss://localhost:PORT`, for a server started with [`RedisServer::start_tls`].
    pub fn tls_url(&self) -> String {
        format!("rediss://localhost:{}", self.tls_port.expect("a server started with start_tls"))
    }

    /// The PEM file of the CA that issued the TLS certificate.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Kills the server at once, as a crash would; its data is lost.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server again on the same ports (empty, except for a cluster's slot
    /// assignment) and waits until it answers.
    pub async fn restart(&mut self) {
        self.spawn().await;
        if self.cluster {
            self.wait_for_cluster().await;
        }
    }

    async fn spawn(&mut self) {
        self.stop();
        let dir = self.dir.path();
        let mut command = std::process::Command::new("redis-server");
        command
            .current_dir(dir)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--logfile", "redis.log"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(tls_port) = self.tls_port {
            command.args(["--tls-port", &tls_port.to_string(), "--tls-auth-clients", "no"]);
            command.args([
                "--tls-cert-file",
                "server.pem",
                "--tls-key-file",
                "server.key",
                "--tls-ca-cert-file",
                "ca.pem",
            ]);
        }
        if self.cluster {
            command.args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]);
        }
        let process = command.spawn().unwrap_or_else(|err| missing_program("redis-server", &err));
        self.process = Some(process);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(answer) = tokio::time::timeout(Duration::from_millis(500), self.command(&["PING"])).await
                && answer.starts_with("+PONG")
            {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "redis-server did not answer within 5 s: {}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Sends one command on the plain port and returns the first chunk of the answer (RESP text),
    /// or an empty string when the server cannot be reached.
    pub async fn command(&self, args: &[&str]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return String::new();
        };
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        if stream.write_all(request.as_bytes()).await.is_err() {
            return String::new();
        }
        let mut answer = vec![0; 64 * 1024];
        let read = stream.read(&mut answer).await.unwrap_or(0);
        String::from_utf8_lossy(&answer[..read]).into_owned()
    }

    async fn wait_for_cluster(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.command(&["CLUSTER", "INFO"]).await.contains("cluster_state:ok") {
            assert!(tokio::time::Instant::now() < deadline, "the cluster did not turn ok within 5 s: {}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `ca.pem`, and `server.pem` + `server.key` issued by it for `localhost` and 127.0.0.1.
fn write_tls_files(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    std::fs::write(dir.join("ca.pem"), ca_params.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let cert = CertificateParams::new(names).unwrap().signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}
