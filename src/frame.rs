//! Input columns as mlflow's rules see them, whatever they came from: the NumPy column arrays of
//! a pandas DataFrame or the arrays of an Arrow table, read in place. A column reports the dtype
//! pandas would hold it as (`Table.to_pandas()` semantics for Arrow: integers with nulls become
//! float64 with NaN), so the enforcement rules are written once over that dtype; `assemble` is the
//! one copy that turns k columns into an `[N, k]` tensor with exactly the conversions mlflow's
//! path applies (`astype`, `DataFrame.values`, the flavor's float64 -> float32 cast).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType as ArrowType;

use crate::schema::enforce::DtypeInfo;
use crate::tensor::{Data, DataRef, ElemType};

/// A validity bitmap (Arrow): bit `offset + i` clear means element `i` is null.
#[derive(Debug, Clone, Copy)]
pub struct Nulls<'a> {
    pub bits: &'a [u8],
    pub offset: usize,
}

impl Nulls<'_> {
    fn is_null(&self, i: usize) -> bool {
        let b = self.offset + i;
        self.bits[b / 8] & (1 << (b % 8)) == 0
    }
}

/// `len` elements, `stride` elements apart, starting at the first element of `data` (which
/// spans exactly `(len - 1) * stride + 1` elements).
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub data: DataRef<'a>,
    pub stride: usize,
    pub len: usize,
    pub nulls: Option<Nulls<'a>>,
}

/// One input column.
#[derive(Debug, Clone)]
pub struct Column<'a> {
    /// The NumPy dtype pandas holds the column as.
    pub dtype: ElemType,
    pub chunks: Vec<Chunk<'a>>,
}

impl<'a> Column<'a> {
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the enforcement rules need to know of the dtype.
    pub fn dtype_info(&self) -> DtypeInfo<'static> {
        dtype_info(self.dtype)
    }

    /// The column as one contiguous slice of its dtype, when it is stored that way: lent to an
    /// engine without a copy.
    pub fn as_slice(&self) -> Option<DataRef<'a>> {
        match self.chunks.as_slice() {
            [c] if (c.stride == 1 || c.len <= 1)
                && c.nulls.is_none()
                && c.data.elem_type() == self.dtype =>
            {
                Some(c.data)
            }
            [] => None,
            _ => None,
        }
    }

    /// Every value is 0 or 1 (mlflow lets such an int64 column become float/double).
    pub fn all_zero_or_one(&self) -> bool {
        self.chunks.iter().all(|c| {
            (0..c.len).all(|i| {
                c.nulls.is_some_and(|n| n.is_null(i))
                    || matches!(value_f64(c.data, i * c.stride), Some(v) if v == 0.0 || v == 1.0)
            })
        })
    }

    /// A float column holding a NaN (or null) and otherwise only integers: mlflow's
    /// missing-values hint applies.
    pub fn nan_and_integers(&self) -> bool {
        let mut nan = false;
        for c in &self.chunks {
            for i in 0..c.len {
                if c.nulls.is_some_and(|n| n.is_null(i)) {
                    nan = true;
                    continue;
                }
                match value_f64(c.data, i * c.stride) {
                    Some(v) if v.is_nan() => nan = true,
                    Some(v) if v.fract() == 0.0 && v.is_finite() => {}
                    _ => return false,
                }
            }
        }
        nan
    }
}

/// Arrow chunks of one column (a ChunkedArray) as a [`Column`], read in place; None for Arrow
/// types the native rules do not read (they go through pandas).
pub fn arrow_column(arrays: &[ArrayRef]) -> Option<Column<'_>> {
    let dtype = arrow_dtype(arrays)?;
    Some(Column {
        dtype,
        chunks: arrays
            .iter()
            .map(|a| arrow_chunk(a.as_ref()))
            .collect::<Option<_>>()?,
    })
}

/// The dtype [`arrow_column`] reads these chunks as (None: they go through pandas), decided
/// without building the column.
pub fn arrow_dtype(arrays: &[ArrayRef]) -> Option<ElemType> {
    let nulls = arrays.iter().any(|a| a.null_count() > 0);
    pandas_dtype(arrays.first()?.data_type(), nulls)
}

/// The NumPy dtype `Table.to_pandas()` gives an Arrow column: integers with nulls become float64
/// (nulls are NaN). None for types the native rules do not read yet (bool, strings, temporal,
/// nested): those columns go through pandas.
pub fn pandas_dtype(t: &ArrowType, nulls: bool) -> Option<ElemType> {
    let elem = match t {
        ArrowType::Int8 => ElemType::I8,
        ArrowType::Int16 => ElemType::I16,
        ArrowType::Int32 => ElemType::I32,
        ArrowType::Int64 => ElemType::I64,
        ArrowType::UInt8 => ElemType::U8,
        ArrowType::UInt16 => ElemType::U16,
        ArrowType::UInt32 => ElemType::U32,
        ArrowType::UInt64 => ElemType::U64,
        ArrowType::Float16 => return Some(ElemType::F16),
        ArrowType::Float32 => return Some(ElemType::F32),
        ArrowType::Float64 => return Some(ElemType::F64),
        _ => return None,
    };
    Some(if nulls { ElemType::F64 } else { elem })
}

/// One Arrow array's values in place, with its validity bitmap.
fn arrow_chunk(a: &dyn Array) -> Option<Chunk<'_>> {
    let data = match a.data_type() {
        ArrowType::Int8 => DataRef::I8(a.as_primitive::<Int8Type>().values()),
        ArrowType::Int16 => DataRef::I16(a.as_primitive::<Int16Type>().values()),
        ArrowType::Int32 => DataRef::I32(a.as_primitive::<Int32Type>().values()),
        ArrowType::Int64 => DataRef::I64(a.as_primitive::<Int64Type>().values()),
        ArrowType::UInt8 => DataRef::U8(a.as_primitive::<UInt8Type>().values()),
        ArrowType::UInt16 => DataRef::U16(a.as_primitive::<UInt16Type>().values()),
        ArrowType::UInt32 => DataRef::U32(a.as_primitive::<UInt32Type>().values()),
        ArrowType::UInt64 => DataRef::U64(a.as_primitive::<UInt64Type>().values()),
        ArrowType::Float16 => DataRef::F16(a.as_primitive::<Float16Type>().values()),
        ArrowType::Float32 => DataRef::F32(a.as_primitive::<Float32Type>().values()),
        ArrowType::Float64 => DataRef::F64(a.as_primitive::<Float64Type>().values()),
        _ => return None,
    };
    let nulls = a.nulls().filter(|n| n.null_count() > 0).map(|n| Nulls {
        bits: n.buffer().as_slice(),
        offset: n.offset(),
    });
    Some(Chunk {
        data,
        stride: 1,
        len: a.len(),
        nulls,
    })
}

