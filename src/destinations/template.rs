//! Request templates in Liquid (the convention of reverse-ETL tools):
//! `/contacts/{{ row.email }}`, `{"name": "{{ row.first }} {{ row.last }}"}`.

use crate::error::{Error, Result, SqlState};
use liquid_core::{
    Display_filter, Expression, Filter, FilterParameters, FilterReflection, FromFilterParameters,
    ParseFilter, Runtime, ValueView,
};
use serde_json::Value;
use std::sync::OnceLock;

fn parser() -> &'static liquid::Parser {
    static PARSER: OnceLock<liquid::Parser> = OnceLock::new();
    PARSER.get_or_init(|| {
        liquid::ParserBuilder::with_stdlib()
            .filter(Json)
            .filter(Md5)
            .filter(Sha256)
            .filter(NormalizeEmail)
            .filter(NormalizePhone)
            .build()
            .expect("the standard Liquid library builds")
    })
}

/// `{{ row.name | json }}`: the value as JSON (a string quoted and escaped,
/// a number, true/false, null, an array or object), so a body template can
/// place any value without breaking on a quote or a newline.
#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "json",
    description = "The value as JSON text: strings quoted and escaped, nil as null.",
    parsed(JsonFilter)
)]
struct Json;

#[derive(Debug, Default, Display_filter)]
#[name = "json"]
struct JsonFilter;

impl Filter for JsonFilter {
    fn evaluate(
        &self,
        input: &dyn ValueView,
        _runtime: &dyn Runtime,
    ) -> liquid_core::Result<liquid_core::Value> {
        let text = serde_json::to_string(&from_liquid(&input.to_value()))
            .map_err(|e| liquid_core::Error::with_msg(format!("json: {e}")))?;
        Ok(liquid_core::Value::scalar(text))
    }
}

/// A filter from a text to a text: `$convert` of its input as text (nil
/// is "").
macro_rules! text_filter {
    ($(#[$doc:meta])* $filter:ident, $parsed:ident, $name:literal, $description:literal, $convert:expr) => {
        $(#[$doc])*
        #[derive(Clone, ParseFilter, FilterReflection)]
        #[filter(name = $name, description = $description, parsed($parsed))]
        struct $filter;

        #[derive(Debug, Default, Display_filter)]
        #[name = $name]
        struct $parsed;

        impl Filter for $parsed {
            fn evaluate(
                &self,
                input: &dyn ValueView,
                _runtime: &dyn Runtime,
            ) -> liquid_core::Result<liquid_core::Value> {
                let convert: fn(&str) -> String = $convert;
                Ok(liquid_core::Value::scalar(convert(&text_of(input))))
            }
        }
    };
}

text_filter!(
    /// `{{ row.email | downcase | md5 }}`: the hex MD5 of the text (the id
    /// some APIs give a record, e.g. Mailchimp's members).
    Md5,
    Md5Filter,
    "md5",
    "The hex MD5 digest of the text.",
    |text| {
        use md5::Digest;
        md5::Md5::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
);

text_filter!(
    /// `{{ row.email | normalize_email | sha256 }}`: the hex SHA-256 of the
    /// text, as advertising platforms take identifiers. Nil or "" stays ""
    /// (an identifier not given), never the hash of nothing.
    Sha256,
    Sha256Filter,
    "sha256",
    "The hex SHA-256 digest of the text; empty for nil or empty text.",
    sha256_hex
);

text_filter!(
    /// `{{ row.email | normalize_email }}`: trimmed and lower-cased, as the
    /// advertising platforms match emails; "" for nil or a text that is not
    /// an email address (one `@` with text on both sides, no spaces).
    NormalizeEmail,
    NormalizeEmailFilter,
    "normalize_email",
    "The email trimmed and lower-cased; empty if it is not an email address.",
    normalize_email
);

/// A filter's input as text; nil is "" (not Liquid's "nil").
fn text_of(input: &dyn ValueView) -> String {
    if input.is_nil() {
        String::new()
    } else {
        input.to_kstr().to_string()
    }
}

/// Hex SHA-256 of `text`; "" for "".
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    if text.is_empty() {
        return String::new();
    }
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn normalize_email(text: &str) -> String {
    let email = text.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace) =>
        {
            email
        }
        _ => String::new(),
    }
}

#[derive(Debug, FilterParameters)]
struct NormalizePhoneArgs {
    #[parameter(
        description = "The region a number without a country code is in (ISO 3166 code, e.g. \"US\").",
        arg_type = "str"
    )]
    region: Option<Expression>,
}

