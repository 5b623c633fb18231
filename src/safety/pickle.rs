//! The opcode reader: runs the pickle machine (protocols 0-5) on symbolic values instead of
//! objects. Strings and tuples are tracked exactly (STACK_GLOBAL's arguments, code objects'
//! names); everything else is opaque. Whatever cannot be resolved statically is refused.
//! Bounded in stack, memo and nesting; every read is checked, so it never panics. Values are
//! `Copy` (no allocation per value): strings borrow the input, compound values index tables.
//!
//! One machine, read in two ways: untracked first (tuples, dicts and dtypes opaque), which is
//! all an ordinary model pickle needs, and tracked (everything above) for any stream the
//! untracked reading cannot vouch for. Both give the same report for the streams the first one
//! accepts; `cargo test` and the `verify_pickle` fuzz target check that they do.

use std::collections::HashMap;

use super::allowlist::{IMPORT_MAPPING, NAME_MAPPING};
use super::{is_allowed, CodeObject, Finding, GlobalRef, JoblibArray, Report};

/// Resource bounds; the defaults are far above what model pickles need.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_stack: usize,
    pub max_memo: usize,
    pub max_marks: usize,
    pub max_findings: usize,
    /// Values tracked in the machine's tables (strings, tuple items, dicts, ...), which live
    /// until the stream ends: bounds the memory a hostile stream (`)0` repeated) can make the
    /// verifier hold, at about 16 bytes a value.
    pub max_values: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stack: 1 << 23,
            max_memo: 1 << 23,
            max_marks: 1 << 20,
            max_findings: 1000,
            max_values: 1 << 25,
        }
    }
}

/// Tuples nested deeper than this are opaque (keeps drops shallow; nothing needs more).
const MAX_TUPLE_DEPTH: u8 = 32;
/// A dict's items are tracked up to this many (joblib's array wrapper state has six).
const MAX_DICT_ITEMS: usize = 32;
/// joblib's placeholder for an array whose raw bytes follow it in the file (allowed in a joblib
/// file's top-level stream, never in the nested pickle of an object array).
pub const JOBLIB_WRAPPER: (&str, &str) = ("joblib.numpy_pickle", "NumpyArrayWrapper");

/// A `numpy.dtype(str, ...)` built at load time: what the byte size of its items is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// A dict built at load time, with its literal-string-keyed items in order (shared through the
/// memo by index, as the dict object is). `exact` is false once an item was not tracked.
#[derive(Debug, Default)]
struct Dict<'a> {
    items: Vec<(&'a str, Value)>,
    exact: bool,
    /// The snapshot taken when it was last put in a tuple or dict, while it has not changed
    /// since (one copy per version of the dict, however often it is nested).
    frozen: Option<Value>,
}

/// A symbolic value. `Copy`, with no heap allocation of its own: strings borrow the pickle bytes,
/// everything with parts is an index into one of the machine's tables (which only grow while
/// one stream is read, and are freed together at its end).
// (Every payload is one word: a value is a tag and a word, copied in two moves; wider payloads
// made the compiler copy it in overlapping pieces, which stalls store forwarding.)
#[derive(Debug, Clone, Copy)]
enum Value {
    /// A string, borrowed from the pickle bytes: its index in `Machine::strs`.
    Str(usize),
    Bytes,
    /// A global as imported (after protocol < 3 name mapping): its index in `Machine::keys` (and
    /// in the report's globals).
    Global(usize),
    /// A tuple: its `Span` of `Machine::items`, in `Machine::spans`.
    Tuple(usize),
    /// What `_builtin_type('CodeType')` / `_builtin_type('FunctionType')` return.
    CodeType,
    FunctionType,
    /// A code object built at load time: its (name, file) in `Machine::codes`.
    Code(usize),
    None,
    /// An integer small enough for an i64.
    Int(i64),
    /// A dict being built (mutable, shared through the memo): its index in `Machine::dicts`.
    Dict(usize),
    /// A dict as it was when put in a tuple or another dict: its `Span` of `Machine::pairs`,
    /// in `Machine::spans`.
    Frozen(usize),
    /// A `numpy.dtype` built at load time (mutable through BUILD): its index in `Machine::dtypes`.
    Dtype(usize),
    /// joblib's `NumpyArrayWrapper()`: its BUILD is followed by the array's raw bytes.
    Wrapper,
    Other,
}

/// Where a tuple's items (or a frozen dict's) are, and how deeply it nests.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
    depth: u8,
}

/// What calling a global does, decided once when the global is first seen (so that REDUCE does
/// not compare names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Plain,
    /// joblib's `NumpyArrayWrapper` (only where joblib arrays are read).
    Wrapper,
    NumpyDtype,
    /// cloudpickle's `_builtin_type`.
    BuiltinType,
    /// `types.CodeType`.
    CodeType,
    /// `types.FunctionType` / `types.LambdaType`.
    FunctionType,
    /// cloudpickle's `_make_function`.
    MakeFunction,
    /// cloudpickle's `_make_skeleton_class` / `_make_skeleton_enum`.
    Skeleton,
    /// `builtins.type`.
    Type,
    /// `builtins.eval/exec/compile`, `marshal.loads`.
    Source,
}

impl Kind {
    fn of(module: &str, name: &str, joblib: bool) -> Kind {
        let cloudpickle = module.ends_with("cloudpickle") || module.ends_with("cloudpickle_fast");
        match (module, name) {
            w if w == JOBLIB_WRAPPER && joblib => Kind::Wrapper,
            ("numpy", "dtype") => Kind::NumpyDtype,
            (_, "_builtin_type") if cloudpickle => Kind::BuiltinType,
            ("types", "CodeType") => Kind::CodeType,
            ("types", "FunctionType" | "LambdaType") => Kind::FunctionType,
            (_, "_make_function") if cloudpickle => Kind::MakeFunction,
            (_, "_make_skeleton_class" | "_make_skeleton_enum") if cloudpickle => Kind::Skeleton,
            ("builtins", "type") => Kind::Type,
            ("builtins", "eval" | "exec" | "compile") | ("marshal", "loads") => Kind::Source,
            _ => Kind::Plain,
        }
    }
}

