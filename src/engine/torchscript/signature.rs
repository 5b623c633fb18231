//! forward's signature, read from the code that `torch.jit.save` printed into the archive, and
//! the binding of params (forward's keyword arguments) to positions. libtorch's C entry points,
//! and so tch, pass positional arguments only; mlflow calls `module(tensor, **params)`.
//!
//! The binding follows Python TorchScript's conversions for the values mlflow's params
//! enforcement produces (None, bool, int, float, str and lists of them): a float argument takes
//! an int or a bool, a bool argument takes a number's truth. Where Python does something odd
//! (None as a bool, a str as a `List[str]`) or the argument's type is beyond these (tuples,
//! dicts, classes), the binding says so and the caller runs Python torch instead, so answers
//! never differ.

use std::fmt;
use std::io::{Read, Seek};
use std::path::Path;

/// The most printed code read for one class (real modules print kilobytes).
const MAX_CODE: u64 = 16 << 20;

/// An argument's TorchScript type, as far as the binding needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgType {
    Tensor,
    Float,
    Int,
    Bool,
    Str,
    List(Box<ArgType>),
    Optional(Box<ArgType>),
    /// Anything else, as printed.
    Other(String),
}

impl ArgType {
    fn parse(text: &str) -> ArgType {
        let text = text.trim();
        let inner = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(']'))
                .map(|r| Box::new(ArgType::parse(r)))
        };
        match text {
            "Tensor" => ArgType::Tensor,
            "float" => ArgType::Float,
            "int" => ArgType::Int,
            "bool" => ArgType::Bool,
            "str" => ArgType::Str,
            _ => {
                if let Some(t) = inner("Optional[") {
                    ArgType::Optional(t)
                } else if let Some(t) = inner("List[") {
                    ArgType::List(t)
                } else {
                    ArgType::Other(text.to_string())
                }
            }
        }
    }
}

impl fmt::Display for ArgType {
    /// TorchScript's own spelling, as in its error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgType::Tensor => f.write_str("Tensor"),
            ArgType::Float => f.write_str("float"),
            ArgType::Int => f.write_str("int"),
            ArgType::Bool => f.write_str("bool"),
            ArgType::Str => f.write_str("str"),
            ArgType::List(t) => write!(f, "List[{t}]"),
            ArgType::Optional(t) => write!(f, "Optional[{t}]"),
            ArgType::Other(s) => f.write_str(s),
        }
    }
}

/// A value forward receives by position (it crosses the engine ABI as a `RawArg`).
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    None,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    IntList(Vec<i64>),
    DoubleList(Vec<f64>),
    BoolList(Vec<bool>),
    StrList(Vec<String>),
}

/// A param value as Python hands it over.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<ParamValue>),
    /// Any other Python object (bytes, datetime, an array, ...), by its type name.
    Other(String),
}

