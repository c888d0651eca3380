//! The object store the sink writes to and `verify` reads: a thin wrapper over
//! [`object_store::ObjectStore`] plus a key prefix.
//!
//! Every key the rest of the crate handles is relative to the prefix; this file alone joins and
//! strips it. Local stores (a plain path or a `file://` URL) use
//! [`object_store::local::LocalFileSystem`], which writes each object to a `#N` staging file and
//! renames it into place, so a crash never leaves a half-written object under its real key (and
//! listings skip staging files). On top of that, [`Storage::put`] syncs the file and its
//! directories to disk before returning: "durably written" means it survives a power cut, not just
//! a process crash. `s3://bucket/prefix` URLs open any S3-compatible store through
//! [`object_store::aws::AmazonS3`] (endpoint, region and addressing style from [`S3Options`],
//! credentials from the standard `AWS_*` environment variables or the shared credentials file);
//! a PUT there is atomic and durable once acknowledged.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;

/// object_store's own retries of one request: a few quick ones for a dropped connection or a
/// 5xx, then the error reaches the sink, whose retry loop backs off for as long as the store is
/// down and says so in the log (object_store's default, ten retries over up to three minutes,
/// would hide an outage and delay the catch-up by up to 15 s after it).
const REQUEST_RETRY: object_store::RetryConfig = object_store::RetryConfig {
    backoff: object_store::BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(1), base: 2.0 },
    max_retries: 3,
    retry_timeout: Duration::from_secs(15),
};

/// Why a store could not be opened or an operation on it failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("`{0}` names no bucket: use s3://BUCKET/PREFIX")]
    NoBucket(String),
    #[error("unsupported store url `{0}`: use a local directory, a file:// url or s3://bucket/prefix")]
    UnsupportedScheme(String),
    #[error("could not create the store directory {path}: {source}; check the path and its permissions")]
    CreateDirectory { path: String, source: std::io::Error },
    #[error("could not open the store at {path}: {source}")]
    Open { path: String, source: object_store::Error },
    #[error("`{key}` is not a valid object key: {source}")]
    InvalidKey { key: String, source: object_store::path::Error },
    #[error("could not {operation} `{key}`: {source}")]
    Operation { operation: &'static str, key: String, source: object_store::Error },
    #[error("could not publish dead letters to {target}: {detail}")]
    Publish { target: String, detail: String },
    #[error("could not sync `{key}` to disk: {source}")]
    Sync { key: String, source: std::io::Error },
}

/// How to reach an S3-compatible store. Credentials are not here: they come from
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, or from the shared
/// credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`, profile
/// `AWS_PROFILE`, default `default`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// The server, e.g. `http://127.0.0.1:19000`; AWS itself when absent (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// The region (or `AWS_REGION` / `AWS_DEFAULT_REGION`; `us-east-1` when none is set).
    pub region: Option<String>,
    /// `https://bucket.host/key` instead of the path style `https://host/bucket/key`.
    pub virtual_hosted: bool,
}

/// Keys of one profile of the shared credentials file.
#[derive(Debug)]
struct SharedCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

/// The profile's keys from the shared credentials file, if it has them.
fn shared_credentials() -> Option<SharedCredentials> {
    let path = match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".aws/credentials"),
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_owned());
    parse_shared_credentials(&std::fs::read_to_string(path).ok()?, &profile)
}

/// Reads `[profile]`'s `aws_access_key_id`, `aws_secret_access_key` and `aws_session_token` from
/// an INI text.
fn parse_shared_credentials(text: &str, profile: &str) -> Option<SharedCredentials> {
    let mut in_profile = false;
    let (mut key, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            in_profile = section.trim() == profile;
            continue;
        }
        let Some((name, value)) = line.split_once('=') else { continue };
        if !in_profile {
            continue;
        }
        let value = value.trim().to_owned();
        match name.trim() {
            "aws_access_key_id" => key = Some(value),
            "aws_secret_access_key" => secret = Some(value),
            "aws_session_token" => token = Some(value),
            _ => {}
        }
    }
    Some(SharedCredentials { access_key_id: key?, secret_access_key: secret?, session_token: token })
}

/// An object store and the prefix under which netchaos keeps its objects.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// No leading or trailing `/`; empty for the store's root.
    prefix: String,
    /// The directory of a local store, to sync written files and their directories.
    local_root: Option<PathBuf>,
    /// What the user named, for logs and messages.
    location: String,
}

