//! `email` channels: a plain-text message per alert event over SMTP (lettre),
//! with STARTTLS by default and the password a secret. The SMTP host must be
//! on `reverse_etl.http_allowed_hosts` too: a channel never reaches a host
//! the admin did not allow.

use super::{ChannelKind, Event};
use crate::catalog::alerts::ChannelRow;
use crate::config::json::ObjectReader;
use crate::destinations::http::config::host_allowed;
use crate::error::{Error, Result, SqlState};
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use pgrx::pg_sys;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Email;

const TIMEOUT: Duration = Duration::from_secs(10);
const SECURITY: &[&str] = &["starttls", "tls", "none"];

fn port_of(config: &Value) -> u16 {
    match config.get("port").and_then(Value::as_u64) {
        Some(port) => port as u16,
        None if security(config) == "tls" => 465,
        None => 587,
    }
}

fn security(config: &Value) -> &str {
    config
        .get("security")
        .and_then(Value::as_str)
        .unwrap_or("starttls")
}

/// A private CA (or the server's own certificate) to trust besides the
/// system's, for relays inside a company network.
fn root_certificate(pem: &str) -> Result<Certificate> {
    let refused = || {
        Error::invalid(
            "config.root_certificate",
            "must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
        )
    };
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(refused());
    }
    Certificate::from_pem(pem.as_bytes()).map_err(|_| refused())
}

fn mailbox(field: &str, text: &str) -> Result<Mailbox> {
    text.parse::<Mailbox>()
        .map_err(|e| Error::invalid(field, format!("\"{text}\" is not an email address ({e})")))
}

impl ChannelKind for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn check_config(&self, config: &Value, owner: pg_sys::Oid) -> Result<()> {
        let reader = ObjectReader::new("config", config)?;
        reader.deny_unknown(&[
            "host",
            "port",
            "security",
            "root_certificate",
            "username",
            "password",
            "from",
            "to",
        ])?;
        let host = reader.required_string("host")?;
        if let Some(port) = reader.integer("port")? {
            if !(1..=65535).contains(&port) {
                return Err(Error::invalid(
                    "config.port",
                    "must be a port number, 1 to 65535",
                ));
            }
        }
        let security = reader
            .string("security")?
            .unwrap_or_else(|| "starttls".into());
        if !SECURITY.contains(&security.as_str()) {
            return Err(Error::invalid(
                "config.security",
                format!(
                    "unknown security \"{security}\" (expected one of: {})",
                    SECURITY.join(", ")
                ),
            ));
        }
        if let Some(pem) = reader.string("root_certificate")? {
            root_certificate(&pem)?;
        }
        if !host_allowed(
            &host,
            Some(port_of(config)),
            &crate::gucs::http_allowed_hosts(),
        ) {
            return Err(Error::new(
                SqlState::InsufficientPrivilege,
                format!(
                    "config.host: host \"{host}:{}\" is not in reverse_etl.http_allowed_hosts",
                    port_of(config)
                ),
            ));
        }
        mailbox("config.from", &reader.required_string("from")?)?;
        let to = reader
            .array("to")?
            .filter(|to| !to.is_empty())
            .ok_or_else(|| Error::invalid("config.to", "needs at least one address"))?;
        for (index, address) in to.iter().enumerate() {
            let field = format!("config.to[{index}]");
            match address {
                Value::String(text) => drop(mailbox(&field, text)?),
                _ => return Err(Error::invalid(&field, "must be an email address")),
            }
        }
        match (reader.string("username")?, reader.value("password")) {
            (None, None) => {}
            (Some(_), Some(password)) => {
                let name = password
                    .get("secret")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Error::invalid(
                            "config.password",
                            "must be {\"secret\": \"<name of one of your secrets>\"}",
                        )
                    })?;
                crate::catalog::secret_value(owner, "config.password", name)?;
            }
            _ => {
                return Err(Error::invalid(
                    "config.password",
                    "\"username\" and \"password\" go together",
                ))
            }
        }
        Ok(())
    }

    fn body(&self, _config: &Value, event: &Event) -> Value {
        let subject = if event.opened() {
            format!(
                "[{}] sync {}: {}",
                event.level.to_uppercase(),
                event.sync,
                event.trigger
            )
        } else {
            format!("[RESOLVED] sync {}: {}", event.sync, event.trigger)
        };
        let text = format!(
            "{}\n\nsync: {} (id {})\ntrigger: {}\nlevel: {}\nrun: {}\nalert: {}\nat: {}\n",
            event.message,
            event.sync,
            event.sync_id,
            event.trigger,
            event.level,
            event.run_id.map_or("-".to_string(), |id| id.to_string()),
            event.alert_id,
            event.at
        );
        json!({"subject": subject, "text": text, "event": event.generic()})
    }

    fn send(
        &self,
        channel: &ChannelRow,
        id: i64,
        body: &Value,
    ) -> std::result::Result<String, String> {
        let config = &channel.config;
        let host = config
            .get("host")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let port = port_of(config);
        if !host_allowed(host, Some(port), &crate::gucs::http_allowed_hosts()) {
            return Err(format!(
                "host \"{host}:{port}\" is not in reverse_etl.http_allowed_hosts"
            ));
        }
        let text = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut message = Message::builder()
            .from(
                mailbox(
                    "from",
                    config
                        .get("from")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .map_err(|e| e.message)?,
            )
            .subject(text("subject"))
            .message_id(Some(format!("<pg_reverse_etl-{id}@{host}>")));
        for address in config
            .get("to")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let address = address.as_str().unwrap_or_default();
            message = message.to(mailbox("to", address).map_err(|e| e.message)?);
        }
        let message = message
            .header(ContentType::TEXT_PLAIN)
            .body(text("text"))
            .map_err(|e| e.to_string())?;
        let tls = match security(config) {
            "none" => Tls::None,
            mode => {
                let mut parameters = TlsParameters::builder(host.to_string());
                if let Some(pem) = config.get("root_certificate").and_then(Value::as_str) {
                    parameters = parameters
                        .add_root_certificate(root_certificate(pem).map_err(|e| e.message)?);
                }
                let parameters = parameters.build().map_err(|e| e.to_string())?;
                if mode == "tls" {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        let mut transport = SmtpTransport::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(TIMEOUT));
        if let (Some(username), Some(secret)) = (
            config.get("username").and_then(Value::as_str),
            config
                .get("password")
                .and_then(|p| p.get("secret"))
                .and_then(Value::as_str),
        ) {
            let password = crate::catalog::secret_value(channel.owner, "password", secret)
                .map_err(|e| e.message)?;
            transport = transport.credentials(Credentials::new(username.to_string(), password));
        }
        transport
            .build()
            .send(&message)
            .map(|response| format!("SMTP {}", response.code()))
            .map_err(|e| e.to_string())
    }
}