impl ParamValue {
    /// The Python type name, as TorchScript's messages show it.
    fn type_name(&self) -> &str {
        match self {
            ParamValue::None => "NoneType",
            ParamValue::Bool(_) => "bool",
            ParamValue::Int(_) => "int",
            ParamValue::Float(_) => "float",
            ParamValue::Str(_) => "str",
            ParamValue::List(_) => "list",
            ParamValue::Other(t) => t,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Default {
    /// The argument has none: it must be given.
    Missing,
    Value(ArgValue),
    /// A default this parser does not read (a tuple, a `CONSTANTS.cN` string), as printed.
    Unread(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Arg {
    name: String,
    ty: ArgType,
    default: Default,
}

/// forward's arguments after `self`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardSignature {
    args: Vec<Arg>,
}

/// What binding params produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    /// The arguments after the inputs, up to the last one given.
    Args(Vec<ArgValue>),
    /// This call needs Python torch to keep Python's answer; the reason says why.
    NeedsPython(String),
}

/// A param forward cannot take: the key and the reason (the caller adds the model path).
#[derive(Debug, Clone, PartialEq)]
pub struct BindError {
    pub key: String,
    pub reason: String,
}

impl ForwardSignature {
    /// Reads the root module's forward from a TorchScript archive: `data.pkl` names the root
    /// class (its first pickle GLOBAL), and `code/<module path>.py` holds its printed methods.
    pub fn read(archive: &Path) -> Result<Self, String> {
        Self::read_from(std::fs::File::open(archive).map_err(|e| e.to_string())?)
    }

    /// [`ForwardSignature::read`] of an archive read from memory (or any seekable reader).
    pub fn read_from<R: Read + Seek>(archive: R) -> Result<Self, String> {
        let mut zip = zip::ZipArchive::new(archive).map_err(|e| e.to_string())?;
        let top = zip
            .file_names()
            .find_map(|n| n.strip_suffix("/data.pkl"))
            .filter(|t| !t.contains('/'))
            .ok_or("the archive has no data.pkl")?
            .to_string();
        let mut head = [0u8; 512];
        let n = zip
            .by_name(&format!("{top}/data.pkl"))
            .and_then(|f| f.take(512).read(&mut head).map_err(Into::into))
            .map_err(|e| e.to_string())?;
        let (module, class) = root_class(&head[..n]).ok_or("data.pkl does not name its class")?;
        let code_path = format!("{top}/code/{}.py", module.replace('.', "/"));
        let mut code = String::new();
        // Bounded: the entry is deflated, and a hostile archive could inflate it without end.
        zip.by_name(&code_path)
            .map_err(|e| format!("{code_path}: {e}"))?
            .take(MAX_CODE + 1)
            .read_to_string(&mut code)
            .map_err(|e| format!("{code_path}: {e}"))?;
        if code.len() as u64 > MAX_CODE {
            return Err(format!("{code_path} is larger than {MAX_CODE} bytes"));
        }
        Self::parse(&code, &class).map_err(|e| format!("{code_path}: {e}"))
    }

    /// Parses `class <class>`'s `def forward(self: ..., name: Type=default, ...)` in `code`.
    pub fn parse(code: &str, class: &str) -> Result<Self, String> {
        let start = code
            .match_indices(&format!("class {class}("))
            .find(|(i, _)| *i == 0 || code.as_bytes()[i - 1] == b'\n')
            .map(|(i, _)| i)
            .ok_or_else(|| format!("no class {class}"))?;
        let body = &code[start..];
        let end = body[1..].find("\nclass ").map_or(body.len(), |i| i + 1);
        let body = &body[..end];
        let def = body
            .find("\n  def forward(")
            .ok_or_else(|| format!("class {class} has no forward"))?;
        let params = &body[def + "\n  def forward(".len()..];
        let mut args = vec![];
        for (i, text) in split_params(params)?.into_iter().enumerate() {
            let (name, rest) = text
                .split_once(':')
                .ok_or_else(|| format!("argument '{text}' has no type"))?;
            let name = name.trim();
            if i == 0 {
                if name != "self" {
                    return Err(format!("forward's first argument is '{name}', not self"));
                }
                continue;
            }
            let (ty, default) = match top_level_eq(rest) {
                Some(eq) => (&rest[..eq], Some(rest[eq + 1..].trim())),
                None => (rest, None),
            };
            let ty = ArgType::parse(ty);
            let default = match default {
                None => Default::Missing,
                Some(text) => match parse_default(text, &ty) {
                    Some(v) => Default::Value(v),
                    None => Default::Unread(text.to_string()),
                },
            };
            args.push(Arg {
                name: name.to_string(),
                ty,
                default,
            });
        }
        Ok(ForwardSignature { args })
    }

    /// The argument names after `self`, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.args.iter().map(|a| a.name.as_str())
    }

    /// Binds `params` to the arguments after the `n_inputs` positional inputs.
    pub fn bind(
        &self,
        n_inputs: usize,
        params: &[(String, ParamValue)],
    ) -> Result<Binding, BindError> {
        let mut last = None;
        for (key, _) in params {
            let Some(pos) = self.args.iter().position(|a| &a.name == key) else {
                let names: Vec<_> = self.names().collect();
                return Err(BindError {
                    key: key.clone(),
                    reason: format!(
                        "forward() has no argument named '{key}' (its arguments: {})",
                        names.join(", ")
                    ),
                });
            };
            if pos < n_inputs {
                return Err(BindError {
                    key: key.clone(),
                    reason: format!(
                        "forward's argument '{key}' is input {pos}, already given by the data"
                    ),
                });
            }
            last = last.max(Some(pos));
        }
        let Some(last) = last else {
            return Ok(Binding::Args(vec![]));
        };
        let mut out = Vec::with_capacity(last + 1 - n_inputs);
        for arg in &self.args[n_inputs..=last] {
            let given = params.iter().rev().find(|(k, _)| *k == arg.name);
            let value = match (given, &arg.default) {
                (Some((_, v)), _) => match convert(v, &arg.ty) {
                    Converted::Value(v) => v,
                    Converted::NeedsPython => {
                        return Ok(Binding::NeedsPython(format!(
                            "param '{}' ({}) for forward's argument of type {}",
                            arg.name,
                            v.type_name(),
                            arg.ty
                        )))
                    }
                    Converted::Mismatch => {
                        return Err(BindError {
                            key: arg.name.clone(),
                            reason: format!(
                                "Expected a value of type '{}' for argument '{}' but instead \
                                 found type '{}'",
                                arg.ty,
                                arg.name,
                                v.type_name()
                            ),
                        })
                    }
                },
                (None, Default::Value(v)) => v.clone(),
                (None, Default::Unread(text)) => {
                    return Ok(Binding::NeedsPython(format!(
                        "forward's argument '{}' has the default {text}, which the native engine \
                         does not read",
                        arg.name
                    )))
                }
                (None, Default::Missing) => {
                    return Err(BindError {
                        key: arg.name.clone(),
                        reason: format!("forward() is missing value for argument '{}'", arg.name),
                    })
                }
            };
            out.push(value);
        }
        Ok(Binding::Args(out))
    }
}

enum Converted {
    Value(ArgValue),
    NeedsPython,
    Mismatch,
}

fn as_double(v: &ParamValue) -> Option<f64> {
    match v {
        ParamValue::Float(f) => Some(*f),
        ParamValue::Int(i) => Some(*i as f64),
        ParamValue::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn as_int(v: &ParamValue) -> Option<i64> {
    match v {
        ParamValue::Int(i) => Some(*i),
        ParamValue::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A number's truth, as Python's `bool()` reads it.
fn as_bool(v: &ParamValue) -> Option<bool> {
    match v {
        ParamValue::Bool(b) => Some(*b),
        ParamValue::Int(i) => Some(*i != 0),
        ParamValue::Float(f) => Some(*f != 0.0),
        _ => None,
    }
}

fn as_str(v: &ParamValue) -> Option<String> {
    match v {
        ParamValue::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// Every item converted, or why not.
fn each<T>(
    items: &[ParamValue],
    f: impl Fn(&ParamValue) -> Option<T>,
) -> Result<Vec<T>, Converted> {
    items
        .iter()
        .map(|item| match item {
            ParamValue::Other(_) => Err(Converted::NeedsPython),
            _ => f(item).ok_or(Converted::Mismatch),
        })
        .collect()
}

/// `value` as an argument of type `ty`, by Python TorchScript's rules for these types.
fn convert(value: &ParamValue, ty: &ArgType) -> Converted {
    use ParamValue as P;
    let done = |v: Option<ArgValue>| v.map_or(Converted::Mismatch, Converted::Value);
    let list = |v: Result<ArgValue, Converted>| v.map_or_else(|c| c, Converted::Value);
    match (ty, value) {
        (_, P::Other(_)) => Converted::NeedsPython,
        (ArgType::Optional(_), P::None) => Converted::Value(ArgValue::None),
        (ArgType::Optional(t), v) => convert(v, t),
        (ArgType::Float, v) => done(as_double(v).map(ArgValue::Double)),
        (ArgType::Int, v) => done(as_int(v).map(ArgValue::Int)),
        // Python turns None into False for a bool argument.
        (ArgType::Bool, P::None) => Converted::NeedsPython,
        (ArgType::Bool, v) => done(as_bool(v).map(ArgValue::Bool)),
        (ArgType::Str, v) => done(as_str(v).map(ArgValue::Str)),
        (ArgType::List(elem), P::List(items)) => match **elem {
            ArgType::Int => list(each(items, as_int).map(ArgValue::IntList)),
            ArgType::Float => list(each(items, as_double).map(ArgValue::DoubleList)),
            ArgType::Bool => list(each(items, as_bool).map(ArgValue::BoolList)),
            ArgType::Str => list(each(items, as_str).map(ArgValue::StrList)),
            _ => Converted::NeedsPython,
        },
        // Python reads a str as a list of its characters.
        (ArgType::List(elem), P::Str(_)) if **elem == ArgType::Str => Converted::NeedsPython,
        (ArgType::List(_) | ArgType::Tensor, _) => Converted::Mismatch,
        (ArgType::Other(_), _) => Converted::NeedsPython,
    }
}

/// `(module, class)` of the first pickle GLOBAL (`c<module>\n<name>\n`) after the PROTO opcode.
fn root_class(pickle: &[u8]) -> Option<(String, String)> {
    let rest = match pickle {
        [0x80, _, b'c', rest @ ..] => rest,
        [b'c', rest @ ..] => rest,
        _ => return None,
    };
    let mut lines = rest.splitn(3, |&b| b == b'\n');
    let module = std::str::from_utf8(lines.next()?).ok()?;
    let class = std::str::from_utf8(lines.next()?).ok()?;
    lines.next()?; // both lines were terminated
    let ident =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_.".contains(c));
    (ident(module) && ident(class)).then(|| (module.to_string(), class.to_string()))
}

/// The parameter texts of `text`, which starts right after `forward(`: split at commas outside
/// brackets and string literals, up to the closing parenthesis.
fn split_params(text: &str) -> Result<Vec<&str>, String> {
    let mut out = vec![];
    let (mut depth, mut start, mut quote, mut escaped) = (0usize, 0usize, None, false);
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' if depth == 0 => {
                let last = text[start..i].trim();
                if !last.is_empty() {
                    out.push(last);
                }
                return Ok(out);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    Err("forward's argument list does not end".into())
}

/// The position of the `=` that starts a default, outside brackets and strings.
fn top_level_eq(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '"' | '\'' => return None, // types hold no strings; a quote means we are lost
            '=' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// A printed default for an argument of type `ty`, when it is a plain literal.
fn parse_default(text: &str, ty: &ArgType) -> Option<ArgValue> {
    match (text, ty) {
        ("None", ArgType::Optional(_)) => Some(ArgValue::None),
        (_, ArgType::Optional(t)) => parse_default(text, t),
        ("True", ArgType::Bool) => Some(ArgValue::Bool(true)),
        ("False", ArgType::Bool) => Some(ArgValue::Bool(false)),
        (_, ArgType::Int) => text.parse().ok().map(ArgValue::Int),
        // The printer writes `2.`, `1e-05`, `inf`, `-inf`, `nan`: all of which Rust parses.
        (_, ArgType::Float) => text.parse().ok().map(ArgValue::Double),
        (_, ArgType::Str) => parse_str(text).map(ArgValue::Str),
        _ => None,
    }
}

/// A double-quoted literal with the common escapes; anything rarer is left unread.
fn parse_str(text: &str) -> Option<String> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(match chars.next()? {
                '\\' => '\\',
                '"' => '"',
                '\'' => '\'',
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                _ => return None,
            }),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Printed by torch 2.13's torch.jit.save for a scripted module (see tests/test_torchscript.py
    // for the same module run against Python torch).
    const CODE: &str = r#"class M(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  lin : __torch__.torch.nn.modules.linear.Linear
  def forward(self: __torch__.M,
    x: Tensor,
    scale: float=2.,
    n: int=3,
    flag: bool=True,
    name: str="a, b",
    ks: Optional[List[int]]=None,
    opt: Optional[float]=None,
    fl: Tuple[float, float]=(1.5, -2.),
    s2: str=CONSTANTS.c0) -> Tensor:
    lin = self.lin
    return torch.mul((lin).forward(x, ), scale)
"#;

    fn sig() -> ForwardSignature {
        ForwardSignature::parse(CODE, "M").unwrap()
    }

    fn p(k: &str, v: ParamValue) -> (String, ParamValue) {
        (k.to_string(), v)
    }

    #[test]
    fn parses_names_types_and_defaults() {
        let s = sig();
        let names: Vec<_> = s.names().collect();
        assert_eq!(
            names,
            ["x", "scale", "n", "flag", "name", "ks", "opt", "fl", "s2"]
        );
        assert_eq!(s.args[1].default, Default::Value(ArgValue::Double(2.0)));
        assert_eq!(
            s.args[4].default,
            Default::Value(ArgValue::Str("a, b".into()))
        );
        assert_eq!(
            s.args[5].ty,
            ArgType::Optional(Box::new(ArgType::List(Box::new(ArgType::Int))))
        );
        assert_eq!(s.args[7].default, Default::Unread("(1.5, -2.)".into()));
        assert_eq!(s.args[0].default, Default::Missing);
    }

    #[test]
    fn binds_by_name_and_fills_gaps_with_defaults() {
        let s = sig();
        let b = s.bind(1, &[p("n", ParamValue::Int(7))]).unwrap();
        assert_eq!(
            b,
            Binding::Args(vec![ArgValue::Double(2.0), ArgValue::Int(7)])
        );
        let b = s
            .bind(
                1,
                &[p(
                    "ks",
                    ParamValue::List(vec![ParamValue::Int(1), ParamValue::Bool(true)]),
                )],
            )
            .unwrap();
        assert_eq!(
            b,
            Binding::Args(vec![
                ArgValue::Double(2.0),
                ArgValue::Int(3),
                ArgValue::Bool(true),
                ArgValue::Str("a, b".into()),
                ArgValue::IntList(vec![1, 1]),
            ])
        );
        assert_eq!(s.bind(1, &[]).unwrap(), Binding::Args(vec![]));
    }

    #[test]
    fn converts_as_python_torchscript_does() {
        let s = sig();
        let one = |k: &str, v| s.bind(1, &[p(k, v)]).unwrap();
        assert_eq!(
            one("scale", ParamValue::Int(3)),
            Binding::Args(vec![ArgValue::Double(3.0)])
        );
        let Binding::Args(args) = one("flag", ParamValue::Float(0.5)) else {
            panic!()
        };
        assert_eq!(args[2], ArgValue::Bool(true));
        assert!(matches!(
            one("flag", ParamValue::None),
            Binding::NeedsPython(_)
        ));
        assert!(matches!(
            one("fl", ParamValue::List(vec![])),
            Binding::NeedsPython(_)
        ));
        // s2's default is unread, but nothing after it is given: it is not needed.
        assert!(matches!(one("opt", ParamValue::None), Binding::Args(_)));
    }

    #[test]
    fn refuses_what_python_refuses() {
        let s = sig();
        let err = s.bind(1, &[p("n", ParamValue::Float(1.5))]).unwrap_err();
        assert_eq!(err.key, "n");
        assert!(
            err.reason.contains("Expected a value of type 'int'"),
            "{}",
            err.reason
        );
        let err = s.bind(1, &[p("nope", ParamValue::Int(1))]).unwrap_err();
        assert!(
            err.reason.contains("no argument named 'nope'"),
            "{}",
            err.reason
        );
        let err = s.bind(1, &[p("x", ParamValue::Int(1))]).unwrap_err();
        assert!(err.reason.contains("input 0"), "{}", err.reason);
        let err = s.bind(0, &[p("scale", ParamValue::Int(1))]).unwrap_err();
        assert_eq!(err.key, "x");
    }

    #[test]
    fn reads_the_root_class_from_the_pickle() {
        let head = b"\x80\x02c__torch__.torch.nn.modules.container\nSequential\nq\x00)";
        assert_eq!(
            root_class(head),
            Some((
                "__torch__.torch.nn.modules.container".into(),
                "Sequential".into()
            ))
        );
        assert_eq!(root_class(b"\x80\x02}q\x00"), None);
    }

    #[test]
    fn reads_an_archive_and_bounds_its_code() {
        use std::io::Write;
        let write = |code: &[u8]| {
            let path = std::env::temp_dir().join(format!(
                "fastpyfunc-signature-{}-{}.zip",
                std::process::id(),
                code.len()
            ));
            let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
            let deflated = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file("m/data.pkl", deflated).unwrap();
            w.write_all(b"\x80\x02c__torch__\nM\nq\x00)").unwrap();
            w.start_file("m/code/__torch__.py", deflated).unwrap();
            w.write_all(code).unwrap();
            w.finish().unwrap();
            path
        };
        let ok = write(CODE.as_bytes());
        assert_eq!(ForwardSignature::read(&ok).unwrap(), sig());
        let mut huge = CODE.as_bytes().to_vec();
        huge.resize(MAX_CODE as usize + 10, b' ');
        let bomb = write(&huge);
        let err = ForwardSignature::read(&bomb).unwrap_err();
        assert!(err.contains("larger than"), "{err}");
        let _ = (std::fs::remove_file(ok), std::fs::remove_file(bomb));
    }

    #[test]
    fn string_defaults() {
        assert_eq!(parse_str(r#""a\"b\\c""#), Some("a\"b\\c".into()));
        assert_eq!(parse_str(r#""\x00""#), None);
    }
}
