//! mlflow's `_PyTorchWrapper` feed rules: a DataFrame becomes `df.to_numpy(dtype=np.float32)`
//! (one `[N, k]` float32 tensor), an ndarray is passed as it is (`torch.from_numpy`), and the
//! result of a DataFrame is `DataFrame(out, index=df.index)`.

use crate::tensor::ElemType;

/// How a DataFrame's k enforced columns become forward's one float32 argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFeed {
    /// Each column cast straight to float32, as `to_numpy(dtype=float32)` casts every block
    /// (an int64 column is rounded once, not through float64).
    Direct,
    /// Leave it to the Python path: enforcement turned an integer column into a float one
    /// (that value goes int -> float64 -> float32, a rounding the direct cast does not make),
    /// or a column has no float32 form.
    Python,
}

/// The rule for columns read as `given` and enforced to `enforced` (pairwise).
pub fn frame_feed(given: &[ElemType], enforced: &[ElemType]) -> FrameFeed {
    let numeric = |e: ElemType| e != ElemType::String;
    let float = |e: ElemType| matches!(e, ElemType::F16 | ElemType::F32 | ElemType::F64);
    // (an int column enforced to a float one is the only change that alters the rounding)
    let ok = given.len() == enforced.len()
        && !given.is_empty()
        && given
            .iter()
            .zip(enforced)
            .all(|(&g, &e)| numeric(g) && numeric(e) && (g == e || float(g) || !float(e)));
    if ok {
        FrameFeed::Direct
    } else {
        FrameFeed::Python
    }
}

/// Whether an ndarray of `elem` is one `torch.from_numpy` takes (mlflow raises TypeError for
/// the rest: object, string and datetime arrays never reach here as an `ElemType`).
pub fn takes_array(elem: ElemType) -> bool {
    elem != ElemType::String
}

/// The param mlflow's wrapper refuses at predict time: the device is chosen at load.
pub const DEVICE_PARAM: &str = "device";

/// Whether mlflow's wrapper raises for these (enforced) params before running:
/// `if params and "device" in params`.
pub fn refuses_params<S: AsRef<str>>(keys: &[S]) -> bool {
    keys.iter().any(|k| k.as_ref() == DEVICE_PARAM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ElemType::*;

    #[test]
    fn frame_feeds() {
        assert_eq!(
            frame_feed(&[F64, I64, Bool], &[F64, I64, Bool]),
            FrameFeed::Direct
        );
        // widened by enforcement: int32 -> int64 casts the same either way
        assert_eq!(frame_feed(&[I32], &[I64]), FrameFeed::Direct);
        assert_eq!(frame_feed(&[F32], &[F64]), FrameFeed::Direct);
        // an integer column enforced to a float one goes through float64 in mlflow's path
        assert_eq!(frame_feed(&[I64], &[F64]), FrameFeed::Python);
        assert_eq!(frame_feed(&[String], &[String]), FrameFeed::Python);
        assert_eq!(frame_feed(&[], &[]), FrameFeed::Python);
    }

    #[test]
    fn only_a_device_param_is_refused() {
        assert!(refuses_params(&["scale", "device"]));
        assert!(!refuses_params(&["scale", "devices"]));
        assert!(!refuses_params::<&str>(&[]));
    }
}
