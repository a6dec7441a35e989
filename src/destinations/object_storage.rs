//! Object storage (S3 and S3-compatible servers) for the `file`
//! destination: a run's files are written as multipart uploads, part by
//! part as they fill, and completed together once every file of the run is
//! written, so an object appears only when whole. Requests are signed by
//! `rusty-s3` and sent with the http destination's client rules: the
//! endpoint's host must be on `reverse_etl.http_allowed_hosts`, names are
//! resolved by the guarded resolver, no redirects, timeouts.

use crate::config::json::{secret_reference, ObjectReader};
use crate::destinations::http::config::check_host;
use crate::destinations::http::secrets::{guarded_resolver, Secrets};
use crate::error::{Error, Result, SqlState};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde_json::Value;
use std::time::Duration;

pub const S3_KEYS: &[&str] = &[
    "bucket",
    "prefix",
    "region",
    "endpoint",
    "path_style",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "part_size_mb",
];

/// S3 refuses parts smaller than 5 MiB, except the last.
const MIN_PART_MB: i64 = 5;
const MAX_PART_MB: i64 = 64;
const SIGNED_FOR: Duration = Duration::from_secs(3600);
const TIMEOUT: Duration = Duration::from_secs(60);

/// A secret by name, or (for the key id only) the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Plain(String),
    Secret(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Put before every object name (`exports/crm/`).
    pub prefix: String,
    pub region: String,
    pub endpoint: url::Url,
    pub path_style: bool,
    pub access_key_id: Credential,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub part_size: usize,
}

impl S3Settings {
    /// The `s3` object of a file destination's config, if it has one.
    pub fn parse(config: &Value) -> Result<Option<S3Settings>> {
        let Some(value) = config.get("s3") else {
            return Ok(None);
        };
        let reader = ObjectReader::new("config.s3", value)?;
        reader.deny_unknown(S3_KEYS)?;
        let bucket = reader.required_string("bucket")?;
        let path_style = reader.boolean("path_style")?.unwrap_or(false);
        // S3's naming rules; dots only in path style, where the bucket is
        // not part of the host name (else it would reach another host).
        let name_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || (path_style && b == b'.')
            })
            && !bucket.starts_with('-')
            && !bucket.ends_with('-');
        if !name_ok {
            return Err(Error::invalid(
                "config.s3.bucket",
                "must be a bucket name: 3 to 63 lower-case letters, digits and hyphens (dots only with \"path_style\": true)",
            ));
        }
        let region = reader
            .string("region")?
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint_text = reader
            .string("endpoint")?
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint = url::Url::parse(&endpoint_text)
            .map_err(|e| Error::invalid("config.s3.endpoint", format!("is not a URL ({e})")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(Error::invalid(
                "config.s3.endpoint",
                "must be an http or https URL with a host",
            ));
        }
        let prefix = reader.string("prefix")?.unwrap_or_default();
        if prefix.starts_with('/') || prefix.split('/').any(|part| part == "..") {
            return Err(Error::invalid(
                "config.s3.prefix",
                "must be relative, without \"..\" (e.g. \"exports/crm/\")",
            ));
        }
        let access_key_id = match reader.value("access_key_id") {
            Some(Value::String(key)) => Credential::Plain(key.clone()),
            Some(other) => Credential::Secret(secret_reference("config.s3.access_key_id", other)?),
            None => {
                return Err(Error::invalid(
                    "config.s3.access_key_id",
                    "is required (the key id, or {\"secret\": …})",
                ))
            }
        };
        let secret_access_key = match reader.value("secret_access_key") {
            Some(value) => secret_reference("config.s3.secret_access_key", value)?,
            None => {
                return Err(Error::invalid(
                    "config.s3.secret_access_key",
                    "is required: {\"secret\": \"<name of one of your secrets>\"}",
                ))
            }
        };
        let session_token = reader
            .value("session_token")
            .map(|value| secret_reference("config.s3.session_token", value))
            .transpose()?;
        let part_size_mb = reader.integer("part_size_mb")?.unwrap_or(8);
        // A part is held in the worker's memory while it is sent.
        if !(MIN_PART_MB..=MAX_PART_MB).contains(&part_size_mb) {
            return Err(Error::invalid(
                "config.s3.part_size_mb",
                format!("must be between {MIN_PART_MB} and {MAX_PART_MB} (S3 refuses smaller parts; a part is held in memory)"),
            ));
        }
        Ok(Some(S3Settings {
            bucket,
            prefix,
            region,
            endpoint,
            path_style,
            access_key_id,
            secret_access_key,
            session_token,
            part_size: part_size_mb as usize * 1024 * 1024,
        }))
    }

    /// The names of the owner's secrets it uses.
    pub fn secret_names(&self) -> Vec<String> {
        let mut names = vec![self.secret_access_key.clone()];
        if let Credential::Secret(name) = &self.access_key_id {
            names.push(name.clone());
        }
        names.extend(self.session_token.clone());
        names
    }

    /// Where the objects go, for messages: `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Where the objects go, whole, for the file claims: the same bucket
    /// name on another server is another place.
    pub fn claim_location(&self) -> String {
        format!(
            "{}{}://{}/{}",
            self.endpoint.as_str().trim_end_matches('/'),
            if self.path_style { "/path" } else { "/host" },
            self.bucket,
            self.prefix
        )
    }

    pub fn check_host(&self, allowed: &str) -> Result<()> {
        check_host("config.s3.endpoint", &self.endpoint, allowed)
    }
}