/// What a table's `pandas` schema metadata (written by `Table.from_pandas`) makes
/// `Table.to_pandas()` do differently from the plain Arrow columns.
#[derive(Debug, Default)]
pub struct PandasMeta {
    /// Columns it turns into pandas extension dtypes (a nullable `Int64` column): their mlflow
    /// rules are pandas', so they are not read natively.
    pub extension: HashSet<String>,
    /// Whether some columns are a stored index (`__index_level_0__`...), which `to_pandas()`
    /// makes the frame's index rather than columns.
    pub stored_index: bool,
}

/// The table's [`PandasMeta`] (empty without `pandas` metadata).
pub fn pandas_meta(schema: &arrow_schema::Schema) -> Arc<PandasMeta> {
    // The same table (or batches of one stream) comes back call after call: parsing its
    // metadata JSON cost about 6 µs a call, a string comparison costs nanoseconds.
    static LAST: Mutex<Option<(String, Arc<PandasMeta>)>> = Mutex::new(None);
    let Some(meta) = schema.metadata().get("pandas") else {
        return Default::default();
    };
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((text, cols)) = last.as_ref() {
        if text == meta {
            return Arc::clone(cols);
        }
    }
    let cols = Arc::new(parse_pandas_meta(meta));
    *last = Some((meta.clone(), Arc::clone(&cols)));
    cols
}

fn parse_pandas_meta(meta: &str) -> PandasMeta {
    let Ok(meta) = serde_json::from_str::<serde_json::Value>(meta) else {
        return Default::default();
    };
    let plain = |t: &str| ElemType::from_numpy_name(t).is_some();
    // a RangeIndex is described (a dict), not stored; any other index is a column's name
    let stored_index = meta
        .get("index_columns")
        .and_then(|c| c.as_array())
        .is_some_and(|c| c.iter().any(|i| i.is_string()));
    let extension = meta
        .get("columns")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .filter(|c| {
            !c.get("numpy_type")
                .and_then(|t| t.as_str())
                .is_some_and(plain)
        })
        .filter_map(|c| {
            c.get("field_name")
                .or_else(|| c.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_owned)
        })
        .collect();
    PandasMeta {
        extension,
        stored_index,
    }
}

/// `DtypeInfo` of a plain NumPy dtype.
pub fn dtype_info(elem: ElemType) -> DtypeInfo<'static> {
    let (kind, itemsize) = match elem {
        ElemType::Bool => (b'b', 1),
        ElemType::I8 => (b'i', 1),
        ElemType::I16 => (b'i', 2),
        ElemType::I32 => (b'i', 4),
        ElemType::I64 => (b'i', 8),
        ElemType::U8 => (b'u', 1),
        ElemType::U16 => (b'u', 2),
        ElemType::U32 => (b'u', 4),
        ElemType::U64 => (b'u', 8),
        ElemType::F16 => (b'f', 2),
        ElemType::F32 => (b'f', 4),
        ElemType::F64 => (b'f', 8),
        ElemType::String => (b'O', 8),
    };
    DtypeInfo {
        kind,
        itemsize,
        text: elem.numpy_name(),
        numpy: true,
        string_dtype: false,
        inferred: false,
    }
}

fn value_f64(d: DataRef<'_>, i: usize) -> Option<f64> {
    macro_rules! get {
        ($(($v:ident, $t:ty)),*) => {
            match d {
                DataRef::Bool(s) => Some(if s[i] { 1.0 } else { 0.0 }),
                DataRef::F16(s) => Some(s[i].to_f64()),
                $(DataRef::$v(s) => Some(s[i] as f64),)*
                DataRef::Str(_) => None,
            }
        };
    }
    get!(
        (I8, i8),
        (I16, i16),
        (I32, i32),
        (I64, i64),
        (U8, u8),
        (U16, u16),
        (U32, u32),
        (U64, u64),
        (F32, f32),
        (F64, f64)
    )
}

/// NumPy's `result_type` of column dtypes, as pandas' `DataFrame.values` interleaves them; None
/// where pandas would make an object array (bool beside numbers, strings).
pub fn common_type(dtypes: &[ElemType]) -> Option<ElemType> {
    let mut it = dtypes.iter().copied();
    let first = it.next()?;
    it.try_fold(first, promote)
}

fn promote(a: ElemType, b: ElemType) -> Option<ElemType> {
    use ElemType::*;
    if a == b {
        return Some(a);
    }
    if matches!(a, Bool | String) || matches!(b, Bool | String) {
        return None;
    }
    let class = |t: ElemType| match t {
        I8 | I16 | I32 | I64 => 'i',
        U8 | U16 | U32 | U64 => 'u',
        _ => 'f',
    };
    let size = |t: ElemType| match t {
        I8 | U8 => 1,
        I16 | U16 | F16 => 2,
        I32 | U32 | F32 => 4,
        _ => 8,
    };
    let float_of = |n: usize| match n {
        2 => F16,
        4 => F32,
        _ => F64,
    };
    let int_of = |n: usize| match n {
        1 => I8,
        2 => I16,
        4 => I32,
        _ => I64,
    };
    Some(match (class(a), class(b)) {
        ('f', 'f') => float_of(size(a).max(size(b))),
        ('f', _) | (_, 'f') => {
            let (f, i) = if class(a) == 'f' { (a, b) } else { (b, a) };
            // the smallest float that holds every value of the integer type
            let need = match size(i) {
                1 => 2,
                2 => 4,
                _ => 8,
            };
            float_of(size(f).max(need))
        }
        ('i', 'i') | ('u', 'u') => {
            if size(a) >= size(b) {
                a
            } else {
                b
            }
        }
        _ => {
            let (s, u) = if class(a) == 'i' { (a, b) } else { (b, a) };
            if size(u) == 8 {
                F64
            } else if size(s) > size(u) {
                s
            } else {
                int_of(size(u) * 2)
            }
        }
    })
}

/// Rows written per block: each block of the `[N, k]` output (`BLOCK_ROWS * k` elements) stays
/// in cache while its k columns are written into it, instead of k strided passes over all of it.
const BLOCK_ROWS: usize = 2048;