/// The value of `key` in a frozen dict's items (the last one set, as in Python).
fn lookup<'v>(items: &'v [(&str, Value)], key: &str) -> Option<&'v Value> {
    items.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// The memo: picklers number entries 0, 1, 2...; those live in a vector, any others in a map.
#[derive(Default)]
struct Memo {
    dense: Vec<Option<Value>>,
    /// (SipHash: the indices are the attacker's choice.)
    sparse: HashMap<u64, Value>,
    len: usize,
}

impl Memo {
    // (always inlined: on the BINPUT path its call frame cost as much as its work; MEMOIZE, one
    // opcode in four, appends to `dense` itself while the memo is dense, see `memoize`)
    #[inline(always)]
    fn insert(&mut self, idx: u64, v: Value) {
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

    #[inline]
    fn get(&self, idx: u64) -> Option<Value> {
        match usize::try_from(idx) {
            Ok(i) if i < self.dense.len() => self.dense[i],
            _ => self.sparse.get(&idx).copied(),
        }
    }
}

/// The arguments of a call: `len` values from the stack or from the tuple items, at `start`.
#[derive(Debug, Clone, Copy)]
struct Args {
    in_stack: bool,
    start: usize,
    len: usize,
}

impl Args {
    const NONE: Args = Args {
        in_stack: false,
        start: 0,
        len: 0,
    };
}

/// (module, name, kind) of each global of a stream, in the order of its report's globals.
type Keys<'a> = Vec<(&'a str, &'a str, Kind)>;

/// Stops the machine: the stream is unreadable at `offset`.
struct Stop(Box<Finding>);

type Step<T> = std::result::Result<T, Stop>;

/// `FULL`: whether values are tracked (tuples, dicts, dtypes, code). The untracked machine
/// (`FULL = false`) runs the same stack, memo and globals but keeps every compound value opaque;
/// it only certifies streams whose report cannot depend on those values (see [`verify_stream`]).
struct Machine<'a, const FULL: bool> {
    data: &'a [u8],
    pos: usize,
    op_start: usize,
    limits: &'a Limits,
    /// One stack for all MARK segments: `base` is where the current one begins, `marks` where
    /// the enclosing ones do.
    stack: Vec<Value>,
    base: usize,
    marks: Vec<usize>,
    max_stack: usize,
    /// Every string value.
    strs: Vec<&'a str>,
    memo: Memo,
    /// The items of every tuple built (tuples are immutable: slices of this, never copied again).
    items: Vec<Value>,
    /// The items of every frozen dict.
    pairs: Vec<(&'a str, Value)>,
    /// Where each tuple's and frozen dict's items are.
    spans: Vec<Span>,
    dicts: Vec<Dict<'a>>,
    dtypes: Vec<Dtype>,
    /// (name, file) of each code object built.
    codes: Vec<(Option<&'a str>, Option<&'a str>)>,
    /// (module, name, kind) of each global, parallel to `report.globals`.
    keys: Keys<'a>,
    seen: HashMap<(&'a str, &'a str), usize>,
    proto: u8,
    /// Where the last FRAME ends (0 before any): a position before it is inside that frame.
    /// (Positions only grow, so it is never reset: one compare where it matters, none per op.)
    frame_end: usize,
    report: Report,
    /// Whether joblib's array wrappers are read (not inside the nested pickle of one).
    joblib: bool,
    /// Untracked machine only: an upper bound on the values the tracking machine's tables would
    /// hold by now, less `strs` (so both machines stop at the same [`Limits::max_values`]).
    untracked: usize,
    /// Untracked machine only: the stream called a global whose result the tracking machine
    /// reads (numpy's dtype aside), so only that machine can report it.
    needs_tracking: bool,
}

/// Reads one pickle stream (up to its STOP) and reports what loading it would import and call.
/// joblib's arrays (raw bytes after each `NumpyArrayWrapper`) are read as joblib reads them.
pub fn verify_bytes(data: &[u8], limits: &Limits) -> Report {
    verify_stream(data, limits, true).0
}

/// The report, and the (module, name) of each of its globals borrowed from `data`.
///
/// Read first without tracking values: most model pickles import allow-listed globals, call them
/// and build their state, and nothing in their report depends on a tuple's or dict's contents,
/// which the tracking machine spends most of its time recording. The untracked reading is taken
/// only when it is clean (no finding, readable, no call whose result is read, no joblib array);
/// anything else is read again, from the start, by the tracking machine, whose report it is.
fn verify_stream<'a>(data: &'a [u8], limits: &'a Limits, joblib: bool) -> (Report, Keys<'a>) {
    verify_untracked(data, limits, joblib).unwrap_or_else(|| verify_tracked(data, limits, joblib))
}

/// The untracked reading, when it stands: None where the tracking machine must read the stream.
pub(super) fn verify_untracked<'a>(
    data: &'a [u8],
    limits: &'a Limits,
    joblib: bool,
) -> Option<(Report, Keys<'a>)> {
    let (report, keys, needs_tracking) = read_stream::<false>(data, limits, joblib);
    let clean = !needs_tracking
        && report.findings.is_empty()
        && report.malformed.is_none()
        && report.code_objects.is_empty()
        && report.joblib_arrays.is_empty();
    clean.then_some((report, keys))
}

/// The tracking machine alone (what [`verify_stream`] falls back to).
fn verify_tracked<'a>(data: &'a [u8], limits: &'a Limits, joblib: bool) -> (Report, Keys<'a>) {
    let (report, keys, _) = read_stream::<true>(data, limits, joblib);
    (report, keys)
}

