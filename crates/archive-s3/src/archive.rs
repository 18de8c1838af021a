//! The bucket-and-prefix client: create-only puts, listing and downloads.

use std::{io::Write, sync::Arc, time::Duration};

use futures_util::StreamExt;
use object_store::{
    aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey},
    path::Path as ObjectPath,
    ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
};

use crate::{compare_keys, Error, S3Url};

/// Client settings that are not credentials or endpoints (those come from
/// the environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Options {
    /// Time to establish a connection. Default 5 s: an endpoint that does
    /// not accept a connection that fast is down, and the caller retries.
    pub connect_timeout: Duration,
    /// Time for one HTTP request, body included. Default 120 s: a full
    /// segment (256 MiB of JSON, some 30–60 MiB compressed) at ~4 Mbit/s.
    pub request_timeout: Duration,
    /// Retries of one request inside the client (transient 5xx, resets),
    /// with its own short backoff. Default 2: an outage is ridden out by the
    /// caller's slower, unbounded retry loop, not here.
    pub max_retries: usize,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options { connect_timeout: Duration::from_secs(5), request_timeout: Duration::from_secs(120), max_retries: 2 }
    }
}

/// What a create-only put found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was created.
    Created,
    /// An identical object was already there (a retry after a response was
    /// lost, or a restart before the local file was removed): as good as created.
    AlreadyPresent,
}

/// An object listed under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSegment {
    /// Its full key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A bucket and prefix in S3-compatible storage and the client that reaches
/// it. Cheap to clone (the client is shared).
#[derive(Debug, Clone)]
pub struct S3Archive {
    store: Arc<AmazonS3>,
    url: S3Url,
}

impl S3Archive {
    /// The archive at `url`, with endpoint, region and credentials from the
    /// standard `AWS_*` environment variables.
    pub fn from_env(url: &S3Url) -> Result<S3Archive, Error> {
        S3Archive::with_builder(url, AmazonS3Builder::from_env(), S3Options::default())
    }

