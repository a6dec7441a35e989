//! The `http` destination's configuration: connection settings (on the
//! destination) and per-operation requests (on the sync). Pure parsing and
//! validation.

use crate::config::json::ObjectReader;
use crate::error::{Error, Result, SqlState};
use serde_json::Value;
use std::time::Duration;

pub const DESTINATION_KEYS: &[&str] = &[
    "url",
    "headers",
    "concurrency",
    "rate_limit",
    "timeout_ms",
    "retry",
    "oauth",
];

/// OAuth 2.0's refresh-token flow: an access token is asked for when a run
/// starts and again when the API answers 401; it is sent as a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    pub token_url: url::Url,
    pub client_id: String,
    /// Secret names.
    pub client_secret: String,
    pub refresh_token: String,
    /// A key of the token answer holding the API's base URL (Salesforce's
    /// `instance_url`), used instead of `url`.
    pub base_url_from: Option<String>,
}
/// Sync config keys of this kind.
pub const SYNC_KEYS: &[&str] = &["requests", "record_errors", "list", "audience_size"];
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Plain(String),
    /// The value of the named secret (set with set_secret), after a plain
    /// prefix (`Bearer `) when the secret holds the token alone, or as the
    /// password of HTTP Basic authentication for `basic_user`.
    Secret {
        name: String,
        prefix: String,
        basic_user: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub on_status: Vec<u16>,
    /// An API that says "slow down" with another status than 429 (Meta's
    /// error codes 4, 17, 80003 under a 400): an answer whose JSON has one
    /// of these values at this dotted path is waited out like a 429.
    pub throttled_when: Option<(String, Vec<Value>)>,
    /// An API that says "no more today" (Salesforce's REQUEST_LIMIT_EXCEEDED,
    /// HubSpot's daily limit): the destination counts as down, the run
    /// stops and ends incomplete, the next run resumes.
    pub unavailable_when: Option<(String, Vec<Value>)>,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            on_status: vec![429, 500, 502, 503, 504],
            throttled_when: None,
            unavailable_when: None,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConnection {
    pub url: url::Url,
    pub headers: Vec<(String, HeaderValue)>,
    pub concurrency: usize,
    pub requests_per_second: Option<f64>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub oauth: Option<OAuthSettings>,
}

impl HttpConnection {
    pub fn parse(document: &Value) -> Result<HttpConnection> {
        let reader = ObjectReader::new("config", document)?;
        reader.deny_unknown(DESTINATION_KEYS)?;
        let url_text = reader.required_string("url")?;
        let url = url::Url::parse(&url_text).map_err(|e| {
            Error::invalid(
                "config.url",
                format!("\"{url_text}\" is not a valid URL: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid(
                "config.url",
                format!("scheme \"{}\" is not http or https", url.scheme()),
            ));
        }
        if url.host_str().is_none() {
            return Err(Error::invalid("config.url", "has no host"));
        }
        let mut headers = Vec::new();
        if reader.object("headers")?.is_some() {
            let path = reader.field_path("headers");
            if let Some(Value::Object(map)) = reader.value("headers") {
                for (name, value) in map {
                    let field = format!("{path}.{name}");
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                    {
                        return Err(Error::invalid(&field, "is not a valid header name"));
                    }
                    let header = match value {
                        Value::String(s) => HeaderValue::Plain(s.clone()),
                        Value::Object(_) => {
                            let secret = ObjectReader::new(&field, value)?;
                            secret.deny_unknown(&["secret", "prefix", "basic_user"])?;
                            HeaderValue::Secret {
                                name: secret.required_string("secret")?,
                                prefix: secret.string("prefix")?.unwrap_or_default(),
                                basic_user: secret.string("basic_user")?,
                            }
                        }
                        _ => {
                            return Err(Error::invalid(
                                &field,
                                "must be a string or {\"secret\": <name>} (optionally with \"prefix\", e.g. \"Bearer \")",
                            ))
                        }
                    };
                    headers.push((name.clone(), header));
                }
            }
        }
        let concurrency = reader.integer("concurrency")?.unwrap_or(4);
        if !(1..=64).contains(&concurrency) {
            return Err(Error::invalid(
                "config.concurrency",
                format!("must be between 1 and 64, not {concurrency}"),
            ));
        }
        let requests_per_second = match reader.object("rate_limit")? {
            None => None,
            Some(limit) => {
                limit.deny_unknown(&["requests_per_second"])?;
                let field = limit.field_path("requests_per_second");
                let rps = match limit.value("requests_per_second") {
                    Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
                    Some(_) => return Err(Error::invalid(&field, "must be a number")),
                    None => return Err(Error::invalid(&field, "is required")),
                };
                if !(0.01..=100_000.0).contains(&rps) {
                    return Err(Error::invalid(
                        &field,
                        format!("must be between 0.01 and 100000, not {rps}"),
                    ));
                }
                Some(rps)
            }
        };
        let timeout_ms = reader.integer("timeout_ms")?.unwrap_or(10_000);
        if !(1..=300_000).contains(&timeout_ms) {
            return Err(Error::invalid(
                "config.timeout_ms",
                format!("must be between 1 and 300000, not {timeout_ms}"),
            ));
        }
        let mut retry = RetryPolicy::default();
        if let Some(policy) = reader.object("retry")? {
            policy.deny_unknown(&[
                "max_attempts",
                "on_status",
                "initial_backoff_ms",
                "max_backoff_ms",
                "throttled_when",
                "unavailable_when",
            ])?;
            retry.throttled_when = body_rule(&policy, "throttled_when", "slow down")?;
            retry.unavailable_when = body_rule(&policy, "unavailable_when", "no more for now")?;
            if let Some(n) = policy.integer("max_attempts")? {
                if !(1..=100).contains(&n) {
                    return Err(Error::invalid(
                        &policy.field_path("max_attempts"),
                        format!("must be between 1 and 100, not {n}"),
                    ));
                }
                retry.max_attempts = n as u32;
            }
            if let Some(codes) = policy.array("on_status")? {
                retry.on_status = codes
                    .iter()
                    .map(|c| {
                        c.as_u64()
                            .filter(|c| (100..=599).contains(c))
                            .map(|c| c as u16)
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        Error::invalid(
                            &policy.field_path("on_status"),
                            "must be a list of HTTP status codes",
                        )
                    })?;
            }
            if let Some(ms) = policy.integer("initial_backoff_ms")? {
                if !(1..=600_000).contains(&ms) {
                    return Err(Error::invalid(
                        &policy.field_path("initial_backoff_ms"),
                        "must be between 1 and 600000",
                    ));
                }
                retry.initial_backoff = Duration::from_millis(ms as u64);
            }
            if let Some(ms) = policy.integer("max_backoff_ms")? {
                if !(1..=3_600_000).contains(&ms) {
                    return Err(Error::invalid(
                        &policy.field_path("max_backoff_ms"),
                        "must be between 1 and 3600000",
                    ));
                }
                retry.max_backoff = Duration::from_millis(ms as u64);
            }
        }
        let oauth = match reader.object("oauth")? {
            None => None,
            Some(oauth) => {
                oauth.deny_unknown(&[
                    "token_url",
                    "client_id",
                    "client_secret",
                    "refresh_token",
                    "base_url_from",
                ])?;
                let token_url_text = oauth.required_string("token_url")?;
                let token_url = url::Url::parse(&token_url_text)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                    .ok_or_else(|| {
                        Error::invalid(
                            &oauth.field_path("token_url"),
                            "must be an http or https URL",
                        )
                    })?;
                let secret = |key: &str| -> Result<String> {
                    let field = oauth.field_path(key);
                    match oauth.value(key) {
                        Some(value) => crate::config::json::secret_reference(&field, value),
                        None => Err(Error::invalid(&field, "is required: {\"secret\": <name>}")),
                    }
                };
                Some(OAuthSettings {
                    token_url,
                    client_id: oauth.required_string("client_id")?,
                    client_secret: secret("client_secret")?,
                    refresh_token: secret("refresh_token")?,
                    base_url_from: oauth.string("base_url_from")?,
                })
            }
        };
        Ok(HttpConnection {
            url,
            headers,
            concurrency: concurrency as usize,
            requests_per_second,
            timeout: Duration::from_millis(timeout_ms as u64),
            retry,
            oauth,
        })
    }

    pub fn secret_names(&self) -> Vec<(String, String)> {
        let mut names: Vec<(String, String)> = self
            .headers
            .iter()
            .filter_map(|(name, value)| match value {
                HeaderValue::Secret { name: secret, .. } => {
                    Some((format!("config.headers.{name}.secret"), secret.clone()))
                }
                HeaderValue::Plain(_) => None,
            })
            .collect();
        if let Some(oauth) = &self.oauth {
            names.push((
                "config.oauth.client_secret".into(),
                oauth.client_secret.clone(),
            ));
            names.push((
                "config.oauth.refresh_token".into(),
                oauth.refresh_token.clone(),
            ));
        }
        names
    }
}

/// A rule on an error answer's JSON: `{"path": <dotted path>, "values":
/// [...]}`, the values that mean `meaning`.
fn body_rule(
    policy: &ObjectReader,
    key: &str,
    meaning: &str,
) -> Result<Option<(String, Vec<Value>)>> {
    let Some(rule) = policy.object(key)? else {
        return Ok(None);
    };
    rule.deny_unknown(&["path", "values"])?;
    let values = rule.array("values")?.cloned().unwrap_or_default();
    if values.is_empty() {
        return Err(Error::invalid(
            &rule.field_path("values"),
            format!("is required: the values that mean \"{meaning}\""),
        ));
    }
    Ok(Some((rule.required_string("path")?, values)))
}

/// Whether a URL's host and port are on the admin's allow-list: comma-
/// separated entries `host` (any port), `host:port`, `[v6]:port`,
/// `*.suffix` (any host under it) or `*` (any host). Names compare without
/// case; an empty list allows nothing.
pub fn host_allowed(host: &str, port: Option<u16>, allow_list: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    allow_list
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            let (entry_host, entry_port) = split_host_port(entry);
            let port_ok = entry_port.is_none() || entry_port == port;
            let host_ok = if entry_host == "*" {
                true
            } else if let Some(suffix) = entry_host.strip_prefix("*.") {
                host.len() > suffix.len()
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            } else {
                entry_host.eq_ignore_ascii_case(host)
            };
            host_ok && port_ok
        })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, as an allow-list writes them.
fn split_host_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match entry.rsplit_once(':') {
        // One colon: host:port. More: a bare IPv6 address.
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// Whether an address is link-local or a cloud metadata service's: refused
/// after DNS resolution, whatever the name, unless the allow-list names the
/// address itself.
pub fn is_link_local_or_metadata(address: &std::net::IpAddr) -> bool {
    match address {
        std::net::IpAddr::V4(v4) => v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || *v6 == std::net::Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
        }
    }
}

/// Whether the allow-list names this address literally.
pub fn address_listed(address: &std::net::IpAddr, allow_list: &str) -> bool {
    allow_list.split(',').map(str::trim).any(|entry| {
        split_host_port(entry)
            .0
            .parse::<std::net::IpAddr>()
            .is_ok_and(|listed| listed == *address)
    })
}

/// The allow-list's check of a destination URL, with a named error.
pub fn check_host(field: &str, url: &url::Url, allow_list: &str) -> Result<()> {
    let host = url.host_str().unwrap_or_default();
    if host_allowed(host, url.port_or_known_default(), allow_list) {
        Ok(())
    } else {
        let port = url
            .port_or_known_default()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        Err(Error::new(
            SqlState::InsufficientPrivilege,
            format!("{field}: host \"{host}{port}\" is not in reverse_etl.http_allowed_hosts"),
        )
        .with_hint("an admin can allow it: ALTER SYSTEM SET reverse_etl.http_allowed_hosts = 'api.example.com'; SELECT pg_reload_conf()"))
    }
}

/// Characters an HTTP header value cannot carry (line breaks and other
/// controls): a secret holding one is refused by name, never echoed.
pub fn header_value_ok(value: &str) -> bool {
    !value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// One operation's request: method, path template and optional body
/// template; optionally a lookup sent before it and a request sent after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub method: String,
    pub path: String,
    pub body: Option<String>,
    /// Sent first for the same rows: the records it finds give the request
    /// what it needs (an API's own record ids); rows it does not find are
    /// rejected as not found.
    pub lookup: Option<LookupSpec>,
    /// Sent after the request succeeded, for the rows it did not reject
    /// (a second resource of the same record, e.g. a member's tags); a row
    /// is delivered when both succeeded.
    pub then: Option<Box<RequestSpec>>,
    /// A row for which `template` renders empty (only spaces) is not sent:
    /// it is rejected with `message` (an audience member without a usable
    /// identifier).
    pub require: Option<(String, String)>,
}

impl RequestSpec {
    /// Its template texts: path and body, its lookup's, its `then`'s and
    /// its `require`'s.
    pub fn templates(&self) -> Vec<&str> {
        let mut all = vec![self.path.as_str()];
        all.extend(self.body.as_deref());
        if let Some(lookup) = &self.lookup {
            all.extend(lookup.request.templates());
        }
        if let Some(then) = &self.then {
            all.extend(then.templates());
        }
        all.extend(self.require.as_ref().map(|(template, _)| template.as_str()));
        all
    }
}

/// A lookup request and where its answer lists what it found: `results`
/// (a dotted path to a list, "" for the answer itself), in each item the
/// match value at `key` and what the request needs at `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupSpec {
    /// Its method, path and body (no steps of its own).
    pub request: Box<RequestSpec>,
    pub results: String,
    pub key: String,
    pub value: String,
    /// Match values compare without case (an API that lower-cases emails).
    pub ignore_case: bool,
    /// A row the lookup does not find needs nothing more (a removal of a
    /// record that is gone): delivered, not rejected.
    pub not_found_is_done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequests {
    pub added: Option<RequestSpec>,
    pub changed: Option<RequestSpec>,
    pub removed: Option<RequestSpec>,
}

/// Where a batch response lists per-record failures: `{"errors": [{"index": 3, "message": "…"}]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordErrors {
    pub path: String,
    pub index: String,
    /// Where an error names its record by match value instead of position.
    pub id: Option<String>,
    /// For APIs that answer 2xx with a success flag (`{"ok": false,
    /// "error": …}`): the flag's key; the object at `path` is then the
    /// answer for every record of the request.
    pub success_flag: Option<String>,
    /// The list at `path` answers the request's records in order (one item
    /// each, Salesforce's collections); with `success_flag`, an item whose
    /// flag is false is that record's error.
    pub positional: bool,
    pub message: String,
}

