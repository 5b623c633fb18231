//! The opcode reader: runs the pickle machine (protocols 0-5) on symbolic values instead of
//! objects. Strings and tuples are tracked exactly (STACK_GLOBAL's arguments, code objects'
//! names); everything else is opaque. Whatever cannot be resolved statically is refused.
//! Bounded in stack, memo and nesting; every read is checked, so it never panics.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::allowlist::{IMPORT_MAPPING, NAME_MAPPING};
use super::{is_allowed, CodeObject, Finding, GlobalRef, JoblibArray, Report};

/// Resource bounds; the defaults are far above what model pickles need.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_stack: usize,
    pub max_memo: usize,
    pub max_marks: usize,
    pub max_findings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stack: 1 << 23,
            max_memo: 1 << 23,
            max_marks: 1 << 20,
            max_findings: 1000,
        }
    }
}

/// Tuples nested deeper than this are opaque (keeps drops shallow; nothing needs more).
const MAX_TUPLE_DEPTH: u16 = 32;
/// A dict's items are tracked up to this many (joblib's array wrapper state has six).
const MAX_DICT_ITEMS: usize = 32;
/// joblib's placeholder for an array whose raw bytes follow it in the file.
const JOBLIB_WRAPPER: (&str, &str) = ("joblib.numpy_pickle", "NumpyArrayWrapper");

/// A `numpy.dtype(str, ...)` built at load time: what the byte size of its items is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dtype {
    /// Bytes per item; None when it cannot be known statically (structured, unknown kinds).
    itemsize: Option<u64>,
    object: bool,
    /// Whether the item size depends on the state (`U`, `S`: flexible kinds).
    flexible: bool,
}

impl Dtype {
    /// From numpy's pickled type string: `f8`, `i4`, `U5`, `S3`, `V16`, `O8`, `M8`...
    fn parse(s: &str) -> Dtype {
        let s = s.trim_start_matches(['<', '>', '|', '=']);
        let kind = s.chars().next().unwrap_or('?');
        let size = s.get(1..).and_then(|n| n.parse::<u64>().ok());
        match kind {
            'O' => Dtype {
                itemsize: None,
                object: true,
                flexible: false,
            },
            // `U<n>` counts UCS-4 characters; `S<n>` and `V<n>` count bytes.
            'U' => Dtype {
                itemsize: size.and_then(|n| n.checked_mul(4)),
                object: false,
                flexible: true,
            },
            'S' | 'V' => Dtype {
                itemsize: size,
                object: false,
                flexible: true,
            },
            'b' | 'i' | 'u' | 'f' | 'c' | 'M' | 'm' if size.is_some_and(|n| n > 0) => Dtype {
                itemsize: size,
                object: false,
                flexible: false,
            },
            _ => Dtype {
                itemsize: None,
                object: false,
                flexible: false,
            },
        }
    }

