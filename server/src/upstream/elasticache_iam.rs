//! ElastiCache IAM authentication for the quota store: instead of a password that Terraform would
//! have to hold and someone would have to rotate, the gateway AUTHs as its ElastiCache user with a
//! token it signs with its own AWS credentials (the task role).
//!
//! A token is a SigV4-presigned `connect` request for the cache and the user, without its scheme,
//! valid 15 minutes for opening a connection. ElastiCache closes an IAM-authenticated connection
//! after 12 hours unless it is re-AUTHed with a fresh token, so the token source is a stream: the
//! Redis client AUTHs each new connection with its first token and re-AUTHs live connections with
//! every later one, one every [`REFRESH`].

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ::redis::{BasicAuth, ErrorKind, RedisError, RedisResult, StreamingCredentialsProvider};
use aws_config::Region;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_types::error::display::DisplayErrorContext;
use futures::Stream;

use crate::config::{CredentialsSource, RedisIamAuthConfig};

/// How long a token opens connections: ElastiCache's limit.
const VALID_FOR: Duration = Duration::from_secs(900);
/// How often live connections get a fresh token: well within a token's life, and far more often
/// than ElastiCache's 12 hours.
const REFRESH: Duration = Duration::from_secs(600);
/// Credentials closer than this to their expiry are fetched again rather than signed with.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);

/// The tokens for one cache and user, as the Redis client's credentials provider.
#[derive(Clone)]
pub struct ElastiCacheIamToken {
    inner: Arc<Inner>,
    refresh: Duration,
}

struct Inner {
    cache_name: String,
    user: String,
    serverless: bool,
    region: String,
    credentials: SharedCredentialsProvider,
    /// The credentials last fetched, reused until near their expiry: every new connection wants a
    /// token, and a store that is down is probed every second.
    cached: Mutex<Option<Credentials>>,
    /// Whether the last token could not be made.
    failing: AtomicBool,
}

impl ElastiCacheIamToken {
    /// Tokens for `user` on the cache `config` names, in its region or else `default_region`.
    pub async fn new(config: &RedisIamAuthConfig, user: &str, default_region: &str) -> ElastiCacheIamToken {
        let region = config.region.clone().unwrap_or_else(|| default_region.to_owned());
        let credentials = match config.credentials {
            CredentialsSource::Emulator => {
                SharedCredentialsProvider::new(Credentials::new("emulator", "emulator", None, None, "elasticache-iam"))
            }
            CredentialsSource::AwsChain => SharedCredentialsProvider::new(
                DefaultCredentialsChain::builder().region(Region::new(region.clone())).build().await,
            ),
        };
        ElastiCacheIamToken::signed_with(config, user, region, credentials)
    }

    fn signed_with(
        config: &RedisIamAuthConfig,
        user: &str,
        region: String,
        credentials: SharedCredentialsProvider,
    ) -> ElastiCacheIamToken {
        ElastiCacheIamToken {
            inner: Arc::new(Inner {
                cache_name: config.cache_name.clone(),
                user: user.to_owned(),
                serverless: config.serverless,
                region,
                credentials,
                cached: Mutex::new(None),
                failing: AtomicBool::new(false),
            }),
            refresh: REFRESH,
        }
    }

    /// The same tokens, fresh ones every `refresh` (for tests).
    #[cfg(test)]
    fn refreshed_every(mut self, refresh: Duration) -> ElastiCacheIamToken {
        self.refresh = refresh;
        self
    }

    /// A fresh token as the user's AUTH credentials; a token that cannot be made is logged.
    async fn auth(&self) -> RedisResult<BasicAuth> {
        let token = match self.credentials().await {
            Ok(credentials) => self.inner.token(&credentials, SystemTime::now()),
            Err(err) => Err(err),
        };
        // A store without tokens is probed every second: the transitions are logged, not each failure.
        match token {
            Ok(token) => {
                if self.inner.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(cache = %self.inner.cache_name, "ElastiCache IAM tokens can be made again");
                }
                Ok(BasicAuth::new(self.inner.user.clone(), token))
            }
            Err(err) => {
                if !self.inner.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(cache = %self.inner.cache_name, user = %self.inner.user, %err,
                        "cannot make an ElastiCache IAM token to authenticate to the quota store");
                }
                Err(RedisError::from((ErrorKind::AuthenticationFailed, "no ElastiCache IAM token", err)))
            }
        }
    }

    async fn credentials(&self) -> Result<Credentials, String> {
        let fresh_enough = |credentials: &Credentials| {
            credentials.expiry().is_none_or(|expiry| expiry > SystemTime::now() + CREDENTIALS_MARGIN)
        };
        if let Some(credentials) = self.inner.cached.lock().unwrap().clone().filter(fresh_enough) {
            return Ok(credentials);
        }
        let credentials =
            self.inner.credentials.provide_credentials().await.map_err(|err| DisplayErrorContext(err).to_string())?;
        *self.inner.cached.lock().unwrap() = Some(credentials.clone());
        Ok(credentials)
    }
}

impl Inner {
    /// The token: `<cache>/?Action=connect&User=<user>[&ResourceType=ServerlessCache]`, presigned
    /// for `elasticache` in the region at `time`.
    fn token(&self, credentials: &Credentials, time: SystemTime) -> Result<String, String> {
        let mut url = format!("http://{}/?Action=connect&User={}", self.cache_name, self.user);
        if self.serverless {
            url.push_str("&ResourceType=ServerlessCache");
        }
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(VALID_FOR);
        let identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("elasticache")
            .time(time)
            .settings(settings)
            .build()
            .map_err(|err| err.to_string())?
            .into();
        let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::empty())
            .map_err(|err| err.to_string())?;
        let (instructions, _signature) = sign(request, &params).map_err(|err| err.to_string())?.into_parts();
        let mut signed = http::Request::get(&url).body(()).map_err(|err| err.to_string())?;
        instructions.apply_to_request_http1x(&mut signed);
        let signed = signed.uri().to_string();
        Ok(signed.strip_prefix("http://").unwrap_or(&signed).to_owned())
    }
}

impl StreamingCredentialsProvider for ElastiCacheIamToken {
    fn subscribe(&self) -> Pin<Box<dyn Stream<Item = RedisResult<BasicAuth>> + Send + 'static>> {
        // The first token at once: a new connection AUTHs without waiting.
        Box::pin(futures::stream::unfold((self.clone(), true), |(provider, first)| async move {
            if !first {
                tokio::time::sleep(provider.refresh).await;
            }
            Some((provider.auth().await, (provider, false)))
        }))
    }
}

#[cfg(test)]
mod tests;
