//! OAuth 2.0's refresh-token flow for http destinations (Salesforce's
//! connected apps, and any API that issues access tokens that way): a token
//! is asked for when a run starts and again, once, when the API answers 401
//! for a request sent with the current token; every request of the run's
//! threads then carries the new one.

use super::config::OAuthSettings;
use super::secrets::Secrets;
use crate::error::{Error, Result, SqlState};
use serde_json::Value;

/// The current access token, the base URL the token answer named, and a
/// count of tokens asked for (to tell a request sent with an old token).
#[derive(Debug)]
pub struct OAuthState {
    pub settings: OAuthSettings,
    client_secret: String,
    refresh_token: String,
    pub access_token: String,
    pub base_url: Option<String>,
    pub generation: u64,
}

impl OAuthState {
    pub fn new(
        settings: OAuthSettings,
        client_secret: String,
        refresh_token: String,
    ) -> OAuthState {
        OAuthState {
            settings,
            client_secret,
            refresh_token,
            access_token: String::new(),
            base_url: None,
            generation: 0,
        }
    }

    /// The values to mask wherever they could appear.
    pub fn secret_values(&self) -> Vec<String> {
        vec![
            self.client_secret.clone(),
            self.refresh_token.clone(),
            self.access_token.clone(),
        ]
    }

    /// Ask the token endpoint for a new access token.
    pub fn refresh(&mut self, agent: &ureq::Agent, allowed_hosts: &str) -> Result<()> {
        super::config::check_host(
            "config.oauth.token_url",
            &self.settings.token_url,
            allowed_hosts,
        )?;
        let secrets = Secrets::new(self.secret_values());
        let failed = |text: String| {
            Error::new(
                SqlState::Other(*b"08006"),
                format!(
                    "oauth: no access token from {}: {}",
                    self.settings.token_url,
                    secrets.scrub(&text)
                ),
            )
        };
        let answer = agent.post(self.settings.token_url.as_str()).send_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &self.settings.client_id),
            ("client_secret", &self.client_secret),
            ("refresh_token", &self.refresh_token),
        ]);
        let body = match answer {
            Ok(response) => response.into_string().map_err(|e| failed(e.to_string()))?,
            Err(ureq::Error::Status(status, response)) => {
                let body = response.into_string().unwrap_or_default();
                return Err(failed(format!(
                    "HTTP {status}: {}",
                    body.chars().take(300).collect::<String>()
                )));
            }
            Err(error) => return Err(failed(error.to_string())),
        };
        let document: Value =
            serde_json::from_str(&body).map_err(|_| failed("the answer is not JSON".into()))?;
        let token = document
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| super::config::header_value_ok(t) && !t.is_empty())
            .ok_or_else(|| failed("the answer has no access_token".into()))?;
        self.access_token = token.to_string();
        if let Some(key) = &self.settings.base_url_from {
            let base = document
                .get(key)
                .and_then(Value::as_str)
                .and_then(|u| url::Url::parse(u).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| failed(format!("the answer has no URL in \"{key}\"")))?;
            // The base URL comes from the answer: it must be allowed too.
            super::config::check_host(&format!("the token answer's {key}"), &base, allowed_hosts)?;
            self.base_url = Some(base.as_str().trim_end_matches('/').to_string());
        }
        self.generation += 1;
        Ok(())
    }
}
