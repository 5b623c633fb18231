//! Column-based schemas: matching input columns to the schema (by name or by position) and
//! mlflow's `_enforce_mlflow_datatype` conversion rules, decided from the column's dtype.

use crate::frame::Column;
use crate::schema::{ColType, DataType};
use crate::tensor::ElemType;

/// Appended to the "Can not safely convert" error when a float64 column holding only integers
/// and NaN is fed to an integer column (mlflow's wording).
pub const NAN_INT_HINT: &str = " Hint: the type mismatch is likely caused by missing values. \
Integer columns in python can not represent missing values and are therefore encoded as floats. \
The best way to avoid this problem is to infer the model schema based on a realistic data sample \
(training dataset) that includes missing values. Alternatively, you can declare integer columns \
as doubles (float64) whenever these columns may have missing values. See `Handling Integers With \
Missing Values <https://www.mlflow.org/docs/latest/models.html#handling-integers-with-missing-values>`_ \
for more details.";

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCol {
    pub name: Option<String>,
    /// A scalar DataType (decided by [`column_action`]) or a nested type, whose cells are
    /// checked one by one.
    pub ty: ColType,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnPlan {
    pub cols: Vec<PlannedCol>,
    pub named: bool,
}

/// The dtype of one input column, as the binding describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtypeInfo<'a> {
    /// numpy's `dtype.kind` (`b i u f c M m O U S V`); pandas extension dtypes report theirs.
    pub kind: u8,
    pub itemsize: usize,
    /// `str(dtype)`, as mlflow prints it.
    pub text: &'a str,
    /// A numpy dtype (not a pandas extension dtype).
    pub numpy: bool,
    /// pandas' `StringDtype` (the default `str` dtype of pandas 3).
    pub string_dtype: bool,
    /// The column already went through `infer_objects()` (see [`ColAction::InferObjects`]).
    pub inferred: bool,
}

/// What happens to one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColAction {
    /// Passed through unchanged.
    Keep,
    /// `astype(<numpy dtype>)`: a safe upcast (extension dtypes may still fail on their values,
    /// e.g. a nullable Int64 holding NA; the error is pandas' own, as in mlflow).
    Cast(&'static str),
    /// `astype("datetime64[ns]")`; a TypeError (tz-aware values) becomes mlflow's datetime error.
    CastDatetime,
    /// An object column into datetime: `astype("datetime64[ns]")`; a ValueError becomes `message`.
    CastObjectDatetime { message: String },
    /// An object column into double: `pd.to_numeric`; a ValueError becomes `message`.
    ToNumeric { message: String },
    /// Run `infer_objects()` on the object column, then ask again with `inferred` set.
    InferObjects,
    /// int64 into float/double: cast if every value is 0 or 1, else reject with `message`.
    CastIfZeroOne { to: &'static str, message: String },
    /// Refused with `message`; when `nan_int_hint`, append [`NAN_INT_HINT`] if the float64
    /// values are all integers or NaN and include a NaN.
    Reject { message: String, nan_int_hint: bool },
}

/// Which input columns the model gets, in schema order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// `(schema index, input index)` for each column handed on.
    pub take: Vec<(usize, usize)>,
    /// Input columns the schema does not name (dropped, with a warning).
    pub extras: Vec<String>,
}

impl Matched {
    /// Every input column is taken, in the order given: the input can be handed on as it is.
    pub fn is_identity(&self, n_inputs: usize) -> bool {
        self.take.len() == n_inputs && self.take.iter().enumerate().all(|(i, &(_, j))| i == j)
    }
}

impl DataType {
    /// `str(DataType.to_numpy())`: what mlflow's conversion errors print.
    pub fn numpy_text(self) -> &'static str {
        match self {
            DataType::String => "<U0",
            DataType::Binary => "|S0",
            other => other.numpy_dtype(),
        }
    }

    /// `str(DataType.x)`: the enum's name as Python prints it in f-strings.
    pub fn enum_text(self) -> String {
        format!("DataType.{}", self.name())
    }

    /// numpy's `(kind, itemsize)` of `to_numpy()`.
    pub(crate) fn numpy_kind(self) -> (u8, usize) {
        match self {
            DataType::Boolean => (b'b', 1),
            DataType::Integer => (b'i', 4),
            DataType::Long => (b'i', 8),
            DataType::Float => (b'f', 4),
            DataType::Double => (b'f', 8),
            DataType::String => (b'U', 0),
            DataType::Binary => (b'S', 0),
            DataType::Datetime => (b'M', 8),
        }
    }
}

