//! A `postgres` destination on another server: its `connection` settings
//! (pure: parsing and checking, no network) and the COPY text of a row.

use crate::config::json::{secret_reference, ObjectReader};
use crate::error::{Error, Result};
use serde_json::Value;
use std::time::Duration;

pub const CONNECTION_KEYS: &[&str] = &[
    "host",
    "port",
    "dbname",
    "user",
    "password",
    "sslmode",
    "root_certificate",
    "connect_timeout_ms",
    "statement_timeout_ms",
];

const SSL_MODES: &[&str] = &["disable", "require", "verify-full"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS (a server on a private network or loopback).
    Disable,
    /// TLS without checking the server's certificate (libpq's `require`).
    Require,
    /// TLS, the certificate checked against the root certificate (or the
    /// public roots) and the host name.
    VerifyFull,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSettings {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    /// The name of the owner's secret holding the password.
    pub password_secret: Option<String>,
    pub sslmode: SslMode,
    /// PEM text of the CA that signed the server's certificate.
    pub root_certificate: Option<String>,
    pub connect_timeout: Duration,
    /// Set as the remote session's statement_timeout: a statement waiting
    /// on the remote server's locks never holds a run for longer.
    pub statement_timeout: Duration,
}

impl RemoteSettings {
    /// The `connection` object of a destination config, if it has one.
    pub fn parse(config: &Value) -> Result<Option<RemoteSettings>> {
        let Some(value) = config.get("connection") else {
            return Ok(None);
        };
        let reader = ObjectReader::new("config.connection", value)?;
        reader.deny_unknown(CONNECTION_KEYS)?;
        let host = reader.required_string("host")?;
        if host.is_empty() || host.contains(['/', ',', ' ']) {
            return Err(Error::invalid(
                "config.connection.host",
                "must be one host name or IP address",
            ));
        }
        let port = match reader.integer("port")? {
            None => 5432,
            Some(port) => u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
                Error::invalid("config.connection.port", "must be between 1 and 65535")
            })?,
        };
        let dbname = reader.required_string("dbname")?;
        let user = reader.required_string("user")?;
        let password_secret = reader
            .value("password")
            .map(|value| secret_reference("config.connection.password", value))
            .transpose()?;
        let sslmode = match reader.string("sslmode")?.as_deref() {
            None | Some("verify-full") => SslMode::VerifyFull,
            Some("require") => SslMode::Require,
            Some("disable") => SslMode::Disable,
            Some(other) => {
                return Err(Error::invalid(
                    "config.connection.sslmode",
                    format!(
                        "unknown sslmode \"{other}\" (expected one of: {})",
                        SSL_MODES.join(", ")
                    ),
                ))
            }
        };
        let root_certificate = reader.string("root_certificate")?;
        if let Some(pem) = &root_certificate {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(Error::invalid(
                    "config.connection.root_certificate",
                    "must be a PEM certificate (-----BEGIN CERTIFICATE----- …)",
                ));
            }
            if sslmode != SslMode::VerifyFull {
                return Err(Error::invalid(
                    "config.connection.root_certificate",
                    "is only used with sslmode \"verify-full\"",
                ));
            }
        }
        let milliseconds = |key: &str, default: u64, most: i64| -> Result<Duration> {
            match reader.integer(key)? {
                None => Ok(Duration::from_millis(default)),
                Some(ms) if (1..=most).contains(&ms) => Ok(Duration::from_millis(ms as u64)),
                Some(_) => Err(Error::invalid(
                    &format!("config.connection.{key}"),
                    format!("must be between 1 and {most} (milliseconds)"),
                )),
            }
        };
        Ok(Some(RemoteSettings {
            host,
            port,
            dbname,
            user,
            password_secret,
            sslmode,
            root_certificate,
            // A connection is also made in users' sessions (create_sync):
            // never a long wait there.
            connect_timeout: milliseconds("connect_timeout_ms", 10_000, 60_000)?,
            statement_timeout: milliseconds("statement_timeout_ms", 300_000, 86_400_000)?,
        }))
    }
}

/// One field of COPY's text format: `\N` for NULL, and backslash, newline,
/// carriage return and tab escaped.
pub fn copy_field(value: Option<&str>, out: &mut String) {
    let Some(value) = value else {
        out.push_str("\\N");
        return;
    };
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(config: Value) -> String {
        RemoteSettings::parse(&config).unwrap_err().message
    }

    #[test]
    fn connections_are_read_with_defaults_and_named_errors() {
        assert_eq!(RemoteSettings::parse(&json!({})).unwrap(), None);
        let settings = RemoteSettings::parse(&json!({"connection": {
            "host": "db.internal", "dbname": "app", "user": "sync",
            "password": {"secret": "app_pw"}}}))
        .unwrap()
        .unwrap();
        assert_eq!(settings.port, 5432);
        assert_eq!(settings.sslmode, SslMode::VerifyFull);
        assert_eq!(settings.password_secret.as_deref(), Some("app_pw"));
        assert_eq!(settings.statement_timeout, Duration::from_secs(300));
        assert!(error(json!({"connection": {"dbname": "a", "user": "u"}}))
            .starts_with("config.connection.host: "));
        assert!(error(
            json!({"connection": {"host": "h", "dbname": "a", "user": "u", "password": "hunter2"}})
        )
        .starts_with("config.connection.password: must be {\"secret\""));
        assert!(error(
            json!({"connection": {"host": "h", "dbname": "a", "user": "u", "port": 70000}})
        )
        .starts_with("config.connection.port: "));
        assert!(error(
            json!({"connection": {"host": "h", "dbname": "a", "user": "u", "sslmode": "prefer"}})
        )
        .starts_with("config.connection.sslmode: unknown sslmode \"prefer\""));
        assert!(error(
            json!({"connection": {"host": "h", "dbname": "a", "user": "u", "passwd": "x"}})
        )
        .contains("passwd"));
        assert!(error(json!({"connection": {"host": "h", "dbname": "a", "user": "u", "connect_timeout_ms": 86400000}}))
            .starts_with("config.connection.connect_timeout_ms: must be between 1 and 60000"));
        assert!(error(
            json!({"connection": {"host": "h", "dbname": "a", "user": "u",
            "sslmode": "disable", "root_certificate": "-----BEGIN CERTIFICATE-----"}})
        )
        .starts_with("config.connection.root_certificate: is only used"));
    }

    #[test]
    fn copy_text_escapes_what_copy_reads_specially() {
        let mut out = String::new();
        copy_field(Some("a\\b\tc\nd\re"), &mut out);
        out.push('\t');
        copy_field(None, &mut out);
        out.push('\t');
        copy_field(Some(""), &mut out);
        assert_eq!(out, "a\\\\b\\tc\\nd\\re\t\\N\t");
    }
}