/// `{{ row.phone | normalize_phone: "US" }}`: the number in E.164
/// (`+14155550100`) by libphonenumber's rules, a number without a country
/// code read as one of `region`; "" for nil or a text that is not a valid
/// phone number.
#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "normalize_phone",
    description = "The phone number in E.164; empty if it is not a valid number.",
    parameters(NormalizePhoneArgs),
    parsed(NormalizePhoneFilter)
)]
struct NormalizePhone;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "normalize_phone"]
struct NormalizePhoneFilter {
    #[parameters]
    args: NormalizePhoneArgs,
}

impl Filter for NormalizePhoneFilter {
    fn evaluate(
        &self,
        input: &dyn ValueView,
        runtime: &dyn Runtime,
    ) -> liquid_core::Result<liquid_core::Value> {
        let args = self.args.evaluate(runtime)?;
        let region = match args.region {
            None => None,
            Some(code) => Some(code.parse::<phonenumber::country::Id>().map_err(|_| {
                liquid_core::Error::with_msg(format!(
                    "normalize_phone: \"{code}\" is not a region code (ISO 3166, e.g. \"US\")"
                ))
            })?),
        };
        let text = text_of(input);
        Ok(liquid_core::Value::scalar(normalize_phone(&text, region)))
    }
}

pub fn normalize_phone(text: &str, region: Option<phonenumber::country::Id>) -> String {
    let text = text.trim();
    // An international prefix written as 00 is a +.
    let text = match text.strip_prefix("00") {
        Some(rest) if region.is_none() => format!("+{rest}"),
        _ => text.to_string(),
    };
    match phonenumber::parse(region, &text) {
        Ok(number) if phonenumber::is_valid(&number) => {
            number.format().mode(phonenumber::Mode::E164).to_string()
        }
        _ => String::new(),
    }
}

thread_local! {
    /// While a template renders: the numbers of its context that Liquid
    /// holds as text (too many digits for its own number types), so that
    /// `json` writes them back as numbers. A text that is also a string of
    /// the context stays a string.
    static NUMBER_TEXTS: std::cell::RefCell<std::collections::HashSet<String>> =
        Default::default();
}

/// The texts of the numbers of `json` that `to_liquid` keeps as text, and
/// of its strings.
fn collect_texts(
    json: &Value,
    numbers: &mut std::collections::HashSet<String>,
    strings: &mut std::collections::HashSet<String>,
) {
    match json {
        Value::Number(n) if to_liquid(json).type_name() == "string" => {
            numbers.insert(n.to_string());
        }
        Value::String(s) => {
            strings.insert(s.clone());
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_texts(v, numbers, strings)),
        Value::Object(map) => map
            .values()
            .for_each(|v| collect_texts(v, numbers, strings)),
        _ => {}
    }
}

/// A context value as Liquid sees it, numbers exactly as they came: an
/// integer that fits 64 bits is an integer, a number whose text a 64-bit
/// float prints back unchanged is a float, any other (a numeric(38,18), a
/// 30-digit integer) its digits as text, so `{{ row.amount }}` renders them
/// all.
fn to_liquid(value: &Value) -> liquid_core::Value {
    use liquid_core::Value as L;
    match value {
        Value::Null => L::Nil,
        Value::Bool(b) => L::scalar(*b),
        Value::Number(n) => {
            let text = n.to_string();
            if let Ok(integer) = text.parse::<i64>() {
                L::scalar(integer)
            } else {
                match n
                    .as_f64()
                    .filter(|f| f.is_finite() && f.to_string() == text)
                {
                    Some(float) => L::scalar(float),
                    None => L::scalar(text),
                }
            }
        }
        Value::String(s) => L::scalar(s.clone()),
        Value::Array(items) => L::Array(items.iter().map(to_liquid).collect()),
        Value::Object(map) => L::Object(
            map.iter()
                .map(|(k, v)| (k.clone().into(), to_liquid(v)))
                .collect(),
        ),
    }
}