impl ColumnPlan {
    pub fn new(cols: Vec<PlannedCol>) -> Self {
        let named = cols.first().is_some_and(|c| c.name.is_some());
        ColumnPlan { cols, named }
    }

    /// mlflow reads a dict as one row (`pd.DataFrame([d])`), not as columns, when any column
    /// is an Array or Object.
    pub fn dict_is_row(&self) -> bool {
        self.cols
            .iter()
            .any(|c| matches!(c.ty, ColType::Array(_) | ColType::Object(_)))
    }

    /// Matches the input's column labels (as strings) to the schema.
    /// Named: missing required columns are an error (mlflow's message), extras are dropped.
    /// Unnamed: only the count is checked and the first N columns are taken.
    pub fn match_columns(&self, labels: &[&str]) -> Result<Matched, String> {
        if !self.named {
            let n = self.cols.len();
            if labels.len() < n {
                return Err(format!(
                    "Model inference is missing inputs. The model signature declares {n} inputs  \
                     but the provided value only has {} inputs. Note: the inputs were not named \
                     in the signature so we can only verify their count.",
                    labels.len()
                ));
            }
            return Ok(Matched {
                take: (0..n).map(|i| (i, i)).collect(),
                extras: vec![],
            });
        }
        let names: Vec<(&str, bool)> = self
            .cols
            .iter()
            .filter_map(|c| Some((c.name.as_deref()?, c.required)))
            .collect();
        match_named(&names, labels)
    }
}

/// A column schema enforced on columns read in place ([`crate::frame::Column`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforced {
    /// `(input index, dtype after enforcement)` of each column handed on, in schema order.
    Columns(Vec<(usize, ElemType)>),
    /// mlflow's rules need pandas for this input (a value-dependent pandas operation, an
    /// extension or object dtype, a nested type), or it fails and the error is worded with
    /// pandas' help; the reason says which.
    Pandas(&'static str),
}

impl ColumnPlan {
    /// mlflow's `_enforce_schema` for a DataFrame whose columns the rules can read natively
    /// (`cols[i]` is None where they cannot). Extra columns, which mlflow drops with a warning,
    /// are left to the warning's path too.
    pub fn enforce(&self, labels: &[Option<&str>], cols: &[Option<Column<'_>>]) -> Enforced {
        let matched = if self.named {
            if labels.iter().any(|l| l.is_none()) {
                return Enforced::Pandas("a column label is not a str");
            }
            let labels: Vec<&str> = labels.iter().flatten().copied().collect();
            self.match_columns(&labels)
        } else {
            self.match_columns(&vec![""; labels.len()])
        };
        let Ok(matched) = matched else {
            return Enforced::Pandas("missing inputs");
        };
        if !matched.extras.is_empty() {
            return Enforced::Pandas("extra columns");
        }
        let mut out = Vec::with_capacity(matched.take.len());
        for (si, ii) in matched.take {
            let ColType::Data(t) = self.cols[si].ty else {
                return Enforced::Pandas("a nested column type");
            };
            let Some(col) = &cols[ii] else {
                return Enforced::Pandas("a column dtype read by pandas");
            };
            let to = match column_action("", &col.dtype_info(), t) {
                ColAction::Keep => col.dtype,
                ColAction::Cast(to) => match ElemType::from_numpy_name(to) {
                    Some(e) => e,
                    None => return Enforced::Pandas("a cast to a non-numeric dtype"),
                },
                ColAction::CastIfZeroOne { to, .. } if col.all_zero_or_one() => {
                    match ElemType::from_numpy_name(to) {
                        Some(e) => e,
                        None => return Enforced::Pandas("a cast to a non-numeric dtype"),
                    }
                }
                _ => return Enforced::Pandas("a conversion mlflow refuses or runs in pandas"),
            };
            out.push((ii, to));
        }
        Enforced::Columns(out)
    }
}

/// mlflow's matching of named inputs (columns or tensors) to `(name, required)` schema entries:
/// missing required names are an error ("Model is missing inputs [...]", with the extras noted),
/// names the schema does not know are extras, and the rest is taken in schema order.
pub fn match_named(names: &[(&str, bool)], labels: &[&str]) -> Result<Matched, String> {
    let position: std::collections::HashMap<&str, usize> =
        labels.iter().enumerate().map(|(j, l)| (*l, j)).collect();
    let missing: Vec<&str> = names
        .iter()
        .filter(|(n, required)| *required && !position.contains_key(n))
        .map(|(n, _)| *n)
        .collect();
    let known: std::collections::HashSet<&str> = names.iter().map(|(n, _)| *n).collect();
    let extras: Vec<String> = labels
        .iter()
        .filter(|l| !known.contains(*l))
        .map(|l| l.to_string())
        .collect();
    if !missing.is_empty() {
        let mut msg = format!("Model is missing inputs {}.", py_list(&missing));
        if !extras.is_empty() {
            msg.push_str(&format!(
                " Note that there were extra inputs: {}.",
                py_list(&extras)
            ));
        }
        return Err(msg);
    }
    let take = names
        .iter()
        .enumerate()
        .filter_map(|(i, (n, _))| position.get(n).map(|&j| (i, j)))
        .collect();
    Ok(Matched { take, extras })
}

/// `['a', 'b']`: mlflow formats these lists with Python's repr.
pub fn py_list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| py_str(s.as_ref())).collect();
    format!("[{}]", quoted.join(", "))
}