/// How integers reach a float32 output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Through float64: `df.values` interleaves mixed columns as float64, then the flavor casts
    /// (mlflow's ONNX wrapper).
    ThroughF64,
    /// Straight to float32, once: `df.to_numpy(dtype=float32)` casts each block (the PyTorch
    /// wrapper). The two differ only for integers above 2**53.
    Direct,
}

/// The memory order of an assembled `[N, k]` buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// C order (`df.values` as the ONNX wrapper feeds it, after its cast).
    RowMajor,
    /// Fortran order: each column contiguous, as pandas' `to_numpy` returns a frame (the
    /// transpose of its column blocks). Engines pick kernels by layout, so the PyTorch wrapper's
    /// bits depend on it.
    ColumnMajor,
}

/// An assembled `[N, k]` buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Assembled {
    pub data: Data,
    /// A finite value became infinite (a float64 beyond float32's range): numpy's `astype`,
    /// which mlflow's path calls, warns "overflow encountered in cast" then, and the binding
    /// warns as it does. Read from the FPU's overflow flag ([`overflow_flag`]); always false
    /// where that is not read.
    pub overflowed: bool,
}

/// Copies `cols` into one `[N, k]` buffer of `out` in `layout` (N = the columns' length; they
/// are of equal length). Each value goes the way mlflow's path takes it: to a float output as
/// `rounding` says (float16 and float64 outputs through float64), to an integer or bool output
/// directly (the rules only ever widen those). Nulls are NaN. Err names what cannot be done.
pub fn assemble(
    cols: &[&Column<'_>],
    out: ElemType,
    rounding: Rounding,
    layout: Layout,
) -> Result<Assembled, String> {
    let (data, overflowed) = overflow_flag(|| {
        if let Some(data) = assemble_fast(cols, out, rounding, layout) {
            return Ok(data);
        }
        assemble_generic(cols, out, rounding, layout)
    });
    Ok(Assembled {
        data: data?,
        overflowed,
    })
}

/// `f()`, and whether a floating-point operation in it overflowed: the FPU's sticky overflow
/// flag (x86-64's MXCSR.OE), cleared before and read after, as numpy reads it around a cast
/// (`npy_clear_floatstatus`, `npy_get_floatstatus`). Nothing is checked per element, so the
/// copy runs as fast as without it. The flags are restored afterwards. The conversions that can
/// overflow here are float64 -> float32 (hardware, so flagged); float16 outputs come only from
/// float16, int8, uint8 and bool columns (numpy's promotion), which cannot. The asm blocks may
/// touch memory (no `nomem`), so the compiler keeps `f`'s stores, and the conversions they
/// store, between them.
#[cfg(target_arch = "x86_64")]
fn overflow_flag<R>(f: impl FnOnce() -> R) -> (R, bool) {
    use std::arch::asm;
    const STATUS: u32 = 0x3f; // the six sticky exception flags
    const OVERFLOW: u32 = 0x8;
    let mut saved: u32 = 0;
    let mut after: u32 = 0;
    // SAFETY: stmxcsr/ldmxcsr read and write the 4 bytes at a valid, aligned u32; the value
    // loaded keeps the saved control bits (rounding, masks) and only clears status flags.
    unsafe { asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack, preserves_flags)) };
    let cleared = saved & !STATUS;
    unsafe { asm!("ldmxcsr [{}]", in(reg) &cleared, options(nostack, preserves_flags)) };
    let result = f();
    unsafe { asm!("stmxcsr [{}]", in(reg) &mut after, options(nostack, preserves_flags)) };
    unsafe { asm!("ldmxcsr [{}]", in(reg) &saved, options(nostack, preserves_flags)) };
    (result, after & OVERFLOW != 0)
}

/// Elsewhere the flag is not read: no overflow warning (README, differences from mlflow).
#[cfg(not(target_arch = "x86_64"))]
fn overflow_flag<R>(f: impl FnOnce() -> R) -> (R, bool) {
    (f(), false)
}