    /// The archive at `url`, with a client configured by `builder` (whose
    /// bucket is replaced by the URL's) and `options`.
    pub fn with_builder(url: &S3Url, builder: AmazonS3Builder, options: S3Options) -> Result<S3Archive, Error> {
        let millis = |d: Duration| format!("{}ms", d.as_millis());
        // Timeouts are set key by key: `with_client_options` would replace
        // what the environment configured (`AWS_ALLOW_HTTP`, proxies).
        let store = builder
            .with_bucket_name(url.bucket())
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), millis(options.connect_timeout))
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), millis(options.request_timeout))
            .with_retry(RetryConfig { max_retries: options.max_retries, retry_timeout: options.request_timeout, ..RetryConfig::default() })
            .build()
            .map_err(|source| Error::Config { url: url.to_string(), source })?;
        Ok(S3Archive { store: Arc::new(store), url: url.clone() })
    }

    /// The archive's URL.
    pub fn url(&self) -> &S3Url {
        &self.url
    }

    /// Puts `data` under `key` only if nothing is there yet (`If-None-Match:
    /// *`). If an object is there, it is read back: the same bytes are
    /// [`PutOutcome::AlreadyPresent`], anything else [`Error::Conflict`]
    /// (and the object is left as it is).
    pub async fn put_create(&self, key: &str, data: Vec<u8>) -> Result<PutOutcome, Error> {
        let path = object_path(key)?;
        let payload = PutPayload::from(data);
        match self.store.put_opts(&path, payload.clone(), PutOptions::from(PutMode::Create)).await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let local_size = payload.content_length() as u64;
                let existing = self.store.get(&path).await.map_err(|source| request("get", key, source))?;
                let remote_size = existing.meta.size;
                if remote_size != local_size {
                    return Err(Error::Conflict { key: key.to_owned(), remote_size, local_size });
                }
                let remote = existing.bytes().await.map_err(|source| request("get", key, source))?;
                if same_bytes(&payload, &remote) {
                    Ok(PutOutcome::AlreadyPresent)
                } else {
                    Err(Error::Conflict { key: key.to_owned(), remote_size, local_size })
                }
            }
            Err(source) => Err(request("put", key, source)),
        }
    }

    /// Whether the bucket answers a listing of the prefix (a start-up check:
    /// credentials, endpoint and bucket are right).
    pub async fn check(&self) -> Result<(), Error> {
        let prefix = self.prefix_path()?;
        self.store.list_with_delimiter(prefix.as_ref()).await.map(|_| ()).map_err(|source| request("list", self.url.prefix(), source))
    }

    /// Every capture segment (`.jsonl.zst` or `.jsonl`) under the URL's
    /// prefix, in segment order ([`compare_keys`]: exchange, time, then
    /// `<n>` by value). If the prefix is itself the key of an object, that
    /// object alone. Other objects under the prefix are skipped.
    pub async fn list_segments(&self) -> Result<Vec<RemoteSegment>, Error> {
        let prefix = self.prefix_path()?;
        let mut listing = self.store.list(prefix.as_ref());
        let mut out = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|source| request("list", self.url.prefix(), source))?;
            let key = meta.location.to_string();
            if key.ends_with(".jsonl.zst") || key.ends_with(".jsonl") {
                out.push(RemoteSegment { key, size: meta.size });
            } else {
                tracing::debug!(%key, "not a capture segment; skipped");
            }
        }
        if out.is_empty() && !self.url.prefix().is_empty() {
            // Listing is by whole path segments, so an object's own key
            // lists nothing: look it up directly.
            match self.store.head(&object_path(self.url.prefix())?).await {
                Ok(meta) => out.push(RemoteSegment { key: meta.location.to_string(), size: meta.size }),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => return Err(request("head", self.url.prefix(), source)),
            }
        }
        out.sort_by(|a, b| compare_keys(&a.key, &b.key));
        Ok(out)
    }

    /// Streams the object `key` into `out`, returning the bytes written.
    /// Blocking writes on the async task: meant for a file on a local disk.
    pub async fn download(&self, key: &str, out: &mut impl Write) -> Result<u64, Error> {
        let result = self.store.get(&object_path(key)?).await.map_err(|source| request("get", key, source))?;
        let mut stream = result.into_stream();
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| request("get", key, source))?;
            out.write_all(&chunk).map_err(|source| Error::Io { path: key.into(), source })?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// Downloads the object `key` into a new temporary file (in the system's
    /// temporary directory), to be read by its path. Dropping it removes the
    /// file (a reader that already opened it keeps reading, on Unix).
    pub async fn download_temp(&self, key: &str) -> Result<tempfile::NamedTempFile, Error> {
        let io = |source| Error::Io { path: std::env::temp_dir(), source };
        let mut file = tempfile::Builder::new().prefix("marketpipe-segment-").suffix(".jsonl.zst").tempfile().map_err(io)?;
        self.download(key, file.as_file_mut()).await?;
        file.as_file_mut().flush().map_err(io)?;
        Ok(file)
    }

    /// The whole object `key` in memory (tests and small objects).
    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, Error> {
        let result = self.store.get(&object_path(key)?).await.map_err(|source| request("get", key, source))?;
        let bytes = result.bytes().await.map_err(|source| request("get", key, source))?;
        Ok(bytes.to_vec())
    }

    /// The prefix as a listing path (`None`: the whole bucket).
    fn prefix_path(&self) -> Result<Option<ObjectPath>, Error> {
        if self.url.prefix().is_empty() {
            Ok(None)
        } else {
            object_path(self.url.prefix()).map(Some)
        }
    }
}

fn request(op: &'static str, key: &str, source: object_store::Error) -> Error {
    Error::Request { op, key: key.to_owned(), source }
}

/// A key as the client's path type. Keys here are built from validated URL
/// prefixes and segment paths, so a refusal means a malformed URL prefix.
fn object_path(key: &str) -> Result<ObjectPath, Error> {
    ObjectPath::parse(key).map_err(|e| Error::InvalidUrl { url: key.to_owned(), reason: e.to_string() })
}

/// Whether the payload's chunks hold exactly `other`.
fn same_bytes(payload: &PutPayload, other: &[u8]) -> bool {
    let mut rest = other;
    for chunk in payload.iter() {
        match rest.strip_prefix(chunk.as_ref()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}
