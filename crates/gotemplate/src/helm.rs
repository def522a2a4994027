//! Helm's template dialect ([`crate::FunctionSet::Helm`]): the functions Helm adds to Sprig's
//! (`toToml` aside), the Sprig functions charts use beyond ApplicationSets' set, and Helm's
//! objects with methods (`.Files`, `.Capabilities.APIVersions`, `.Capabilities.KubeVersion`).
//!
//! Helm's objects are JSON maps carrying a marker entry ([`OBJECT_KEY`]) naming their Go type;
//! the engine calls their methods (`.Files.Get "a"`, `(.Files.Glob "x/*").AsConfig`), and
//! `fmt`, `len`, `range`, `kindOf`, `typeOf`, `toJson`, `toYaml` and `toString` see them as Go
//! sees their types: `.Capabilities.KubeVersion` and `.HelmVersion` are structs (`{v1.36.0 1
//! 36}`), `.Capabilities.APIVersions` a slice of strings, `.Files.GetBytes` a `[]byte` (`[104
//! 105]`, base64 in JSON).
//!
//! `include`, `tpl`, `required`, `fail` and `lookup` (empty, as `helm template` without a
//! cluster) are run by the engine itself. Functions whose results change from run to run
//! (random strings, clocks, generated keys and certificates) are known but refused with
//! [`FuncError::Unsupported`].

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::FuncError;
use crate::exec::{FMT, Val};
use crate::funcs::{
    any, b64enc, equal, int, is_empty, map_arg, s, strslice, strval, to_f64, to_i64, want, want_min,
};
use crate::limits::Limits;

/// The map entry marking a Helm object; its value is the object's Go type.
pub const OBJECT_KEY: &str = "\u{0}helm.object";

/// The functions of [`crate::FunctionSet::Helm`] beyond [`crate::FUNCTION_NAMES`].
pub const HELM_FUNCTION_NAMES: &[&str] = &[
    // Helm's own
    "include",
    "tpl",
    "required",
    "fail",
    "lookup",
    "toToml",
    "fromToml",
    "mustToYaml",
    "toYamlPretty",
    "mustToJson",
    "fromJsonArray",
    "mustFromJson",
    // Sprig beyond ApplicationSets' set
    "kindIs",
    "kindOf",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "deepCopy",
    "mustDeepCopy",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
    "sha256sum",
    "sha1sum",
    "adler32sum",
    "semverCompare",
    "semver",
    "toStrings",
    "sortAlpha",
    "seq",
    "append",
    "mustAppend",
    "push",
    "prepend",
    "mustPrepend",
    "concat",
    "rest",
    "initial",
    "reverse",
    "without",
    "unset",
    "pick",
    "omit",
    "values",
    "dig",
    "ceil",
    "floor",
    "round",
    "camelcase",
    "snakecase",
    "kebabcase",
    "swapcase",
    "wrap",
    "wrapWith",
    "plural",
    "initials",
    "regexSplit",
    "regexFindAll",
    "mustRegexMatch",
    "toDecimal",
    "addf",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    "splitn",
    "mustFirst",
    "mustLast",
    "mustUniq",
    "mustCompact",
    "mustHas",
    "b32enc",
    "urlJoin",
    "fromYamlArray",
    // Known, refused: results that differ from run to run.
    "randAlphaNum",
    "randAlpha",
    "randNumeric",
    "randAscii",
    "randBytes",
    "randInt",
    "shuffle",
    "uuidv4",
    "now",
    "date",
    "dateInZone",
    "htmlDate",
    "htmlDateInZone",
    "dateModify",
    "ago",
    "unixEpoch",
    "toDate",
    "date_in_zone",
    "date_modify",
    "must_date_modify",
    "mustDateModify",
    "mustToDate",
    "bcrypt",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "genPrivateKey",
    "derivePassword",
    "buildCustomCert",
    "encryptAES",
    "decryptAES",
    "htpasswd",
    "getHostByName",
];

/// `.Files`: the chart's files (path → content) with Helm's methods.
pub fn files_object<I: IntoIterator<Item = (String, String)>>(files: I) -> Value {
    let files: Map<String, Value> = files
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut m = Map::new();
    m.insert(OBJECT_KEY.to_string(), Value::String("Files".to_string()));
    m.insert("files".to_string(), Value::Object(files));
    Value::Object(m)
}

/// `.Capabilities.APIVersions`: the group/versions (and group/version/kinds) with `Has`.
pub fn api_versions_object(versions: &[String]) -> Value {
    let mut m = Map::new();
    m.insert(
        OBJECT_KEY.to_string(),
        Value::String("VersionSet".to_string()),
    );
    m.insert(
        "versions".to_string(),
        Value::Array(versions.iter().cloned().map(Value::String).collect()),
    );
    Value::Object(m)
}

/// `.Capabilities.KubeVersion`: `Version` (`v1.35.0`), `Major`, `Minor`, and `GitVersion`;
/// printed as Go prints the struct (`{v1.35.0 1 35}`).
pub fn kube_version_object(version: &str) -> Value {
    let bare = version.trim_start_matches('v');
    let mut parts = bare.split('.');
    let major = parts.next().unwrap_or("").to_string();
    let minor = parts.next().unwrap_or("").to_string();
    let mut m = Map::new();
    m.insert(
        OBJECT_KEY.to_string(),
        Value::String("KubeVersion".to_string()),
    );
    m.insert("Version".to_string(), Value::String(version.to_string()));
    m.insert("Major".to_string(), Value::String(major));
    m.insert("Minor".to_string(), Value::String(minor));
    m.insert("GitVersion".to_string(), Value::String(version.to_string()));
    Value::Object(m)
}

fn object_type(m: &Map<String, Value>) -> Option<&str> {
    m.get(OBJECT_KEY).and_then(Value::as_str)
}

/// Helm's `fromJson`: the JSON object `text` as a map (numbers float64), an empty map for
/// `null`, and otherwise a map whose `Error` is Go's `json.Unmarshal` error.
pub(crate) fn from_json_map(text: &str) -> Value {
    let error = |message: String| {
        let mut m = Map::new();
        m.insert("Error".to_string(), Value::String(message));
        Value::Object(m)
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => {
            let mut v = Value::Object(m);
            crate::value::floatify(&mut v);
            v
        }
        Ok(Value::Null) => Value::Object(Map::new()),
        Ok(other) => error(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&other)
        )),
        Err(_) => error(go_json_syntax_error(text)),
    }
}

/// What Go's `json.UnmarshalTypeError` calls a JSON value of this kind.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Object(_) => "object",
        _ => "bool",
    }
}

/// The message of Go's `encoding/json` for text that is not JSON (its scanner's syntax
/// errors); JSON that Go's scanner takes but Strata's reader does not (a number beyond
/// float64) is `invalid JSON`.
fn go_json_syntax_error(text: &str) -> String {
    crate::gojson::syntax_error(text).unwrap_or_else(|| "invalid JSON".to_string())
}

/// The files of a `.Files` object (a Go `map[string][]byte`: true, `len` and `range` see
/// its files), `None` for any other value.
pub(crate) fn files_of(v: &Value) -> Option<&Map<String, Value>> {
    match v {
        Value::Object(m) if object_type(m) == Some("Files") => {
            m.get("files").and_then(Value::as_object)
        }
        _ => None,
    }
}

