//! A connection to another PostgreSQL server, owned by a thread of its
//! own: the run's main thread hands it work and waits on the answer in
//! short steps, so a cancel, a terminate or the run's time limit is
//! honoured while the remote server works (the remote statement is
//! cancelled), and no thread but the main one calls into this server.

use super::settings::{RemoteSettings, SslMode};
use crate::destinations::http::config::{address_listed, host_allowed, is_link_local_or_metadata};
use crate::destinations::http::secrets::Secrets;
use crate::destinations::{interruption, Deadline};
use crate::error::{Error, Result, SqlState};
use postgres::{CancelToken, Client, Config};
use rustls::pki_types::pem::PemObject;
use std::any::Any;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

type Work = Box<dyn FnOnce(&mut Client) -> Box<dyn Any + Send> + Send>;
type Answer = Box<dyn Any + Send>;

/// How long a cancelled remote statement may take to end before the
/// connection is given up.
const CANCEL_GRACE: Duration = Duration::from_secs(10);
const STEP: Duration = Duration::from_millis(20);

pub struct RemoteConnection {
    work: Option<mpsc::Sender<Work>>,
    answers: mpsc::Receiver<Answer>,
    cancel: CancelToken,
    tls: Tls,
    secrets: Secrets,
    /// A statement was interrupted and did not end: the connection is not
    /// used again.
    broken: bool,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone)]
enum Tls {
    Off,
    On(MakeRustlsConnect),
}

/// What work on the connection can fail with: the server (or the
/// connection) or writing a COPY stream.
#[derive(Debug)]
pub enum JobError {
    Remote(postgres::Error),
    Io(std::io::Error),
}

impl From<postgres::Error> for JobError {
    fn from(error: postgres::Error) -> Self {
        JobError::Remote(error)
    }
}

impl From<std::io::Error> for JobError {
    fn from(error: std::io::Error) -> Self {
        JobError::Io(error)
    }
}

impl JobError {
    pub fn code(&self) -> Option<&str> {
        match self {
            JobError::Remote(error) => error.code().map(|c| c.code()),
            JobError::Io(_) => None,
        }
    }
}

/// A failure of the remote server or the network, as an error of the run.
/// The server's own errors keep their SQLSTATE; a lost connection, a
/// timeout or a refused connection are 08006 (the run ends incomplete).
pub fn remote_error(error: &postgres::Error, secrets: &Secrets) -> Error {
    match error.as_db_error() {
        // The server shutting down, out of resources, or cancelling the
        // statement (its statement_timeout): the destination is unavailable
        // (the run ends incomplete), whatever the server's own code.
        Some(db) if crate::destinations::is_interruption(db.code().code()) => Error::new(
            SqlState::Other(*b"08006"),
            format!(
                "remote server: {} ({})",
                secrets.scrub(db.message()),
                db.code().code()
            ),
        ),
        Some(db) => {
            let mut code = [b'X'; 5];
            for (slot, byte) in code.iter_mut().zip(db.code().code().bytes()) {
                *slot = byte;
            }
            let mut converted = Error::new(SqlState::Other(code), secrets.scrub(db.message()));
            if let Some(detail) = db.detail() {
                converted = converted.with_detail(secrets.scrub(detail));
            }
            converted
        }
        None => Error::new(
            SqlState::Other(*b"08006"),
            format!("remote server: {}", secrets.scrub(&full_message(error))),
        ),
    }
}

/// An error with its causes ("invalid configuration: password missing").
fn full_message(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    message
}