/// The inverse, for the `json` filter.
fn from_liquid(value: &liquid_core::Value) -> Value {
    use liquid_core::model::ScalarCow;
    use liquid_core::Value as L;
    match value {
        L::Nil | L::State(_) => Value::Null,
        L::Scalar(scalar) => {
            let scalar: ScalarCow<'_> = scalar.as_ref();
            if let Some(b) = scalar.to_bool().filter(|_| scalar.type_name() == "boolean") {
                Value::Bool(b)
            } else if scalar.type_name() == "whole number" {
                scalar.to_integer().map_or(Value::Null, Value::from)
            } else if scalar.type_name() == "fractional number" {
                // As Liquid prints it (which is how the context wrote it),
                // not in a float's shortest form (-1e-18).
                scalar
                    .to_float()
                    .filter(|f| f.is_finite())
                    .and_then(|f| serde_json::from_str::<serde_json::Number>(&f.to_string()).ok())
                    .map_or(Value::Null, Value::Number)
            } else {
                let text = scalar.to_kstr().to_string();
                let number = NUMBER_TEXTS
                    .with(|numbers| numbers.borrow().contains(&text))
                    .then(|| serde_json::from_str::<serde_json::Number>(&text).ok())
                    .flatten();
                number.map_or(Value::String(text), Value::Number)
            }
        }
        L::Array(items) => Value::Array(items.iter().map(from_liquid).collect()),
        L::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), from_liquid(v)))
                .collect(),
        ),
    }
}

pub struct Template {
    source: String,
    compiled: liquid::Template,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Template({:?})", self.source)
    }
}

impl Template {
    pub fn parse(field: &str, source: &str) -> Result<Template> {
        // Rendering cannot be interrupted: a loop over a huge literal range
        // would hold create_sync (and a run) for as long as it takes.
        if let Some(steps) = literal_ranges(source).into_iter().max() {
            if steps > MAX_RANGE_STEPS {
                return Err(Error::invalid(
                    field,
                    format!("a loop over a range of {steps} steps; a template may loop over at most {MAX_RANGE_STEPS}"),
                ));
            }
        }
        let compiled = parser().parse(source).map_err(|e| {
            Error::new(
                SqlState::SyntaxError,
                format!(
                    "{field}: template does not parse: {}",
                    one_line(&e.to_string())
                ),
            )
        })?;
        Ok(Template {
            source: source.to_string(),
            compiled,
        })
    }

