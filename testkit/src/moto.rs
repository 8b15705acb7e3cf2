//! A real `moto_server` (PyPI `moto[server]`), the local stand-in for AWS APIs other than Bedrock
//! (S3 for the catalog, STS for roles in other accounts), on a free loopback port; killed when
//! dropped. Tests fail when it is missing, naming `cargo xtask test`, which installs it and sets
//! `MOTO_SERVER` to it. `MOTO_SERVER` names the executable when it is not `moto_server` on the PATH.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::primitives::ByteStream;

use crate::programs::{free_port, missing_program};

/// A role session moto's STS granted: the role, the session's name, and the access key it issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedRole {
    /// The role assumed.
    pub role_arn: String,
    /// The session name the caller gave.
    pub session_name: String,
    /// The access key id of the temporary credentials issued.
    pub access_key_id: String,
}

/// A running `moto_server`.
#[derive(Debug)]
pub struct MotoServer {
    port: u16,
    process: Option<std::process::Child>,
}

impl MotoServer {
    /// Starts one and waits until it answers.
    pub async fn start() -> MotoServer {
        let port = free_port();
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        let process = std::process::Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|err| missing_program(&program, &err));
        let server = MotoServer { port, process: Some(process) };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !server.answers().await {
            assert!(tokio::time::Instant::now() < deadline, "moto_server did not answer within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    async fn answers(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let request = "GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let mut answer = [0; 12];
        stream.write_all(request.as_bytes()).await.is_ok()
            && stream.read_exact(&mut answer).await.is_ok()
            && answer.starts_with(b"HTTP/1.1 200")
    }

    /// `http://127.0.0.1:PORT`, the endpoint URL of every service it stands in for.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The gateway's config of the S3 object `bucket`/`key` on this server (a catalog or tenants
    /// document), read with placeholder keys.
    pub fn s3_document(&self, bucket: &str, key: &str) -> bedrock_gateway::config::S3DocumentConfig {
        bedrock_gateway::config::S3DocumentConfig {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            region: Some("us-east-1".to_owned()),
            endpoint_url: Some(self.url()),
            credentials: bedrock_gateway::config::CredentialsSource::Emulator,
        }
    }

    /// An S3 client of the real SDK on this server (path-style, placeholder keys).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(self.url())
            .credentials_provider(Credentials::new("emulator", "emulator", None, None, "moto"))
            .load()
            .await;
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
    }

    /// Creates `bucket` (in us-east-1) if needed and writes `body` at `key`.
    pub async fn put_object(&self, bucket: &str, key: &str, body: &str) {
        let s3 = self.s3().await;
        let _ = s3.create_bucket().bucket(bucket).send().await;
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .unwrap_or_else(|err| panic!("put s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(err)));
    }

    /// Every AssumeRole this server granted, oldest first, from the state moto exposes at
    /// `/moto-api/data.json`.
    pub async fn assumed_roles(&self) -> Vec<AssumedRole> {
        use http_body_util::BodyExt;
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let request = http::Request::get("/moto-api/data.json")
            .header(http::header::HOST, format!("127.0.0.1:{}", self.port))
            .body(String::new())
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), async {
            let response = sender.send_request(request).await.unwrap();
            response.into_body().collect().await.unwrap().to_bytes()
        })
        .await
        .expect("moto_server shows its state within 10 s");
        let state: serde_json::Value = serde_json::from_slice(&response).expect("moto's state is JSON");
        let field = |role: &serde_json::Value, name: &str| role[name].as_str().unwrap_or_default().to_owned();
        let roles = state["sts"]["AssumedRole"].as_array().cloned().unwrap_or_default();
        roles
            .iter()
            .map(|role| AssumedRole {
                role_arn: field(role, "role_arn"),
                session_name: field(role, "session_name"),
                access_key_id: field(role, "access_key_id"),
            })
            .collect()
    }

    /// Kills the server, as an outage would.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}
