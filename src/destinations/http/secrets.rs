//! The secret values a destination sends, kept to scrub them from all that
//! is recorded or shown (errors of the HTTP client and TLS layer, response
//! bodies that echo a request), and the resolver that refuses link-local and
//! metadata addresses whatever name resolved to them.

use super::config::{address_listed, is_link_local_or_metadata};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// What replaces a secret's value wherever it would appear.
pub const MASK: &str = "********";

/// Shared by a run's sending threads; a secret learnt during the run (a
/// refreshed OAuth token) is added for all of them.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Arc<std::sync::RwLock<Vec<String>>>);

impl Secrets {
    pub fn new(values: Vec<String>) -> Secrets {
        let secrets = Secrets::default();
        secrets.add(values);
        secrets
    }

    pub fn add(&self, values: Vec<String>) {
        let mut known = self.0.write().unwrap_or_else(|e| e.into_inner());
        known.extend(values.into_iter().filter(|v| !v.is_empty()));
        // Longest first, so a secret that contains another is masked whole.
        known.sort_by_key(|v| std::cmp::Reverse(v.len()));
        known.dedup();
    }

    pub fn scrub(&self, text: &str) -> String {
        let known = self.0.read().unwrap_or_else(|e| e.into_inner());
        known.iter().fold(text.to_string(), |text, secret| {
            text.replace(secret.as_str(), MASK)
        })
    }
}

/// Name resolution for the sending threads: a name that resolves to a
/// link-local or cloud metadata address (169.254.0.0/16, fe80::/10,
/// fd00:ec2::254) is refused unless the allow-list names that address.
pub fn guarded_resolver(
    allow_list: String,
) -> impl Fn(&str) -> std::io::Result<Vec<SocketAddr>> + Send + Sync + 'static {
    move |netloc: &str| {
        let addresses: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        let allowed: Vec<SocketAddr> = addresses
            .iter()
            .copied()
            .filter(|a| !is_link_local_or_metadata(&a.ip()) || address_listed(&a.ip(), &allow_list))
            .collect();
        if allowed.is_empty() && !addresses.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{netloc} resolves to a link-local or metadata address, which reverse_etl.http_allowed_hosts must list literally"
                ),
            ));
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_wherever_they_appear() {
        let secrets = Secrets::new(vec!["abc".into(), "Bearer abc".into(), String::new()]);
        assert_eq!(
            secrets.scrub("header Authorization: Bearer abc\nrejected abc"),
            "header Authorization: ******** \nrejected ********".replace(" \n", "\n")
        );
        // Learnt later (a refreshed token): masked by every clone.
        let shared = secrets.clone();
        secrets.add(vec!["tok-2".into()]);
        assert_eq!(shared.scrub("Bearer tok-2"), "Bearer ********");
    }

    #[test]
    fn metadata_addresses_are_refused_unless_listed() {
        let refuse = guarded_resolver("*".into());
        assert!(refuse("169.254.169.254:80").is_err());
        assert!(refuse("127.0.0.1:80").is_ok());
        let listed = guarded_resolver("169.254.169.254".into());
        assert_eq!(listed("169.254.169.254:80").unwrap().len(), 1);
    }
}