    /// Render with `context` (a JSON object). Unknown variables are errors.
    pub fn render(&self, field: &str, context: &Value) -> Result<String> {
        let globals = to_liquid(context);
        let liquid_core::Value::Object(object) = &globals else {
            return Err(Error::invalid(field, "template context: not an object"));
        };
        let (mut numbers, mut strings) = Default::default();
        if self.source.contains("json") {
            collect_texts(context, &mut numbers, &mut strings);
            numbers.retain(|text| !strings.contains(text));
        }
        NUMBER_TEXTS.with(|cell| *cell.borrow_mut() = numbers);
        let rendered = self.compiled.render(object);
        NUMBER_TEXTS.with(|cell| cell.borrow_mut().clear());
        rendered.map_err(|e| {
            Error::invalid(
                field,
                format!("template failed: {}", one_line(&e.to_string())),
            )
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

/// The most steps a literal range `(a..b)` in a template may have.
pub const MAX_RANGE_STEPS: i64 = 10_000;

/// The number of steps of each literal range `(a..b)` in a template.
fn literal_ranges(source: &str) -> Vec<i64> {
    let mut steps = Vec::new();
    for (at, _) in source.match_indices("..") {
        let before = source[..at].trim_end();
        let after = source[at + 2..].trim_start();
        let low: String = before
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let high: String = after
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        if let (Ok(low), Ok(high)) = (low.parse::<i64>(), high.parse::<i64>()) {
            steps.push(high.saturating_sub(low).saturating_add(1).max(0));
        } else if !high.is_empty() && high.parse::<i64>().is_err() {
            // Digits too many for a number: a range too long for anything.
            steps.push(i64::MAX);
        }
    }
    steps
}

/// A Liquid error on one line: its lines trimmed and joined, nothing left out.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Model columns a template text refers to as `row.<name>` or `row["<name>"]`.
pub fn referenced_columns<'a>(text: &str, columns: impl Iterator<Item = &'a str>) -> Vec<String> {
    columns
        .filter(|name| {
            let dotted = format!("row.{name}");
            let quoted = format!("row[\"{name}\"]");
            let single = format!("row['{name}']");
            text.match_indices(&dotted).any(|(at, _)| {
                // `row.email` must not match `row.email_verified`
                text[at + dotted.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            }) || text.contains(&quoted)
                || text.contains(&single)
        })
        .map(str::to_string)
        .collect()
}

/// Every name a template reads as `row.<name>`, `row["<name>"]` or
/// `row['<name>']`, in order of appearance.
pub fn row_references(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices("row") {
        // `row` as a whole word (not `rows`, not `my_row`)
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let rest = &text[at + 3..];
        let name = if let Some(dotted) = rest.strip_prefix('.') {
            dotted
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or_default()
                .to_string()
        } else if rest.starts_with("[\"") || rest.starts_with("['") {
            let quote = bytes[at + 4] as char;
            rest[2..]
                .split(quote)
                .next()
                .unwrap_or_default()
                .to_string()
        } else {
            continue;
        };
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers_are_normalized_and_hashed_as_ad_platforms_match_them() {
        let render = |source: &str, row: Value| {
            Template::parse("t", source)
                .unwrap()
                .render("t", &json!({ "row": row }))
        };
        // SHA-256 of "test@example.com", as the platforms' docs show it.
        assert_eq!(
            render(
                "{{ row.e | normalize_email | sha256 }}",
                json!({"e": "  Test@Example.COM "})
            )
            .unwrap(),
            "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
        );
        assert_eq!(
            render(
                "[{{ row.e | normalize_email | sha256 | json }}]",
                json!({"e": "not an email"})
            )
            .unwrap(),
            r#"[""]"#
        );
        assert_eq!(
            render("{{ row.e | sha256 }}", json!({"e": null})).unwrap(),
            ""
        );
        assert_eq!(normalize_email("a@b"), "");
        assert_eq!(normalize_email("a b@x.io"), "");
        let us = "US".parse().ok();
        assert_eq!(normalize_phone("(415) 555-0132", us), "+14155550132");
        assert_eq!(normalize_phone("+44 20 7946 0018", us), "+442079460018");
        assert_eq!(normalize_phone("0044 20 7946 0018", None), "+442079460018");
        assert_eq!(
            normalize_phone("020 7946 0018", "GB".parse().ok()),
            "+442079460018"
        );
        assert_eq!(normalize_phone("12", us), "");
        assert_eq!(normalize_phone("call me", us), "");
        assert_eq!(
            render(
                "{{ row.p | normalize_phone: \"US\" | remove: \"+\" }}",
                json!({"p": "415.555.0132"})
            )
            .unwrap(),
            "14155550132"
        );
        let error =
            render("{{ row.p | normalize_phone: \"Mars\" }}", json!({"p": "1"})).unwrap_err();
        assert!(
            error.message.contains("\"Mars\" is not a region code"),
            "{}",
            error.message
        );
    }

    #[test]
    fn renders_rows_and_loops() {
        let t = Template::parse("p", "/contacts/{{ row.email | url_encode }}").unwrap();
        assert_eq!(
            t.render("p", &json!({"row": {"email": "a b@x.io"}}))
                .unwrap(),
            "/contacts/a%20b%40x.io"
        );
        let b = Template::parse("b", "[{% for r in records %}{{ r.id }}{% unless forloop.last %},{% endunless %}{% endfor %}]").unwrap();
        assert_eq!(
            b.render("b", &json!({"records": [{"id": 1}, {"id": 2}]}))
                .unwrap(),
            "[1,2]"
        );
    }

    #[test]
    fn the_json_filter_and_exact_numbers() {
        let t = Template::parse("body", r#"{"n": {{ row.n | json }}, "s": {{ row.s | json }}, "x": {{ row.x | json }}, "l": {{ row.l | json }}, "raw": {{ row.big }}, "f": {{ row.f }}, "i": {{ row.i }}}"#).unwrap();
        let context: Value = serde_json::from_str(
            r#"{"row": {"n": null, "s": "a \"b\"\n\tc", "x": {"k": [1, true]}, "l": [1.5, "z"],
                        "big": 12345678901234567890.123456789012345678, "f": 0.1, "i": -9223372036854775808}}"#,
        )
        .unwrap();
        let out = t.render("body", &context).unwrap();
        assert_eq!(
            out,
            r#"{"n": null, "s": "a \"b\"\n\tc", "x": {"k":[1,true]}, "l": [1.5,"z"], "raw": 12345678901234567890.123456789012345678, "f": 0.1, "i": -9223372036854775808}"#
        );
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            parsed["raw"].to_string(),
            "12345678901234567890.123456789012345678"
        );
    }

    #[test]
    fn json_writes_every_digit_of_the_contexts_numbers() {
        // `| json` writes every digit of the context's numbers, nested ones
        // too (a text equal to one of them stays a string).
        let t = Template::parse(
            "body",
            r#"{{ row.doc | json }} {{ row.big | json }} {{ row.doc.z | json }} {{ row.huge | json }} {{ row.s | json }}"#,
        )
        .unwrap();
        let context: Value = serde_json::from_str(
            r#"{"row": {"doc": {"z": 1.10, "a": [123456789012345678901234567890]}, "big": 1.50,
                        "huge": 12345678901234567890.123456789012345678, "s": "1.50"}}"#,
        )
        .unwrap();
        let out = t.render("body", &context).unwrap();
        let (object, rest) = out.split_once(' ').unwrap();
        // Liquid's objects do not keep key order; the JSON is the same.
        assert_eq!(
            serde_json::from_str::<Value>(object).unwrap(),
            context["row"]["doc"]
        );
        assert!(
            object.contains(r#""z":1.10"#) && object.contains("[123456789012345678901234567890]")
        );
        assert_eq!(
            rest,
            r#""1.50" 1.10 12345678901234567890.123456789012345678 "1.50""#
        );
        let t = Template::parse("body", "{{ row.big | json }} {{ row.tiny | json }}").unwrap();
        let context: Value =
            serde_json::from_str(r#"{"row": {"big": 1.50, "tiny": -0.000000000000000001}}"#)
                .unwrap();
        assert_eq!(
            t.render("body", &context).unwrap(),
            "1.50 -0.000000000000000001"
        );
        // A computed value goes through Liquid's own types.
        let t = Template::parse("body", "{{ row.big | plus: 1 | json }}").unwrap();
        assert_eq!(t.render("body", &context).unwrap(), "2.5");
    }

    #[test]
    fn errors_name_the_field() {
        let e = Template::parse("requests.added.path", "{{ row.email ").unwrap_err();
        assert!(
            e.message
                .starts_with("requests.added.path: template does not parse"),
            "{}",
            e.message
        );
        let t = Template::parse("requests.added.path", "{{ row.nope }}").unwrap();
        let e = t
            .render("requests.added.path", &json!({"row": {"email": null}}))
            .unwrap_err();
        assert!(
            e.message
                .starts_with("requests.added.path: template failed"),
            "{}",
            e.message
        );
    }

    #[test]
    fn loops_over_huge_literal_ranges_are_refused() {
        assert!(Template::parse("b", "{% for i in (1..100) %}{{ i }}{% endfor %}").is_ok());
        let e = Template::parse(
            "requests.added.body",
            "{% for i in (1..100000000) %}x{% endfor %}",
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "requests.added.body: a loop over a range of 100000000 steps; a template may loop over at most 10000"
        );
        assert!(Template::parse(
            "b",
            "{% for i in (0 .. 99999999999999999999999) %}{% endfor %}"
        )
        .is_err());
        assert!(
            Template::parse("b", "{{ row.a }}..{{ row.b }}").is_ok(),
            "not a range"
        );
    }

    #[test]
    fn finds_every_row_reference() {
        assert_eq!(
            row_references("/c/{{ row.email }}/{{ row[\"Full Name\"] }}?{{ rows.size }}{{ row['x'] }}{{ my_row.y }}{{ row.email }}"),
            vec!["email".to_string(), "Full Name".to_string(), "x".to_string()]
        );
    }

    #[test]
    fn finds_referenced_columns() {
        let cols = ["email", "email_verified", "name", "plan"];
        let found = referenced_columns(
            "/c/{{ row.email }}?n={{ row[\"name\"] }}",
            cols.iter().copied(),
        );
        assert_eq!(found, vec!["email".to_string(), "name".to_string()]);
    }
}