/// The address to connect to: the host resolved once, checked against
/// `reverse_etl.postgres_allowed_hosts` by name and, after resolution,
/// refused if link-local or a metadata address (unless listed literally).
pub fn resolve_host(field: &str, settings: &RemoteSettings, allow_list: &str) -> Result<IpAddr> {
    if !host_allowed(&settings.host, Some(settings.port), allow_list) {
        return Err(Error::new(
            SqlState::InsufficientPrivilege,
            format!(
                "{field}: host \"{}:{}\" is not in reverse_etl.postgres_allowed_hosts",
                settings.host, settings.port
            ),
        )
        .with_hint("an admin can allow it: ALTER SYSTEM SET reverse_etl.postgres_allowed_hosts = 'db.internal'; SELECT pg_reload_conf()"));
    }
    let addresses: Vec<IpAddr> = (settings.host.as_str(), settings.port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::new(
                SqlState::Other(*b"08001"),
                format!("{field}: cannot resolve \"{}\": {e}", settings.host),
            )
        })?
        .map(|a| a.ip())
        .collect();
    addresses
        .iter()
        .copied()
        .find(|a| !is_link_local_or_metadata(a) || address_listed(a, allow_list))
        .ok_or_else(|| {
            Error::new(
                SqlState::InsufficientPrivilege,
                format!(
                    "{field}: \"{}\" resolves to a link-local or metadata address, which reverse_etl.postgres_allowed_hosts must list literally",
                    settings.host
                ),
            )
        })
}

