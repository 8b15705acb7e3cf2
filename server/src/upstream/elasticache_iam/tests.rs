use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::future::ProvideCredentials as ProvideCredentialsFuture;
use futures::StreamExt;

use super::*;

fn config(serverless: bool) -> RedisIamAuthConfig {
    RedisIamAuthConfig {
        cache_name: "bgw-quotas".to_owned(),
        serverless,
        region: None,
        credentials: CredentialsSource::Emulator,
    }
}

fn provider(serverless: bool, credentials: SharedCredentialsProvider) -> ElastiCacheIamToken {
    ElastiCacheIamToken::signed_with(&config(serverless), "bedrock-gateway", "eu-west-1".to_owned(), credentials)
}

fn fixed_credentials() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session".to_owned()),
        None,
        "test",
    )
}

/// The token's host and path, and its query parameters.
fn parts(token: &str) -> (&str, BTreeMap<String, String>) {
    let (host, query) = token.split_once("/?").expect("host/?query");
    let params = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("name=value");
            (name.to_owned(), value.replace("%2F", "/"))
        })
        .collect();
    (host, params)
}

#[test]
fn a_token_is_a_presigned_connect_request_for_the_cache_and_user() {
    let time = UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01T00:00:00Z
    let token = provider(true, SharedCredentialsProvider::new(fixed_credentials()))
        .inner
        .token(&fixed_credentials(), time)
        .unwrap();
    assert!(!token.contains("://"), "no scheme: {token}");
    let (host, params) = parts(&token);
    assert_eq!(host, "bgw-quotas");
    assert_eq!(params["Action"], "connect");
    assert_eq!(params["User"], "bedrock-gateway");
    assert_eq!(params["ResourceType"], "ServerlessCache");
    assert_eq!(params["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
    assert_eq!(params["X-Amz-Credential"], "AKIDEXAMPLE/20260101/eu-west-1/elasticache/aws4_request");
    assert_eq!(params["X-Amz-Date"], "20260101T000000Z");
    assert_eq!(params["X-Amz-Expires"], "900");
    assert_eq!(params["X-Amz-Security-Token"], "session");
    let signature = &params["X-Amz-Signature"];
    assert!(signature.len() == 64 && signature.chars().all(|c| c.is_ascii_hexdigit()), "{signature}");

    // The same request signed again is the same token; a replication group's names no resource type.
    let again = provider(true, SharedCredentialsProvider::new(fixed_credentials()))
        .inner
        .token(&fixed_credentials(), time)
        .unwrap();
    assert_eq!(token, again);
    let group = provider(false, SharedCredentialsProvider::new(fixed_credentials()))
        .inner
        .token(&fixed_credentials(), time)
        .unwrap();
    let (host, params) = parts(&group);
    assert_eq!(host, "bgw-quotas");
    assert!(!params.contains_key("ResourceType"), "{group}");
    assert_ne!(params["X-Amz-Signature"], parts(&token).1["X-Amz-Signature"]);
}

#[tokio::test(start_paused = true)]
async fn a_fresh_token_at_once_then_one_every_interval() {
    let tokens =
        provider(true, SharedCredentialsProvider::new(fixed_credentials())).refreshed_every(Duration::from_secs(60));
    let mut stream = tokens.subscribe();
    let first = tokio::time::timeout(Duration::from_millis(1), stream.next()).await.expect("at once");
    let first = first.unwrap().unwrap();
    assert_eq!(first.username(), "bedrock-gateway");
    assert!(first.password().starts_with("bgw-quotas/?Action=connect&User=bedrock-gateway"));
    let started = tokio::time::Instant::now();
    assert!(tokio::time::timeout(Duration::from_secs(59), stream.next()).await.is_err(), "none before the interval");
    let second = stream.next().await.unwrap().unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    assert_eq!(second.username(), "bedrock-gateway");
    stream.next().await.unwrap().unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(120), "and again");
}

/// Credentials that cannot be had, as without a task role.
#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> ProvideCredentialsFuture<'a>
    where
        Self: 'a,
    {
        ProvideCredentialsFuture::ready(Err(CredentialsError::not_loaded("no credentials in this test")))
    }
}

#[tokio::test]
async fn without_credentials_the_stream_errs_and_goes_on() {
    let mut stream =
        provider(true, SharedCredentialsProvider::new(NoCredentials)).refreshed_every(Duration::ZERO).subscribe();
    for _ in 0..2 {
        let err = stream.next().await.expect("the stream goes on").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AuthenticationFailed);
        assert!(err.to_string().contains("no credentials in this test"), "{err}");
    }
}