pub fn parse_requests(value: Option<&Value>) -> Result<HttpRequests> {
    let Some(value) = value else {
        return Err(Error::invalid(
            "requests",
            "is required: {\"added\": {\"method\": \"POST\", \"path\": \"/contacts\"}, …}",
        ));
    };
    let reader = ObjectReader::new("requests", value)?;
    reader.deny_unknown(&["added", "changed", "removed"])?;
    let spec = |key: &str| -> Result<Option<RequestSpec>> {
        reader
            .object(key)?
            .map(|item| request_spec(&item, true))
            .transpose()
    };
    Ok(HttpRequests {
        added: spec("added")?,
        changed: spec("changed")?,
        removed: spec("removed")?,
    })
}

/// One request's method, path and body; with `steps`, its `lookup` and
/// `then` too (which have none of their own).
fn request_spec(item: &ObjectReader, steps: bool) -> Result<RequestSpec> {
    if steps {
        item.deny_unknown(&["method", "path", "body", "lookup", "then", "require"])?;
    } else {
        item.deny_unknown(&["method", "path", "body"])?;
    }
    let (method, path, body) = method_path_body(item)?;
    let lookup = match item.object("lookup")?.filter(|_| steps) {
        None => None,
        Some(lookup) => {
            lookup.deny_unknown(&[
                "method",
                "path",
                "body",
                "results",
                "key",
                "value",
                "ignore_case",
                "not_found",
            ])?;
            let not_found_is_done = match lookup.string("not_found")?.as_deref() {
                None | Some("reject") => false,
                Some("done") => true,
                Some(other) => {
                    return Err(Error::invalid(
                        &lookup.field_path("not_found"),
                        format!("\"{other}\" is not reject or done"),
                    ))
                }
            };
            let (method, path, body) = method_path_body(&lookup)?;
            Some(LookupSpec {
                request: Box::new(RequestSpec {
                    method,
                    path,
                    body,
                    lookup: None,
                    then: None,
                    require: None,
                }),
                results: lookup.string("results")?.unwrap_or_default(),
                key: lookup.required_string("key")?,
                value: lookup.required_string("value")?,
                ignore_case: lookup.boolean("ignore_case")?.unwrap_or(false),
                not_found_is_done,
            })
        }
    };
    let then = match item.object("then")?.filter(|_| steps) {
        None => None,
        Some(then) => Some(Box::new(request_spec(&then, false)?)),
    };
    let require = match item.object("require")?.filter(|_| steps) {
        None => None,
        Some(require) => {
            require.deny_unknown(&["template", "message"])?;
            Some((
                require.required_string("template")?,
                require.required_string("message")?,
            ))
        }
    };
    Ok(RequestSpec {
        method,
        path,
        body,
        lookup,
        then,
        require,
    })
}