/// Whether the map is a Helm object with the method `name`.
pub fn is_method(m: &Map<String, Value>, name: &str) -> bool {
    match object_type(m) {
        Some("Files") => matches!(
            name,
            "Get" | "GetBytes" | "Glob" | "Lines" | "AsConfig" | "AsSecrets"
        ),
        Some("VersionSet") => name == "Has",
        Some("SemverVersion") => SEMVER_METHODS.contains(&name),
        _ => false,
    }
}

/// Whether the value is a Helm object with the method `name`.
pub fn has_method(v: &Value, name: &str) -> bool {
    matches!(v, Value::Object(m) if is_method(m, name))
}

/// A field of a Go struct the engine carries as a Helm object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StructField<'a> {
    /// The Go field name (`%+v` prints it).
    pub name: &'static str,
    /// The name `encoding/json` writes.
    pub json: &'static str,
    /// Whether `encoding/json` leaves it out when empty (`omitempty`).
    pub omitempty: bool,
    /// The field's value.
    pub value: &'a Value,
}

/// How a Helm object looks to Go code that does not call its methods: `fmt`, `len`, `range`,
/// `kindOf`, `typeOf`, `toJson`, `toYaml`, `toString`.
#[derive(Debug, Clone)]
pub(crate) enum GoView<'a> {
    /// A struct (`chartutil.KubeVersion`, `version.BuildInfo`): fields in declaration order.
    Struct {
        /// `reflect.Type.String()`.
        type_name: &'static str,
        /// The fields.
        fields: Vec<StructField<'a>>,
    },
    /// A named slice of strings (`chartutil.VersionSet`).
    Strings {
        /// `reflect.Type.String()`.
        type_name: &'static str,
        /// The elements.
        items: &'a [Value],
    },
    /// A `[]byte` (`.Files.GetBytes`): the bytes of the string.
    Bytes(&'a str),
    /// A Go `int64` (Sprig's `int64`, `add`, `sub`, `mul`, `div`, `mod`, `max`, `min`,
    /// `add1`, `biggest`, `toDecimal`), where a template's integers are Go `int`s: see
    /// [`int64_object`].
    Int64(i64),
    /// A pointer to a value with a `String` method that `fmt` and `encoding/json` print
    /// (Sprig's `*semver.Version`).
    Stringer {
        /// `reflect.Type.String()`.
        type_name: &'static str,
        /// What `String()` returns.
        text: String,
    },
}

static EMPTY_STRING: Value = Value::String(String::new());

/// The Go view of `v` when it is a Helm object other than `.Files` (which no chart prints).
pub(crate) fn go_view(v: &Value) -> Option<GoView<'_>> {
    let Value::Object(m) = v else { return None };
    let field = |name: &'static str, json: &'static str, omitempty: bool| StructField {
        name,
        json,
        omitempty,
        value: m.get(name).unwrap_or(&EMPTY_STRING),
    };
    match object_type(m)? {
        "KubeVersion" => Some(GoView::Struct {
            type_name: "chartutil.KubeVersion",
            fields: vec![
                field("Version", "Version", false),
                field("Major", "Major", false),
                field("Minor", "Minor", false),
            ],
        }),
        "BuildInfo" => Some(GoView::Struct {
            type_name: "version.BuildInfo",
            fields: vec![
                field("Version", "version", true),
                field("GitCommit", "git_commit", true),
                field("GitTreeState", "git_tree_state", true),
                field("GoVersion", "go_version", true),
            ],
        }),
        "VersionSet" => Some(GoView::Strings {
            type_name: "chartutil.VersionSet",
            items: m
                .get("versions")
                .and_then(Value::as_array)
                .map_or(&[], Vec::as_slice),
        }),
        "Bytes" => Some(GoView::Bytes(
            m.get("bytes").and_then(Value::as_str).unwrap_or(""),
        )),
        "Int64" => as_int64(v).map(GoView::Int64),
        "SemverVersion" => Some(GoView::Stringer {
            type_name: "*semver.Version",
            text: SemVer::from_object(m).to_string(),
        }),
        _ => None,
    }
}

impl GoView<'_> {
    /// `reflect.Type.String()` (`typeOf`, `%T`).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            GoView::Struct { type_name, .. }
            | GoView::Strings { type_name, .. }
            | GoView::Stringer { type_name, .. } => type_name,
            GoView::Bytes(_) => "[]uint8",
            GoView::Int64(_) => "int64",
        }
    }

    /// `reflect.Kind.String()` (`kindOf`).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            GoView::Struct { .. } => "struct",
            GoView::Strings { .. } | GoView::Bytes(_) => "slice",
            GoView::Stringer { .. } => "ptr",
            GoView::Int64(_) => "int64",
        }
    }

    /// What `encoding/json` makes of it, as a JSON value (a `[]byte` is base64 text); field
    /// order is lost, see [`GoView::json_fields`].
    pub(crate) fn json_value(&self) -> Value {
        match self {
            GoView::Struct { fields, .. } => Value::Object(
                self.json_fields(fields)
                    .map(|f| (f.json.to_string(), f.value.clone()))
                    .collect(),
            ),
            GoView::Strings { items, .. } => Value::Array(items.to_vec()),
            GoView::Bytes(text) => Value::String(b64enc(text.as_bytes())),
            GoView::Stringer { text, .. } => Value::String(text.clone()),
            GoView::Int64(i) => Value::from(*i),
        }
    }

    /// The fields `encoding/json` writes, in declaration order.
    pub(crate) fn json_fields<'f, 'v>(
        &self,
        fields: &'f [StructField<'v>],
    ) -> impl Iterator<Item = &'f StructField<'v>> {
        fields
            .iter()
            .filter(|f| !(f.omitempty && crate::value::is_go_zero(f.value)))
    }

    /// The elements `range` and `len` see (a `[]byte` gives its bytes as numbers); `None`
    /// for a struct.
    pub(crate) fn elements(&self) -> Option<Vec<Value>> {
        match self {
            GoView::Struct { .. } | GoView::Stringer { .. } | GoView::Int64(_) => None,
            GoView::Strings { items, .. } => Some(items.to_vec()),
            GoView::Bytes(text) => Some(text.bytes().map(Value::from).collect()),
        }
    }
}

/// A Go `int64` as the engine carries it: Sprig's integer functions return `int64`, while the
/// template's own integers (literals, `len`, `atoi`, `int`) are Go `int`s. The difference shows
/// in `typeOf`, `kindOf`, `kindIs`, `typeIs`, `%T` and fmt's mismatch markers
/// (`%!s(int64=5)`), `duration` (which reads an `int64` and not an `int`), `deepEqual`, `uniq`,
/// `has` and `without` (an `int64` is never equal to an `int`), and in the functions whose
/// parameter is a Go `int` (`indent`, `trunc`, `until`, ...), which refuse it. Everywhere
/// else it is its number: the functions that do not care are given the number (see
/// [`int64_arguments`]).
pub fn int64_object(i: i64) -> Value {
    let mut m = Map::new();
    m.insert(OBJECT_KEY.to_string(), Value::String("Int64".to_string()));
    m.insert("value".to_string(), Value::from(i));
    Value::Object(m)
}