impl Storage {
    /// Opens a store from what the user typed: a local directory (created if missing), a
    /// `file://` URL, or `s3://bucket/prefix` with default [`S3Options`].
    pub fn from_url(url: &str) -> Result<Storage, StorageError> {
        Storage::open(url, &S3Options::default())
    }

    /// [`Storage::from_url`] with the S3 connection settings to use for an `s3://` URL.
    pub fn open(url: &str, s3: &S3Options) -> Result<Storage, StorageError> {
        if let Some(rest) = url.strip_prefix("s3://").or_else(|| url.strip_prefix("s3a://")) {
            return Storage::s3(rest, url, s3);
        }
        let local_path = match url.strip_prefix("file://") {
            // `file:///abs/path` and `file://localhost/abs/path` name `/abs/path`.
            Some(rest) => rest.strip_prefix("localhost").unwrap_or(rest),
            None if url.contains("://") => {
                return Err(StorageError::UnsupportedScheme(url.to_owned()));
            }
            None => url,
        };
        Storage::local(FsPath::new(local_path), url)
    }

    /// A store in a local directory, created if missing.
    fn local(directory: &FsPath, location: &str) -> Result<Storage, StorageError> {
        let shown = directory.display().to_string();
        std::fs::create_dir_all(directory).map_err(|source| StorageError::CreateDirectory { path: shown.clone(), source })?;
        let root = std::fs::canonicalize(directory).map_err(|source| StorageError::CreateDirectory { path: shown.clone(), source })?;
        let store = LocalFileSystem::new_with_prefix(&root).map_err(|source| StorageError::Open { path: shown, source })?;
        Ok(Storage { store: Arc::new(store), prefix: String::new(), local_root: Some(root), location: location.to_owned() })
    }

    /// An S3-compatible store: `rest` is `bucket[/prefix]`.
    fn s3(rest: &str, url: &str, options: &S3Options) -> Result<Storage, StorageError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::NoBucket(url.to_owned()));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && let Some(credentials) = shared_credentials()
        {
            builder = builder.with_access_key_id(credentials.access_key_id).with_secret_access_key(credentials.secret_access_key);
            if let Some(token) = credentials.session_token {
                builder = builder.with_token(token);
            }
        }
        if let Some(region) = options.region.as_deref().or(std::env::var("AWS_REGION").ok().as_deref()) {
            builder = builder.with_region(region);
        }
        let endpoint = options.endpoint.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        if let Some(endpoint) = endpoint {
            builder = builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
        }
        let store = builder
            .with_retry(REQUEST_RETRY)
            .with_virtual_hosted_style_request(options.virtual_hosted)
            .build()
            .map_err(|source| StorageError::Open { path: url.to_owned(), source })?;
        Ok(Storage::new(Arc::new(store), prefix, url))
    }

    /// Wraps any object store (S3, in-memory) with a key prefix.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, location: &str) -> Storage {
        Storage { store, prefix: prefix.trim_matches('/').to_owned(), local_root: None, location: location.to_owned() }
    }

    /// What the user named, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Writes an object, replacing any object of the same key; durable when it returns `Ok`.
    pub async fn put(&self, key: &str, body: Bytes) -> Result<(), StorageError> {
        let path = self.full_path(key)?;
        self.store.put(&path, body.into()).await.map_err(|source| StorageError::Operation {
            operation: "write",
            key: key.to_owned(),
            source,
        })?;
        self.sync_local(key).await
    }

    /// Writes an object only if none exists under its key (`If-None-Match: *` on S3, a hard link
    /// on a local disk); `Ok(false)` when one did. Durable when it returns `Ok(true)`.
    pub async fn put_new(&self, key: &str, body: Bytes) -> Result<bool, StorageError> {
        let path = self.full_path(key)?;
        let options = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
        match self.store.put_opts(&path, body.into(), options).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => return Ok(false),
            Err(source) => return Err(StorageError::Operation { operation: "create", key: key.to_owned(), source }),
        }
        self.sync_local(key).await?;
        Ok(true)
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let path = self.full_path(key)?;
        let failed = |source| StorageError::Operation { operation: "read", key: key.to_owned(), source };
        self.store.get(&path).await.map_err(failed)?.bytes().await.map_err(failed)
    }

    /// Every object whose key starts with the segments of `prefix` (`""` for all), as
    /// `(key relative to the storage prefix, size in bytes)`, sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let path = self.full_path(prefix)?;
        let failed = |source| StorageError::Operation { operation: "list", key: prefix.to_owned(), source };
        let listing: Vec<object_store::ObjectMeta> = self.store.list(Some(&path)).try_collect().await.map_err(failed)?;
        let mut objects: Vec<(String, u64)> =
            listing.into_iter().filter_map(|meta| Some((self.relative_key(&meta.location)?, meta.size))).collect();
        objects.sort_unstable();
        Ok(objects)
    }

    /// Copies an object to another key (replacing any object there).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let (source, target) = (self.full_path(from)?, self.full_path(to)?);
        self.store.copy(&source, &target).await.map_err(|source| StorageError::Operation {
            operation: "copy",
            key: from.to_owned(),
            source,
        })?;
        self.sync_local(to).await
    }

    /// Deletes an object; deleting one that does not exist succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.full_path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(StorageError::Operation { operation: "delete", key: key.to_owned(), source }),
        }
    }

    fn full_path(&self, key: &str) -> Result<StorePath, StorageError> {
        let key = key.trim_matches('/');
        let full = match (self.prefix.is_empty(), key.is_empty()) {
            (true, _) => key.to_owned(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{key}", self.prefix),
        };
        StorePath::parse(&full).map_err(|source| StorageError::InvalidKey { key: full, source })
    }

    fn relative_key(&self, location: &StorePath) -> Option<String> {
        let full = location.as_ref();
        if self.prefix.is_empty() {
            return Some(full.to_owned());
        }
        full.strip_prefix(self.prefix.as_str())?.strip_prefix('/').map(str::to_owned)
    }

    /// Syncs a written local file and every directory from its parent up to the store root, so
    /// the file's data and its directory entries (the rename, new `dt=` / `hour=` folders) are on
    /// disk.
    async fn sync_local(&self, key: &str) -> Result<(), StorageError> {
        let Some(root) = self.local_root.clone() else {
            return Ok(());
        };
        let relative = PathBuf::from(self.full_path(key)?.as_ref());
        let outcome = tokio::task::spawn_blocking(move || sync_file_and_parents(&root, &relative)).await;
        let flattened = outcome.unwrap_or_else(|join_error| Err(std::io::Error::other(join_error.to_string())));
        flattened.map_err(|source| StorageError::Sync { key: key.to_owned(), source })
    }
}