/// A bucket with the owner's credentials, ready to send requests.
pub struct ObjectStore {
    settings: S3Settings,
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
    secrets: Secrets,
}

impl ObjectStore {
    /// `secret` reads one of the destination owner's secrets by name.
    pub fn open(
        settings: &S3Settings,
        secret: &dyn Fn(&str, &str) -> Result<String>,
    ) -> Result<ObjectStore> {
        let allowed = crate::gucs::http_allowed_hosts();
        settings.check_host(&allowed)?;
        let key = match &settings.access_key_id {
            Credential::Plain(key) => key.clone(),
            Credential::Secret(name) => secret("config.s3.access_key_id", name)?,
        };
        let secret_key = secret("config.s3.secret_access_key", &settings.secret_access_key)?;
        let token = settings
            .session_token
            .as_ref()
            .map(|name| secret("config.s3.session_token", name))
            .transpose()?;
        let secret_key_id =
            matches!(settings.access_key_id, Credential::Secret(_)).then(|| key.clone());
        let secrets = Secrets::new(
            [Some(secret_key.clone()), token.clone(), secret_key_id]
                .into_iter()
                .flatten()
                .collect(),
        );
        let credentials = match token {
            Some(token) => Credentials::new_with_token(key, secret_key, token),
            None => Credentials::new(key, secret_key),
        };
        let style = if settings.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            settings.endpoint.clone(),
            style,
            settings.bucket.clone(),
            settings.region.clone(),
        )
        .map_err(|e| Error::invalid("config.s3", format!("bucket: {e}")))?;
        // The host requests really go to (the bucket's, in virtual-host
        // style) must be allowed too.
        check_host("config.s3.bucket", bucket.base_url(), &allowed)?;
        let agent = ureq::AgentBuilder::new()
            .timeout(TIMEOUT)
            .redirects(0)
            .resolver(guarded_resolver(allowed))
            .build();
        Ok(ObjectStore {
            settings: settings.clone(),
            bucket,
            credentials,
            agent,
            secrets,
        })
    }

    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.settings.prefix)
    }

    /// The storage unreachable or failing (5xx) is 08006, so the run ends
    /// incomplete and the next one writes the files again; a refusal
    /// (4xx: credentials, bucket) is 58030 and fails the run.
    fn failed(&self, what: &str, error: ureq::Error) -> Error {
        let (code, text) = match error {
            ureq::Error::Status(status, response) => {
                let body = response.into_string().unwrap_or_default();
                let code = if status >= 500 { *b"08006" } else { *b"58030" };
                (
                    code,
                    format!(
                        "HTTP {status}: {}",
                        body.chars().take(300).collect::<String>()
                    ),
                )
            }
            // Not the URL: a presigned URL carries a signature.
            ureq::Error::Transport(transport) => (
                *b"08006",
                match transport.message() {
                    Some(message) => format!("{}: {message}", transport.kind()),
                    None => transport.kind().to_string(),
                },
            ),
        };
        Error::new(
            SqlState::Other(code),
            format!(
                "{} {what}: {}",
                self.settings.location(),
                self.secrets.scrub(&text)
            ),
        )
    }

    /// Whether an object of that name exists.
    pub fn exists(&self, name: &str) -> Result<bool> {
        let key = self.key(name);
        let url = self
            .bucket
            .head_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        match self.agent.head(url.as_str()).call() {
            Ok(_) => Ok(true),
            Err(ureq::Error::Status(404, _)) => Ok(false),
            Err(error) => Err(self.failed(&format!("HEAD {key}"), error)),
        }
    }

    /// Start writing an object; it appears only once `complete` is called.
    pub fn upload(&self, name: &str) -> Result<Upload<'_>> {
        let key = self.key(name);
        let url = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let response = self
            .agent
            .post(url.as_str())
            .call()
            .map_err(|e| self.failed(&format!("starting {key}"), e))?;
        let body = response
            .into_string()
            .map_err(|e| Error::new(SqlState::Other(*b"58030"), format!("starting {key}: {e}")))?;
        let created =
            rusty_s3::actions::CreateMultipartUpload::parse_response(&body).map_err(|e| {
                Error::new(
                    SqlState::Other(*b"58030"),
                    format!("starting {key}: unreadable answer ({e})"),
                )
            })?;
        Ok(Upload {
            store: self,
            key,
            upload_id: created.upload_id().to_string(),
            etags: Vec::new(),
            buffer: Vec::with_capacity(self.settings.part_size),
            failure: None,
        })
    }
}