/// The number of an `int64` (see [`int64_object`]).
pub fn as_int64(v: &Value) -> Option<i64> {
    match v {
        Value::Object(m) if object_type(m) == Some("Int64") => {
            m.get("value").and_then(Value::as_i64)
        }
        _ => None,
    }
}

/// `v` with every `int64` (see [`int64_object`]) replaced by its number, at any depth.
pub fn plain_ints(v: &mut Value) {
    if let Some(i) = as_int64(v) {
        *v = Value::from(i);
        return;
    }
    match v {
        Value::Array(items) => items.iter_mut().for_each(plain_ints),
        Value::Object(m) if object_type(m).is_none() => m.values_mut().for_each(plain_ints),
        _ => {}
    }
}

fn holds_int64(v: &Value) -> bool {
    as_int64(v).is_some()
        || match v {
            Value::Array(items) => items.iter().any(holds_int64),
            Value::Object(m) => object_type(m).is_none() && m.values().any(holds_int64),
            _ => false,
        }
}

/// The functions given `int64`s as they are: those that show Go types (`typeOf`, `printf`,
/// ...), compare values as `reflect.DeepEqual` does, read an `int64` apart from an `int`
/// (`duration`), or keep their arguments (`list`, `first`, `ternary`, ...).
const INT64_TAKEN_BY: &[&str] = &[
    "typeOf",
    "typeIs",
    "typeIsLike",
    "kindOf",
    "kindIs",
    "printf",
    "print",
    "println",
    "duration",
    "deepEqual",
    "uniq",
    "mustUniq",
    "has",
    "mustHas",
    "without",
    "mustWithout",
    "list",
    "tuple",
    "dict",
    "first",
    "mustFirst",
    "last",
    "mustLast",
    "rest",
    "mustRest",
    "initial",
    "mustInitial",
    "append",
    "mustAppend",
    "push",
    "mustPush",
    "prepend",
    "mustPrepend",
    "concat",
    "reverse",
    "mustReverse",
    "values",
    "pluck",
    "dig",
    "get",
    "set",
    "unset",
    "ternary",
    "default",
    "coalesce",
    "compact",
    "mustCompact",
    "empty",
    "all",
    "any",
    "deepCopy",
    "mustDeepCopy",
    "merge",
    "mustMerge",
    "mergeOverwrite",
    "mustMergeOverwrite",
    "required",
    "fail",
    "and",
    "or",
    "not",
    "len",
];

/// The functions whose first argument is kept and whose others (indexes) are numbers.
const INT64_INDEXED_BY: &[&str] = &["index", "slice", "mustSlice"];

/// The parameters of Go type `int` of Sprig's functions (by position): an `int64` given to
/// one is refused, as Go's template engine refuses it.
fn int_parameters(name: &str) -> &'static [usize] {
    match name {
        "abbrev" | "trunc" | "repeat" | "wrap" | "wrapWith" | "indent" | "nindent" | "until"
        | "randAlphaNum" | "randAlpha" | "randAscii" | "randNumeric" | "randBytes" | "chunk"
        | "mustChunk" => &[0],
        "abbrevboth" | "substr" | "randInt" => &[0, 1],
        "untilStep" => &[0, 1, 2],
        "splitn" | "round" | "genCA" | "genCAWithKey" => &[1],
        "regexFindAll" | "mustRegexFindAll" | "regexSplit" | "mustRegexSplit" => &[2],
        "genSelfSignedCert"
        | "genSelfSignedCertWithKey"
        | "genSignedCert"
        | "genSignedCertWithKey" => &[3],
        _ => &[],
    }
}

/// The arguments of `name` as it is to see them: an `int64` where a Go `int` parameter is
/// refused; the functions of [`INT64_TAKEN_BY`] get them as they are, those of
/// [`INT64_INDEXED_BY`] their indexes as numbers, and every other function numbers.
pub(crate) fn int64_arguments(name: &str, mut args: Vec<Val>) -> Result<Vec<Val>, FuncError> {
    if !args.iter().flatten().any(holds_int64) {
        return Ok(args);
    }
    let is_int64 = |a: &Val| a.as_ref().and_then(as_int64).is_some();
    let refused = if name == "seq" {
        // `seq` takes `...int`.
        args.iter().any(is_int64)
    } else {
        int_parameters(name)
            .iter()
            .any(|&i| args.get(i).is_some_and(is_int64))
    };
    if refused {
        return Err(FuncError::WrongType {
            expected: "int",
            got: "int64",
        });
    }
    if INT64_TAKEN_BY.contains(&name) {
        return Ok(args);
    }
    let skip = usize::from(INT64_INDEXED_BY.contains(&name));
    args.iter_mut().skip(skip).flatten().for_each(plain_ints);
    Ok(args)
}

/// `[]byte` as the engine carries it (`.Files.GetBytes`).
pub fn bytes_object(text: String) -> Value {
    let mut m = Map::new();
    m.insert(OBJECT_KEY.to_string(), Value::String("Bytes".to_string()));
    m.insert("bytes".to_string(), Value::String(text));
    Value::Object(m)
}

/// `.Capabilities.HelmVersion`: Helm's `version.BuildInfo`.
pub fn build_info_object(version: &str, go_version: &str) -> Value {
    let mut m = Map::new();
    m.insert(
        OBJECT_KEY.to_string(),
        Value::String("BuildInfo".to_string()),
    );
    m.insert("Version".to_string(), Value::String(version.to_string()));
    m.insert("GitCommit".to_string(), Value::String(String::new()));
    m.insert(
        "GitTreeState".to_string(),
        Value::String("clean".to_string()),
    );
    m.insert(
        "GoVersion".to_string(),
        Value::String(go_version.to_string()),
    );
    Value::Object(m)
}