fn method_path_body(item: &ObjectReader) -> Result<(String, String, Option<String>)> {
    let method = item.required_string("method")?.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(Error::invalid(
            &item.field_path("method"),
            format!(
                "unknown method \"{method}\" (expected one of: {})",
                METHODS.join(", ")
            ),
        ));
    }
    let path = item.string("path")?.unwrap_or_default();
    if !path.is_empty() && !path.starts_with('/') && !path.starts_with("{{") {
        return Err(Error::invalid(
            &item.field_path("path"),
            "must start with \"/\" (it is appended to the destination's url)",
        ));
    }
    Ok((method, path, item.string("body")?))
}

/// For an advertising audience: the request that asks the platform how
/// many of the audience's users it matched, and where its answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceSizeSpec {
    pub path: String,
    pub count: String,
}

pub fn parse_audience_size(value: Option<&Value>) -> Result<Option<AudienceSizeSpec>> {
    let Some(value) = value else { return Ok(None) };
    let reader = ObjectReader::new("audience_size", value)?;
    reader.deny_unknown(&["path", "count"])?;
    let path = reader.required_string("path")?;
    if !path.starts_with('/') {
        return Err(Error::invalid(
            "audience_size.path",
            "must start with \"/\" (it is appended to the destination's url)",
        ));
    }
    Ok(Some(AudienceSizeSpec {
        path,
        count: reader.required_string("count")?,
    }))
}