/// [`verify_bytes`] read by the tracking machine only: the reference the untracked reading is
/// checked against (unit tests, the `verify_pickle` fuzz target).
#[doc(hidden)]
pub fn verify_bytes_tracked(data: &[u8], limits: &Limits) -> Report {
    verify_tracked(data, limits, true).0
}

fn read_stream<'a, const FULL: bool>(
    data: &'a [u8],
    limits: &'a Limits,
    joblib: bool,
) -> (Report, Keys<'a>, bool) {
    // Sizes from the stream's length (model pickles: up to one memo entry per 32 bytes and one
    // tuple item per 16, as in a HistGradientBoosting pickle), bounded: large files are mostly
    // raw array bytes. (Growing these vectors was a tenth of the work.)
    let guess = (data.len() / 24).min(1 << 16);
    let tables = if FULL { guess } else { 0 };
    let mut m = Machine::<FULL> {
        data,
        pos: 0,
        op_start: 0,
        limits,
        stack: Vec::with_capacity(64),
        base: 0,
        marks: Vec::with_capacity(16),
        max_stack: limits.max_stack,
        strs: Vec::new(),
        memo: Memo {
            dense: Vec::with_capacity(guess),
            ..Memo::default()
        },
        items: Vec::with_capacity(2 * tables),
        pairs: Vec::new(),
        spans: Vec::with_capacity(tables),
        dicts: Vec::new(),
        dtypes: Vec::new(),
        codes: Vec::new(),
        keys: Vec::new(),
        seen: HashMap::new(),
        proto: 0,
        frame_end: 0,
        report: Report::default(),
        joblib,
        untracked: 0,
        needs_tracking: false,
    };
    match m.run() {
        Ok(()) => m.report.end = m.pos,
        Err(Stop(f)) => m.report.malformed = Some(*f),
    }
    let mut report = std::mem::take(&mut m.report);
    report.protocol = m.proto.max(report.protocol);
    (report, m.keys, m.needs_tracking)
}

impl<'a, const FULL: bool> Machine<'a, FULL> {
    #[cold]
    fn fail<T>(&self, msg: impl Into<String>) -> Step<T> {
        Err(Stop(Box::new(Finding {
            offset: self.op_start,
            message: msg.into(),
        })))
    }

    #[cold]
    fn finding(&mut self, msg: String) {
        if self.report.findings.len() < self.limits.max_findings {
            self.report.findings.push(Finding {
                offset: self.op_start,
                message: msg,
            });
        }
    }

    // -- reading -------------------------------------------------------------------------------

    #[inline]
    fn take(&mut self, n: usize) -> Step<&'a [u8]> {
        let data: &'a [u8] = self.data;
        match self.pos.checked_add(n) {
            Some(end) if end <= data.len() => {
                let s = &data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => self.truncated(n),
        }
    }

    #[cold]
    fn truncated<T>(&self, n: usize) -> Step<T> {
        self.fail(format!(
            "truncated: needs {n} bytes, {} left",
            self.data.len().saturating_sub(self.pos)
        ))
    }