/// Calls the method `method` of the Helm object `recv` with `args`.
pub fn call_method(recv: &Value, method: &str, args: &[Val]) -> Result<Value, FuncError> {
    let Value::Object(m) = recv else {
        return Err(FuncError::Undefined(method.to_string()));
    };
    match object_type(m) {
        Some("Files") => {
            let empty = Map::new();
            let files = m.get("files").and_then(Value::as_object).unwrap_or(&empty);
            files_method(files, method, args)
        }
        Some("SemverVersion") => semver_method(&SemVer::from_object(m), method, args),
        Some("VersionSet") => {
            want("Has", args, 1)?;
            let wanted = s(&args[0])?;
            let has = m
                .get("versions")
                .and_then(Value::as_array)
                .is_some_and(|v| v.iter().any(|x| x.as_str() == Some(&wanted)));
            Ok(Value::Bool(has))
        }
        _ => Err(FuncError::Undefined(method.to_string())),
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn files_method(
    files: &Map<String, Value>,
    method: &str,
    args: &[Val],
) -> Result<Value, FuncError> {
    let content = |p: &str| files.get(p).and_then(Value::as_str).unwrap_or("");
    match method {
        "Get" => {
            want(method, args, 1)?;
            Ok(Value::String(content(&s(&args[0])?).to_string()))
        }
        "GetBytes" => {
            want(method, args, 1)?;
            Ok(bytes_object(content(&s(&args[0])?).to_string()))
        }
        "Lines" => {
            want(method, args, 1)?;
            let p = s(&args[0])?;
            let text = content(&p);
            if text.is_empty() {
                return Ok(Value::Array(Vec::new()));
            }
            let text = text.strip_suffix('\n').unwrap_or(text);
            Ok(Value::Array(
                text.split('\n')
                    .map(|l| Value::String(l.to_string()))
                    .collect(),
            ))
        }
        "Glob" => {
            want(method, args, 1)?;
            let pattern = s(&args[0])?;
            // Plain patterns are matched directly: compiling one as a regular expression
            // costs more than the whole match (see `crate::wildcard`).
            let matches: Box<dyn Fn(&str) -> bool> =
                match crate::wildcard::Wildcard::files_glob(&pattern) {
                    Some(wildcard) => Box::new(move |path| wildcard.is_match(path)),
                    None => {
                        let re = glob_regex(&pattern).map_err(|e| {
                            FuncError::Regex(strata_core::user_regex::RegexLimitError::Invalid(e))
                        })?;
                        Box::new(move |path| re.is_match(path))
                    }
                };
            Ok(files_object(files.iter().filter(|(k, _)| matches(k)).map(
                |(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()),
            )))
        }
        "AsConfig" | "AsSecrets" => {
            want(method, args, 0)?;
            if files.is_empty() {
                return Ok(Value::String(String::new()));
            }
            let mut out = BTreeMap::new();
            for (k, v) in files {
                let text = v.as_str().unwrap_or("");
                let value = if method == "AsConfig" {
                    text.to_string()
                } else {
                    b64enc(text.as_bytes())
                };
                out.insert(base_name(k).to_string(), Value::String(value));
            }
            Ok(Value::String(crate::goyaml::to_yaml(&Value::Object(
                out.into_iter().collect(),
            ))))
        }
        other => Err(FuncError::Undefined(other.to_string())),
    }
}

/// A glob as Helm's `.Files.Glob` reads it (gobwas/glob with `/` as separator): `*` and `?`
/// stay within a path segment, `**` crosses segments, `[...]` classes, `{a,b}` alternatives.
pub fn glob_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut braces = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                if chars.get(i + 1) == Some(&'!') {
                    re.push('^');
                    i += 1;
                }
            }
            ']' => re.push(']'),
            '{' => {
                braces += 1;
                re.push_str("(?:");
            }
            '}' if braces > 0 => {
                braces -= 1;
                re.push(')');
            }
            ',' if braces > 0 => re.push('|'),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex::escape(&chars[i].to_string()));
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    re.push('$');
    regex::Regex::new(&re)
}

/// Go's `reflect.Kind` name of a decoded value (Sprig's `kindOf`).
fn kind_of(v: &Value) -> &'static str {
    if let Some(view) = go_view(v) {
        return view.kind();
    }
    match v {
        Value::Null => "invalid",
        Value::Bool(_) => "bool",
        Value::Number(n) => {
            if n.as_i64().is_some() {
                "int"
            } else {
                "float64"
            }
        }
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

fn list_arg(name: &str, v: &Val) -> Result<Vec<Value>, FuncError> {
    match any(v) {
        Value::Array(a) => Ok(a),
        Value::Null => Ok(Vec::new()),
        other => Err(FuncError::Failed {
            func: name.to_string(),
            failure: crate::error::CallFailure::NotAList {
                func: "find",
                type_name: FMT.type_name(&other),
            },
        }),
    }
}

/// `mergeOverwrite`: `src`'s values replace `dst`'s, maps merged deeply.
fn merge_overwrite(dst: &mut Value, src: &Value) {
    if let (Value::Object(d), Value::Object(s)) = (dst, src) {
        for (k, sv) in s {
            match d.get_mut(k) {
                Some(dv) if dv.is_object() && sv.is_object() => merge_overwrite(dv, sv),
                _ => {
                    d.insert(k.clone(), sv.clone());
                }
            }
        }
    }
}

fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let boundary = c.is_uppercase()
            && i > 0
            && (chars[i - 1].is_lowercase()
                || chars.get(i + 1).is_some_and(|n| n.is_lowercase())
                    && chars[i - 1].is_uppercase());
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn float(v: Value) -> Value {
    crate::value::float_value(to_f64(&v)).unwrap_or(Value::Null)
}

fn parse_version(text: &str) -> Option<(u64, u64, u64, String)> {
    let t = text.trim().trim_start_matches('v');
    let (core, pre) = match t.split_once('-') {
        Some((c, p)) => (c, p.split('+').next().unwrap_or("").to_string()),
        None => (t.split('+').next().unwrap_or(t), String::new()),
    };
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map(str::parse).transpose().ok()?.unwrap_or(0);
    let patch = parts.next().map(str::parse).transpose().ok()?.unwrap_or(0);
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch, pre))
}

/// Prereleases compared identifier by identifier: numbers numerically and below words, words
/// in ASCII order, a shorter list first when one is a prefix of the other.
fn compare_prereleases(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let order = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => p.cmp(q),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// The methods of Sprig's `*semver.Version` a template can call.
const SEMVER_METHODS: &[&str] = &[
    "Major",
    "Minor",
    "Patch",
    "Prerelease",
    "Metadata",
    "Original",
    "String",
    "Compare",
    "LessThan",
    "GreaterThan",
    "Equal",
];

/// A version as Masterminds/semver v3's `NewVersion` reads it (Sprig's `semver`): an optional
/// `v`, one to three numbers (missing ones are 0, leading zeros allowed as its default
/// coercion allows them), a prerelease and build metadata of `[0-9A-Za-z-]` identifiers; a
/// numeric prerelease identifier may not start with 0.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SemVer {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
}

impl SemVer {
    fn parse(text: &str) -> Result<SemVer, SemverError> {
        let invalid = || SemverError::InvalidVersion;
        let body = text.strip_prefix('v').unwrap_or(text);
        let (body, metadata) = match body.split_once('+') {
            Some((b, m)) => (b, Some(m)),
            None => (body, None),
        };
        let (core, pre) = match body.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (body, None),
        };
        let identifiers_ok = |part: &str| {
            part.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        };
        if metadata.is_some_and(|m| !identifiers_ok(m)) || pre.is_some_and(|p| !identifiers_ok(p)) {
            return Err(invalid());
        }
        let pre = pre.unwrap_or("");
        let metadata = metadata.unwrap_or("");
        let mut numbers = [0_u64; 3];
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(invalid());
        }
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            *slot = part
                .parse()
                .map_err(|_| SemverError::Segment(part.to_string()))?;
        }
        if pre
            .split('.')
            .any(|id| id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(SemverError::SegmentStartsZero);
        }
        Ok(SemVer {
            major: numbers[0],
            minor: numbers[1],
            patch: numbers[2],
            pre: pre.to_string(),
            metadata: metadata.to_string(),
            original: text.to_string(),
        })
    }

    /// The Helm object the engine carries it as.
    fn to_object(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            OBJECT_KEY.to_string(),
            Value::String("SemverVersion".to_string()),
        );
        m.insert("major".to_string(), Value::from(self.major));
        m.insert("minor".to_string(), Value::from(self.minor));
        m.insert("patch".to_string(), Value::from(self.patch));
        m.insert("pre".to_string(), Value::String(self.pre.clone()));
        m.insert("metadata".to_string(), Value::String(self.metadata.clone()));
        m.insert("original".to_string(), Value::String(self.original.clone()));
        Value::Object(m)
    }

    fn from_object(m: &Map<String, Value>) -> SemVer {
        let number = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
        let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        SemVer {
            major: number("major"),
            minor: number("minor"),
            patch: number("patch"),
            pre: text("pre"),
            metadata: text("metadata"),
            original: text("original"),
        }
    }

    /// Masterminds/semver's `Compare`: numbers, then a version without prerelease above one
    /// with, then the prereleases identifier by identifier (numbers below words); metadata
    /// ignored.
    fn compare(&self, other: &SemVer) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let by_numbers =
            (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch));
        if by_numbers != Ordering::Equal {
            return by_numbers;
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            (false, false) => {}
        }
        compare_prereleases(&self.pre, &other.pre)
    }
}

