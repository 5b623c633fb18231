//! `cargo +nightly fuzz run arrow_input`: Arrow columns of every numeric type, chunked, sliced and
//! with nulls, read in place and assembled into tensors: never a panic, an out-of-bounds read or a
//! wrong length; nulls are NaN in float tensors.
#![no_main]

use std::sync::Arc;

use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, PrimitiveArray};
use arrow_buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use fastpyfunc::frame::{arrow_column, assemble};
use fastpyfunc::tensor::{Data, ElemType};
use libfuzzer_sys::fuzz_target;

fn primitive<T: ArrowPrimitiveType>(bytes: &[u8], len: usize, nulls: Option<NullBuffer>) -> ArrayRef
where
    T::Native: Default,
{
    let size = std::mem::size_of::<T::Native>();
    let values: Vec<T::Native> = (0..len)
        .map(|i| {
            let mut v = T::Native::default();
            let start = (i * size) % bytes.len().max(1);
            let src = bytes.get(start..(start + size).min(bytes.len())).unwrap_or(&[]);
            // SAFETY: every bit pattern is a valid primitive; at most `size` bytes are written.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), &mut v as *mut _ as *mut u8, src.len())
            };
            v
        })
        .collect();
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls))
}

fuzz_target!(|data: &[u8]| {
    let [kind, chunks, rest @ ..] = data else {
        return;
    };
    let mut arrays = Vec::new();
    let mut pos = 0;
    for c in 0..(*chunks % 3 + 1) as usize {
        let len = rest.get(pos).map_or(0, |b| (*b % 17) as usize);
        let with_nulls = rest.get(pos + 1).is_some_and(|b| b % 2 == 1);
        let offset = rest.get(pos + 2).map_or(0, |b| (*b as usize) % (len + 1));
        pos += 3;
        let bytes = rest.get(pos..).unwrap_or(&[]);
        let nulls = with_nulls.then(|| {
            NullBuffer::new(BooleanBuffer::from_iter(
                (0..len).map(|i| bytes.get(i).is_none_or(|b| (b >> c) & 1 == 1)),
            ))
        });
        let a = match kind % 11 {
            0 => primitive::<Int8Type>(bytes, len, nulls),
            1 => primitive::<Int16Type>(bytes, len, nulls),
            2 => primitive::<Int32Type>(bytes, len, nulls),
            3 => primitive::<Int64Type>(bytes, len, nulls),
            4 => primitive::<UInt8Type>(bytes, len, nulls),
            5 => primitive::<UInt16Type>(bytes, len, nulls),
            6 => primitive::<UInt32Type>(bytes, len, nulls),
            7 => primitive::<UInt64Type>(bytes, len, nulls),
            8 => primitive::<Float16Type>(bytes, len, nulls),
            9 => primitive::<Float32Type>(bytes, len, nulls),
            _ => primitive::<Float64Type>(bytes, len, nulls),
        };
        arrays.push(a.slice(offset, len - offset));
    }
    let rows: usize = arrays.iter().map(|a| a.len()).sum();
    let Some(col) = arrow_column(&arrays) else {
        panic!("every numeric Arrow type is read natively");
    };
    assert_eq!(col.len(), rows);
    let _ = col.all_zero_or_one();
    let _ = col.nan_and_integers();
    let Ok(Data::F64(out)) = assemble(&[&col, &col], ElemType::F64) else {
        panic!("numeric columns assemble into float64");
    };
    assert_eq!(out.len(), rows * 2);
    let nulls: usize = arrays.iter().map(|a| a.null_count()).sum();
    assert!(out.iter().filter(|v| v.is_nan()).count() >= nulls * 2);
    if nulls == 0 {
        assert!(assemble(&[&col], col.dtype).is_ok());
    }
});