    #[inline]
    fn u8(&mut self) -> Step<u8> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => self.truncated(1),
        }
    }

    /// An `N`-byte little-endian unsigned integer (`N` at most 8: one load, not a loop).
    #[inline]
    fn le<const N: usize>(&mut self) -> Step<u64> {
        let b = self.take(N)?;
        let mut full = [0u8; 8];
        full[..N].copy_from_slice(b);
        Ok(u64::from_le_bytes(full))
    }

    #[inline]
    fn len<const N: usize>(&mut self) -> Step<usize> {
        let v = self.le::<N>()?;
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

    fn utf8_line(&mut self) -> Step<&'a str> {
        let l = self.line()?;
        match std::str::from_utf8(l) {
            Ok(s) => Ok(s),
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

    /// Where the current MARK segment begins.
    #[inline]
    fn base(&self) -> usize {
        self.base
    }

    #[inline(always)]
    fn push(&mut self, v: Value) -> Step<()> {
        if self.stack.len() >= self.max_stack {
            return self.fail(format!("stack exceeds {} items", self.limits.max_stack));
        }
        self.stack.push(v);
        Ok(())
    }

    #[inline(always)]
    fn pop(&mut self) -> Step<Value> {
        if self.stack.len() > self.base() {
            if let Some(v) = self.stack.pop() {
                return Ok(v);
            }
        }
        self.underflow()
    }

    #[cold]
    fn underflow<T>(&self) -> Step<T> {
        self.fail("stack underflow")
    }

    #[inline(always)]
    fn top(&self) -> Step<Value> {
        if self.stack.len() > self.base() {
            if let Some(&v) = self.stack.last() {
                return Ok(v);
            }
        }
        self.underflow()
    }

    fn mark(&mut self) -> Step<()> {
        if self.marks.len() >= self.limits.max_marks {
            return self.fail(format!("more than {} nested marks", self.limits.max_marks));
        }
        self.marks.push(self.base);
        self.base = self.stack.len();
        Ok(())
    }

    /// Closes the current MARK segment: its items stay at `stack[start..]` until the caller
    /// truncates the stack to `start`.
    fn pop_mark(&mut self) -> Step<usize> {
        match self.marks.pop() {
            Some(outer) => Ok(std::mem::replace(&mut self.base, outer)),
            None => self.fail("no MARK to pop to"),
        }
    }

    /// Pops to the last MARK, dropping the items.
    fn drop_mark(&mut self) -> Step<()> {
        let start = self.pop_mark()?;
        self.stack.truncate(start);
        Ok(())
    }

    /// The item just under a closed segment at `start` (the object SETITEMS and such modify).
    fn below(&self, start: usize) -> Step<Value> {
        if start > self.base() {
            Ok(self.stack[start - 1])
        } else {
            self.underflow()
        }
    }

    #[inline(always)]
    fn memo_put(&mut self, idx: u64) -> Step<()> {
        let v = self.top()?;
        if self.memo.len >= self.limits.max_memo && self.memo.get(idx).is_none() {
            return self.fail(format!("memo exceeds {} entries", self.limits.max_memo));
        }
        self.memo.insert(idx, v);
        Ok(())
    }

    /// MEMOIZE: `memo[len(memo)] = top` (one opcode in four), appended without index arithmetic
    /// while the memo is dense, as picklers that write MEMOIZE keep it.
    #[inline(always)]
    fn memoize(&mut self) -> Step<()> {
        let v = self.top()?;
        if self.memo.sparse.is_empty() && self.memo.len < self.limits.max_memo {
            self.memo.dense.push(Some(v));
            self.memo.len += 1;
            Ok(())
        } else {
            self.memo_put(self.memo.len as u64)
        }
    }

    /// Pushes a value an opcode produced; the MEMOIZE that picklers write right after almost
    /// every such value is run here, without another trip through the dispatch loop.
    #[inline(always)]
    fn push_memo(&mut self, v: Value) -> Step<()> {
        self.push(v)?;
        self.memo_next()
    }

    /// Runs the next opcode here when it is MEMOIZE (of the value just pushed).
    #[inline(always)]
    fn memo_next(&mut self) -> Step<()> {
        if self.data.get(self.pos) == Some(&0x94) {
            self.op_start = self.pos;
            self.pos += 1;
            self.memoize()?;
        }
        Ok(())
    }

    /// [`push_memo`](Self::push_memo) for a value whose opcode may have grown the tables, checked
    /// against [`Limits::max_values`] here, where values are made (not at every opcode).
    #[inline(always)]
    fn made(&mut self, v: Value) -> Step<()> {
        self.values_check()?;
        self.push_memo(v)
    }

    #[inline(always)]
    fn values_check(&self) -> Step<()> {
        if self.tracked() > self.limits.max_values {
            return self.fail(format!(
                "the stream builds more than {} values",
                self.limits.max_values
            ));
        }
        Ok(())
    }

    #[inline(always)]
    fn memo_get(&mut self, idx: u64) -> Step<()> {
        match self.memo.get(idx) {
            Some(v) => self.push(v),
            None => self.fail(format!("memo index {idx} was never stored")),
        }
    }

    // -- values --------------------------------------------------------------------------------

    /// A tuple of `stack[from..]` (the caller truncates the stack). A (mutable) dict inside a
    /// tuple is frozen, as it is when the tuple is built; nesting deeper than the cap is opaque.
    fn tuple(&mut self, from: usize) -> Value {
        if !FULL {
            // its items, and a span for it and for each dict among them that would be frozen
            self.untracked += 2 * (self.stack.len() - from) + 1;
            return Value::Other;
        }
        let start = self.items.len();
        // Most tuples hold no dict (1 to 3 scalars, strings, globals): copied as they are.
        let mut depth = 0;
        let mut dicts = false;
        for v in &self.stack[from..] {
            match *v {
                Value::Dict(_) => dicts = true,
                Value::Tuple(i) | Value::Frozen(i) => depth = depth.max(self.spans[i].depth),
                _ => {}
            }
        }
        if !dicts {
            let depth = depth + 1;
            if depth > MAX_TUPLE_DEPTH {
                return Value::Other;
            }
            self.items.extend_from_slice(&self.stack[from..]);
            self.spans.push(Span {
                start,
                len: self.items.len() - start,
                depth,
            });
            return Value::Tuple(self.spans.len() - 1);
        }
        self.items.reserve(self.stack.len() - from);
        let mut depth = 0;
        // a dict among the items: each is frozen as the tuple is built
        for i in from..self.stack.len() {
            let v = match self.stack[i] {
                Value::Dict(d) => self.freeze(d),
                v => v,
            };
            depth = depth.max(self.depth(v));
            self.items.push(v);
        }
        let depth = depth + 1;
        if depth > MAX_TUPLE_DEPTH {
            self.items.truncate(start);
            return Value::Other;
        }
        self.spans.push(Span {
            start,
            len: self.items.len() - start,
            depth,
        });
        Value::Tuple(self.spans.len() - 1)
    }

    #[inline]
    fn depth(&self, v: Value) -> u8 {
        match v {
            Value::Tuple(i) | Value::Frozen(i) => self.spans[i].depth,
            _ => 0,
        }
    }

    /// `v`, or the snapshot of it when it is a dict.
    #[inline]
    fn frozen(&mut self, v: Value) -> Value {
        match v {
            Value::Dict(d) => self.freeze(d),
            v => v,
        }
    }

    fn freeze(&mut self, d: usize) -> Value {
        let dict = &self.dicts[d];
        if let Some(f) = dict.frozen {
            return f;
        }
        let f = if !dict.exact {
            Value::Other
        } else {
            let depth = dict
                .items
                .iter()
                .map(|&(_, v)| self.depth(v))
                .max()
                .unwrap_or(0)
                + 1;
            if depth > MAX_TUPLE_DEPTH {
                Value::Other
            } else {
                let start = self.pairs.len();
                self.pairs.extend_from_slice(&dict.items);
                self.spans.push(Span {
                    start,
                    len: dict.items.len(),
                    depth,
                });
                Value::Frozen(self.spans.len() - 1)
            }
        };
        self.dicts[d].frozen = Some(f);
        f
    }

    fn new_dict(&mut self) -> Value {
        if !FULL {
            self.untracked += 1;
            return Value::Other;
        }
        self.dicts.push(Dict {
            items: Vec::new(),
            exact: true,
            frozen: None,
        });
        Value::Dict(self.dicts.len() - 1)
    }

    /// SETITEM(S) on `target`: `stack[from..to]` as (key, value) pairs, kept in a tracked dict
    /// while the keys are literal strings.
    fn set_items(&mut self, target: Value, from: usize, to: usize) {
        if !FULL {
            // (a span for each value that is a dict, frozen as it is set)
            self.untracked += (to - from) / 2;
            return;
        }
        let Value::Dict(d) = target else {
            return;
        };
        let dict = &mut self.dicts[d];
        dict.frozen = None;
        if dict.exact {
            // (one allocation for a dict set in one SETITEMS, as picklers write them)
            let room = MAX_DICT_ITEMS.saturating_sub(dict.items.len());
            dict.items.reserve(room.min((to - from) / 2));
        }
        let mut i = from;
        while i + 1 < to {
            let (k, v) = (self.stack[i], self.stack[i + 1]);
            i += 2;
            let dict = &self.dicts[d];
            match k {
                Value::Str(k) if dict.exact && dict.items.len() < MAX_DICT_ITEMS => {
                    let k = self.strs[k];
                    // A dict inside a dict is frozen, as in a tuple.
                    let v = self.frozen(v);
                    let dict = &mut self.dicts[d];
                    dict.items.push((k, v));
                    dict.frozen = None;
                }
                _ => self.dicts[d].exact = false,
            }
        }
    }

    fn tuple_items(&self, v: Value) -> &[Value] {
        match v {
            Value::Tuple(i) => {
                let s = self.spans[i];
                &self.items[s.start..s.start + s.len]
            }
            _ => &[],
        }
    }

    fn frozen_items(&self, v: Value) -> Option<&[(&'a str, Value)]> {
        match v {
            Value::Frozen(i) => {
                let s = self.spans[i];
                Some(&self.pairs[s.start..s.start + s.len])
            }
            _ => None,
        }
    }

    fn args(&self, a: Args) -> &[Value] {
        let from = if a.in_stack { &self.stack } else { &self.items };
        &from[a.start..a.start + a.len]
    }

    fn arg_str(&self, a: Args, i: usize) -> Option<&'a str> {
        self.args(a).get(i).and_then(|&v| self.str_of(v))
    }

    #[inline]
    fn str_of(&self, v: Value) -> Option<&'a str> {
        match v {
            Value::Str(i) => Some(self.strs[i]),
            _ => None,
        }
    }

    #[inline]
    fn str_value(&mut self, s: &'a str) -> Value {
        self.strs.push(s);
        Value::Str(self.strs.len() - 1)
    }

    fn describe(&self, v: Value) -> String {
        match v {
            Value::Global(g) => format!("{}.{}", self.keys[g].0, self.keys[g].1),
            Value::Str(_) => "a string".into(),
            Value::Bytes => "a bytes object".into(),
            Value::Tuple(_) => "a tuple".into(),
            Value::CodeType => "the code type".into(),
            Value::FunctionType => "the function type".into(),
            Value::Code(_) => "a code object".into(),
            Value::None => "None".into(),
            Value::Int(_) => "an integer".into(),
            Value::Dict(_) | Value::Frozen(_) => "a dict".into(),
            Value::Dtype(_) => "a numpy dtype".into(),
            Value::Wrapper => "a joblib array wrapper".into(),
            Value::Other => "an object built at load time".into(),
        }
    }

    /// `dtype.__setstate__((version, endian, subarray, names, fields, elsize, ...))`. The size
    /// is kept only when elsize agrees with the type string; a subarray or structured dtype
    /// holds objects when its base or any field does. Anything else: unknown.
    fn dtype_set_state(&mut self, d: usize, state: Value) {
        let mut dtype = self.dtypes[d];
        let items = self.tuple_items(state);
        let known = (8..=9).contains(&items.len()) && {
            let elsize = match items[5] {
                Value::Int(n) => Some(n),
                _ => None,
            };
            let size_ok = match (elsize, dtype.itemsize) {
                (Some(-1), _) => !dtype.flexible,
                (Some(n), Some(size)) => dtype.flexible && u64::try_from(n) == Ok(size),
                _ => false,
            };
            // (base dtype, shape) for a subarray dtype.
            let sub = match items[2] {
                Value::None => Some(false),
                t @ Value::Tuple(_) => match self.tuple_items(t).first() {
                    Some(&Value::Dtype(base)) if base != d => {
                        let b = self.dtypes[base];
                        (b.object || b.itemsize.is_some()).then_some(b.object)
                    }
                    _ => None,
                },
                _ => None,
            };
            // {name: (dtype, offset[, title])} for a structured dtype.
            let fields = match (items[3], items[4]) {
                (Value::None, Value::None) => Some(false),
                (names @ Value::Tuple(_), fields @ Value::Frozen(_)) => {
                    let fields = self.frozen_items(fields).unwrap_or_default();
                    let mut object = Some(false);
                    for name in self.tuple_items(names) {
                        let field = self.str_of(*name).and_then(|n| lookup(fields, n));
                        let dtype = match field {
                            Some(&t @ Value::Tuple(_)) => match self.tuple_items(t).first() {
                                // (a dtype that contains itself is unknown)
                                Some(&Value::Dtype(f)) if f != d => Some(self.dtypes[f]),
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
                    dtype.object |= a || b;
                    true
                }
                _ => false,
            }
        };
        if !known {
            dtype.itemsize = None;
            dtype.object = false;
        }
        self.dtypes[d] = dtype;
    }

    // -- globals and calls ---------------------------------------------------------------------

    fn global(&mut self, module: &'a str, name: &'a str) -> Step<()> {
        let (module, name) = compat_map(self.proto, module, name);
        let i = match self.seen.get(&(module, name)) {
            Some(&i) => {
                self.report.globals[i].count += 1;
                i
            }
            None => {
                let i = self.report.globals.len();
                let allowed =
                    is_allowed(module, name) || (self.joblib && (module, name) == JOBLIB_WRAPPER);
                self.seen.insert((module, name), i);
                self.keys
                    .push((module, name, Kind::of(module, name, self.joblib)));
                self.report.globals.push(GlobalRef {
                    module: module.to_owned(),
                    name: name.to_owned(),
                    offset: self.op_start,
                    count: 1,
                    allowed,
                });
                if !allowed {
                    self.finding(format!("global {module}.{name} is not on the allow-list"));
                }
                i
            }
        };
        self.push(Value::Global(i))
    }

    #[cold]
    fn code_object(&mut self, kind: &'static str, name: Option<&str>, origin: String) {
        let what = match name {
            Some(n) => format!("{kind} '{n}'"),
            None => kind.to_string(),
        };
        self.finding(format!("builds a {what} at load time ({origin})"));
        if self.report.code_objects.len() < self.limits.max_findings {
            self.report.code_objects.push(CodeObject {
                kind,
                name: name.map(str::to_owned),
                origin,
                offset: self.op_start,
            });
        }
    }

    /// A call the unpickler makes: `callable(*args)` (REDUCE, NEWOBJ, OBJ, INST). Only
    /// allow-listed globals may be called; code being built is recorded by name.
    fn call(&mut self, callable: Value, args: Args) -> Value {
        match callable {
            Value::Global(g) => {
                let (module, name, kind) = self.keys[g];
                match kind {
                    Kind::Plain => {}
                    // (the untracked machine keeps dtypes opaque: only a joblib array, read by
                    // the tracking machine, asks for one's item size)
                    Kind::NumpyDtype if !FULL => self.untracked += 1,
                    _ if !FULL => self.needs_tracking = true,
                    Kind::Wrapper => {
                        if args.len == 0 {
                            return Value::Wrapper;
                        }
                    }
                    Kind::NumpyDtype => {
                        if let Some(t) = self.arg_str(args, 0) {
                            self.dtypes.push(Dtype::parse(t));
                            return Value::Dtype(self.dtypes.len() - 1);
                        }
                    }
                    Kind::BuiltinType => match self.arg_str(args, 0) {
                        Some("CodeType") => return Value::CodeType,
                        Some("FunctionType" | "LambdaType") => return Value::FunctionType,
                        _ => {}
                    },
                    Kind::CodeType => return self.code(args, "types.CodeType"),
                    Kind::FunctionType => self.function(args, "types.FunctionType"),
                    Kind::MakeFunction => self.function(args, "cloudpickle._make_function"),
                    Kind::Skeleton => self.code_object(
                        "class",
                        self.arg_str(args, 1),
                        format!("pickled by value with {module}.{name}"),
                    ),
                    Kind::Type => {
                        if args.len == 3 {
                            self.code_object(
                                "class",
                                self.arg_str(args, 0),
                                "built with builtins.type".into(),
                            )
                        }
                    }
                    Kind::Source => self.code_object(
                        "code",
                        None,
                        format!("source or bytecode passed to {module}.{name}"),
                    ),
                }
                Value::Other
            }
            Value::CodeType => self.code(args, "cloudpickle._builtin_type('CodeType')"),
            Value::FunctionType => {
                self.function(args, "cloudpickle._builtin_type('FunctionType')");
                Value::Other
            }
            other => {
                let what = self.describe(other);
                self.finding(format!("calls {what}, which is not an allow-listed global"));
                Value::Other
            }
        }
    }

    /// `CodeType(argcount, ..., codestring, consts, names, varnames, filename, name, ...)`: the
    /// file and name are the first two strings after the bytecode.
    #[cold]
    fn code(&mut self, args: Args, origin: &str) -> Value {
        let args = self.args(args);
        let after = args
            .iter()
            .position(|v| matches!(v, Value::Bytes))
            .map_or(&[][..], |i| &args[i + 1..]);
        let mut strs = after.iter().filter_map(|&v| self.str_of(v));
        let file = strs.next();
        let name = strs.next();
        let from = match file {
            Some(f) => format!("from {f}, built with {origin}"),
            None => format!("built with {origin}"),
        };
        self.code_object("code object", name, from);
        self.codes.push((name, file));
        Value::Code(self.codes.len() - 1)
    }

    #[cold]
    fn function(&mut self, args: Args, origin: &str) {
        let (name, file) = match self.args(args).first() {
            Some(&Value::Code(c)) => self.codes[c],
            _ => (self.arg_str(args, 2), None),
        };
        let from = match file {
            Some(f) => format!("from {f}, built with {origin}"),
            None => format!("built with {origin}"),
        };
        self.code_object("function", name, from);
    }

    /// BUILD, SETITEM(S), APPEND(S), ADDITEMS mutate the object under them: never a class or
    /// function (that would patch a library at load time).
    #[inline]
    fn check_target(&mut self, op: &str, target: Value) {
        if let Value::Global(g) = target {
            let (m, n, _) = self.keys[g];
            self.finding(format!(
                "{op} modifies {m}.{n} itself (a class or function)"
            ));
        }
    }

    fn text_string(&mut self) -> Step<Value> {
        // Protocol 0 STRING: a quoted repr; only plain ASCII without escapes is tracked.
        let l = self.line()?;
        if l.len() < 2 || l[0] != l[l.len() - 1] || !matches!(l[0], b'"' | b'\'') {
            return self.fail("STRING argument is not quoted");
        }
        let inner = &l[1..l.len() - 1];
        Ok(if inner.is_ascii() && !inner.contains(&b'\\') {
            self.str_value(std::str::from_utf8(inner).unwrap_or_default())
        } else {
            Value::Other
        })
    }

    #[inline]
    fn utf8_value(&mut self, b: &'a [u8]) -> Value {
        match std::str::from_utf8(b) {
            Ok(s) => self.str_value(s),
            Err(_) => Value::Other,
        }
    }

    /// joblib's `NumpyArrayWrapper` BUILD: the array's bytes follow in the file (after a padding
    /// length byte and padding when the state asks for alignment), or, for object arrays, a
    /// nested pickle. Read exactly as `joblib.numpy_pickle` reads them, from the state's
    /// literal values; a state that cannot be read statically stops the verification.
    fn joblib_array(&mut self, state: Value) -> Step<()> {
        let Value::Dict(d) = state else {
            return self.fail("joblib array wrapper whose state is not a dict");
        };
        if !self.dicts[d].exact {
            return self.fail("joblib array wrapper whose state cannot be read statically");
        }
        let items = std::mem::take(&mut self.dicts[d].items);
        let r = self.joblib_array_items(&items);
        self.dicts[d].items = items;
        r
    }

    fn joblib_array_items(&mut self, items: &[(&'a str, Value)]) -> Step<()> {
        let get = |k: &str| lookup(items, k).copied();
        match get("subclass") {
            Some(Value::Global(g)) if (self.keys[g].0, self.keys[g].1) == ("numpy", "ndarray") => {}
            _ => return self.fail("joblib array wrapper whose subclass is not numpy.ndarray"),
        }
        let mut count: u64 = 1;
        match get("shape") {
            Some(t @ Value::Tuple(_)) => {
                for dim in self.tuple_items(t) {
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
            Some(v @ Value::Str(_)) if matches!(self.str_of(v), Some("C" | "F")) => {}
            Some(_) => return self.fail("joblib array wrapper whose order is not 'C' or 'F'"),
        }
        let dtype = match get("dtype") {
            Some(Value::Dtype(t)) => self.dtypes[t],
            _ => return self.fail("joblib array wrapper whose dtype is not a numpy.dtype"),
        };
        let aligned = match get("numpy_array_alignment_bytes") {
            None | Some(Value::None) => false,
            Some(Value::Int(_)) => true,
            Some(_) => return self.fail("joblib array wrapper with an invalid alignment"),
        };
        if self.pos < self.frame_end {
            return self.fail("joblib array data begins inside a pickle frame");
        }
        let (data_start, nbytes);
        if dtype.object {
            let base = self.pos;
            (data_start, nbytes) = (base, 0);
            let data: &'a [u8] = self.data;
            let (inner, keys) = verify_stream(&data[base..], self.limits, false);
            self.merge(inner, keys, base)?;
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
    fn merge(&mut self, inner: Report, keys: Keys<'a>, base: usize) -> Step<()> {
        if let Some(m) = inner.malformed {
            self.op_start = base + m.offset;
            return self.fail(format!(
                "in the nested pickle of a joblib object array: {}",
                m.message
            ));
        }
        for (g, (module, name, _)) in inner.globals.into_iter().zip(keys) {
            match self.seen.get(&(module, name)) {
                Some(&i) => self.report.globals[i].count += g.count,
                None => {
                    self.seen.insert((module, name), self.report.globals.len());
                    // (never a value of this stream: its kind does not matter)
                    self.keys.push((module, name, Kind::Plain));
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

    /// Values held in the tables (see [`Limits::max_values`]).
    fn tracked(&self) -> usize {
        if !FULL {
            return self.strs.len() + self.untracked;
        }
        self.strs.len()
            + self.items.len()
            + self.spans.len()
            + self.dicts.len()
            + self.dtypes.len()
            + self.codes.len()
    }

    fn run(&mut self) -> Step<()> {
        loop {
            self.op_start = self.pos;
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
                    let n = self.len::<8>()?;
                    if self.op_start < self.frame_end {
                        return self.fail("a FRAME begins inside another frame");
                    }
                    if n > self.data.len() - self.pos {
                        return self.fail(format!("FRAME of {n} bytes runs past the end"));
                    }
                    self.frame_end = self.pos + n;
                }
                b'(' => self.mark()?,
                b'0' => {
                    // POP: the top item, or the mark when the current segment is empty.
                    if self.stack.len() == self.base() {
                        self.drop_mark()?;
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => self.drop_mark()?,
                b'2' => {
                    let v = self.top()?;
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
                    let v = self.le::<2>()?;
                    self.push(Value::Int(v as i64))?;
                }
                b'G' => {
                    self.take(8)?;
                    self.push(Value::Other)?;
                }
                0x8a => {
                    // LONG1: little-endian two's complement.
                    let n = self.len::<1>()?;
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
                    let n = self.len::<4>()?;
                    self.take(n)?;
                    self.push(Value::Other)?;
                }
                // Strings.
                b'S' => {
                    let v = self.text_string()?;
                    self.made(v)?;
                }
                b'T' | b'U' => {
                    let n = if op == b'T' {
                        self.len::<4>()?
                    } else {
                        self.len::<1>()?
                    };
                    let b = self.take(n)?;
                    let v = if b.is_ascii() {
                        self.utf8_value(b)
                    } else {
                        Value::Other
                    };
                    self.made(v)?;
                }
                b'V' => {
                    // raw-unicode-escape: plain ASCII without a backslash is itself; the rest is
                    // left opaque (never needed by ordinary pickles).
                    let l = self.line()?;
                    let v = if l.is_ascii() && !l.contains(&b'\\') {
                        self.utf8_value(l)
                    } else {
                        Value::Other
                    };
                    self.made(v)?;
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => self.len::<4>()?,
                        0x8c => self.len::<1>()?,
                        _ => self.len::<8>()?,
                    };
                    let b = self.take(n)?;
                    let v = self.utf8_value(b);
                    self.made(v)?;
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.len::<4>()?,
                        b'C' => self.len::<1>()?,
                        _ => self.len::<8>()?,
                    };
                    self.take(n)?;
                    self.push_memo(Value::Bytes)?;
                }
                0x97 => {
                    return self
                        .fail("NEXT_BUFFER needs out-of-band buffers, which are never given")
                }
                0x98 => {
                    self.top()?;
                }
                // Containers.
                b')' => {
                    let t = self.tuple(self.stack.len());
                    self.made(t)?;
                }
                b'}' => {
                    let d = self.new_dict();
                    self.made(d)?;
                }
                b']' | 0x8f => self.push_memo(Value::Other)?,
                b't' => {
                    let start = self.pop_mark()?;
                    let t = self.tuple(start);
                    self.stack.truncate(start);
                    self.made(t)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < self.base() + n {
                        return self.underflow();
                    }
                    let start = self.stack.len() - n;
                    let t = self.tuple(start);
                    self.stack.truncate(start);
                    self.made(t)?;
                }
                b'd' => {
                    let start = self.pop_mark()?;
                    let d = self.new_dict();
                    self.set_items(d, start, self.stack.len());
                    self.stack.truncate(start);
                    self.made(d)?;
                }
                b'l' | 0x91 => {
                    self.drop_mark()?;
                    self.push_memo(Value::Other)?;
                }
                b'a' => {
                    self.pop()?;
                    let target = self.top()?;
                    self.check_target("APPEND", target);
                }
                b'e' | 0x90 => {
                    self.drop_mark()?;
                    let target = self.top()?;
                    self.check_target(if op == b'e' { "APPENDS" } else { "ADDITEMS" }, target);
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?;
                    self.check_target("SETITEM", target);
                    // (k and v are still in the stack's spare capacity: push them back to read
                    // them as a pair)
                    self.stack.push(k);
                    self.stack.push(v);
                    let to = self.stack.len();
                    self.set_items(target, to - 2, to);
                    self.stack.truncate(to - 2);
                    self.values_check()?;
                }
                b'u' => {
                    let start = self.pop_mark()?;
                    let target = self.below(start)?;
                    self.check_target("SETITEMS", target);
                    self.set_items(target, start, self.stack.len());
                    self.stack.truncate(start);
                    self.values_check()?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    self.check_target("BUILD", target);
                    match target {
                        Value::Wrapper if self.joblib => {
                            // The array replaces its wrapper on the stack, as in joblib.
                            self.pop()?;
                            self.joblib_array(state)?;
                            self.push(Value::Other)?;
                        }
                        Value::Dtype(d) => self.dtype_set_state(d, state),
                        _ => {}
                    }
                }
                // Memo.
                b'p' => {
                    let i = self.decimal()?;
                    self.memo_put(i)?;
                }
                b'q' => {
                    let i = u64::from(self.u8()?);
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.le::<4>()?;
                    self.memo_put(i)?;
                }
                0x94 => self.memoize()?,
                b'g' => {
                    let i = self.decimal()?;
                    self.memo_get(i)?;
                }
                b'h' => {
                    let i = u64::from(self.u8()?);
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.le::<4>()?;
                    self.memo_get(i)?;
                }
                // Globals.
                b'c' => {
                    let module = self.utf8_line()?;
                    let name = self.utf8_line()?;
                    self.global(module, name)?;
                    self.memo_next()?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (self.str_of(module), self.str_of(name)) {
                        (Some(m), Some(n)) => {
                            self.global(m, n)?;
                            self.memo_next()?;
                        }
                        _ => {
                            let msg = format!(
                                "STACK_GLOBAL with arguments that are not literal strings ({}, {})",
                                self.describe(module),
                                self.describe(name)
                            );
                            self.finding(msg);
                            self.push(Value::Other)?;
                        }
                    }
                }
                0x82..=0x84 => {
                    let (n, code) = match op {
                        0x82 => (1, self.le::<1>()?),
                        0x83 => (2, self.le::<2>()?),
                        _ => (4, self.le::<4>()?),
                    };
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
                    let args = match args {
                        Value::Tuple(i) => Args {
                            in_stack: false,
                            start: self.spans[i].start,
                            len: self.spans[i].len,
                        },
                        _ => Args::NONE,
                    };
                    let r = self.call(callable, args);
                    self.made(r)?;
                }
                b'i' => {
                    let module = self.utf8_line()?;
                    let name = self.utf8_line()?;
                    self.global(module, name)?;
                    let cls = self.pop()?;
                    let start = self.pop_mark()?;
                    let args = Args {
                        in_stack: true,
                        start,
                        len: self.stack.len() - start,
                    };
                    let r = self.call(cls, args);
                    self.stack.truncate(start);
                    self.made(r)?;
                }
                b'o' => {
                    let start = self.pop_mark()?;
                    if self.stack.len() == start {
                        return self.fail("OBJ without a class");
                    }
                    let cls = self.stack[start];
                    let args = Args {
                        in_stack: true,
                        start: start + 1,
                        len: self.stack.len() - start - 1,
                    };
                    let r = self.call(cls, args);
                    self.stack.truncate(start);
                    self.made(r)?;
                }
                _ => return self.fail(format!("unknown opcode 0x{op:02x}")),
            }
        }
    }
}

/// Python's `Unpickler.find_class` maps Python 2 names for protocols < 3 (`_compat_pickle`).
fn compat_map<'a>(proto: u8, module: &'a str, name: &'a str) -> (&'a str, &'a str) {
    if proto >= 3 {
        return (module, name);
    }
    if let Ok(i) = NAME_MAPPING.binary_search_by(|&(m, n, _, _)| (m, n).cmp(&(module, name))) {
        let (_, _, m, n) = NAME_MAPPING[i];
        return (m, n);
    }
    if let Ok(i) = IMPORT_MAPPING.binary_search_by(|&(m, _)| m.cmp(module)) {
        return (IMPORT_MAPPING[i].1, name);
    }
    (module, name)
}