pub fn parse_record_errors(value: Option<&Value>) -> Result<Option<RecordErrors>> {
    let Some(value) = value else { return Ok(None) };
    let reader = ObjectReader::new("record_errors", value)?;
    reader.deny_unknown(&[
        "path",
        "index",
        "id",
        "success_flag",
        "positional",
        "message",
    ])?;
    Ok(Some(RecordErrors {
        path: reader.string("path")?.unwrap_or_default(),
        index: reader.string("index")?.unwrap_or_else(|| "index".into()),
        id: reader.string("id")?,
        success_flag: reader.string("success_flag")?,
        positional: reader.boolean("positional")?.unwrap_or(false),
        message: reader
            .string("message")?
            .unwrap_or_else(|| "message".into()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn full_connection_config() {
        let c = HttpConnection::parse(&json!({
            "url": "http://127.0.0.1:8080/api", "headers": {"Authorization": {"secret": "tok"}, "X-Team": "data"},
            "concurrency": 8, "rate_limit": {"requests_per_second": 50}, "timeout_ms": 2000,
            "retry": {"max_attempts": 3, "on_status": [429, 503]}
        }))
        .unwrap();
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.requests_per_second, Some(50.0));
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(
            c.secret_names(),
            vec![(
                "config.headers.Authorization.secret".to_string(),
                "tok".to_string()
            )]
        );
    }

    #[test]
    fn bad_connection_configs_name_the_field() {
        let cases = [
            (json!({}), "config.url: is required"),
            (
                json!({"url": "not a url"}),
                "config.url: \"not a url\" is not a valid URL",
            ),
            (json!({"url": "ftp://x"}), "config.url: scheme \"ftp\""),
            (
                json!({"url": "http://x", "concurrency": 0}),
                "config.concurrency: must be between 1 and 64, not 0",
            ),
            (
                json!({"url": "http://x", "rate_limit": {"requests_per_second": 0}}),
                "config.rate_limit.requests_per_second: must be between 0.01 and 100000",
            ),
            (
                json!({"url": "http://x", "rate_limit": {"requests_per_second": -1}}),
                "config.rate_limit.requests_per_second: must be between 0.01 and 100000",
            ),
            (
                json!({"url": "http://x", "rate_limit": {"requests_per_second": 1e-300}}),
                "config.rate_limit.requests_per_second: must be between 0.01 and 100000",
            ),
            (
                json!({"url": "http://x", "timeout_ms": 0}),
                "config.timeout_ms: must be between",
            ),
            (
                json!({"url": "http://x", "headers": {"A": 1}}),
                "config.headers.A: must be a string",
            ),
            (
                json!({"url": "http://x", "retry": {"tries": 1}}),
                "config.retry.tries: unknown key",
            ),
            (
                json!({"url": "http://x", "colour": 1}),
                "config.colour: unknown key",
            ),
        ];
        for (doc, expected) in cases {
            let e = HttpConnection::parse(&doc).unwrap_err();
            assert!(e.message.starts_with(expected), "{doc}: {}", e.message);
        }
    }

    #[test]
    fn allow_list() {
        let list = "127.0.0.1,localhost,::1";
        assert!(host_allowed("127.0.0.1", Some(80), list));
        assert!(host_allowed("[::1]", Some(8080), list));
        assert!(host_allowed("LOCALHOST", None, "localhost"));
        assert!(!host_allowed(
            "example.com",
            Some(443),
            "127.0.0.1,localhost"
        ));
        assert!(host_allowed("example.com", Some(443), "*"));
        assert!(
            !host_allowed("127.0.0.1", Some(80), ""),
            "nothing by default"
        );
        // host:port allows that port only
        assert!(host_allowed("127.0.0.1", Some(8080), "127.0.0.1:8080"));
        assert!(!host_allowed("127.0.0.1", Some(5432), "127.0.0.1:8080"));
        assert!(host_allowed("::1", Some(8080), "[::1]:8080"));
        assert!(!host_allowed("::1", Some(22), "[::1]:8080"));
        // *.suffix: hosts under it, not the suffix's look-alikes
        assert!(host_allowed("api.hubspot.com", Some(443), "*.hubspot.com"));
        assert!(host_allowed("a.b.HubSpot.com", Some(443), "*.hubspot.com"));
        assert!(!host_allowed("evilhubspot.com", Some(443), "*.hubspot.com"));
        assert!(!host_allowed("hubspot.com", Some(443), "*.hubspot.com"));
    }

    #[test]
    fn link_local_and_metadata_addresses() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(is_link_local_or_metadata(&ip("169.254.169.254")));
        assert!(is_link_local_or_metadata(&ip("fe80::1")));
        assert!(is_link_local_or_metadata(&ip("fd00:ec2::254")));
        assert!(is_link_local_or_metadata(&ip("::ffff:169.254.1.1")));
        assert!(!is_link_local_or_metadata(&ip("10.0.0.1")));
        assert!(!is_link_local_or_metadata(&ip("127.0.0.1")));
        assert!(address_listed(
            &ip("169.254.169.254"),
            "*,169.254.169.254:80"
        ));
        assert!(!address_listed(&ip("169.254.169.254"), "*"));
    }

    #[test]
    fn header_values() {
        assert!(header_value_ok("Bearer abc"));
        assert!(!header_value_ok("Bearer abc\n"));
        assert!(!header_value_ok("a\rb"));
    }

    #[test]
    fn requests() {
        let r = parse_requests(Some(
            &json!({"added": {"method": "post", "path": "/contacts"}}),
        ))
        .unwrap();
        assert_eq!(r.added.unwrap().method, "POST");
        let e =
            parse_requests(Some(&json!({"added": {"method": "FETCH", "path": "/c"}}))).unwrap_err();
        assert!(e
            .message
            .starts_with("requests.added.method: unknown method \"FETCH\""));
        assert!(parse_requests(None)
            .unwrap_err()
            .message
            .starts_with("requests: is required"));
        let e = parse_requests(Some(&json!({"upserted": {}}))).unwrap_err();
        assert!(e.message.starts_with("requests.upserted: unknown key"));
    }
}