/// Python's `repr` of a str (single quotes unless the text holds one and no double quote).
pub fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// mlflow's `_enforce_mlflow_datatype(name, values, t)`, step by step in mlflow's order, decided
/// from the dtype; the steps that depend on values say which pandas operation to run.
pub fn column_action(name: &str, d: &DtypeInfo<'_>, t: DataType) -> ColAction {
    let object = d.numpy && d.kind == b'O';
    if object && !d.inferred && !matches!(t, DataType::String | DataType::Binary) {
        return ColAction::InferObjects;
    }
    if t == DataType::String && (object || d.string_dtype) {
        return ColAction::Keep;
    }
    if t == DataType::Binary && d.string_dtype {
        return ColAction::Keep;
    }
    let (kind, size) = t.numpy_kind();
    // `t.to_pandas() == dtype or t.to_numpy() == dtype`: pandas' extension dtypes never equal a
    // numpy dtype; str(dtype) tells datetime64[s] from [ns] and '>i8' from int64.
    let exact = d.numpy
        && match t {
            DataType::String | DataType::Binary => object || (d.kind == kind && d.itemsize == 0),
            _ => d.text == t.numpy_text(),
        };
    if exact {
        return ColAction::Keep;
    }
    if t == DataType::Binary && d.numpy && d.kind == b'S' {
        return ColAction::Keep;
    }
    if t == DataType::Datetime && d.kind == b'M' {
        return ColAction::CastDatetime;
    }
    let failed = || {
        format!(
            "Failed to convert column {name} from type {} to {}.",
            d.text,
            t.enum_text()
        )
    };
    if t == DataType::Datetime && object {
        return ColAction::CastObjectDatetime { message: failed() };
    }
    if t == DataType::Boolean && object {
        return ColAction::Keep;
    }
    // `values.dtype == decimal.Decimal` holds for every object dtype (numpy maps any class to O).
    if t == DataType::Double && object {
        return ColAction::ToNumeric { message: failed() };
    }
    let upcast = if d.kind == kind {
        d.itemsize <= size
    } else if d.kind == b'u' && kind == b'i' {
        d.itemsize < size
    } else if matches!(d.kind, b'i' | b'u') && t == DataType::Double {
        d.itemsize <= 6
    } else {
        false
    };
    let to = t.numpy_text();
    if upcast {
        return ColAction::Cast(to);
    }
    let message = format!(
        "Incompatible input types for column {name}. Can not safely convert {} to {to}.",
        d.text
    );
    let numpy_text = |s: &str| d.numpy && d.text == s;
    if numpy_text("int64") && matches!(t, DataType::Float | DataType::Double) {
        return ColAction::CastIfZeroOne { to, message };
    }
    ColAction::Reject {
        message,
        nan_int_hint: numpy_text("float64") && matches!(kind, b'i' | b'u'),
    }
}
