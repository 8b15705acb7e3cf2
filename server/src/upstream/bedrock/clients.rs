//! The Bedrock runtime clients, one per region and account, made on first use.
//!
//! A target in another account (one with a `role_arn`) is called with the credentials of that
//! role, which the SDK's own `AssumeRoleProvider` obtains from STS on the gateway's credentials
//! (the task role, or the emulator's placeholder keys). Each role has one provider, shared by
//! every region and every thread, and every client shares the SDK's identity cache, which keeps
//! a role's credentials and fetches new ones shortly before they expire: one AssumeRole per role
//! and session, not per request. So a model's weighted targets can spread its traffic over the
//! quotas of several accounts, or bill a team's own.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::Region;
use aws_sdk_bedrockruntime::error::DisplayErrorContext;

use crate::config::BedrockConfig;

/// The role session name: CloudTrail in the role's account shows calls as made by
/// `assumed-role/<role name>/bedrock-gateway`.
const SESSION_NAME: &str = "bedrock-gateway";

/// The longest one AssumeRole attempt waits for STS, which answers in milliseconds: a failure is
/// reported by the provider (so logged with the role) well before the identity cache gives up.
const STS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which client: a region's runtime, called as the gateway itself (`None`) or as a role.
type ClientKey = (String, Option<String>);

/// The clients of one thread, and the role credentials of all threads.
#[derive(Debug, Clone)]
pub(super) struct Clients {
    /// What every Bedrock client is built from (credentials and their cache, retries, timeouts);
    /// only the region, the endpoint and, for a role, the credentials differ.
    sdk: SdkConfig,
    home_region: String,
    region_endpoint_urls: BTreeMap<String, String>,
    /// What STS is called with: the gateway's own credentials, `bedrock.region`, and
    /// `bedrock.sts_endpoint_url` (not `bedrock.endpoint_url`, which is Bedrock's).
    sts: SdkConfig,
    /// One credentials provider per role, shared with the other threads' clients, so that they
    /// share its cached credentials.
    roles: Arc<Mutex<HashMap<String, SharedCredentialsProvider>>>,
    /// This thread's clients (each holds its own connection pool).
    clients: Arc<Mutex<HashMap<ClientKey, Client>>>,
}

impl Clients {
    /// The clients made from `sdk` for `config`, the home region's (as the gateway) at once, so
    /// that its first call pays no set-up.
    pub(super) fn new(sdk: SdkConfig, config: &BedrockConfig) -> Clients {
        let mut sts = sdk.to_builder();
        sts.set_endpoint_url(config.sts_endpoint_url.clone());
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(config.connect_timeout_ms.get())
            .operation_attempt_timeout(STS_ATTEMPT_TIMEOUT)
            .build();
        let sts = sts.timeout_config(timeouts).build();
        let roles = Arc::default();
        Clients::with_home_client(sdk, sts, config.region.clone(), config.region_endpoint_urls.clone(), roles)
    }

    /// The same clients for another thread: each with an HTTP client, so a connection pool, of
    /// its own, but the same role credentials.
    pub(super) fn for_another_thread(&self) -> Clients {
        Clients::with_home_client(
            self.sdk.clone(),
            self.sts.clone(),
            self.home_region.clone(),
            self.region_endpoint_urls.clone(),
            Arc::clone(&self.roles),
        )
    }

    fn with_home_client(
        sdk: SdkConfig,
        sts: SdkConfig,
        home_region: String,
        region_endpoint_urls: BTreeMap<String, String>,
        roles: Arc<Mutex<HashMap<String, SharedCredentialsProvider>>>,
    ) -> Clients {
        let home = Client::new(&sdk);
        let clients = Arc::new(Mutex::new(HashMap::from([((home_region.clone(), None), home)])));
        Clients { sdk, home_region, region_endpoint_urls, sts, roles, clients }
    }

    /// The client of `region`'s Bedrock runtime, signing as `role_arn` (`None`: as the gateway).
    /// `bedrock.endpoint_url` serves the home region only; another region's is its
    /// `bedrock.region_endpoint_urls` entry, else its public endpoint.
    pub(super) async fn get(&self, region: &str, role_arn: Option<&str>) -> Client {
        let key = (region.to_owned(), role_arn.map(str::to_owned));
        if let Some(client) = self.clients.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return client.clone();
        }
        let mut config = aws_sdk_bedrockruntime::config::Builder::from(&self.sdk);
        if region != self.home_region {
            config.set_endpoint_url(self.region_endpoint_urls.get(region).cloned());
        }
        if let Some(role_arn) = role_arn {
            // Not `credentials_provider`, which would wrap it anew, in a cache entry of its own.
            config.set_credentials_provider(Some(self.role(role_arn).await));
        }
        let client = Client::from_conf(config.region(Region::new(region.to_owned())).build());
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.entry(key).or_insert(client).clone()
    }

    /// The credentials provider of `role_arn`, made on its first use by any thread.
    async fn role(&self, role_arn: &str) -> SharedCredentialsProvider {
        if let Some(provider) = self.roles.lock().unwrap_or_else(PoisonError::into_inner).get(role_arn) {
            return provider.clone();
        }
        let provider =
            AssumeRoleProvider::builder(role_arn).configure(&self.sts).session_name(SESSION_NAME).build().await;
        let provider = SharedCredentialsProvider::new(Role { arn: role_arn.to_owned(), provider });
        // Another thread may have made one meanwhile: theirs is kept, so that all share one cache.
        let mut roles = self.roles.lock().unwrap_or_else(PoisonError::into_inner);
        roles.entry(role_arn.to_owned()).or_insert(provider).clone()
    }
}

/// A role's provider, which logs each AssumeRole's outcome with the role's ARN: clients are only
/// told that the model's credentials could not be obtained, never which role.
#[derive(Debug)]
struct Role {
    arn: String,
    provider: AssumeRoleProvider,
}

impl ProvideCredentials for Role {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let assumed = self.provider.provide_credentials().await;
            match &assumed {
                Ok(credentials) => {
                    let lasts = credentials.expiry().and_then(|expiry| expiry.duration_since(SystemTime::now()).ok());
                    tracing::info!(
                        role_arn = %self.arn,
                        expires_in_secs = lasts.map(|lasts| lasts.as_secs()),
                        "assumed the role of a Bedrock target"
                    );
                }
                Err(err) => tracing::warn!(
                    role_arn = %self.arn,
                    error = %DisplayErrorContext(err),
                    "cannot assume the role of a Bedrock target: its calls fail as UNAVAILABLE (or fall back)"
                ),
            }
            assumed
        })
    }
}