fn tls(settings: &RemoteSettings) -> Result<Tls> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(SqlState::InternalError, format!("TLS: {e}")))?;
    let config = match settings.sslmode {
        SslMode::Disable => return Ok(Tls::Off),
        SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification))
            .with_no_client_auth(),
        SslMode::VerifyFull => {
            let mut roots = rustls::RootCertStore::empty();
            match &settings.root_certificate {
                Some(pem) => {
                    for certificate in
                        rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
                    {
                        let certificate = certificate.map_err(|_| {
                            Error::invalid(
                                "config.connection.root_certificate",
                                "is not a readable PEM certificate",
                            )
                        })?;
                        roots
                            .add(certificate)
                            .map_err(|e| Error::invalid("config.connection.root_certificate", e))?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Tls::On(MakeRustlsConnect::new(config)))
}

/// sslmode "require": encrypted, the certificate not checked (as libpq).
#[derive(Debug)]
struct NoVerification;

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn config(settings: &RemoteSettings, address: IpAddr, password: Option<&str>) -> Config {
    let mut config = Config::new();
    config
        .host(&settings.host)
        .hostaddr(address)
        .port(settings.port)
        .dbname(&settings.dbname)
        .user(&settings.user)
        .application_name("pg_reverse_etl")
        .connect_timeout(settings.connect_timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .ssl_mode(match settings.sslmode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            _ => postgres::config::SslMode::Require,
        })
        // Values travel as text: the remote reads them with the settings
        // the local server wrote them in, whatever its own defaults.
        .options(&format!(
            "-c statement_timeout={} -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c client_encoding=UTF8",
            settings.statement_timeout.as_millis()
        ));
    if let Some(password) = password {
        config.password(password);
    }
    config
}

fn connect(config: &Config, tls: &Tls) -> std::result::Result<Client, postgres::Error> {
    match tls {
        Tls::Off => config.connect(postgres::NoTls),
        Tls::On(tls) => config.connect(tls.clone()),
    }
}

impl RemoteConnection {
    /// Connect, waiting as the run waits (interruptible). A role that is
    /// not a superuser must give a password and the server must ask for it:
    /// a server that lets the connection in without one (trust, peer) would
    /// let a user act as a role they could not log in as, so it is refused.
    pub fn open(
        settings: &RemoteSettings,
        password: Option<String>,
        password_required: bool,
        deadline: &Deadline,
    ) -> Result<RemoteConnection> {
        let address = resolve_host(
            "connection.host",
            settings,
            &crate::gucs::postgres_allowed_hosts(),
        )?;
        let tls = tls(settings)?;
        let secrets = Secrets::new(password.iter().cloned().collect());
        if password_required && password.is_none() {
            return Err(Error::invalid(
                "config.connection.password",
                "is required: only a superuser's destinations may connect without a password",
            ));
        }
        let (opened_sender, opened) = mpsc::channel();
        let (work_sender, work) = mpsc::channel::<Work>();
        let (answer_sender, answers) = mpsc::channel::<Answer>();
        let probe = password_required.then(|| config(settings, address, None));
        let real = config(settings, address, password.as_deref());
        let thread_tls = tls.clone();
        let thread_secrets = secrets.clone();
        let thread = std::thread::Builder::new()
            .name("pg_reverse_etl remote".into())
            .spawn(move || {
                if let Some(probe) = probe {
                    match connect(&probe, &thread_tls) {
                        Ok(_) => {
                            let _ = opened_sender.send(Err(Error::new(
                                SqlState::InsufficientPrivilege,
                                "config.connection: the server accepted the connection without a password; only a superuser's destinations may use a server that does not ask for one",
                            )));
                            return;
                        }
                        // Asked for a password: as required.
                        Err(error)
                            if error.as_db_error().is_none()
                                && full_message(&error) == "invalid configuration: password missing" => {}
                        Err(error) => {
                            let _ = opened_sender.send(Err(remote_error(&error, &thread_secrets)));
                            return;
                        }
                    }
                }
                let mut client = match connect(&real, &thread_tls) {
                    Ok(client) => client,
                    Err(error) => {
                        let _ = opened_sender.send(Err(remote_error(&error, &thread_secrets)));
                        return;
                    }
                };
                if opened_sender.send(Ok(client.cancel_token())).is_err() {
                    return;
                }
                while let Ok(job) = work.recv() {
                    if answer_sender.send(job(&mut client)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| Error::new(SqlState::InternalError, format!("remote connection thread: {e}")))?;
        let cancel = loop {
            if let Some(reason) = interruption(deadline) {
                // The thread ends on its own once connected or timed out.
                return Err(reason);
            }
            match opened.recv_timeout(STEP) {
                Ok(Ok(cancel)) => break cancel,
                Ok(Err(error)) => {
                    let _ = thread.join();
                    return Err(error);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::new(
                        SqlState::Other(*b"08006"),
                        "remote server: the connection ended while it was made",
                    ))
                }
            }
        };
        Ok(RemoteConnection {
            work: Some(work_sender),
            answers,
            cancel,
            tls,
            secrets,
            broken: false,
            thread: Some(thread),
        })
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Run `job` on the connection and wait for it as the run waits: if the
    /// run is cancelled or out of time meanwhile, the remote statement is
    /// cancelled and that is the error.
    pub fn call<R: Send + 'static>(
        &mut self,
        deadline: &Deadline,
        job: impl FnOnce(&mut Client) -> std::result::Result<R, JobError> + Send + 'static,
    ) -> Result<R> {
        if self.broken {
            return Err(Error::new(
                SqlState::Other(*b"08006"),
                "remote server: the connection was given up after an interrupted statement",
            ));
        }
        let secrets = self.secrets.clone();
        let work: Work = Box::new(move |client: &mut Client| {
            Box::new(job(client).map_err(|e| match e {
                JobError::Remote(e) => remote_error(&e, &secrets),
                JobError::Io(e) => Error::new(
                    SqlState::Other(*b"08006"),
                    format!("remote server: {}", secrets.scrub(&e.to_string())),
                ),
            })) as Answer
        });
        let Some(sender) = self.work.as_ref() else {
            return Err(Error::new(
                SqlState::Other(*b"08006"),
                "remote server: not connected",
            ));
        };
        sender.send(work).map_err(|_| {
            Error::new(
                SqlState::Other(*b"08006"),
                "remote server: the connection ended",
            )
        })?;
        loop {
            if let Some(reason) = interruption(deadline) {
                let _ = match &self.tls {
                    Tls::Off => self.cancel.cancel_query(postgres::NoTls),
                    Tls::On(tls) => self.cancel.cancel_query(tls.clone()),
                };
                if self.answers.recv_timeout(CANCEL_GRACE).is_err() {
                    self.broken = true;
                }
                return Err(reason);
            }
            match self.answers.recv_timeout(STEP) {
                Ok(answer) => {
                    return match answer.downcast::<Result<R>>() {
                        Ok(result) => *result,
                        Err(_) => Err(Error::new(
                            SqlState::InternalError,
                            "remote connection: an answer of the wrong type",
                        )),
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::new(
                        SqlState::Other(*b"08006"),
                        "remote server: the connection ended",
                    ))
                }
            }
        }
    }
}

impl Drop for RemoteConnection {
    fn drop(&mut self) {
        // Closing the work channel ends the thread, which closes the
        // connection; a thread stuck on a dead server is left to its timeouts.
        self.work = None;
        if !self.broken {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}
