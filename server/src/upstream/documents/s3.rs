//! An S3 object as a document: what a platform team edits (or Terraform writes) without a
//! deployment. S3 rather than an SSM parameter: a catalog with targets and per-alias settings
//! outgrows SSM's 4 KB (8 KB advanced) values, and a versioned bucket keeps every version ever
//! served, for audit and rollback. Each check is a conditional GET (`If-None-Match` with the last
//! ETag), so an unchanged object costs a 304 and no parsing.

use aws_config::BehaviorVersion;
use aws_config::Region;
use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;

use super::Fetched;
use crate::config::{CredentialsSource, S3DocumentConfig};

#[derive(Debug)]
pub struct S3Document {
    client: Client,
    bucket: String,
    key: String,
    /// The ETag of the object last read.
    etag: Option<String>,
}

impl S3Document {
    pub(super) async fn new(config: &S3DocumentConfig, default_region: &str) -> S3Document {
        let region = config.region.clone().unwrap_or_else(|| default_region.to_owned());
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region));
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if config.credentials == CredentialsSource::Emulator {
            loader = loader.credentials_provider(Credentials::new("emulator", "emulator", None, None, "document-s3"));
        }
        let sdk = loader.load().await;
        // A custom endpoint (an S3 stand-in, or an interface endpoint's DNS name) takes the bucket
        // in the path rather than as a subdomain.
        let s3 = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(config.endpoint_url.is_some()).build();
        S3Document { client: Client::from_conf(s3), bucket: config.bucket.clone(), key: config.key.clone(), etag: None }
    }

    pub(super) fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    pub(super) async fn fetch(&mut self) -> Result<Fetched, String> {
        let location = self.location();
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_if_none_match(self.etag.clone())
            .send()
            .await;
        let object = match sent {
            Ok(object) => object,
            Err(err) if err.raw_response().is_some_and(|response| response.status().as_u16() == 304) => {
                return Ok(Fetched::NotModified);
            }
            Err(err) => {
                return Err(format!("cannot get {location}: {}", DisplayErrorContext(&err)));
            }
        };
        let etag = object.e_tag.clone();
        let body = object.body.collect().await.map_err(|err| format!("cannot read {location}: {err}"))?.into_bytes();
        // Remembered even when invalid: the same object is not parsed (nor refused) again.
        self.etag = etag;
        Ok(Fetched::Changed(body.to_vec()))
    }
}