fn sync_file_and_parents(root: &FsPath, relative: &FsPath) -> std::io::Result<()> {
    let file = root.join(relative);
    std::fs::File::open(&file)?.sync_all()?;
    let mut directory = file.parent();
    while let Some(current) = directory {
        std::fs::File::open(current)?.sync_all()?;
        if current == root {
            break;
        }
        directory = current.parent();
    }
    Ok(())
}

// Error classification, for the sink's retry loop and the CLI's messages.

/// Why an error cannot go away by retrying, and what the user can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermanentCause {
    ReadOnly,
    PermissionDenied,
    NotADirectory,
    SymlinkLoop,
    NameTooLong,
    InvalidKey,
}

impl PermanentCause {
    /// What to do, as the end of an error line.
    pub fn advice(self) -> &'static str {
        match self {
            PermanentCause::ReadOnly => "the file system is read-only: remount it read-write, or choose another --store",
            PermanentCause::PermissionDenied => {
                "permission denied: let this user write the store directory and everything under it, or choose another --store"
            }
            PermanentCause::NotADirectory => {
                "a file stands where the store needs a directory: move that file away, or choose another --store"
            }
            PermanentCause::SymlinkLoop => "a symbolic link in the store's path loops: fix or remove the link",
            PermanentCause::NameTooLong => "a path in the store is too long: choose a shorter --store or --source",
            PermanentCause::InvalidKey => "an object key is not valid: choose another --source",
        }
    }
}

/// The cause of this error when no retry can fix it: local file-system errors that stay until a
/// person acts (read-only file system, permission denied, a file where a directory must be, a
/// symbolic-link loop, a name too long) and invalid keys. Everything else (a server that is
/// down, a timeout, a full disk that may be cleared) is worth retrying.
impl StorageError {
    pub fn permanent_cause(&self) -> Option<PermanentCause> {
        if matches!(self, StorageError::InvalidKey { .. }) {
            return Some(PermanentCause::InvalidKey);
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(current) = cause {
            if let Some(io) = current.downcast_ref::<std::io::Error>() {
                return permanent_io_cause(io);
            }
            cause = current.source();
        }
        None
    }
}

fn permanent_io_cause(error: &std::io::Error) -> Option<PermanentCause> {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ReadOnlyFilesystem => Some(PermanentCause::ReadOnly),
        ErrorKind::PermissionDenied => Some(PermanentCause::PermissionDenied),
        ErrorKind::NotADirectory => Some(PermanentCause::NotADirectory),
        ErrorKind::InvalidFilename => Some(PermanentCause::NameTooLong),
        _ if is_symlink_loop(error) => Some(PermanentCause::SymlinkLoop),
        _ => None,
    }
}

