//! A JSON Schema's shape, checked before compiling so that an error names the JSON
//! pointer, and the keywords the engine would not enforce, named.

use crate::GrammarError;
use serde_json::{Map, Value};

/// Draft 2020-12 keywords that constrain instances but that the engine does not enforce.
pub const UNSUPPORTED_KEYWORDS: [&str; 16] = [
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "$dynamicRef",
    "$recursiveRef",
];

/// String formats the engine enforces; any other `format` is relaxed or, strict, refused.
pub const FORMATS: [&str; 10] = [
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
    "uri",
];

const TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "string", "integer",
];

/// A keyword a lenient schema keeps but the engine does not enforce.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Relaxed {
    /// The keyword, e.g. `uniqueItems`, or `format` for an unknown format.
    pub keyword: String,
    /// JSON pointer to the schema that holds it.
    pub pointer: String,
}

/// Checks a schema's shape: every keyword the engine reads has a value of the right type.
/// With `strict`, a keyword the engine does not enforce is an error; otherwise each is
/// returned, relaxed.
///
/// # Errors
/// [`GrammarError::InvalidSchema`] naming the JSON pointer, or
/// [`GrammarError::Unsupported`] naming the keyword.
pub fn check_schema(schema: &Value, strict: bool) -> Result<Vec<Relaxed>, GrammarError> {
    let mut relaxed = Vec::new();
    walk(schema, "", strict, &mut relaxed, 0)?;
    Ok(relaxed)
}

const MAX_DEPTH: usize = 128;

fn invalid(pointer: &str, message: impl Into<String>) -> GrammarError {
    GrammarError::InvalidSchema {
        pointer: pointer.to_string(),
        message: message.into(),
    }
}