/// [`assemble`] for any columns: chunked, strided, with nulls, of mixed types.
fn assemble_generic(
    cols: &[&Column<'_>],
    out: ElemType,
    rounding: Rounding,
    layout: Layout,
) -> Result<Data, String> {
    let k = cols.len();
    let n = cols.first().map_or(0, |c| c.len());
    macro_rules! fill {
        ($variant:ident, $t:ty, $conv:expr, $null:expr) => {{
            // Written in place without zeroing first (a 20 MB memset at a million rows x 5).
            let mut dst: Vec<$t> = Vec::with_capacity(n * k);
            // Per column: the chunk being read and the row its first element is.
            let mut cursor = vec![(0usize, 0usize); k];
            // Column-major: each column is one block, written contiguously.
            let block = match layout {
                Layout::RowMajor => BLOCK_ROWS,
                Layout::ColumnMajor => n.max(1),
            };
            for start in (0..n).step_by(block) {
                let end = (start + block).min(n);
                for (j, col) in cols.iter().enumerate() {
                    let (ci, first) = &mut cursor[j];
                    let mut row = start;
                    while row < end {
                        let c = col.chunks.get(*ci).ok_or("columns of unequal length")?;
                        let upto = (*first + c.len).min(end);
                        let part = (row - *first)..(upto - *first);
                        let spare = dst.spare_capacity_mut();
                        let (spare, at, step) = match layout {
                            Layout::RowMajor => (&mut spare[..n * k], j, k),
                            Layout::ColumnMajor => (&mut spare[j * n..(j + 1) * n], 0, 1),
                        };
                        fill_chunk(c, part, spare, *first, at, step, $conv, $null)?;
                        row = upto;
                        if upto == *first + c.len {
                            *ci += 1;
                            *first = upto;
                        }
                    }
                }
            }
            // SAFETY: the loops above wrote every row 0..n of every column 0..k (each column's
            // chunks cover all n rows, else "columns of unequal length" returned early), so all
            // n * k elements are initialised.
            unsafe { dst.set_len(n * k) };
            Data::$variant(dst)
        }};
    }
    Ok(match out {
        ElemType::F64 => fill!(F64, f64, |v: Num| Some(v.f64()), Some(f64::NAN)),
        ElemType::F32 => match rounding {
            Rounding::ThroughF64 => fill!(F32, f32, |v: Num| Some(v.f64() as f32), Some(f32::NAN)),
            Rounding::Direct => fill!(F32, f32, |v: Num| Some(v.f32()), Some(f32::NAN)),
        },
        ElemType::F16 => fill!(
            F16,
            half::f16,
            |v: Num| Some(half::f16::from_f64(v.f64())),
            Some(half::f16::NAN)
        ),
        ElemType::I64 => fill!(I64, i64, |v: Num| v.int().map(|x| x as i64), None),
        ElemType::I32 => fill!(I32, i32, |v: Num| v.int().map(|x| x as i32), None),
        ElemType::I16 => fill!(I16, i16, |v: Num| v.int().map(|x| x as i16), None),
        ElemType::I8 => fill!(I8, i8, |v: Num| v.int().map(|x| x as i8), None),
        ElemType::U64 => fill!(U64, u64, |v: Num| v.uint(), None),
        ElemType::U32 => fill!(U32, u32, |v: Num| v.uint().map(|x| x as u32), None),
        ElemType::U16 => fill!(U16, u16, |v: Num| v.uint().map(|x| x as u16), None),
        ElemType::U8 => fill!(U8, u8, |v: Num| v.uint().map(|x| x as u8), None),
        ElemType::Bool => fill!(Bool, bool, |v: Num| v.bool(), None),
        ElemType::String => return Err("string tensors are not assembled from columns".into()),
    })
}

/// The common cases, for columns of one source type (float64, float32, int64, int32), every
/// chunk contiguous and without nulls:
/// - row-major: 1 to [`FAST_MAX_K`] columns chunked alike (one chunk each, most of all), written
///   a row at a time. Each row's k values are written together and each column is read
///   sequentially, with k a constant (so the row is unrolled and the conversion can be
///   vectorised) instead of the generic path's k strided passes with per-element stride
///   bookkeeping;
/// - column-major: any number of columns, each chunk converted into its column's block in one
///   sequential pass.
///
/// The conversions are the generic path's expressions for these types, so every bit is the same.
/// None: not this case (the generic path does it).
fn assemble_fast(
    cols: &[&Column<'_>],
    out: ElemType,
    rounding: Rounding,
    layout: Layout,
) -> Option<Data> {
    let (&first, _) = cols.split_first()?;
    let src = first.chunks.first()?.data.elem_type();
    let plain = |c: &Chunk<'_>| {
        c.nulls.is_none()
            && (c.stride == 1 || c.len <= 1)
            && c.data.elem_type() == src
            && c.data.len() >= c.len
    };
    let fits = match layout {
        Layout::RowMajor => {
            cols.len() <= FAST_MAX_K
                && cols.iter().all(|col| {
                    col.chunks.len() == first.chunks.len()
                        && col
                            .chunks
                            .iter()
                            .zip(&first.chunks)
                            .all(|(c, c0)| c.len == c0.len && plain(c))
                })
        }
        Layout::ColumnMajor => {
            let n = first.len();
            cols.iter()
                .all(|col| col.len() == n && col.chunks.iter().all(plain))
        }
    };
    if !fits {
        return None;
    }
    macro_rules! go {
        ($variant:ident, $src:ident, $conv:expr) => {{
            let parts = slices(cols, |d| match d {
                DataRef::$src(s) => Some(s),
                _ => None,
            })?;
            Data::$variant(match layout {
                Layout::RowMajor => fill_rows(&parts, $conv),
                Layout::ColumnMajor => fill_columns(&parts, $conv),
            })
        }};
    }
    use ElemType as E;
    use Rounding::{Direct, ThroughF64};
    // The same expressions as `Num::f64`, `Num::f32` and `Num::int` give these sources.
    Some(match (out, src, rounding) {
        (E::F64, E::F64, _) => go!(F64, F64, |x: f64| x),
        (E::F64, E::F32, _) => go!(F64, F32, |x: f32| x as f64),
        (E::F64, E::I64, _) => go!(F64, I64, |x: i64| x as f64),
        (E::F64, E::I32, _) => go!(F64, I32, |x: i32| x as i64 as f64),
        (E::F32, E::F64, _) => go!(F32, F64, |x: f64| x as f32),
        (E::F32, E::F32, _) => go!(F32, F32, |x: f32| x as f64 as f32),
        (E::F32, E::I64, ThroughF64) => go!(F32, I64, |x: i64| x as f64 as f32),
        (E::F32, E::I64, Direct) => go!(F32, I64, |x: i64| x as f32),
        (E::F32, E::I32, ThroughF64) => go!(F32, I32, |x: i32| x as i64 as f64 as f32),
        (E::F32, E::I32, Direct) => go!(F32, I32, |x: i32| x as i64 as f32),
        (E::I64, E::I64, _) => go!(I64, I64, |x: i64| x),
        (E::I64, E::I32, _) => go!(I64, I32, |x: i32| x as i64),
        (E::I32, E::I32, _) => go!(I32, I32, |x: i32| x),
        _ => return None,
    })
}

/// The `[N, k]` column-major buffer of `parts` (k columns of N values each, however chunked),
/// each value through `conv`: one sequential pass per chunk.
fn fill_columns<S: Copy, T: Copy>(parts: &[Vec<&[S]>], conv: impl Fn(S) -> T + Copy) -> Vec<T> {
    let n: usize = parts.first().map_or(0, |p| p.iter().map(|s| s.len()).sum());
    let mut dst: Vec<T> = Vec::with_capacity(n * parts.len());
    for chunk in parts.iter().flatten() {
        dst.extend(chunk.iter().map(|&x| conv(x)));
    }
    dst
}

/// The most columns [`assemble_fast`] takes row-major (one monomorphised row loop per count).
const FAST_MAX_K: usize = 8;

/// Per column, per chunk: the chunk's `len` elements as a slice of `S`. None if a chunk is not
/// of `S`.
fn slices<'a, S>(
    cols: &[&Column<'a>],
    get: impl Fn(DataRef<'a>) -> Option<&'a [S]>,
) -> Option<Vec<Vec<&'a [S]>>> {
    cols.iter()
        .map(|col| {
            col.chunks
                .iter()
                .map(|c| get(c.data).map(|s| &s[..c.len]))
                .collect()
        })
        .collect()
}

/// The `[N, k]` row-major buffer of `parts` (k columns, each chunked alike), each value through
/// `conv`.
fn fill_rows<S: Copy, T: Copy>(parts: &[Vec<&[S]>], conv: impl Fn(S) -> T + Copy) -> Vec<T> {
    let k = parts.len();
    let n: usize = parts.first().map_or(0, |p| p.iter().map(|s| s.len()).sum());
    let mut dst: Vec<T> = Vec::with_capacity(n * k);
    let spare = &mut dst.spare_capacity_mut()[..n * k];
    let mut row = 0;
    for (ci, chunk) in parts.first().into_iter().flatten().enumerate() {
        let len = chunk.len();
        let out = &mut spare[row * k..(row + len) * k];
        macro_rules! rows {
            ($($k:literal)*) => {
                match k {
                    $($k => fill_rows_k::<S, T, $k>(
                        std::array::from_fn(|j| parts[j][ci]),
                        out,
                        conv,
                    ),)*
                    _ => unreachable!("at most FAST_MAX_K columns"),
                }
            };
        }
        rows!(1 2 3 4 5 6 7 8);
        row += len;
    }
    // SAFETY: the chunks' lengths sum to n, and `fill_rows_k` wrote every element of each
    // chunk's rows `row * k..(row + len) * k`, so all n * k elements are initialised.
    unsafe { dst.set_len(n * k) };
    dst
}

/// Rows of `K` columns (each `src[j]` as long as `out` has rows) into `out`, row by row.
#[inline(always)]
fn fill_rows_k<S: Copy, T: Copy, const K: usize>(
    src: [&[S]; K],
    out: &mut [std::mem::MaybeUninit<T>],
    conv: impl Fn(S) -> T,
) {
    let n = out.len() / K;
    // sliced to n once here, so the loop's `src[j][i]` (i < n) needs no bounds check
    let src = src.map(|s| &s[..n]);
    for (row, i) in out.chunks_exact_mut(K).zip(0..n) {
        for j in 0..K {
            row[j].write(conv(src[j][i]));
        }
    }
}

/// One value as read from a chunk, before conversion.
#[derive(Debug, Clone, Copy)]
enum Num {
    Bool(bool),
    I(i64),
    U(u64),
    F(f64),
}

impl Num {
    fn f64(self) -> f64 {
        match self {
            Num::Bool(b) => b as u8 as f64,
            Num::I(x) => x as f64,
            Num::U(x) => x as f64,
            Num::F(x) => x,
        }
    }
    /// NumPy's casts to float32 (each rounds once, to nearest).
    fn f32(self) -> f32 {
        match self {
            Num::Bool(b) => b as u8 as f32,
            Num::I(x) => x as f32,
            Num::U(x) => x as f32,
            Num::F(x) => x as f32,
        }
    }
    fn int(self) -> Option<i128> {
        match self {
            Num::I(x) => Some(x as i128),
            Num::U(x) => Some(x as i128),
            _ => None,
        }
    }
    fn uint(self) -> Option<u64> {
        match self {
            Num::U(x) => Some(x),
            Num::I(x) => Some(x as u64),
            _ => None,
        }
    }
    fn bool(self) -> Option<bool> {
        match self {
            Num::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// Writes elements `part` of chunk `c` (whose element 0 is row `first`) into column `j` of the
/// `[N, k]` buffer. Monomorphised per output type; the per-source `match` and the null check sit
/// outside the loops.
#[allow(clippy::too_many_arguments)]
fn fill_chunk<T: Copy>(
    c: &Chunk<'_>,
    part: std::ops::Range<usize>,
    dst: &mut [std::mem::MaybeUninit<T>],
    first: usize,
    j: usize,
    k: usize,
    conv: impl Fn(Num) -> Option<T>,
    null: Option<T>,
) -> Result<(), String> {
    let failed = || format!("cannot convert {:?} values", c.data.elem_type());
    let out = dst[(first + part.start) * k + j..].iter_mut().step_by(k);
    macro_rules! each {
        ($s:expr, $wrap:expr) => {{
            let s = $s;
            match c.nulls {
                // contiguous and without nulls (the common case): a plain slice, no bounds
                // check or stride multiply per element
                None if c.stride == 1 => {
                    for (d, &x) in out.zip(&s[part]) {
                        d.write(conv($wrap(x)).ok_or_else(failed)?);
                    }
                }
                None => {
                    for (d, i) in out.zip(part) {
                        d.write(conv($wrap(s[i * c.stride])).ok_or_else(failed)?);
                    }
                }
                Some(n) => {
                    for (d, i) in out.zip(part) {
                        d.write(if n.is_null(i) {
                            null.ok_or("a null value has no integer or bool form")?
                        } else {
                            conv($wrap(s[i * c.stride])).ok_or_else(failed)?
                        });
                    }
                }
            }
        }};
    }
    match c.data {
        DataRef::Bool(s) => each!(s, Num::Bool),
        DataRef::I8(s) => each!(s, |x: i8| Num::I(x as i64)),
        DataRef::I16(s) => each!(s, |x: i16| Num::I(x as i64)),
        DataRef::I32(s) => each!(s, |x: i32| Num::I(x as i64)),
        DataRef::I64(s) => each!(s, Num::I),
        DataRef::U8(s) => each!(s, |x: u8| Num::U(x as u64)),
        DataRef::U16(s) => each!(s, |x: u16| Num::U(x as u64)),
        DataRef::U32(s) => each!(s, |x: u32| Num::U(x as u64)),
        DataRef::U64(s) => each!(s, Num::U),
        DataRef::F16(s) => each!(s, |x: half::f16| Num::F(x.to_f64())),
        DataRef::F32(s) => each!(s, |x: f32| Num::F(x as f64)),
        DataRef::F64(s) => each!(s, Num::F),
        DataRef::Str(_) => return Err("string columns are not assembled".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col<'a>(dtype: ElemType, data: DataRef<'a>, stride: usize, len: usize) -> Column<'a> {
        Column {
            dtype,
            chunks: vec![Chunk {
                data,
                stride,
                len,
                nulls: None,
            }],
        }
    }

    /// Column values of each source type, with the awkward ones (NaN, infinities, -0.0,
    /// subnormals, integers past 2**53 where the two roundings differ) among ordinary ones.
    fn sample_f64(n: usize, salt: u64) -> Vec<f64> {
        let special = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            f64::MIN_POSITIVE / 3.0,
            1e300,
            -3.4e38 * 1.5,
            1.0 + f64::EPSILON,
        ];
        (0..n as u64)
            .map(|i| {
                let h = (i ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                if h % 11 == 0 {
                    special[(h >> 8) as usize % special.len()]
                } else {
                    ((h >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e6
                }
            })
            .collect()
    }

    fn sample_i64(n: usize, salt: u64) -> Vec<i64> {
        let special = [
            (1i64 << 53) + 1,
            16777217i64 * (1 << 30) + 1,
            i64::MAX,
            i64::MIN,
            -(1i64 << 53) - 1,
            0,
        ];
        (0..n as u64)
            .map(|i| {
                let h = (i ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                if h % 5 == 0 {
                    special[(h >> 8) as usize % special.len()]
                } else {
                    (h as i64) >> (h % 60)
                }
            })
            .collect()
    }

    /// Bits of every element, so NaNs and -0.0 compare too.
    fn bits(d: &Data) -> Vec<u64> {
        match d {
            Data::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
            Data::F32(v) => v.iter().map(|x| x.to_bits() as u64).collect(),
            Data::I64(v) => v.iter().map(|&x| x as u64).collect(),
            Data::I32(v) => v.iter().map(|&x| x as u32 as u64).collect(),
            other => panic!("unexpected output {other:?}"),
        }
    }

    /// The row-major fast path gives the generic path's bits and a reference's, for every source
    /// and output type it takes, both roundings, 1 to 8 columns (and 9, which it leaves to the
    /// generic path), and row counts on and off the generic path's block size.
    #[test]
    fn row_major_fast_path_matches_generic_and_reference() {
        let rows = [0, 1, 7, BLOCK_ROWS - 1, BLOCK_ROWS, 2 * BLOCK_ROWS + 123];
        let f64s: Vec<Vec<f64>> = (0..9).map(|j| sample_f64(rows[5], j)).collect();
        let f32s: Vec<Vec<f32>> = f64s
            .iter()
            .map(|c| c.iter().map(|&x| x as f32).collect())
            .collect();
        let i64s: Vec<Vec<i64>> = (0..9).map(|j| sample_i64(rows[5], 100 + j)).collect();
        let i32s: Vec<Vec<i32>> = i64s
            .iter()
            .map(|c| c.iter().map(|&x| (x >> 20) as i32).collect())
            .collect();
        let mut fast_taken = 0;
        for &n in &rows {
            for k in 1..=9usize {
                for src in [ElemType::F64, ElemType::F32, ElemType::I64, ElemType::I32] {
                    let cols: Vec<Column<'_>> = (0..k)
                        .map(|j| {
                            let data = match src {
                                ElemType::F64 => DataRef::F64(&f64s[j][..n]),
                                ElemType::F32 => DataRef::F32(&f32s[j][..n]),
                                ElemType::I64 => DataRef::I64(&i64s[j][..n]),
                                _ => DataRef::I32(&i32s[j][..n]),
                            };
                            col(src, data, 1, n)
                        })
                        .collect();
                    let parts: Vec<&Column<'_>> = cols.iter().collect();
                    // what mlflow's path gives element (r, j), written out here per type
                    let reference =
                        |out: ElemType, rounding: Rounding, layout: Layout| -> Vec<u64> {
                            let mut v = Vec::with_capacity(n * k);
                            let cells: Vec<(usize, usize)> = match layout {
                                Layout::RowMajor => {
                                    (0..n).flat_map(|r| (0..k).map(move |j| (r, j))).collect()
                                }
                                Layout::ColumnMajor => {
                                    (0..k).flat_map(|j| (0..n).map(move |r| (r, j))).collect()
                                }
                            };
                            for (r, j) in cells {
                                {
                                    let (f, i): (f64, Option<i64>) = match src {
                                        ElemType::F64 => (f64s[j][r], None),
                                        ElemType::F32 => (f32s[j][r] as f64, None),
                                        ElemType::I64 => (i64s[j][r] as f64, Some(i64s[j][r])),
                                        _ => (i32s[j][r] as f64, Some(i32s[j][r] as i64)),
                                    };
                                    v.push(match (out, rounding, i) {
                                        (ElemType::F64, _, _) => f.to_bits(),
                                        (ElemType::F32, Rounding::Direct, Some(i)) => {
                                            (i as f32).to_bits() as u64
                                        }
                                        (ElemType::F32, _, _) => (f as f32).to_bits() as u64,
                                        (ElemType::I64, _, Some(i)) => i as u64,
                                        (ElemType::I32, _, Some(i)) => i as i32 as u32 as u64,
                                        _ => unreachable!(),
                                    });
                                }
                            }
                            v
                        };
                    let mut outs = vec![ElemType::F64, ElemType::F32];
                    if src == ElemType::I64 {
                        outs.push(ElemType::I64);
                    }
                    if src == ElemType::I32 {
                        outs.extend([ElemType::I64, ElemType::I32]);
                    }
                    for out in outs {
                        for rounding in [Rounding::ThroughF64, Rounding::Direct] {
                            for layout in [Layout::RowMajor, Layout::ColumnMajor] {
                                let what = format!(
                                    "{src:?} -> {out:?} {rounding:?} {layout:?}, {n} x {k}"
                                );
                                let generic =
                                    assemble_generic(&parts, out, rounding, layout).unwrap();
                                let fast = assemble_fast(&parts, out, rounding, layout);
                                let taken = layout == Layout::ColumnMajor || k <= FAST_MAX_K;
                                assert_eq!(fast.is_some(), taken, "{what}");
                                let got = assemble(&parts, out, rounding, layout).unwrap().data;
                                let want = reference(out, rounding, layout);
                                assert_eq!(bits(&generic), want, "generic {what}");
                                assert_eq!(bits(&got), want, "assemble {what}");
                                fast_taken += usize::from(fast.is_some());
                            }
                        }
                    }
                }
            }
        }
        assert!(fast_taken > 0);
        // the two roundings do differ on these columns (so the comparison above covers both)
        let c = col(ElemType::I64, DataRef::I64(&i64s[0]), 1, rows[5]);
        let [through, direct] = [Rounding::ThroughF64, Rounding::Direct].map(|r| {
            assemble(&[&c], ElemType::F32, r, Layout::RowMajor)
                .unwrap()
                .data
        });
        assert_ne!(through, direct);
    }

    /// Chunked alike (the same boundaries in every column), the fast path reads chunk by chunk;
    /// anything else it does not take is left to the generic path.
    #[test]
    fn row_major_fast_path_takes_aligned_chunks_and_leaves_the_rest() {
        let n = BLOCK_ROWS + 300;
        let a = sample_f64(n, 1);
        let b = sample_f64(n, 2);
        let cuts = [0, 5, 5, BLOCK_ROWS + 1, n];
        fn chunked<'a>(v: &'a [f64], cuts: &[usize]) -> Vec<Chunk<'a>> {
            cuts.windows(2)
                .map(|w| Chunk {
                    data: DataRef::F64(&v[w[0]..w[1]]),
                    stride: 1,
                    len: w[1] - w[0],
                    nulls: None,
                })
                .collect()
        }
        let ca = Column {
            dtype: ElemType::F64,
            chunks: chunked(&a, &cuts),
        };
        let cb = Column {
            dtype: ElemType::F64,
            chunks: chunked(&b, &cuts),
        };
        for rounding in [Rounding::ThroughF64, Rounding::Direct] {
            let fast =
                assemble_fast(&[&ca, &cb], ElemType::F32, rounding, Layout::RowMajor).unwrap();
            let generic =
                assemble_generic(&[&ca, &cb], ElemType::F32, rounding, Layout::RowMajor).unwrap();
            let want: Vec<u64> = (0..n)
                .flat_map(|r| [a[r], b[r]])
                .map(|x| (x as f32).to_bits() as u64)
                .collect();
            assert_eq!(bits(&fast), want);
            assert_eq!(bits(&generic), want);
        }
        // not taken: boundaries that differ, a strided column, nulls, mixed source types
        let whole = col(ElemType::F64, DataRef::F64(&b), 1, n);
        assert!(assemble_fast(
            &[&ca, &whole],
            ElemType::F32,
            Rounding::ThroughF64,
            Layout::RowMajor
        )
        .is_none());
        // column-major takes columns chunked differently: each is its own block
        let mixed = assemble_fast(
            &[&ca, &whole],
            ElemType::F32,
            Rounding::ThroughF64,
            Layout::ColumnMajor,
        )
        .unwrap();
        let generic = assemble_generic(
            &[&ca, &whole],
            ElemType::F32,
            Rounding::ThroughF64,
            Layout::ColumnMajor,
        )
        .unwrap();
        assert_eq!(bits(&mixed), bits(&generic));
        let strided = col(ElemType::F64, DataRef::F64(&a[..n - 1]), 2, n / 2);
        let half = col(ElemType::F64, DataRef::F64(&b[..n / 2]), 1, n / 2);
        assert!(assemble_fast(
            &[&strided, &half],
            ElemType::F64,
            Rounding::ThroughF64,
            Layout::RowMajor
        )
        .is_none());
        let ints: Vec<i64> = (0..n as i64).collect();
        let ci = col(ElemType::I64, DataRef::I64(&ints), 1, n);
        assert!(assemble_fast(
            &[&whole, &ci],
            ElemType::F64,
            Rounding::ThroughF64,
            Layout::RowMajor
        )
        .is_none());
        let bitmap = vec![0xFEu8; n.div_ceil(8)];
        let with_nulls = Column {
            dtype: ElemType::F64,
            chunks: vec![Chunk {
                data: DataRef::F64(&a),
                stride: 1,
                len: n,
                nulls: Some(Nulls {
                    bits: &bitmap,
                    offset: 0,
                }),
            }],
        };
        assert!(assemble_fast(
            &[&whole, &with_nulls],
            ElemType::F64,
            Rounding::ThroughF64,
            Layout::RowMajor
        )
        .is_none());
        let Data::F64(out) = assemble(
            &[&whole, &with_nulls],
            ElemType::F64,
            Rounding::ThroughF64,
            Layout::RowMajor,
        )
        .unwrap()
        .data
        else {
            panic!("f64 expected")
        };
        assert!(out[1].is_nan() && out[17].is_nan());
        // unequal lengths still fail as before
        let short = col(ElemType::F64, DataRef::F64(&b[..n - 1]), 1, n - 1);
        assert!(assemble(
            &[&whole, &short],
            ElemType::F64,
            Rounding::ThroughF64,
            Layout::RowMajor
        )
        .is_err());
    }

    #[test]
    fn promotion_follows_numpy() {
        use ElemType::*;
        assert_eq!(common_type(&[F64, F64]), Some(F64));
        assert_eq!(common_type(&[I64, F32]), Some(F64));
        assert_eq!(common_type(&[I16, F32]), Some(F32));
        assert_eq!(common_type(&[I8, F16]), Some(F16));
        assert_eq!(common_type(&[U8, I8]), Some(I16));
        assert_eq!(common_type(&[U32, I32]), Some(I64));
        assert_eq!(common_type(&[U64, I64]), Some(F64));
        assert_eq!(common_type(&[I32, I64]), Some(I64));
        assert_eq!(common_type(&[Bool, F64]), None);
        assert_eq!(common_type(&[Bool, Bool]), Some(Bool));
        assert_eq!(common_type(&[]), None);
    }

    #[test]
    fn assemble_interleaves_rows_and_converts_through_float64() {
        let a = [1.5f64, 2.5, 3.5];
        // a strided column: every other element of six
        let b = [10i64, -1, 20, -1, 30];
        let ca = col(ElemType::F64, DataRef::F64(&a), 1, 3);
        let cb = col(ElemType::I64, DataRef::I64(&b), 2, 3);
        let out = assemble(
            &[&ca, &cb],
            ElemType::F32,
            Rounding::ThroughF64,
            Layout::RowMajor,
        )
        .unwrap()
        .data;
        assert_eq!(out, Data::F32(vec![1.5, 10.0, 2.5, 20.0, 3.5, 30.0]));
        // 2^53 + 1 rounds to 2^53 in float64 first, as pandas' interleaving does, then to f32.
        let big = [(1i64 << 53) + 1];
        let cbig = col(ElemType::I64, DataRef::I64(&big), 1, 1);
        let out = assemble(
            &[&cbig],
            ElemType::F64,
            Rounding::ThroughF64,
            Layout::RowMajor,
        )
        .unwrap()
        .data;
        assert_eq!(out, Data::F64(vec![9007199254740992.0]));
    }

    #[test]
    fn direct_rounding_casts_integers_to_float32_once() {
        // 16777217 * 2^30 + 1: float64 first rounds it onto a float32 tie (then to even, down);
        // NumPy's int64 -> float32 cast rounds once, up (pandas' to_numpy(dtype=float32)).
        let v = [16777217i64 * (1 << 30) + 1];
        let c = col(ElemType::I64, DataRef::I64(&v), 1, 1);
        let Data::F32(through) =
            assemble(&[&c], ElemType::F32, Rounding::ThroughF64, Layout::RowMajor)
                .unwrap()
                .data
        else {
            panic!("float32 out")
        };
        let Data::F32(direct) = assemble(&[&c], ElemType::F32, Rounding::Direct, Layout::RowMajor)
            .unwrap()
            .data
        else {
            panic!("float32 out")
        };
        assert_eq!(through, vec![1.8014399e16f32]);
        let a = [1i64, 2, 3];
        let b = [0.5f64, -1.0, 2.0];
        let (ca, cb) = (
            col(ElemType::I64, DataRef::I64(&a), 1, 3),
            col(ElemType::F64, DataRef::F64(&b), 1, 3),
        );
        let out = assemble(
            &[&ca, &cb],
            ElemType::F32,
            Rounding::Direct,
            Layout::ColumnMajor,
        );
        assert_eq!(
            out.unwrap().data,
            Data::F32(vec![1.0, 2.0, 3.0, 0.5, -1.0, 2.0])
        );
        assert_eq!(direct, vec![1.80144e16f32]);
        assert!(direct[0] > through[0]);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn overflow_is_a_finite_value_made_infinite_as_numpy_warns_of_it() {
        let over = |v: &[f64], out: ElemType, layout: Layout, nulls: bool| {
            let bits = [0b1111_1011u8]; // the third value is null
            let mut c = col(ElemType::F64, DataRef::F64(v), 1, v.len());
            if nulls {
                c.chunks[0].nulls = Some(Nulls {
                    bits: &bits,
                    offset: 0,
                });
            }
            let other = col(
                ElemType::F64,
                DataRef::F64(&[0.0; 3][..v.len()]),
                1,
                v.len(),
            );
            assemble(&[&other, &c], out, Rounding::ThroughF64, layout)
                .unwrap()
                .overflowed
        };
        for layout in [Layout::RowMajor, Layout::ColumnMajor] {
            // nulls: the generic path; without: the fast one
            for nulls in [false, true] {
                // numpy: np.array([1e300, inf]).astype(float32) warns; [inf, -inf, nan] does not
                assert!(over(
                    &[1.0, 1e300, f64::INFINITY],
                    ElemType::F32,
                    layout,
                    nulls
                ));
                assert!(over(&[-1e39, 2.0, 3.0], ElemType::F32, layout, nulls));
                let quiet = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN];
                assert!(!over(&quiet, ElemType::F32, layout, nulls));
                assert!(!over(
                    &[f32::MAX as f64, 1.0, 2.0],
                    ElemType::F32,
                    layout,
                    nulls
                ));
                assert!(!over(&[1e300, 1.0, 2.0], ElemType::F64, layout, nulls));
            }
        }
        // integers never overflow float32; the flags of earlier work do not leak in
        let _ = std::hint::black_box(std::hint::black_box(1e300f64) as f32);
        let c = col(ElemType::I64, DataRef::I64(&[i64::MAX]), 1, 1);
        let f32 = assemble(&[&c], ElemType::F32, Rounding::ThroughF64, Layout::RowMajor);
        assert!(!f32.unwrap().overflowed);
    }

    #[test]
    fn assemble_crosses_chunk_and_block_boundaries() {
        // Column a: three chunks (one empty), the last with nulls at every 7th element;
        // column b: one strided chunk. Rows span several blocks.
        let n = 2 * BLOCK_ROWS + 123;
        let a: Vec<i64> = (0..n as i64).collect();
        let split = BLOCK_ROWS + 5;
        let bits: Vec<u8> = (0..(n - split).div_ceil(8))
            .map(|byte| (0..8).fold(0u8, |m, b| m | (u8::from((byte * 8 + b) % 7 != 0) << b)))
            .collect();
        let ca = Column {
            dtype: ElemType::F64,
            chunks: vec![
                Chunk {
                    data: DataRef::I64(&a[..split]),
                    stride: 1,
                    len: split,
                    nulls: None,
                },
                Chunk {
                    data: DataRef::I64(&a[split..split]),
                    stride: 1,
                    len: 0,
                    nulls: None,
                },
                Chunk {
                    data: DataRef::I64(&a[split..]),
                    stride: 1,
                    len: n - split,
                    nulls: Some(Nulls {
                        bits: &bits,
                        offset: 0,
                    }),
                },
            ],
        };
        let b: Vec<f32> = (0..2 * n).map(|i| i as f32 * 0.5).collect();
        let cb = col(ElemType::F32, DataRef::F32(&b[..2 * n - 1]), 2, n);
        let Data::F64(out) = assemble(
            &[&ca, &cb],
            ElemType::F64,
            Rounding::ThroughF64,
            Layout::RowMajor,
        )
        .unwrap()
        .data
        else {
            panic!("f64 expected")
        };
        for r in 0..n {
            let null = r >= split && (r - split) % 7 == 0;
            assert_eq!(out[2 * r].is_nan(), null, "row {r}");
            if !null {
                assert_eq!(out[2 * r], r as f64);
            }
            assert_eq!(out[2 * r + 1], r as f64);
        }
    }

    #[test]
    fn nulls_are_nan_for_floats_and_refused_for_integers() {
        let v = [1i64, 0, 3];
        let bits = [0b101u8];
        let c = Column {
            dtype: ElemType::F64,
            chunks: vec![Chunk {
                data: DataRef::I64(&v),
                stride: 1,
                len: 3,
                nulls: Some(Nulls {
                    bits: &bits,
                    offset: 0,
                }),
            }],
        };
        let Data::F64(out) = assemble(&[&c], ElemType::F64, Rounding::ThroughF64, Layout::RowMajor)
            .unwrap()
            .data
        else {
            panic!("f64 expected")
        };
        assert_eq!(out[0], 1.0);
        assert!(out[1].is_nan());
        assert_eq!(out[2], 3.0);
        assert!(assemble(&[&c], ElemType::I64, Rounding::ThroughF64, Layout::RowMajor).is_err());
        assert!(c.nan_and_integers());
        assert!(c.as_slice().is_none());
    }

    #[test]
    fn value_facts() {
        let v = [0i64, 1, 1];
        let c = col(ElemType::I64, DataRef::I64(&v), 1, 3);
        assert!(c.all_zero_or_one());
        assert!(c.as_slice().is_some());
        let w = [0i64, 2];
        assert!(!col(ElemType::I64, DataRef::I64(&w), 1, 2).all_zero_or_one());
        let f = [1.0f64, 2.5, f64::NAN];
        assert!(!col(ElemType::F64, DataRef::F64(&f), 1, 3).nan_and_integers());
        let g = [1.0f64, 2.0, f64::NAN];
        assert!(col(ElemType::F64, DataRef::F64(&g), 1, 3).nan_and_integers());
        let h = [1.0f64, 2.0];
        assert!(!col(ElemType::F64, DataRef::F64(&h), 1, 2).nan_and_integers());
    }
}