/// ELOOP (its `ErrorKind` is not stable yet).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn is_symlink_loop(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn is_symlink_loop(_error: &std::io::Error) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_store_puts_lists_gets_and_deletes() {
        let directory = tempfile::tempdir().unwrap();
        let store_dir = directory.path().join("nested/store");
        let storage = Storage::from_url(store_dir.to_str().unwrap()).unwrap();
        assert!(store_dir.is_dir(), "the directory is created");
        storage.put("data/source=a/one.json", Bytes::from_static(b"1\n")).await.unwrap();
        storage.put("data/source=b/two.json", Bytes::from_static(b"22\n")).await.unwrap();
        storage.put("dlq/source=a/three.json", Bytes::from_static(b"")).await.unwrap();
        assert_eq!(
            storage.list("data").await.unwrap(),
            vec![("data/source=a/one.json".to_owned(), 2), ("data/source=b/two.json".to_owned(), 3)]
        );
        assert_eq!(storage.list("").await.unwrap().len(), 3);
        assert_eq!(storage.list("nothing/here").await.unwrap(), vec![]);
        assert_eq!(storage.get("data/source=b/two.json").await.unwrap(), Bytes::from_static(b"22\n"));
        storage.delete("data/source=a/one.json").await.unwrap();
        storage.delete("data/source=a/one.json").await.unwrap();
        assert_eq!(storage.list("data/source=a").await.unwrap(), vec![]);
        assert!(storage.get("data/source=a/one.json").await.is_err());
    }

    #[tokio::test]
    async fn file_urls_name_local_directories() {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("file://{}", directory.path().join("store").display());
        let storage = Storage::from_url(&url).unwrap();
        storage.put("x/y.json", Bytes::from_static(b"{}")).await.unwrap();
        assert!(directory.path().join("store/x/y.json").is_file());
        assert_eq!(storage.location(), url);
    }

    #[test]
    fn s3_urls_need_a_bucket_and_unknown_schemes_are_refused_clearly() {
        assert!(Storage::from_url("s3:///prefix").unwrap_err().to_string().contains("names no bucket"));
        let options = S3Options { endpoint: Some("http://127.0.0.1:1".into()), region: Some("eu-west-1".into()), virtual_hosted: false };
        let storage = Storage::open("s3://bucket/landing/zone", &options).unwrap();
        assert_eq!(storage.prefix, "landing/zone");
        assert!(Storage::from_url("gs://bucket").unwrap_err().to_string().contains("use a local directory"));
    }

    #[test]
    fn shared_credentials_come_from_the_named_profile() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[lab]\naws_access_key_id=C\naws_secret_access_key=D\naws_session_token=E\n";
        let lab = parse_shared_credentials(text, "lab").unwrap();
        assert_eq!((lab.access_key_id.as_str(), lab.secret_access_key.as_str(), lab.session_token.as_deref()), ("C", "D", Some("E")));
        let default = parse_shared_credentials(text, "default").unwrap();
        assert_eq!((default.access_key_id.as_str(), default.session_token), ("A", None));
        assert!(parse_shared_credentials(text, "missing").is_none());
    }

    #[tokio::test]
    async fn prefixes_are_joined_and_stripped_in_one_place() {
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let storage = Storage::new(Arc::clone(&memory), "/netchaos/landing/", "memory://");
        storage.put("data/a.json", Bytes::from_static(b"a")).await.unwrap();
        let raw: Vec<object_store::ObjectMeta> = memory.list(None).try_collect().await.unwrap();
        assert_eq!(raw[0].location.as_ref(), "netchaos/landing/data/a.json");
        assert_eq!(storage.list("").await.unwrap(), vec![("data/a.json".to_owned(), 1)]);
        assert_eq!(storage.list("data").await.unwrap(), vec![("data/a.json".to_owned(), 1)]);
    }
}