/// `pointer/key`, escaped as RFC 6901 says.
fn child(pointer: &str, key: &str) -> String {
    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn walk(
    schema: &Value,
    pointer: &str,
    strict: bool,
    relaxed: &mut Vec<Relaxed>,
    depth: usize,
) -> Result<(), GrammarError> {
    if depth > MAX_DEPTH {
        return Err(invalid(pointer, format!("nested deeper than {MAX_DEPTH}")));
    }
    let object = match schema {
        Value::Bool(_) => return Ok(()),
        Value::Object(object) => object,
        other => {
            return Err(invalid(
                pointer,
                format!(
                    "a schema is an object or a boolean, not {}",
                    type_name(other)
                ),
            ));
        }
    };
    for (keyword, value) in object {
        let here = child(pointer, keyword);
        let next = depth + 1;
        match keyword.as_str() {
            "type" => check_type(value, &here)?,
            "properties" | "patternProperties" | "$defs" | "definitions" => {
                let map = as_object(value, &here)?;
                for (name, sub) in map {
                    if keyword == "patternProperties" {
                        check_regex(name, &child(&here, name))?;
                    }
                    walk(sub, &child(&here, name), strict, relaxed, next)?;
                }
            }
            "dependentSchemas" => {
                for (name, sub) in as_object(value, &here)? {
                    walk(sub, &child(&here, name), strict, relaxed, next)?;
                }
            }
            "items"
            | "additionalProperties"
            | "additionalItems"
            | "contains"
            | "not"
            | "if"
            | "then"
            | "else"
            | "propertyNames"
            | "unevaluatedItems"
            | "unevaluatedProperties"
            | "contentSchema" => {
                walk(value, &here, strict, relaxed, next)?;
            }
            "prefixItems" | "allOf" | "anyOf" | "oneOf" => {
                let items = value
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| invalid(&here, "expected a non-empty array of schemas"))?;
                for (i, sub) in items.iter().enumerate() {
                    walk(sub, &child(&here, &i.to_string()), strict, relaxed, next)?;
                }
            }
            "required" => check_strings(value, &here)?,
            "dependentRequired" => {
                for (name, list) in as_object(value, &here)? {
                    check_strings(list, &child(&here, name))?;
                }
            }
            "enum" => {
                value
                    .as_array()
                    .ok_or_else(|| invalid(&here, "expected an array"))?;
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties"
            | "maxProperties" | "minContains" | "maxContains" => {
                let ok = value.as_u64().is_some()
                    || value.as_f64().is_some_and(|x| x >= 0.0 && x.fract() == 0.0);
                require(ok, &here, "expected a non-negative integer")?;
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                require(value.is_number(), &here, "expected a number")?;
            }
            "multipleOf" => require(
                value.as_f64().is_some_and(|x| x > 0.0),
                &here,
                "expected a number greater than 0",
            )?,
            "pattern" => {
                let text = value
                    .as_str()
                    .ok_or_else(|| invalid(&here, "expected a string"))?;
                check_regex(text, &here)?;
            }
            "$ref" | "format" | "$id" | "$schema" | "$anchor" | "$comment" => {
                require(value.is_string(), &here, "expected a string")?;
            }
            "uniqueItems" => require(value.is_boolean(), &here, "expected a boolean")?,
            _ => {}
        }
        let unsupported = UNSUPPORTED_KEYWORDS.contains(&keyword.as_str())
            && !matches!(
                (keyword.as_str(), value),
                ("uniqueItems", Value::Bool(false))
            );
        let unknown_format =
            keyword == "format" && value.as_str().is_some_and(|f| !FORMATS.contains(&f));
        if unsupported || unknown_format {
            if strict {
                return Err(GrammarError::Unsupported {
                    keyword: keyword.clone(),
                    pointer: pointer.to_string(),
                });
            }
            relaxed.push(Relaxed {
                keyword: keyword.clone(),
                pointer: pointer.to_string(),
            });
        }
    }
    Ok(())
}

/// Keywords whose value is a count.
const COUNTS: [&str; 8] = [
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minContains",
    "maxContains",
];

/// `schema` with integral floats in count keywords written as integers (`2.0` → `2`), as
/// draft 2020-12 allows and llguidance's compiler needs.
pub(crate) fn normalized(mut schema: Value) -> Value {
    fn walk(value: &mut Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if COUNTS.contains(&key.as_str())
                        && let Some(x) = v.as_f64()
                        && x >= 0.0
                        && x.fract() == 0.0
                        && x < 9.0e15
                    {
                        *v = Value::from(x as u64);
                    } else {
                        walk(v, depth + 1);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, depth + 1)),
            _ => {}
        }
    }
    walk(&mut schema, 0);
    schema
}

fn require(ok: bool, pointer: &str, expected: &str) -> Result<(), GrammarError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(pointer, expected))
    }
}

fn as_object<'a>(value: &'a Value, pointer: &str) -> Result<&'a Map<String, Value>, GrammarError> {
    value
        .as_object()
        .ok_or_else(|| invalid(pointer, "expected an object"))
}

fn check_type(value: &Value, pointer: &str) -> Result<(), GrammarError> {
    let names: Vec<&Value> = match value {
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        Value::String(_) => vec![value],
        _ => {
            return Err(invalid(
                pointer,
                "expected a type name or a non-empty array of them",
            ));
        }
    };
    for name in names {
        match name.as_str() {
            Some(n) if TYPES.contains(&n) => {}
            _ => {
                return Err(invalid(
                    pointer,
                    format!(
                        "{name} is not a type (expected one of {})",
                        TYPES.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_strings(value: &Value, pointer: &str) -> Result<(), GrammarError> {
    let ok = value
        .as_array()
        .is_some_and(|items| items.iter().all(Value::is_string));
    require(ok, pointer, "expected an array of strings")
}

fn check_regex(text: &str, pointer: &str) -> Result<(), GrammarError> {
    regex_syntax::Parser::new()
        .parse(text)
        .map(|_| ())
        .map_err(|e| invalid(pointer, format!("not a regular expression: {e}")))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
