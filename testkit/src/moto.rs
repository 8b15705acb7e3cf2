//! A real `moto_server` (PyPI `moto[server]`), the local stand-in for AWS APIs other than Bedrock,
//! on a free loopback port; killed when dropped. Tests fail when it is missing, naming
//! `cargo xtask test`, which installs it and sets `MOTO_SERVER` to it. `MOTO_SERVER` names the
//! executable when it is not `moto_server` on the PATH.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::primitives::ByteStream;

use crate::programs::{free_port, missing_program};

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