impl std::fmt::Display for SemVer {
    /// `Version.String()`: the numbers, `-prerelease` and `+metadata` when present.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

/// A method of `*semver.Version`.
fn semver_method(v: &SemVer, method: &str, args: &[Val]) -> Result<Value, FuncError> {
    let other = |args: &[Val]| -> Result<SemVer, FuncError> {
        want(method, args, 1)?;
        match &args[0] {
            Some(Value::Object(m)) if object_type(m) == Some("SemverVersion") => {
                Ok(SemVer::from_object(m))
            }
            Some(other) => Err(FuncError::WrongType {
                expected: "*semver.Version",
                got: crate::exec::FMT.type_name(other),
            }),
            None => Err(FuncError::MissingValue {
                expected: "*semver.Version",
            }),
        }
    };
    Ok(match method {
        "Major" | "Minor" | "Patch" => {
            want(method, args, 0)?;
            Value::from(match method {
                "Major" => v.major,
                "Minor" => v.minor,
                _ => v.patch,
            })
        }
        "Prerelease" | "Metadata" | "Original" | "String" => {
            want(method, args, 0)?;
            Value::String(match method {
                "Prerelease" => v.pre.clone(),
                "Metadata" => v.metadata.clone(),
                "Original" => v.original.clone(),
                _ => v.to_string(),
            })
        }
        "Compare" => Value::from(match v.compare(&other(args)?) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        }),
        "LessThan" => Value::Bool(v.compare(&other(args)?).is_lt()),
        "GreaterThan" => Value::Bool(v.compare(&other(args)?).is_gt()),
        "Equal" => Value::Bool(v.compare(&other(args)?).is_eq()),
        _ => return Err(FuncError::Undefined(method.to_string())),
    })
}

/// Why a Masterminds/semver constraint check could not be decided, worded as Masterminds/semver
/// words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SemverError {
    /// The version is not a semantic version.
    #[error("Invalid Semantic Version")]
    InvalidVersion,
    /// A number of the version does not fit 64 bits.
    #[error("Error parsing version segment: {0}")]
    Segment(String),
    /// A numeric prerelease identifier starts with 0.
    #[error("Version segment starts with 0")]
    SegmentStartsZero,
    /// A part of the constraint is not a version (the whole constraint is kept).
    #[error("improper constraint: {0}")]
    ImproperConstraint(String),
}

/// Whether `version` satisfies the Masterminds/semver `constraint` (as `semverCompare` and
/// Helm's `kubeVersion` check decide it); `Err` names an unreadable version or constraint.
pub fn semver_satisfies(constraint: &str, version: &str) -> Result<bool, SemverError> {
    semver_matches(constraint, version)
}

