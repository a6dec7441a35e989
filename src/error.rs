//! Errors as values. Pure code returns `Error`; only the SQL-facing layer turns
//! one into a PostgreSQL ERROR (see `api::raise`).

use std::fmt;

/// SQLSTATE codes this extension raises, named as in the PostgreSQL manual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlState {
    InvalidParameterValue,
    UndefinedObject,
    DuplicateObject,
    UndefinedTable,
    UndefinedColumn,
    InvalidColumnReference,
    FeatureNotSupported,
    ObjectNotInPrerequisiteState,
    InsufficientPrivilege,
    SyntaxError,
    /// No background worker slot free (53000).
    InsufficientResources,
    InternalError,
    /// Any code reported by PostgreSQL itself, kept verbatim.
    Other([u8; 5]),
}

impl SqlState {
    pub fn code(&self) -> &str {
        match self {
            SqlState::InvalidParameterValue => "22023",
            SqlState::UndefinedObject => "42704",
            SqlState::DuplicateObject => "42710",
            SqlState::UndefinedTable => "42P01",
            SqlState::UndefinedColumn => "42703",
            SqlState::InvalidColumnReference => "42P10",
            SqlState::FeatureNotSupported => "0A000",
            SqlState::ObjectNotInPrerequisiteState => "55000",
            SqlState::InsufficientPrivilege => "42501",
            SqlState::SyntaxError => "42601",
            SqlState::InsufficientResources => "53000",
            SqlState::InternalError => "XX000",
            SqlState::Other(code) => std::str::from_utf8(code).unwrap_or("XX000"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub state: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(state: SqlState, message: impl Into<String>) -> Self {
        Error {
            state,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// A bad value in a configuration document or argument; `field` is the path
    /// a user would look for (`mappings[2].from`).
    pub fn invalid(field: &str, message: impl fmt::Display) -> Self {
        Error::new(
            SqlState::InvalidParameterValue,
            format!("{field}: {message}"),
        )
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The server had no background worker slot for a run: try again later.
    pub fn is_out_of_workers(&self) -> bool {
        self.state == SqlState::InsufficientResources
    }

    /// Prefix the message with where it happened, keeping code, detail and hint.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