/// An object being written: parts are sent as the buffer fills.
pub struct Upload<'a> {
    store: &'a ObjectStore,
    key: String,
    upload_id: String,
    etags: Vec<String>,
    buffer: Vec<u8>,
    /// Why the last part could not be sent (a `Write` can only say "io").
    failure: Option<Error>,
}

impl Upload<'_> {
    /// The error behind a failed write, with its SQLSTATE.
    pub fn take_failure(&mut self) -> Option<Error> {
        self.failure.take()
    }

    fn send_part(&mut self) -> Result<()> {
        let number = u16::try_from(self.etags.len() + 1).map_err(|_| {
            Error::new(
                SqlState::Other(*b"54000"),
                format!("{}: more than 65535 parts; raise part_size_mb", self.key),
            )
        })?;
        let url = self
            .store
            .bucket
            .upload_part(
                Some(&self.store.credentials),
                &self.key,
                number,
                &self.upload_id,
            )
            .sign(SIGNED_FOR);
        let response = self
            .store
            .agent
            .put(url.as_str())
            .send_bytes(&self.buffer)
            .map_err(|e| {
                self.store
                    .failed(&format!("part {number} of {}", self.key), e)
            })?;
        let etag = response.header("ETag").unwrap_or_default().to_string();
        self.etags.push(etag);
        self.buffer.clear();
        Ok(())
    }

    /// Send what is left as the last part; the object is not visible yet.
    /// On failure the upload is given up.
    pub fn finish(mut self) -> Result<Finished> {
        if !self.buffer.is_empty() || self.etags.is_empty() {
            if let Err(error) = self.send_part() {
                self.store.abort(&self.key, &self.upload_id);
                return Err(error);
            }
        }
        Ok(Finished {
            key: self.key.clone(),
            upload_id: self.upload_id.clone(),
            etags: std::mem::take(&mut self.etags),
        })
    }

    pub fn abort(self) {
        self.store.abort(&self.key, &self.upload_id);
    }
}

