//! A small reader over a JSON object that reports every problem with the path
//! of the offending field, and rejects keys nobody asked for.

use crate::error::{Error, Result};
use serde_json::{Map, Value};

pub struct ObjectReader<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> ObjectReader<'a> {
    pub fn new(path: &str, value: &'a Value) -> Result<Self> {
        match value {
            Value::Object(map) => Ok(ObjectReader {
                path: path.to_string(),
                map,
            }),
            other => Err(Error::invalid(
                path,
                format!("must be a JSON object, not {}", json_kind(other)),
            )),
        }
    }

    pub fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.path, key)
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &'a String> {
        self.map.keys()
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(Error::invalid(
                &self.field_path(key),
                format!("must be a string, not {}", json_kind(other)),
            )),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<String> {
        let value = self
            .string(key)?
            .ok_or_else(|| Error::invalid(&self.field_path(key), "is required"))?;
        if value.trim().is_empty() {
            return Err(Error::invalid(&self.field_path(key), "must not be empty"));
        }
        Ok(value)
    }

    pub fn integer(&self, key: &str) -> Result<Option<i64>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                Error::invalid(
                    &self.field_path(key),
                    format!("must be an integer, not {n}"),
                )
            }),
            Some(other) => Err(Error::invalid(
                &self.field_path(key),
                format!("must be an integer, not {}", json_kind(other)),
            )),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Error::invalid(
                &self.field_path(key),
                format!("must be true or false, not {}", json_kind(other)),
            )),
        }
    }

    pub fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(Error::invalid(
                &self.field_path(key),
                format!("must be a JSON array, not {}", json_kind(other)),
            )),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<ObjectReader<'a>>> {
        match self.value(key) {
            None => Ok(None),
            Some(value) => ObjectReader::new(&self.field_path(key), value).map(Some),
        }
    }

    /// Every key must be one of `known`; a typo never silently changes behaviour.
    pub fn deny_unknown(&self, known: &[&str]) -> Result<()> {
        for key in self.map.keys() {
            if !known.contains(&key.as_str()) {
                let mut error = Error::invalid(&self.field_path(key), "unknown key");
                if known.is_empty() {
                    error = error.with_hint("no keys are taken here: use {}");
                } else if let Some(close) = closest(key, known) {
                    error = error.with_hint(format!("did you mean \"{close}\"?"));
                } else {
                    error = error.with_hint(format!("known keys: {}", known.join(", ")));
                }
                return Err(error);
            }
        }
        Ok(())
    }
}

/// A reference to one of the owner's secrets, `{"secret": "<name>"}`, as
/// configs write it wherever a value must not be stored: the name.
pub fn secret_reference(field: &str, value: &Value) -> Result<String> {
    value
        .get("secret")
        .and_then(Value::as_str)
        .filter(|_| value.as_object().is_some_and(|o| o.len() == 1))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::invalid(
                field,
                "must be {\"secret\": \"<name of one of your secrets>\"}",
            )
        })
}

pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The known key within edit distance 2 of `key`, for "did you mean" hints.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|candidate| (edit_distance(key, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_key_is_named_with_a_suggestion() {
        let value = json!({"mapings": []});
        let reader = ObjectReader::new("", &value).unwrap();
        let error = reader.deny_unknown(&["mappings", "mode"]).unwrap_err();
        assert_eq!(error.message, "mapings: unknown key");
        assert_eq!(error.hint.as_deref(), Some("did you mean \"mappings\"?"));
    }

    #[test]
    fn wrong_types_name_the_nested_field() {
        let value = json!({"match": {"from": 3}});
        let reader = ObjectReader::new("", &value).unwrap();
        let inner = reader.object("match").unwrap().unwrap();
        let error = inner.string("from").unwrap_err();
        assert_eq!(error.message, "match.from: must be a string, not a number");
    }
}