/// Masterminds/semver constraint check, as `semverCompare` does it (comparison operators,
/// `~`, `^`, wildcards `x`/`*`, `,` for and, `||` for or, prereleases only when asked for).
fn semver_matches(constraint: &str, version: &str) -> Result<bool, SemverError> {
    let v = parse_version(version).ok_or(SemverError::InvalidVersion)?;
    let key = |x: &(u64, u64, u64, String)| (x.0, x.1, x.2);
    let cmp_full = |a: &(u64, u64, u64, String), b: &(u64, u64, u64, String)| {
        key(a)
            .cmp(&key(b))
            .then_with(|| match (a.3.is_empty(), b.3.is_empty()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                (false, false) => compare_prereleases(&a.3, &b.3),
            })
    };
    for alternative in constraint.split("||") {
        let mut all = true;
        // Parts are separated by commas or spaces; an operator may stand apart from its
        // version (`>= 1.19.0-0`).
        let mut parts: Vec<String> = Vec::new();
        let mut pending_op = String::new();
        for token in alternative
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
        {
            if token.chars().all(|c| "<>=!~^".contains(c)) {
                pending_op.push_str(token);
            } else {
                parts.push(format!("{}{token}", std::mem::take(&mut pending_op)));
            }
        }
        if !pending_op.is_empty() {
            parts.push(pending_op);
        }
        for part in &parts {
            let (op, rest) = {
                let ops = [
                    "<=", ">=", "!=", "==", "=>", "=<", "<", ">", "=", "~>", "~", "^",
                ];
                match ops.iter().find(|o| part.starts_with(**o)) {
                    Some(o) => (*o, part[o.len()..].trim()),
                    None => ("", part.as_str()),
                }
            };
            let wildcard_minor = rest
                .trim_start_matches('v')
                .split('.')
                .nth(1)
                .is_none_or(|p| p == "x" || p == "*" || p == "X");
            let wildcard_patch = rest
                .trim_start_matches('v')
                .split('.')
                .nth(2)
                .is_none_or(|p| p == "x" || p == "*" || p == "X");
            let cleaned: String = rest
                .trim_start_matches('v')
                .split('.')
                .map(|p| if matches!(p, "x" | "X" | "*") { "0" } else { p })
                .collect::<Vec<_>>()
                .join(".");
            let c = parse_version(&cleaned)
                .ok_or_else(|| SemverError::ImproperConstraint(constraint.to_string()))?;
            // Masterminds/semver v3: a prerelease version only meets a constraint that names a
            // prerelease itself (`>=1.7.0-0`), whatever its numbers.
            if !v.3.is_empty() && c.3.is_empty() {
                all = false;
                continue;
            }
            let ord = cmp_full(&v, &c);
            use std::cmp::Ordering::*;
            let ok = match op {
                "" | "=" | "==" => {
                    if wildcard_minor {
                        v.0 == c.0
                    } else if wildcard_patch {
                        v.0 == c.0 && v.1 == c.1
                    } else {
                        ord == Equal
                    }
                }
                "!=" => ord != Equal,
                ">" => {
                    if wildcard_minor {
                        v.0 > c.0
                    } else if wildcard_patch {
                        (v.0, v.1) > (c.0, c.1)
                    } else {
                        ord == Greater
                    }
                }
                ">=" | "=>" => ord != Less,
                "<" => ord == Less,
                "<=" | "=<" => {
                    if wildcard_minor {
                        v.0 <= c.0
                    } else if wildcard_patch {
                        (v.0, v.1) <= (c.0, c.1)
                    } else {
                        ord != Greater
                    }
                }
                "~" | "~>" => {
                    ord != Less
                        && if wildcard_minor {
                            v.0 == c.0
                        } else {
                            v.0 == c.0 && v.1 == c.1
                        }
                }
                _ => {
                    // "^"
                    ord != Less
                        && if c.0 > 0 || wildcard_minor {
                            v.0 == c.0
                        } else if c.1 > 0 || wildcard_patch {
                            v.0 == 0 && v.1 == c.1
                        } else {
                            key(&v) == key(&c)
                        }
                }
            };
            if !ok {
                all = false;
            }
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Why the function's result changes from run to run (random text, the clock, generated
/// keys, certificates and salted secrets); `None` for the others.
pub(crate) fn nondeterministic(name: &str) -> Option<&'static str> {
    Some(match name {
        "randAlphaNum" | "randAlpha" | "randNumeric" | "randAscii" | "randBytes" | "randInt"
        | "shuffle" | "uuidv4" => "its result is random on every render",
        "now" | "date" | "dateInZone" | "htmlDate" | "htmlDateInZone" | "dateModify" | "ago"
        | "unixEpoch" | "toDate" | "date_in_zone" | "date_modify" | "must_date_modify"
        | "mustDateModify" | "mustToDate" => "its result depends on the clock",
        "genCA"
        | "genCAWithKey"
        | "genSelfSignedCert"
        | "genSelfSignedCertWithKey"
        | "genSignedCert"
        | "genSignedCertWithKey"
        | "genPrivateKey"
        | "derivePassword"
        | "buildCustomCert"
        | "encryptAES"
        | "decryptAES"
        | "bcrypt"
        | "htpasswd" => "it generates keys, certificates or salted secrets",
        _ => return None,
    })
}

/// What a random function returns with [`crate::RandomPlaceholders`]: the marker, or a
/// certificate (`.Cert`, `.Key`) holding it.
pub(crate) fn random_placeholder(name: &str, placeholder: String) -> Value {
    let marker = Value::String(placeholder);
    match name {
        "genCA"
        | "genCAWithKey"
        | "genSelfSignedCert"
        | "genSelfSignedCertWithKey"
        | "genSignedCert"
        | "genSignedCertWithKey"
        | "buildCustomCert" => {
            let mut cert = Map::new();
            cert.insert("Cert".to_string(), marker.clone());
            cert.insert("Key".to_string(), marker);
            Value::Object(cert)
        }
        _ => marker,
    }
}

pub(crate) fn unsupported(name: &str, reason: &'static str) -> FuncError {
    FuncError::Unsupported {
        func: name.to_string(),
        reason,
    }
}

/// Helm's and the further Sprig functions that need no engine state, building no value past
/// `limits`.
pub(crate) fn call(name: &str, a: &[Val], limits: &Limits) -> Result<Value, FuncError> {
    if let Some(target) = crate::sprig_more::alias(name) {
        return crate::funcs::call_inner(target, a, limits);
    }
    if let Some(result) = crate::sprig_more::call(name, a) {
        return result;
    }
    Ok(match name {
        "mustToYaml" | "toYamlPretty" => {
            want(name, a, 1)?;
            Value::String(crate::goyaml::to_yaml(&any(&a[0])))
        }
        "mustToJson" => {
            want(name, a, 1)?;
            Value::String(crate::value::go_json(&any(&a[0])))
        }
        "mustFromJson" => {
            want(name, a, 1)?;
            let text = s(&a[0])?;
            serde_json::from_str(&text).map_err(|e| FuncError::Stopped {
                func: "mustFromJson",
                message: go_json_syntax_error(&text),
                source: Some(crate::SharedCause::new(e)),
            })?
        }
        "fromJsonArray" => {
            want(name, a, 1)?;
            let text = s(&a[0])?;
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(mut v)) => {
                    v.iter_mut().for_each(crate::value::floatify);
                    Value::Array(v)
                }
                Ok(Value::Null) => Value::Array(Vec::new()),
                Ok(other) => Value::Array(vec![Value::String(format!(
                    "json: cannot unmarshal {} into Go value of type []interface {{}}",
                    json_kind(&other)
                ))]),
                Err(_) => Value::Array(vec![Value::String(go_json_syntax_error(&text))]),
            }
        }
        "toToml" | "fromToml" => return Err(unsupported(name, "TOML is not implemented")),
        "kindOf" => {
            want(name, a, 1)?;
            Value::String(kind_of(&any(&a[0])).to_string())
        }
        "kindIs" => {
            want(name, a, 2)?;
            Value::Bool(s(&a[0])? == kind_of(&any(&a[1])))
        }
        "typeOf" => {
            want(name, a, 1)?;
            Value::String(FMT.type_name(&any(&a[0])).to_string())
        }
        "typeIs" | "typeIsLike" => {
            want(name, a, 2)?;
            let t = FMT.type_name(&any(&a[1]));
            let wanted = s(&a[0])?;
            Value::Bool(wanted == t || (name == "typeIsLike" && wanted == format!("*{t}")))
        }
        "deepCopy" | "mustDeepCopy" => {
            want(name, a, 1)?;
            any(&a[0])
        }
        "mergeOverwrite" | "mustMergeOverwrite" | "mustMerge" => {
            want_min(name, a, 1)?;
            let mut dst = Value::Object(map_arg(&a[0])?);
            for src in &a[1..] {
                let src = Value::Object(map_arg(src)?);
                if name == "mustMerge" {
                    crate::funcs::deep_fill(&mut dst, &src);
                } else {
                    merge_overwrite(&mut dst, &src);
                }
            }
            dst
        }
        "sha256sum" | "sha1sum" | "adler32sum" => {
            want(name, a, 1)?;
            let text = s(&a[0])?;
            Value::String(match name {
                "sha256sum" => {
                    use sha2::Digest;
                    hex::encode(sha2::Sha256::digest(text.as_bytes()))
                }
                "sha1sum" => sha1_hex(text.as_bytes()),
                _ => adler32(text.as_bytes()).to_string(),
            })
        }
        "semver" => {
            want(name, a, 1)?;
            SemVer::parse(&s(&a[0])?)
                .map_err(|reason| FuncError::Stopped {
                    func: "semver",
                    message: reason.to_string(),
                    source: Some(crate::SharedCause::new(reason)),
                })?
                .to_object()
        }
        "semverCompare" => {
            want(name, a, 2)?;
            let ok =
                semver_matches(&s(&a[0])?, &s(&a[1])?).map_err(|reason| FuncError::Stopped {
                    func: "semverCompare",
                    message: reason.to_string(),
                    source: Some(crate::SharedCause::new(reason)),
                })?;
            Value::Bool(ok)
        }
        "toStrings" => {
            want(name, a, 1)?;
            Value::Array(match any(&a[0]) {
                Value::Array(v) => v.iter().map(|x| Value::String(strval(x))).collect(),
                other => vec![Value::String(strval(&other))],
            })
        }
        "sortAlpha" => {
            want(name, a, 1)?;
            let mut v = strslice(&any(&a[0]));
            v.sort();
            Value::Array(v.into_iter().map(Value::String).collect())
        }
        "seq" => {
            let nums: Vec<i64> = a.iter().map(|v| to_i64(&any(v))).collect();
            let (start, step, end) = match nums.as_slice() {
                [end] => (1, 1, *end),
                [start, end] => (*start, if start <= end { 1 } else { -1 }, *end),
                [start, step, end] => (*start, *step, *end),
                _ => return Ok(Value::String(String::new())),
            };
            let (wide, step_wide) = (i128::from(end) - i128::from(start), i128::from(step));
            let count = if step != 0 && (wide == 0 || (wide > 0) == (step > 0)) {
                wide / step_wide + 1
            } else {
                0
            };
            // No number is longer than the longer of the two ends.
            let width = start.to_string().len().max(end.to_string().len()) + 1;
            limits
                .check_bytes(count as u128 * width as u128)
                .map_err(crate::funcs::over(name))?;
            let mut out = Vec::new();
            let mut i = start;
            while step != 0 && ((step > 0 && i <= end) || (step < 0 && i >= end)) {
                out.push(i.to_string());
                match i.checked_add(step) {
                    Some(next) => i = next,
                    None => break,
                }
            }
            Value::String(out.join(" "))
        }
        "append" | "mustAppend" | "push" => {
            want(name, a, 2)?;
            let mut v = list_arg(name, &a[0])?;
            v.push(any(&a[1]));
            Value::Array(v)
        }
        "prepend" | "mustPrepend" => {
            want(name, a, 2)?;
            let mut v = list_arg(name, &a[0])?;
            v.insert(0, any(&a[1]));
            Value::Array(v)
        }
        "concat" => {
            let mut out = Vec::new();
            for v in a {
                out.extend(list_arg(name, v)?);
            }
            Value::Array(out)
        }
        "rest" | "initial" | "reverse" | "mustFirst" | "mustLast" | "mustUniq" | "mustCompact" => {
            want(name, a, 1)?;
            let mut v = list_arg(name, &a[0])?;
            match name {
                "rest" => Value::Array(if v.is_empty() { v } else { v.split_off(1) }),
                "initial" => {
                    v.pop();
                    Value::Array(v)
                }
                "reverse" => {
                    v.reverse();
                    Value::Array(v)
                }
                "mustFirst" => v.into_iter().next().unwrap_or(Value::Null),
                "mustLast" => v.pop().unwrap_or(Value::Null),
                "mustUniq" => {
                    let mut out: Vec<Value> = Vec::new();
                    for x in v {
                        if !out.contains(&x) {
                            out.push(x);
                        }
                    }
                    Value::Array(out)
                }
                _ => Value::Array(v.into_iter().filter(|x| !is_empty(x)).collect()),
            }
        }
        "mustHas" => {
            want(name, a, 2)?;
            let needle = any(&a[0]);
            Value::Bool(list_arg(name, &a[1])?.contains(&needle))
        }
        "without" => {
            want_min(name, a, 1)?;
            let v = list_arg(name, &a[0])?;
            let omit: Vec<Value> = a[1..].iter().map(any).collect();
            Value::Array(
                v.into_iter()
                    .filter(|x| !omit.iter().any(|o| equal(x, o).unwrap_or(false)))
                    .collect(),
            )
        }
        "unset" => {
            want(name, a, 2)?;
            let mut m = map_arg(&a[0])?;
            m.remove(&s(&a[1])?);
            Value::Object(m)
        }
        "pick" | "omit" => {
            want_min(name, a, 1)?;
            let m = map_arg(&a[0])?;
            let keys: Vec<String> = a[1..].iter().map(|k| strval(&any(k))).collect();
            Value::Object(
                m.into_iter()
                    .filter(|(k, _)| keys.contains(k) == (name == "pick"))
                    .collect(),
            )
        }
        "values" => {
            want(name, a, 1)?;
            Value::Array(map_arg(&a[0])?.into_iter().map(|(_, v)| v).collect())
        }
        "dig" => {
            want_min(name, a, 3)?;
            let n = a.len();
            let default = any(&a[n - 2]);
            let mut cur = Value::Object(map_arg(&a[n - 1])?);
            for k in &a[..n - 2] {
                let key = s(k)?;
                cur = match cur {
                    Value::Object(mut m) => match m.remove(&key) {
                        Some(v) => v,
                        None => return Ok(default),
                    },
                    _ => return Ok(default),
                };
            }
            cur
        }
        "ceil" | "floor" | "round" => {
            want_min(name, a, 1)?;
            let f = to_f64(&any(&a[0]));
            let r = match name {
                "ceil" => f.ceil(),
                "floor" => f.floor(),
                _ => {
                    let places = a.get(1).map(|p| to_i64(&any(p))).unwrap_or(0);
                    let scale = 10f64.powi(i32::try_from(places).unwrap_or(0));
                    (f * scale).round() / scale
                }
            };
            float(Value::from(r))
        }
        "addf" | "subf" | "mulf" | "divf" | "maxf" | "minf" => {
            want_min(name, a, 1)?;
            let nums: Vec<f64> = a.iter().map(|v| to_f64(&any(v))).collect();
            let first = nums[0];
            let r = nums[1..].iter().fold(first, |acc, x| match name {
                "addf" => acc + x,
                "subf" => acc - x,
                "mulf" => acc * x,
                "divf" => acc / x,
                "maxf" => acc.max(*x),
                _ => acc.min(*x),
            });
            float(Value::from(r))
        }
        "camelcase" | "snakecase" | "kebabcase" => {
            want(name, a, 1)?;
            let text = s(&a[0])?;
            let w = words(&text);
            Value::String(match name {
                "camelcase" => w
                    .iter()
                    .map(|x| {
                        let mut c = x.chars();
                        match c.next() {
                            Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                            None => String::new(),
                        }
                    })
                    .collect(),
                "snakecase" => w
                    .iter()
                    .map(|x| x.to_lowercase())
                    .collect::<Vec<_>>()
                    .join("_"),
                _ => w
                    .iter()
                    .map(|x| x.to_lowercase())
                    .collect::<Vec<_>>()
                    .join("-"),
            })
        }
        "swapcase" => {
            want(name, a, 1)?;
            Value::String(
                s(&a[0])?
                    .chars()
                    .map(|c| {
                        if c.is_uppercase() {
                            c.to_lowercase().collect::<String>()
                        } else {
                            c.to_uppercase().collect::<String>()
                        }
                    })
                    .collect(),
            )
        }
        "initials" => {
            want(name, a, 1)?;
            Value::String(
                s(&a[0])?
                    .split_whitespace()
                    .filter_map(|w| w.chars().next())
                    .collect(),
            )
        }
        "wrap" | "wrapWith" => return Err(unsupported(name, "word wrapping is not implemented")),
        "plural" => {
            want(name, a, 3)?;
            let n = int(&a[2])?;
            any(if n == 1 { &a[0] } else { &a[1] })
        }
        "regexSplit" => {
            want(name, a, 3)?;
            let re = crate::funcs::regex(&s(&a[0])?)?;
            let text = s(&a[1])?;
            let n = int(&a[2])?;
            let parts: Vec<Value> = if n < 0 {
                re.split(&text)
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            } else {
                re.splitn(&text, usize::try_from(n).unwrap_or(0))
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Value::Array(parts)
        }
        "regexFindAll" => {
            want(name, a, 3)?;
            let re = crate::funcs::regex(&s(&a[0])?)?;
            let text = s(&a[1])?;
            let n = int(&a[2])?;
            let found = re
                .find_iter(&text)
                .map(|m| Value::String(m.as_str().to_string()));
            Value::Array(if n < 0 {
                found.collect()
            } else {
                found.take(usize::try_from(n).unwrap_or(0)).collect()
            })
        }
        "mustRegexMatch" => {
            want(name, a, 2)?;
            let re = crate::funcs::regex(&s(&a[0])?)?;
            Value::Bool(re.is_match(&s(&a[1])?))
        }
        "toDecimal" => {
            want(name, a, 1)?;
            int64_object(i64::from_str_radix(&strval(&any(&a[0])), 8).unwrap_or(0))
        }
        "splitn" => {
            want(name, a, 3)?;
            let sep = s(&a[0])?;
            let n = usize::try_from(int(&a[1])?).unwrap_or(0);
            let text = s(&a[2])?;
            let mut m = Map::new();
            for (i, p) in text.splitn(n, sep.as_str()).enumerate() {
                m.insert(format!("_{i}"), Value::String(p.to_string()));
            }
            Value::Object(m)
        }
        "urlJoin" => return Err(unsupported(name, "URL building is not implemented")),
        _ if nondeterministic(name).is_some() => {
            return Err(unsupported(
                name,
                nondeterministic(name).unwrap_or_default(),
            ));
        }
        "getHostByName" => return Err(unsupported(name, "it needs DNS")),
        other => return Err(FuncError::Undefined(other.to_string())),
    })
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate().take(16) {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_output_is_followed_as_placeholders() {
        use crate::{RandomPlaceholders, SharedData, TemplateSet};
        let placeholders = std::sync::Arc::new(RandomPlaceholders::new());
        let mut set = TemplateSet::new(crate::FunctionSet::Helm, crate::MissingKey::Zero)
            .with_random_placeholders(placeholders.clone());
        set.add("name", r#"pod-{{ randAlphaNum 5 | lower }}"#)
            .expect("parsed");
        set.add("cert", r#"{{ (genCA "x" 1).Cert | b64enc }}"#)
            .expect("parsed");
        set.add("plain", r#"{{ "a" | upper }}"#).expect("parsed");
        set.add("decides", r#"{{ eq (randAlphaNum 3) "abc" }}"#)
            .expect("parsed");
        set.add("length", r#"{{ len (uuidv4) }}"#).expect("parsed");
        let data = SharedData::new(serde_json::json!({}));
        let name = set.execute_shared("name", &data).expect("rendered");
        assert_eq!(name, format!("pod-{}0zz", RandomPlaceholders::MARKER));
        let cert = set.execute_shared("cert", &data).expect("rendered");
        assert_eq!(cert, format!("{}1zz", RandomPlaceholders::MARKER));
        assert_eq!(set.execute_shared("plain", &data).expect("rendered"), "A");
        let (file, error) = placeholders.call_in(&cert).expect("the call");
        assert_eq!(file, "cert");
        assert!(error.to_string().contains("genCA"), "{error}");
        for decides in ["decides", "length"] {
            let err = set.execute_shared(decides, &data).expect_err("refused");
            assert!(err.to_string().contains("random output"), "{err}");
        }
    }

    #[test]
    fn globs_keep_star_within_a_segment() {
        let re = glob_regex("files/*.conf").expect("glob");
        assert!(re.is_match("files/a.conf"));
        assert!(!re.is_match("files/sub/a.conf"));
        let re = glob_regex("files/**.{conf,ini}").expect("glob");
        assert!(re.is_match("files/sub/a.ini"));
    }

    #[test]
    fn semver_constraints_as_masterminds() {
        assert_eq!(semver_matches(">=1.19-0", "v1.35.0"), Ok(true));
        assert_eq!(semver_matches("<1.19", "v1.35.0"), Ok(false));
        assert_eq!(semver_matches("^1.2.0", "1.9.1"), Ok(true));
        assert_eq!(semver_matches("~1.2.0", "1.3.0"), Ok(false));
        assert_eq!(semver_matches(">=1.20.0", "1.21.0-beta.1"), Ok(false));
    }

    #[test]
    fn sha1_matches_the_known_digest() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(adler32(b"Wikipedia"), 300_286_872);
    }

    #[test]
    fn case_words() {
        let v = |t: &str| Some(Value::String(t.to_string()));
        assert_eq!(
            call("snakecase", &[v("FirstName")], &crate::Limits::default()),
            Ok(Value::from("first_name"))
        );
        assert_eq!(
            call("kebabcase", &[v("HTTPServer")], &crate::Limits::default()),
            Ok(Value::from("http-server"))
        );
        assert_eq!(
            call("camelcase", &[v("http_server")], &crate::Limits::default()),
            Ok(Value::from("HttpServer"))
        );
    }
}

#[cfg(test)]
mod int64_tests {
    use crate::{FunctionSet, MissingKey, SharedData, TemplateSet};

    fn run(src: &str) -> Result<String, String> {
        let mut set = TemplateSet::new(FunctionSet::Helm, MissingKey::Default);
        set.add("t", src).map_err(|e| e.to_string())?;
        set.execute_shared("t", &SharedData::new(serde_json::json!({"n": 5})))
            .map_err(|e| e.to_string())
    }

    /// As Go's template engine and Sprig (checked against `helm template`): an `int64` is a
    /// number with its own type.
    #[test]
    fn an_int64_is_a_number_of_its_own_type() {
        let ok = |src: &str, want: &str| assert_eq!(run(src).as_deref(), Ok(want), "{src}");
        ok(
            "{{ typeOf (add 1 2) }} {{ kindOf (int64 1) }} {{ printf \"%T %T\" (mul 2 2) 2 }}",
            "int64 int64 int64 int",
        );
        ok("{{ range int64 3 }}{{ . }}{{ end }}", "012");
        ok("{{ if sub 1 1 }}t{{ else }}f{{ end }}", "f");
        ok(
            "{{ toJson (list (int64 1) (dict \"a\" (add 1 1))) }}",
            "[1,{\"a\":2}]",
        );
        ok("{{ printf \"%s\" (int64 5) }}", "%!s(int64=5)");
        ok("{{ duration (int64 61) }} {{ duration 61 }}", "1m1s 0s");
        ok(
            "{{ deepEqual (int64 1) 1 }} {{ eq (int64 1) 1 }}",
            "false true",
        );
        let err = |src: &str, want: &str| {
            let got = run(src).expect_err(src);
            assert!(got.contains(want), "{src}: {got}");
        };
        err("{{ (int64 5).x }}", "can't evaluate field x in type int64");
        err("{{ len (int64 3) }}", "len of type int64");
        err(
            "{{ upper (int64 5) }}",
            "wrong type for value; expected string; got int64",
        );
        err(
            "{{ upper 5 }}",
            "wrong type for value; expected string; got int",
        );
        err(
            "{{ trunc (int64 3) \"abcdef\" }}",
            "wrong type for value; expected int; got int64",
        );
        err(
            "{{ nindent (add 1 1) \"x\" }}",
            "wrong type for value; expected int; got int64",
        );
    }
}