    /// `dtype.__setstate__((version, endian, subarray, names, fields, elsize, ...))`. The size
    /// is kept only when elsize agrees with the type string; a subarray or structured dtype
    /// holds objects when its base or any field does. Anything else: unknown.
    fn set_state(&mut self, state: &Value<'_>) {
        let known = match state {
            Value::Tuple(items, _) if (8..=9).contains(&items.len()) => {
                let elsize = match &items[5] {
                    Value::Int(n) => Some(*n),
                    _ => None,
                };
                let size_ok = match (elsize, self.itemsize) {
                    (Some(-1), _) => !self.flexible,
                    (Some(n), Some(size)) => self.flexible && u64::try_from(n) == Ok(size),
                    _ => false,
                };
                // (base dtype, shape) for a subarray dtype.
                let sub = match &items[2] {
                    Value::None => Some(false),
                    Value::Tuple(t, _) => match t.first() {
                        Some(Value::Dtype(base)) => {
                            let b = base.try_borrow().ok();
                            b.filter(|b| b.object || b.itemsize.is_some())
                                .map(|b| b.object)
                        }
                        _ => None,
                    },
                    _ => None,
                };
                // {name: (dtype, offset[, title])} for a structured dtype.
                let fields = match (&items[3], &items[4]) {
                    (Value::None, Value::None) => Some(false),
                    (Value::Tuple(names, _), Value::Frozen(fields, _)) => {
                        let mut object = Some(false);
                        for name in names.iter() {
                            let field = name.as_str().and_then(|n| lookup(fields, n));
                            let dtype = match field {
                                Some(Value::Tuple(t, _)) => match t.first() {
                                    Some(Value::Dtype(d)) => d.try_borrow().ok().map(|d| d.clone()),
                                    _ => None,
                                },
                                _ => None,
                            };
                            object = match (object, dtype) {
                                (Some(o), Some(d)) if d.object || d.itemsize.is_some() => {
                                    Some(o || d.object)
                                }
                                _ => None,
                            };
                        }
                        object
                    }
                    _ => None,
                };
                match (size_ok, sub, fields) {
                    (true, Some(a), Some(b)) => {
                        self.object |= a || b;
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        };
        if !known {
            self.itemsize = None;
            self.object = false;
        }
    }
}

/// A dict built at load time, with its literal-string-keyed items in order (shared through the
/// memo, as the dict object is). `exact` is false once an item was not tracked.
#[derive(Debug, Default)]
struct Dict<'a> {
    items: Vec<(&'a str, Value<'a>)>,
    exact: bool,
}

#[derive(Debug, Clone)]
enum Value<'a> {
    /// A string, borrowed from the pickle bytes (no allocation per string).
    Str(&'a str),
    Bytes,
    /// A global as imported (after protocol < 3 name mapping).
    Global(Rc<(String, String)>),
    Tuple(Rc<Vec<Value<'a>>>, u16),
    /// What `_builtin_type('CodeType')` / `_builtin_type('FunctionType')` return.
    CodeType,
    FunctionType,
    /// A code object built at load time: (name, file).
    Code(Rc<(Option<String>, Option<String>)>),
    None,
    /// An integer small enough for an i64.
    Int(i64),
    Dict(Rc<RefCell<Dict<'a>>>),
    /// A dict as it was when put in a tuple or another dict (its items, nesting depth).
    Frozen(Rc<Vec<(&'a str, Value<'a>)>>, u16),
    Dtype(Rc<RefCell<Dtype>>),
    /// joblib's `NumpyArrayWrapper()`: its BUILD is followed by the array's raw bytes.
    Wrapper,
    Other,
}

impl<'a> Value<'a> {
    fn tuple(mut items: Vec<Value<'a>>) -> Value<'a> {
        // A (mutable) dict inside a tuple is frozen: nesting is then fixed when it is built, and
        // bounded, so drops stay shallow.
        for v in items.iter_mut() {
            if let Value::Dict(d) = v {
                *v = Dict::freeze(d);
            }
        }
        let depth = items.iter().map(Value::depth).max().unwrap_or(0) + 1;
        if depth > MAX_TUPLE_DEPTH {
            Value::Other
        } else {
            Value::Tuple(Rc::new(items), depth)
        }
    }

    fn depth(&self) -> u16 {
        match self {
            Value::Tuple(_, d) | Value::Frozen(_, d) => *d,
            _ => 0,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Value::Global(g) => format!("{}.{}", g.0, g.1),
            Value::Str(_) => "a string".into(),
            Value::Bytes => "a bytes object".into(),
            Value::Tuple(..) => "a tuple".into(),
            Value::CodeType => "the code type".into(),
            Value::FunctionType => "the function type".into(),
            Value::Code(_) => "a code object".into(),
            Value::None => "None".into(),
            Value::Int(_) => "an integer".into(),
            Value::Dict(_) | Value::Frozen(..) => "a dict".into(),
            Value::Dtype(_) => "a numpy dtype".into(),
            Value::Wrapper => "a joblib array wrapper".into(),
            Value::Other => "an object built at load time".into(),
        }
    }
}

impl<'a> Dict<'a> {
    /// The items, when every one was tracked.
    fn clone_items(&self) -> Option<Vec<(&'a str, Value<'a>)>> {
        self.exact.then(|| self.items.clone())
    }

    fn freeze(d: &RefCell<Dict<'a>>) -> Value<'a> {
        let Some(items) = d.borrow().clone_items() else {
            return Value::Other;
        };
        let depth = items.iter().map(|(_, v)| v.depth()).max().unwrap_or(0) + 1;
        if depth > MAX_TUPLE_DEPTH {
            Value::Other
        } else {
            Value::Frozen(Rc::new(items), depth)
        }
    }
}

/// The value of `key` in a frozen dict's items (the last one set, as in Python).
fn lookup<'v, 'a>(items: &'v [(&'a str, Value<'a>)], key: &str) -> Option<&'v Value<'a>> {
    items.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// The memo: picklers number entries 0, 1, 2...; those live in a vector, any others in a map.
#[derive(Default)]
struct Memo<'a> {
    dense: Vec<Option<Value<'a>>>,
    sparse: HashMap<u64, Value<'a>>,
    len: usize,
}

impl<'a> Memo<'a> {
    fn insert(&mut self, idx: u64, v: Value<'a>) {
        let fresh = match usize::try_from(idx) {
            Ok(i) if i < self.dense.len() => self.dense[i].replace(v).is_none(),
            Ok(i) if i == self.dense.len() => {
                self.dense.push(Some(v));
                // (no hashing in the usual case: picklers number entries 0, 1, 2...)
                self.sparse.is_empty() || self.sparse.remove(&idx).is_none()
            }
            _ => self.sparse.insert(idx, v).is_none(),
        };
        self.len += usize::from(fresh);
    }

    fn get(&self, idx: u64) -> Option<&Value<'a>> {
        match usize::try_from(idx) {
            Ok(i) if i < self.dense.len() => self.dense[i].as_ref(),
            _ => self.sparse.get(&idx),
        }
    }

    fn contains(&self, idx: u64) -> bool {
        self.get(idx).is_some()
    }
}

/// Stops the machine: the stream is unreadable at `offset`.
struct Stop(Finding);

type Step<T> = std::result::Result<T, Stop>;

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    op_start: usize,
    limits: &'a Limits,
    stack: Vec<Value<'a>>,
    metastack: Vec<Vec<Value<'a>>>,
    depth: usize,
    memo: Memo<'a>,
    proto: u8,
    frame_end: Option<usize>,
    report: Report,
    seen: HashMap<(String, String), usize>,
    /// Emptied stacks of finished marks, reused by the next MARK (one allocation per nesting
    /// level instead of one per MARK).
    spare: Vec<Vec<Value<'a>>>,
    /// Whether joblib's array wrappers are read (not inside the nested pickle of one).
    joblib: bool,
}

/// Reads one pickle stream (up to its STOP) and reports what loading it would import and call.
/// joblib's arrays (raw bytes after each `NumpyArrayWrapper`) are read as joblib reads them.
pub fn verify_bytes(data: &[u8], limits: &Limits) -> Report {
    verify_stream(data, limits, true)
}

fn verify_stream(data: &[u8], limits: &Limits, joblib: bool) -> Report {
    let mut m = Machine {
        data,
        pos: 0,
        op_start: 0,
        limits,
        stack: Vec::new(),
        metastack: Vec::new(),
        depth: 0,
        memo: Memo::default(),
        proto: 0,
        frame_end: None,
        report: Report::default(),
        seen: HashMap::new(),
        spare: Vec::new(),
        joblib,
    };
    match m.run() {
        Ok(()) => m.report.end = m.pos,
        Err(Stop(f)) => m.report.malformed = Some(f),
    }
    let mut report = std::mem::take(&mut m.report);
    report.protocol = m.proto.max(report.protocol);
    // Drop deep structures iteratively is not needed: tuple depth is capped.
    report
}

impl<'a> Machine<'a> {
    fn fail<T>(&self, msg: impl Into<String>) -> Step<T> {
        Err(Stop(Finding {
            offset: self.op_start,
            message: msg.into(),
        }))
    }

    fn finding(&mut self, msg: String) {
        if self.report.findings.len() < self.limits.max_findings {
            self.report.findings.push(Finding {
                offset: self.op_start,
                message: msg,
            });
        }
    }

    // -- reading -------------------------------------------------------------------------------

    fn take(&mut self, n: usize) -> Step<&'a [u8]> {
        let data: &'a [u8] = self.data;
        match self.pos.checked_add(n) {
            Some(end) if end <= data.len() => {
                let s = &data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => self.fail(format!(
                "truncated: needs {n} bytes, {} left",
                data.len().saturating_sub(self.pos)
            )),
        }
    }

    fn u8(&mut self) -> Step<u8> {
        Ok(self.take(1)?[0])
    }

    fn le(&mut self, n: usize) -> Step<u64> {
        let b = self.take(n)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn len(&mut self, n: usize) -> Step<usize> {
        let v = self.le(n)?;
        usize::try_from(v).or_else(|_| self.fail("length does not fit in memory"))
    }

    /// A line without its `\n` (the newline must be there).
    fn line(&mut self) -> Step<&'a [u8]> {
        let data: &'a [u8] = self.data;
        let rest = &data[self.pos.min(data.len())..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => self.fail("truncated: line without a newline"),
        }
    }

    fn utf8_line(&mut self) -> Step<String> {
        let l = self.line()?;
        match std::str::from_utf8(l) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => self.fail("module or name is not valid UTF-8"),
        }
    }

    fn decimal(&mut self) -> Step<u64> {
        let l = self.line()?;
        let ok = !l.is_empty() && l.len() <= 19 && l.iter().all(u8::is_ascii_digit);
        match std::str::from_utf8(l)
            .ok()
            .filter(|_| ok)
            .and_then(|s| s.parse().ok())
        {
            Some(v) => Ok(v),
            None => self.fail("memo index is not a plain decimal number"),
        }
    }

    // -- the stack -----------------------------------------------------------------------------

    fn push(&mut self, v: Value<'a>) -> Step<()> {
        if self.depth >= self.limits.max_stack {
            return self.fail(format!("stack exceeds {} items", self.limits.max_stack));
        }
        self.depth += 1;
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Step<Value<'a>> {
        match self.stack.pop() {
            Some(v) => {
                self.depth -= 1;
                Ok(v)
            }
            None => self.fail("stack underflow"),
        }
    }

    fn top(&self) -> Step<&Value<'a>> {
        match self.stack.last() {
            Some(v) => Ok(v),
            None => self.fail("stack underflow"),
        }
    }

    fn mark(&mut self) -> Step<()> {
        if self.metastack.len() >= self.limits.max_marks {
            return self.fail(format!("more than {} nested marks", self.limits.max_marks));
        }
        let fresh = self.spare.pop().unwrap_or_default();
        let items = std::mem::replace(&mut self.stack, fresh);
        self.metastack.push(items);
        Ok(())
    }

    /// Pops to the last MARK, dropping the items and keeping their vector for reuse.
    fn drop_mark(&mut self) -> Step<()> {
        let items = self.pop_mark()?;
        self.recycle(items);
        Ok(())
    }

    fn recycle(&mut self, mut items: Vec<Value<'a>>) {
        if self.spare.len() < 64 {
            items.clear();
            self.spare.push(items);
        }
    }

    fn pop_mark(&mut self) -> Step<Vec<Value<'a>>> {
        match self.metastack.pop() {
            Some(prev) => {
                let items = std::mem::replace(&mut self.stack, prev);
                self.depth -= items.len();
                Ok(items)
            }
            None => self.fail("no MARK to pop to"),
        }
    }

    fn memo_put(&mut self, idx: u64) -> Step<()> {
        let v = self.top()?.clone();
        if !self.memo.contains(idx) && self.memo.len >= self.limits.max_memo {
            return self.fail(format!("memo exceeds {} entries", self.limits.max_memo));
        }
        self.memo.insert(idx, v);
        Ok(())
    }

    fn memo_get(&mut self, idx: u64) -> Step<()> {
        match self.memo.get(idx) {
            Some(v) => {
                let v = v.clone();
                self.push(v)
            }
            None => self.fail(format!("memo index {idx} was never stored")),
        }
    }

    // -- globals and calls ---------------------------------------------------------------------

    fn global(&mut self, module: String, name: String) -> Step<()> {
        let (module, name) = compat_map(self.proto, module, name);
        let allowed = is_allowed(&module, &name)
            || (self.joblib && (module.as_str(), name.as_str()) == JOBLIB_WRAPPER);
        let key = (module, name);
        match self.seen.get(&key) {
            Some(&i) => self.report.globals[i].count += 1,
            None => {
                self.seen.insert(key.clone(), self.report.globals.len());
                self.report.globals.push(GlobalRef {
                    module: key.0.clone(),
                    name: key.1.clone(),
                    offset: self.op_start,
                    count: 1,
                    allowed,
                });
                if !allowed {
                    self.finding(format!(
                        "global {}.{} is not on the allow-list",
                        key.0, key.1
                    ));
                }
            }
        }
        self.push(Value::Global(Rc::new(key)))
    }

    fn code_object(&mut self, kind: &'static str, name: Option<String>, origin: String) {
        let what = match &name {
            Some(n) => format!("{kind} '{n}'"),
            None => kind.to_string(),
        };
        self.finding(format!("builds a {what} at load time ({origin})"));
        if self.report.code_objects.len() < self.limits.max_findings {
            self.report.code_objects.push(CodeObject {
                kind,
                name,
                origin,
                offset: self.op_start,
            });
        }
    }

    /// A call the unpickler makes: `callable(*args)` (REDUCE, NEWOBJ, OBJ, INST). Only
    /// allow-listed globals may be called; code being built is recorded by name.
    fn call(&mut self, callable: &Value<'a>, args: &[Value<'a>]) -> Value<'a> {
        let s = |i: usize| args.get(i).and_then(Value::as_str).map(str::to_owned);
        match callable {
            Value::Global(g) => {
                let (module, name) = (g.0.as_str(), g.1.as_str());
                let cloudpickle =
                    module.ends_with("cloudpickle") || module.ends_with("cloudpickle_fast");
                match (module, name) {
                    w if w == JOBLIB_WRAPPER && self.joblib && args.is_empty() => {
                        return Value::Wrapper
                    }
                    ("numpy", "dtype") => {
                        if let Some(t) = s(0) {
                            return Value::Dtype(Rc::new(RefCell::new(Dtype::parse(&t))));
                        }
                    }
                    (_, "_builtin_type") if cloudpickle => match s(0).as_deref() {
                        Some("CodeType") => return Value::CodeType,
                        Some("FunctionType" | "LambdaType") => return Value::FunctionType,
                        _ => {}
                    },
                    ("types", "CodeType") => return self.code(args, "types.CodeType"),
                    ("types", "FunctionType" | "LambdaType") => {
                        self.function(args, "types.FunctionType")
                    }
                    (_, "_make_function") if cloudpickle => {
                        self.function(args, "cloudpickle._make_function")
                    }
                    (_, "_make_skeleton_class" | "_make_skeleton_enum") if cloudpickle => self
                        .code_object(
                            "class",
                            s(1),
                            format!("pickled by value with {module}.{name}"),
                        ),
                    ("builtins", "type") if args.len() == 3 => {
                        self.code_object("class", s(0), "built with builtins.type".into())
                    }
                    ("builtins", "eval" | "exec" | "compile") | ("marshal", "loads") => self
                        .code_object(
                            "code",
                            None,
                            format!("source or bytecode passed to {module}.{name}"),
                        ),
                    _ => {}
                }
                Value::Other
            }
            Value::CodeType => self.code(args, "cloudpickle._builtin_type('CodeType')"),
            Value::FunctionType => {
                self.function(args, "cloudpickle._builtin_type('FunctionType')");
                Value::Other
            }
            other => {
                let what = other.describe();
                self.finding(format!("calls {what}, which is not an allow-listed global"));
                Value::Other
            }
        }
    }

    /// `CodeType(argcount, ..., codestring, consts, names, varnames, filename, name, ...)`: the
    /// file and name are the first two strings after the bytecode.
    fn code(&mut self, args: &[Value<'a>], origin: &str) -> Value<'a> {
        let after = args
            .iter()
            .position(|v| matches!(v, Value::Bytes))
            .map_or(&[][..], |i| &args[i + 1..]);
        let mut strs = after.iter().filter_map(Value::as_str);
        let file = strs.next().map(str::to_owned);
        let name = strs.next().map(str::to_owned);
        let from = match &file {
            Some(f) => format!("from {f}, built with {origin}"),
            None => format!("built with {origin}"),
        };
        self.code_object("code object", name.clone(), from);
        Value::Code(Rc::new((name, file)))
    }

    fn function(&mut self, args: &[Value<'a>], origin: &str) {
        let (name, file) = match args.first() {
            Some(Value::Code(c)) => (c.0.clone(), c.1.clone()),
            _ => (args.get(2).and_then(Value::as_str).map(str::to_owned), None),
        };
        let from = match file {
            Some(f) => format!("from {f}, built with {origin}"),
            None => format!("built with {origin}"),
        };
        self.code_object("function", name, from);
    }

    /// BUILD, SETITEM(S), APPEND(S), ADDITEMS mutate the object under them: never a class or
    /// function (that would patch a library at load time).
    fn check_target(&mut self, op: &str) -> Step<()> {
        if let Value::Global(g) = self.top()? {
            let msg = format!("{op} modifies {}.{} itself (a class or function)", g.0, g.1);
            self.finding(msg);
        }
        Ok(())
    }

    fn text_string(&mut self) -> Step<Value<'a>> {
        // Protocol 0 STRING: a quoted repr; only plain ASCII without escapes is tracked.
        let l = self.line()?;
        if l.len() < 2 || l[0] != l[l.len() - 1] || !matches!(l[0], b'"' | b'\'') {
            return self.fail("STRING argument is not quoted");
        }
        let inner = &l[1..l.len() - 1];
        Ok(if inner.is_ascii() && !inner.contains(&b'\\') {
            Value::Str(std::str::from_utf8(inner).unwrap_or_default())
        } else {
            Value::Other
        })
    }

    fn utf8_value(b: &'a [u8]) -> Value<'a> {
        match std::str::from_utf8(b) {
            Ok(s) => Value::Str(s),
            Err(_) => Value::Other,
        }
    }

    /// SETITEM(S) on a tracked dict: (key, value) pairs, kept while the keys are literal strings.
    fn set_items(d: &RefCell<Dict<'a>>, items: &mut Vec<Value<'a>>) {
        let mut d = d.borrow_mut();
        let mut it = items.drain(..);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match k {
                Value::Str(k) if d.exact && d.items.len() < MAX_DICT_ITEMS => {
                    // A dict inside a dict is frozen, as in a tuple.
                    let v = match &v {
                        Value::Dict(inner) => Dict::freeze(inner),
                        _ => v,
                    };
                    d.items.push((k, v));
                }
                _ => d.exact = false,
            }
        }
    }

    /// joblib's `NumpyArrayWrapper` BUILD: the array's bytes follow in the file (after a padding
    /// length byte and padding when the state asks for alignment), or, for object arrays, a
    /// nested pickle. Read exactly as `joblib.numpy_pickle` reads them, from the state's
    /// literal values; a state that cannot be read statically stops the verification.
    fn joblib_array(&mut self, state: &Value<'a>) -> Step<()> {
        let Value::Dict(d) = state else {
            return self.fail("joblib array wrapper whose state is not a dict");
        };
        let d = d.borrow().clone_items();
        let Some(items) = d else {
            return self.fail("joblib array wrapper whose state cannot be read statically");
        };
        let get = |k: &str| lookup(&items, k);
        match get("subclass") {
            Some(Value::Global(g)) if g.0 == "numpy" && g.1 == "ndarray" => {}
            _ => return self.fail("joblib array wrapper whose subclass is not numpy.ndarray"),
        }
        let mut count: u64 = 1;
        match get("shape") {
            Some(Value::Tuple(dims, _)) => {
                for dim in dims.iter() {
                    let n = match dim {
                        Value::Int(n) => u64::try_from(*n).ok(),
                        _ => None,
                    };
                    match n.and_then(|n| count.checked_mul(n)) {
                        Some(c) => count = c,
                        None => return self.fail("joblib array wrapper with an invalid shape"),
                    }
                }
            }
            _ => return self.fail("joblib array wrapper whose shape is not a tuple of integers"),
        }
        match get("order") {
            None => {}
            Some(Value::Str("C" | "F")) => {}
            Some(_) => return self.fail("joblib array wrapper whose order is not 'C' or 'F'"),
        }
        let dtype = match get("dtype") {
            Some(Value::Dtype(t)) => t.borrow().clone(),
            _ => return self.fail("joblib array wrapper whose dtype is not a numpy.dtype"),
        };
        let aligned = match get("numpy_array_alignment_bytes") {
            None | Some(Value::None) => false,
            Some(Value::Int(_)) => true,
            Some(_) => return self.fail("joblib array wrapper with an invalid alignment"),
        };
        if self.frame_end.is_some_and(|end| self.pos < end) {
            return self.fail("joblib array data begins inside a pickle frame");
        }
        self.frame_end = None;
        let (data_start, nbytes);
        if dtype.object {
            let base = self.pos;
            (data_start, nbytes) = (base, 0);
            let inner = verify_stream(&self.data[base..], self.limits, false);
            self.merge(inner, base)?;
        } else {
            let Some(size) = dtype.itemsize else {
                return self
                    .fail("joblib array of a dtype whose item size cannot be known statically");
            };
            if aligned {
                let pad = self.u8()?;
                self.take(usize::from(pad))?;
            }
            let n = count
                .checked_mul(size)
                .and_then(|n| usize::try_from(n).ok());
            let Some(n) = n else {
                return self.fail("joblib array larger than memory");
            };
            (data_start, nbytes) = (self.pos, n);
            self.take(n)?;
        }
        self.report.joblib_arrays.push(JoblibArray {
            offset: data_start,
            object: dtype.object,
            bytes: nbytes,
        });
        Ok(())
    }

    /// Folds the report of a nested pickle (at `base`) into this one; continues after its STOP.
    fn merge(&mut self, inner: Report, base: usize) -> Step<()> {
        if let Some(m) = inner.malformed {
            self.op_start = base + m.offset;
            return self.fail(format!(
                "in the nested pickle of a joblib object array: {}",
                m.message
            ));
        }
        for g in inner.globals {
            let key = (g.module.clone(), g.name.clone());
            match self.seen.get(&key) {
                Some(&i) => self.report.globals[i].count += g.count,
                None => {
                    self.seen.insert(key, self.report.globals.len());
                    self.report.globals.push(GlobalRef {
                        offset: base + g.offset,
                        ..g
                    });
                }
            }
        }
        for f in inner.findings {
            if self.report.findings.len() < self.limits.max_findings {
                self.report.findings.push(Finding {
                    offset: base + f.offset,
                    message: f.message,
                });
            }
        }
        for c in inner.code_objects {
            if self.report.code_objects.len() < self.limits.max_findings {
                self.report.code_objects.push(CodeObject {
                    offset: base + c.offset,
                    ..c
                });
            }
        }
        self.pos = base + inner.end;
        Ok(())
    }

    // -- the machine ---------------------------------------------------------------------------

    fn run(&mut self) -> Step<()> {
        loop {
            self.op_start = self.pos;
            if let Some(end) = self.frame_end {
                if self.pos >= end {
                    self.frame_end = None;
                }
            }
            let op = self.u8()?;
            match op {
                b'.' => return Ok(()), // STOP
                0x80 => {
                    // PROTO
                    let p = self.u8()?;
                    if p > 5 {
                        return self.fail(format!("unsupported pickle protocol {p}"));
                    }
                    self.proto = p;
                    self.report.protocol = self.report.protocol.max(p);
                }
                0x95 => {
                    // FRAME
                    let n = self.len(8)?;
                    if self.frame_end.is_some_and(|end| self.op_start < end) {
                        return self.fail("a FRAME begins inside another frame");
                    }
                    if n > self.data.len() - self.pos {
                        return self.fail(format!("FRAME of {n} bytes runs past the end"));
                    }
                    self.frame_end = Some(self.pos + n);
                }
                b'(' => self.mark()?,
                b'0' => {
                    // POP: the top item, or the mark when the current segment is empty.
                    if self.stack.is_empty() {
                        self.drop_mark()?;
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => {
                    self.drop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                // Numbers, None, booleans.
                b'N' => self.push(Value::None)?,
                0x88 | 0x89 => self.push(Value::Other)?,
                b'I' | b'L' | b'F' => {
                    // Protocol 0 ints ("01"/"00" are booleans, "L" suffix for longs).
                    let l = self.line()?;
                    let v = match std::str::from_utf8(l).ok() {
                        Some(t) if op != b'F' && t != "00" && t != "01" => t
                            .trim_end_matches('L')
                            .parse::<i64>()
                            .map_or(Value::Other, Value::Int),
                        _ => Value::Other,
                    };
                    self.push(v)?;
                }
                b'J' => {
                    let b = self.take(4)?;
                    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    self.push(Value::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = self.le(2)?;
                    self.push(Value::Int(v as i64))?;
                }
                b'G' => {
                    self.take(8)?;
                    self.push(Value::Other)?;
                }
                0x8a => {
                    // LONG1: little-endian two's complement.
                    let n = self.len(1)?;
                    let b = self.take(n)?;
                    let v = if n == 0 {
                        Value::Int(0)
                    } else if n <= 8 {
                        let fill = if b[n - 1] & 0x80 != 0 { 0xff } else { 0 };
                        let mut full = [fill; 8];
                        full[..n].copy_from_slice(b);
                        Value::Int(i64::from_le_bytes(full))
                    } else {
                        Value::Other
                    };
                    self.push(v)?;
                }
                0x8b => {
                    let n = self.len(4)?;
                    self.take(n)?;
                    self.push(Value::Other)?;
                }
                // Strings.
                b'S' => {
                    let v = self.text_string()?;
                    self.push(v)?;
                }
                b'T' | b'U' => {
                    let n = if op == b'T' {
                        self.len(4)?
                    } else {
                        self.len(1)?
                    };
                    let b = self.take(n)?;
                    let v = if b.is_ascii() {
                        Self::utf8_value(b)
                    } else {
                        Value::Other
                    };
                    self.push(v)?;
                }
                b'V' => {
                    // raw-unicode-escape: plain ASCII without a backslash is itself; the rest is
                    // left opaque (never needed by ordinary pickles).
                    let l = self.line()?;
                    let v = if l.is_ascii() && !l.contains(&b'\\') {
                        Self::utf8_value(l)
                    } else {
                        Value::Other
                    };
                    self.push(v)?;
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => self.len(4)?,
                        0x8c => self.len(1)?,
                        _ => self.len(8)?,
                    };
                    let b = self.take(n)?;
                    self.push(Self::utf8_value(b))?;
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.len(4)?,
                        b'C' => self.len(1)?,
                        _ => self.len(8)?,
                    };
                    self.take(n)?;
                    self.push(Value::Bytes)?;
                }
                0x97 => {
                    return self
                        .fail("NEXT_BUFFER needs out-of-band buffers, which are never given")
                }
                0x98 => {
                    self.top()?;
                }
                // Containers.
                b')' => self.push(Value::tuple(Vec::new()))?,
                b'}' => self.push(Value::Dict(Rc::new(RefCell::new(Dict {
                    items: Vec::new(),
                    exact: true,
                }))))?,
                b']' | 0x8f => self.push(Value::Other)?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::tuple(items))?;
                }
                b'd' => {
                    let mut items = self.pop_mark()?;
                    let d = Rc::new(RefCell::new(Dict {
                        items: Vec::new(),
                        exact: true,
                    }));
                    Self::set_items(&d, &mut items);
                    self.recycle(items);
                    self.push(Value::Dict(d))?;
                }
                b'l' | 0x91 => {
                    self.drop_mark()?;
                    self.push(Value::Other)?;
                }
                b'a' => {
                    self.pop()?;
                    self.check_target("APPEND")?;
                }
                b'e' => {
                    self.drop_mark()?;
                    self.check_target("APPENDS")?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.check_target("SETITEM")?;
                    if let Value::Dict(d) = self.top()? {
                        Self::set_items(d, &mut vec![k, v]);
                    }
                }
                b'u' => {
                    let mut items = self.pop_mark()?;
                    self.check_target("SETITEMS")?;
                    if let Value::Dict(d) = self.top()? {
                        Self::set_items(d, &mut items);
                    }
                    self.recycle(items);
                }
                0x90 => {
                    self.drop_mark()?;
                    self.check_target("ADDITEMS")?;
                }
                b'b' => {
                    let state = self.pop()?;
                    self.check_target("BUILD")?;
                    if self.joblib && matches!(self.top()?, Value::Wrapper) {
                        // The array replaces its wrapper on the stack, as in joblib.
                        self.pop()?;
                        self.joblib_array(&state)?;
                        self.push(Value::Other)?;
                    } else if let Value::Dtype(d) = self.top()? {
                        d.borrow_mut().set_state(&state);
                    }
                }
                // Memo.
                b'p' => {
                    let i = self.decimal()?;
                    self.memo_put(i)?;
                }
                b'q' => {
                    let i = self.le(1)?;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.le(4)?;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len as u64;
                    self.memo_put(i)?;
                }
                b'g' => {
                    let i = self.decimal()?;
                    self.memo_get(i)?;
                }
                b'h' => {
                    let i = self.le(1)?;
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.le(4)?;
                    self.memo_get(i)?;
                }
                // Globals.
                b'c' => {
                    let module = self.utf8_line()?;
                    let name = self.utf8_line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module.as_str(), name.as_str()) {
                        (Some(m), Some(n)) => {
                            let (m, n) = (m.to_owned(), n.to_owned());
                            self.global(m, n)?;
                        }
                        _ => {
                            self.finding(format!(
                                "STACK_GLOBAL with arguments that are not literal strings ({}, {})",
                                module.describe(),
                                name.describe()
                            ));
                            self.push(Value::Other)?;
                        }
                    }
                }
                0x82..=0x84 => {
                    let n = match op {
                        0x82 => 1,
                        0x83 => 2,
                        _ => 4,
                    };
                    let code = self.le(n)?;
                    self.finding(format!(
                        "EXT{n} code {code}: the extension registry is process-global and cannot be verified"
                    ));
                    self.push(Value::Other)?;
                }
                b'P' => {
                    self.line()?;
                    self.finding("PERSID: persistent ids are resolved by loader code".into());
                    self.push(Value::Other)?;
                }
                b'Q' => {
                    self.pop()?;
                    self.finding("BINPERSID: persistent ids are resolved by loader code".into());
                    self.push(Value::Other)?;
                }
                // Calls.
                // REDUCE, NEWOBJ: callable, args; NEWOBJ_EX: cls, args, kwargs.
                b'R' | 0x81 | 0x92 => {
                    if op == 0x92 {
                        self.pop()?;
                    }
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let args: &[Value<'a>] = match &args {
                        Value::Tuple(items, _) => items,
                        _ => &[],
                    };
                    let r = self.call(&callable, args);
                    self.push(r)?;
                }
                b'i' => {
                    let module = self.utf8_line()?;
                    let name = self.utf8_line()?;
                    self.global(module, name)?;
                    let cls = self.pop()?;
                    let args = self.pop_mark()?;
                    let r = self.call(&cls, &args);
                    self.recycle(args);
                    self.push(r)?;
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        return self.fail("OBJ without a class");
                    }
                    let cls = items.remove(0);
                    let r = self.call(&cls, &items);
                    self.push(r)?;
                }
                _ => return self.fail(format!("unknown opcode 0x{op:02x}")),
            }
        }
    }
}

/// Python's `Unpickler.find_class` maps Python 2 names for protocols < 3 (`_compat_pickle`).
fn compat_map(proto: u8, module: String, name: String) -> (String, String) {
    if proto >= 3 {
        return (module, name);
    }
    if let Ok(i) =
        NAME_MAPPING.binary_search_by(|&(m, n, _, _)| (m, n).cmp(&(module.as_str(), name.as_str())))
    {
        let (_, _, m, n) = NAME_MAPPING[i];
        return (m.to_owned(), n.to_owned());
    }
    if let Ok(i) = IMPORT_MAPPING.binary_search_by(|&(m, _)| m.cmp(module.as_str())) {
        return (IMPORT_MAPPING[i].1.to_owned(), name);
    }
    (module, name)
}
