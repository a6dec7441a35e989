#![allow(dead_code)]
//! An SMTP server on loopback that accepts every message and keeps it: the
//! receiving end of email alert channels. It speaks plain SMTP, offers
//! STARTTLS, or wraps the whole session in TLS (like port 465), on a
//! self-signed certificate made when it starts; like real servers, it offers
//! AUTH only once the session is encrypted (or always, when plain).

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as received (dot-stuffing undone).
    pub data: String,
    /// Whether the session was encrypted when the message was sent.
    pub encrypted: bool,
    /// What the client sent with AUTH PLAIN, decoded ("user\0password").
    pub credentials: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    Plain,
    StartTls,
    Wrapper,
}

pub struct SmtpSink {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    /// The certificate as PEM, for the client's `root_certificate`.
    pub certificate_pem: String,
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        SmtpSink::start_with(Security::Plain)
    }

    pub fn start_with(security: Security) -> SmtpSink {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        let certificate_pem = certified.cert.pem();
        let tls = Arc::new(
            ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(
                    vec![CertificateDer::from(certified.cert.der().to_vec())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                        certified.key_pair.serialize_der(),
                    )),
                )
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&mails);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = Arc::clone(&kept);
                let tls = Arc::clone(&tls);
                thread::spawn(move || {
                    let _ = serve(stream, security, tls, &kept);
                });
            }
        });
        SmtpSink {
            port,
            mails,
            certificate_pem,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn encrypt(stream: Box<dyn Stream>, tls: &Arc<ServerConfig>) -> std::io::Result<Box<dyn Stream>> {
    let connection = ServerConnection::new(Arc::clone(tls)).map_err(std::io::Error::other)?;
    Ok(Box::new(StreamOwned::new(connection, stream)))
}

fn serve(
    tcp: TcpStream,
    security: Security,
    tls: Arc<ServerConfig>,
    mails: &Mutex<Vec<Mail>>,
) -> std::io::Result<()> {
    let mut encrypted = security == Security::Wrapper;
    let mut stream: Box<dyn Stream> = Box::new(tcp);
    if encrypted {
        stream = encrypt(stream, &tls)?;
    }
    stream.write_all(b"220 sink ESMTP\r\n")?;
    loop {
        match session(stream, security, encrypted, mails)? {
            Some(plain) => {
                stream = encrypt(plain, &tls)?;
                encrypted = true;
            }
            None => return Ok(()),
        }
    }
}

/// Serves commands until QUIT or the end of the connection (None), or until
/// the client asked for STARTTLS (the stream, to be encrypted).
fn session(
    stream: Box<dyn Stream>,
    security: Security,
    encrypted: bool,
    mails: &Mutex<Vec<Mail>>,
) -> std::io::Result<Option<Box<dyn Stream>>> {
    let mut reader = BufReader::new(stream);
    let mut mail = Mail::default();
    let mut credentials = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let mut reply = String::from("250-sink\r\n");
            if security == Security::StartTls && !encrypted {
                reply.push_str("250-STARTTLS\r\n");
            }
            if encrypted || security == Security::Plain {
                reply.push_str("250-AUTH PLAIN\r\n");
            }
            reply.push_str("250 8BITMIME\r\n");
            reader.get_mut().write_all(reply.as_bytes())?;
            continue;
        } else if upper == "STARTTLS" && security == Security::StartTls && !encrypted {
            reader.get_mut().write_all(b"220 go ahead\r\n")?;
            return Ok(Some(reader.into_inner()));
        } else if upper.starts_with("AUTH PLAIN ") {
            credentials = Some(decode_base64(command[11..].trim()));
            b"235 ok\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail = Mail {
                from: command[10..].trim().to_string(),
                encrypted,
                credentials: credentials.clone(),
                ..Mail::default()
            };
            b"250 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(command[8..].trim().to_string());
            b"250 ok\r\n"
        } else if upper == "DATA" {
            reader.get_mut().write_all(b"354 go on\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(None);
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            mail.data = data;
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            reader.get_mut().write_all(b"221 bye\r\n")?;
            return Ok(None);
        } else {
            b"250 ok\r\n"
        };
        reader.get_mut().write_all(reply)?;
    }
}

fn decode_base64(text: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}