impl std::io::Write for Upload<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        // Never more than one part in memory: fill the part, send it when
        // full, keep the rest.
        let room = self.store.settings.part_size - self.buffer.len();
        let taken = data.len().min(room);
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() >= self.store.settings.part_size {
            if let Err(error) = self.send_part() {
                let message = error.message.clone();
                self.failure = Some(error);
                return Err(std::io::Error::other(message));
            }
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An upload whose parts are all sent.
pub struct Finished {
    key: String,
    upload_id: String,
    etags: Vec<String>,
}

impl ObjectStore {
    /// Make a finished upload's object appear.
    pub fn complete(&self, finished: &Finished) -> Result<()> {
        let action = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            &finished.key,
            &finished.upload_id,
            finished.etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR);
        let body = action.body();
        let response = self
            .agent
            .post(url.as_str())
            .send_string(&body)
            .map_err(|e| self.failed(&format!("completing {}", finished.key), e))?;
        // S3 can answer 200 with an error in the body.
        let text = response.into_string().unwrap_or_default();
        if text.contains("<Error>") {
            return Err(Error::new(
                SqlState::Other(*b"58030"),
                format!(
                    "{} completing {}: {}",
                    self.settings.location(),
                    finished.key,
                    self.secrets
                        .scrub(&text.chars().take(300).collect::<String>())
                ),
            ));
        }
        Ok(())
    }

    /// Give up an upload (its parts are removed; nothing appears).
    pub fn abort(&self, key: &str, upload_id: &str) {
        let url = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key, upload_id)
            .sign(SIGNED_FOR);
        let _ = self.agent.delete(url.as_str()).call();
    }

    pub fn abort_finished(&self, finished: &Finished) {
        self.abort(&finished.key, &finished.upload_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(config: Value) -> String {
        S3Settings::parse(&config).unwrap_err().message
    }

    #[test]
    fn settings_are_read_with_defaults_and_named_errors() {
        assert_eq!(
            S3Settings::parse(&json!({"directory": "/x"})).unwrap(),
            None
        );
        let settings =
            S3Settings::parse(&json!({"s3": {"bucket": "exports", "region": "eu-west-1",
            "access_key_id": "AKIA1", "secret_access_key": {"secret": "aws"}}}))
            .unwrap()
            .unwrap();
        assert_eq!(
            settings.endpoint.as_str(),
            "https://s3.eu-west-1.amazonaws.com/"
        );
        assert_eq!(settings.part_size, 8 * 1024 * 1024);
        assert_eq!(settings.secret_names(), ["aws"]);
        assert_eq!(settings.location(), "s3://exports/");
        assert!(
            error(json!({"s3": {"access_key_id": "a", "secret_access_key": {"secret": "s"}}}))
                .starts_with("config.s3.bucket: ")
        );
        assert!(error(
            json!({"s3": {"bucket": "bkt", "access_key_id": "a", "secret_access_key": "plain"}})
        )
        .starts_with("config.s3.secret_access_key: must be {\"secret\""));
        assert!(error(json!({"s3": {"bucket": "bkt", "access_key_id": "a", "secret_access_key": {"secret": "s"}, "part_size_mb": 1}}))
            .starts_with("config.s3.part_size_mb: "));
        assert!(error(json!({"s3": {"bucket": "bkt", "access_key_id": "a", "secret_access_key": {"secret": "s"}, "prefix": "../x"}}))
            .starts_with("config.s3.prefix: "));
        assert!(error(json!({"s3": {"bucket": "bkt", "access_key_id": "a", "secret_access_key": {"secret": "s"}, "endpoint": "ftp://x"}}))
            .starts_with("config.s3.endpoint: "));
        assert!(
            error(json!({"s3": {"bucket": "bkt", "secret_access_key": {"secret": "s"}}}))
                .starts_with("config.s3.access_key_id: is required")
        );
        // A dot would make the bucket part of another host name.
        for bad in ["admin.evil", "UPPER", "ab", "-lead"] {
            assert!(
                error(json!({"s3": {"bucket": bad, "access_key_id": "a", "secret_access_key": {"secret": "s"}}}))
                    .starts_with("config.s3.bucket: must be a bucket name"),
                "{bad}"
            );
        }
        assert!(
            S3Settings::parse(&json!({"s3": {"bucket": "logs.2026", "path_style": true,
            "access_key_id": "a", "secret_access_key": {"secret": "s"}}}))
            .is_ok()
        );
    }
}
