//! `fastpyfunc._native.OnnxModel`: a loaded ONNX session. `run` takes `{input name: array}` and
//! returns `{output name: array}` like `InferenceSession.run`, with the GIL released while
//! onnxruntime runs; `predict` is the whole pyfunc predict in one call (mlflow's wrapper rules
//! are in `flavor::onnx`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use numpy::prelude::*;
use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use pyo3::sync::PyOnceLock;

use super::convert::{self, Held};
use super::enforce::{
    array_passes, dict_arrays, frame_values, named_array, EnforcePlan, NamedArrays,
};
use super::errors::{invalid_input, to_pyerr};
use super::input::{Input, Table};
use super::model::py_to_json;
use super::output::table_result;
use super::params::{with_params, CallParams, ParamPlan};
use crate::engine::onnx::options;
use crate::engine::onnx::{OnnxSession, RunOptions};
use crate::error::Error;
use crate::flavor::onnx::{feed, frame_feeds, Feed};
use crate::frame::{Column, Layout, Rounding};
use crate::mlmodel::flavors::OnnxFlavor;
use crate::schema::enforce::{table_columns, Plan, TensorPlan};
use crate::tensor::{Data, DataRef, ElemType, Given, TensorRef, Value, ValueKind};

#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct OnnxModel {
    session: OnnxSession,
    /// The pandas Index of the output names, built on the first DataFrame result.
    frame_columns: PyOnceLock<Py<PyAny>>,
    /// The last completed run's size (elements fed) and duration, to foresee the next one's.
    last_elements: AtomicU64,
    last_nanos: AtomicU64,
}

/// Runs expected to take longer than this can be interrupted (Ctrl-C); shorter ones skip the cost
/// of the watch (a thread, ~50 us).
const WATCH_ABOVE: Duration = Duration::from_millis(2);
/// How often a watched run's caller looks for a pending signal.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The external-data files an ONNX model's tensors name, as `(tensor, location)`; None when the
/// file is not readable as ONNX (onnxruntime then reports it).
#[pyfunction]
pub(crate) fn onnx_external_data(
    py: Python<'_>,
    model_file: &str,
) -> Option<Vec<(String, String)>> {
    let path = std::path::PathBuf::from(model_file);
    py.detach(move || crate::engine::onnx::external::external_data_file(&path))
        .ok()
        .map(|v| v.into_iter().map(|e| (e.tensor, e.location)).collect())
}

/// Loads `model_file` with the onnxruntime library at `library`. `flavor` is the MLmodel's
/// `onnx` flavor mapping (providers, session options) or None. Returns `(model, warnings)`.
#[pyfunction]
#[pyo3(signature = (model_file, library, flavor, mlmodel_path))]
pub(crate) fn load_onnx(
    py: Python<'_>,
    model_file: &str,
    library: &str,
    flavor: &Bound<'_, PyAny>,
    mlmodel_path: &str,
) -> PyResult<(OnnxModel, Vec<String>)> {
    let model_file = PathBuf::from(model_file);
    let library = PathBuf::from(library);
    let mlmodel_path = PathBuf::from(mlmodel_path);
    let flavor = py_to_json(flavor)?;
    let loaded = py.detach(move || -> crate::Result<_> {
        let malformed = |key: String, reason: String| Error::MalformedMlModel {
            path: mlmodel_path.clone(),
            key: Some(key),
            reason,
        };
        let flavor: Option<OnnxFlavor> = serde_json::from_value(flavor)
            .map_err(|e| malformed("flavors.onnx".into(), e.to_string()))?;
        let settings =
            options::settings(flavor.as_ref()).map_err(|e| malformed(e.key, e.reason))?;
        OnnxSession::load(&model_file, &library, &settings)
    });
    let loaded = loaded.map_err(|e| to_pyerr(py, e))?;
    Ok((
        OnnxModel {
            session: loaded.session,
            frame_columns: PyOnceLock::new(),
            last_elements: AtomicU64::new(0),
            last_nanos: AtomicU64::new(0),
        },
        loaded.warnings,
    ))
}

fn describe(ports: &[crate::tensor::Port]) -> Vec<(String, String, Option<Vec<i64>>)> {
    ports
        .iter()
        .map(|p| {
            let dims = match &p.kind {
                ValueKind::Tensor { dims, .. } => Some(dims.clone()),
                ValueKind::Other(_) => None,
            };
            (p.name.clone(), p.kind.type_name(), dims)
        })
        .collect()
}

#[pymethods]
impl OnnxModel {
    /// `[(name, type, dims)]` of the graph inputs (type as onnxruntime prints it, -1 for open dims).
    #[getter]
    fn inputs(&self) -> Vec<(String, String, Option<Vec<i64>>)> {
        describe(self.session.inputs())
    }

    /// `[(name, type, dims)]` of the graph outputs.
    #[getter]
    fn outputs(&self) -> Vec<(String, String, Option<Vec<i64>>)> {
        describe(self.session.outputs())
    }

    /// The execution providers the session runs with.
    #[getter]
    fn providers(&self) -> Vec<String> {
        self.session.providers().to_vec()
    }

    /// Addresses of the buffers onnxruntime read in the last `run` (tests prove zero-copy).
    fn _last_feed_addrs(&self) -> Vec<usize> {
        self.session.last_feed_addrs()
    }

    /// Runs every output on `feeds` (`{input name: array-like}`); returns `{output name: value}`.
    fn run<'py>(
        &self,
        py: Python<'py>,
        feeds: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let path = self.session.path();
        let invalid = |key: Option<String>, reason: String| invalid_input(py, path, key, reason);
        let ports = self.session.inputs();
        for key in feeds.keys() {
            let key: String = key.str()?.extract()?;
            if !ports.iter().any(|p| p.name == key) {
                return Err(invalid(
                    Some(key.clone()),
                    format!("Invalid input name: {key}"),
                ));
            }
        }
        let missing: Vec<&str> = ports
            .iter()
            .filter(|p| !feeds.contains(&p.name).unwrap_or(false))
            .map(|p| p.name.as_str())
            .collect();
        if !missing.is_empty() {
            let given: Vec<String> = feeds.keys().iter().map(|k| k.to_string()).collect();
            return Err(invalid(
                Some(missing[0].to_string()),
                format!("Required inputs {missing:?} are missing from input feed {given:?}"),
            ));
        }
        let mut held: Vec<Held<'py>> = Vec::with_capacity(ports.len());
        for port in ports {
            let value = feeds.get_item(&port.name)?.expect("checked above");
            let arr =
                as_array(py, &value).map_err(|reason| invalid(Some(port.name.clone()), reason))?;
            let Some(given) = convert::given(&arr) else {
                return Err(invalid(
                    Some(port.name.clone()),
                    format!(
                        "arrays of dtype {} cannot be fed to {}",
                        arr.dtype(),
                        port.kind.type_name()
                    ),
                ));
            };
            held.push(self.hold(py, port, &arr, feed(&port.kind, given))?);
        }
        self.run_held(py, &held)
    }

    /// One call for a whole predict: reads `data` (a NumPy array, a dict of arrays, a pandas
    /// DataFrame, Arrow data), enforces `plan` (the signature's inputs; None without a signature), then `params`
    /// with `param_plan` (mlflow's wrapper ignores them once enforced), applies mlflow's ONNX
    /// wrapper rules, runs the session with the GIL released and builds what mlflow returns
    /// (`{output: array}` for arrays and dicts; a DataFrame for pandas; the same columns as a pyarrow Table
    /// or polars DataFrame for Arrow input). Returns None where mlflow's rules need pandas for
    /// this input (object or extension dtypes, extra or missing columns, nested types, values
    /// mlflow refuses): the Python path takes it from there and words any error.
    #[pyo3(signature = (data, plan=None, params=None, param_plan=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        plan: Option<PyRef<'py, EnforcePlan>>,
        params: Option<Bound<'py, PyAny>>,
        param_plan: Option<PyRef<'py, ParamPlan>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let plan = plan.as_deref().map(|p| &p.plan);
        with_params(
            py,
            param_plan.as_deref(),
            params.as_ref(),
            |params| match Input::read_coerced(data, plan)? {
                Input::Array(arr) => match named_array(plan, &arr) {
                    Some(named) => self.predict_named(py, named, params),
                    None => self.predict_array(py, &arr, plan, params),
                },
                Input::Table(table) => self.predict_table(py, &table, plan, params),
                Input::Dict(dict) => match dict_arrays(plan, &dict)? {
                    Some(named) => self.predict_named(py, named, params),
                    None => Ok(None),
                },
                Input::Other => Ok(None),
            },
        )
    }

    fn __repr__(&self) -> String {
        format!("OnnxModel({})", self.session.path().display())
    }
}

/// `session.run` on a helper thread; this thread runs Python's signal handlers every
/// `SIGNAL_POLL` (they only run on the main thread; elsewhere this just waits) and terminates the
/// run when one raises.
fn run_watched(
    py: Python<'_>,
    session: &OnnxSession,
    tensors: &[(&str, TensorRef<'_>)],
) -> PyResult<Vec<Value>> {
    let options = RunOptions::new().map_err(|e| {
        to_pyerr(
            py,
            Error::Predict {
                path: session.path().to_path_buf(),
                reason: format!("cannot create ONNX Runtime run options: {e}"),
            },
        )
    })?;
    let options = &options;
    std::thread::scope(|scope| {
        let (tx, mut rx) = mpsc::channel();
        scope.spawn(move || {
            let _ = tx.send(session.run_with(tensors, Some(options)));
        });
        loop {
            let (back, received) = py.detach(move || {
                let r = rx.recv_timeout(SIGNAL_POLL);
                (rx, r)
            });
            rx = back;
            match received {
                Ok(result) => return result.map_err(|e| to_pyerr(py, e)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(to_pyerr(
                        py,
                        Error::Predict {
                            path: session.path().to_path_buf(),
                            reason: "the ONNX Runtime run ended without a result".into(),
                        },
                    ))
                }
            }
            if let Err(raised) = py.check_signals() {
                let _ = options.terminate();
                // The run stops at its next node; its error is the interrupt's doing.
                let _ = py.detach(move || rx.recv());
                return Err(raised);
            }
        }
    })
}

/// ndarray as is; lists and tuples through `np.asarray`, as onnxruntime's Python API does.
fn as_array<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
) -> Result<Bound<'py, PyUntypedArray>, String> {
    if let Ok(a) = value.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let arr = py
            .import("numpy")
            .and_then(|np| np.call_method1("asarray", (value,)))
            .map_err(|e| e.to_string())?;
        return arr.cast_into::<PyUntypedArray>().map_err(|e| e.to_string());
    }
    Err(format!(
        "Unable to handle object of type {}",
        value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into())
    ))
}

impl OnnxModel {
    /// Runs the session with the GIL released. A run foreseen (from this model's previous run,
    /// scaled by the elements fed; the first run always) to take longer than `WATCH_ABOVE` runs on
    /// a helper thread while this one wakes every `SIGNAL_POLL` to run Python's signal handlers:
    /// on Ctrl-C (an exception from a handler) the run is terminated between graph nodes and the
    /// handler's exception (KeyboardInterrupt) is raised; the session stays usable.
    fn execute(&self, py: Python<'_>, tensors: &[(&str, TensorRef<'_>)]) -> PyResult<Vec<Value>> {
        let elements = tensors
            .iter()
            .map(|(_, t)| t.shape.iter().product::<usize>() as u64)
            .sum::<u64>()
            .max(1);
        let last_elements = self.last_elements.load(Relaxed);
        let foreseen = match last_elements {
            0 => u128::MAX,
            n => u128::from(self.last_nanos.load(Relaxed)) * u128::from(elements) / u128::from(n),
        };
        let session = &self.session;
        let start = Instant::now();
        let outputs = if foreseen < WATCH_ABOVE.as_nanos() {
            py.detach(|| session.run(tensors))
                .map_err(|e| to_pyerr(py, e))?
        } else {
            run_watched(py, session, tensors)?
        };
        self.last_nanos.store(
            start.elapsed().as_nanos().min(u64::MAX.into()) as u64,
            Relaxed,
        );
        self.last_elements.store(elements, Relaxed);
        Ok(outputs)
    }

    /// One input's feed as mlflow's wrapper gives it to onnxruntime: borrowed where it fits, else
    /// converted once (contiguous, byte order, mlflow's float64 -> float32 cast); strings as
    /// onnxruntime's Python API converts them; onnxruntime's own error where it refuses the type.
    fn hold<'py>(
        &self,
        py: Python<'py>,
        port: &crate::tensor::Port,
        arr: &Bound<'py, PyUntypedArray>,
        how: Feed,
    ) -> PyResult<Held<'py>> {
        let invalid = |reason: String| {
            invalid_input(py, self.session.path(), Some(port.name.clone()), reason)
        };
        match how {
            Feed::Reject(reason) => Err(invalid(reason)),
            Feed::Strings => convert::strings(arr).map_err(|e| invalid(e.to_string())),
            Feed::AsIs(elem) | Feed::Cast(elem) => convert::lend(arr, elem),
        }
    }

    /// Runs the session on one held feed per input (in the session's input order); returns
    /// `{output name: array}`.
    fn run_held<'py>(&self, py: Python<'py>, held: &[Held<'py>]) -> PyResult<Bound<'py, PyDict>> {
        let tensors: Vec<(&str, TensorRef<'_>)> = self
            .session
            .inputs()
            .iter()
            .zip(held)
            .map(|(p, h)| (p.name.as_str(), h.tensor()))
            .collect();
        let outputs = self.execute(py, &tensors)?;
        let names = self.session.outputs().iter().map(|p| p.name.as_str());
        convert::outputs_dict(py, names, outputs)
    }

    /// Named arrays (a dict, or an ndarray under one named TensorSpec), already enforced: fed by
    /// name as mlflow's wrapper feeds a dict, answered `{output: array}`. None where the names
    /// are not exactly the model's inputs or onnxruntime would refuse a type (the Python path
    /// words those errors).
    fn predict_named<'py>(
        &self,
        py: Python<'py>,
        named: NamedArrays<'py>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let ports = self.session.inputs();
        if named.len() != ports.len() {
            return Ok(None);
        }
        let mut planned = Vec::with_capacity(ports.len());
        for port in ports {
            let Some((_, arr)) = named.iter().find(|(name, _)| *name == port.name) else {
                return Ok(None);
            };
            match convert::given(arr).map(|g| feed(&port.kind, g)) {
                Some(Feed::Reject(_)) | None => return Ok(None),
                Some(how) => planned.push((port, arr, how)),
            }
        }
        params.enforce(py)?;
        let held = planned
            .into_iter()
            .map(|(port, arr, how)| self.hold(py, port, arr, how))
            .collect::<PyResult<Vec<Held<'py>>>>()?;
        Ok(Some(self.run_held(py, &held)?.into_any()))
    }

    /// An ndarray: checked against a single unnamed TensorSpec, fed to the single input.
    fn predict_array<'py>(
        &self,
        py: Python<'py>,
        arr: &Bound<'py, PyUntypedArray>,
        plan: Option<&Plan>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let [port] = self.session.inputs() else {
            return Ok(None);
        };
        if !array_passes(plan, arr) {
            return Ok(None);
        }
        let Some(Feed::AsIs(elem) | Feed::Cast(elem)) =
            convert::given(arr).map(|g| feed(&port.kind, g))
        else {
            return Ok(None);
        };
        params.enforce(py)?;
        let held = convert::lend(arr, elem)?;
        let tensors = [(port.name.as_str(), held.tensor())];
        let outputs = self.execute(py, &tensors)?;
        let names = self.session.outputs().iter().map(|p| p.name.as_str());
        Ok(Some(convert::outputs_dict(py, names, outputs)?.into_any()))
    }

    /// A table under a tensor signature: mlflow's enforcement hands the wrapper `df.to_numpy()`
    /// (its columns' common type), which it feeds as an ndarray (cast where mlflow casts), in
    /// one copy; answered `{output: array}` as for an ndarray.
    fn predict_frame_values<'py>(
        &self,
        py: Python<'py>,
        plan: &TensorPlan,
        table: &Table<'py>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let [port] = self.session.inputs() else {
            return Ok(None);
        };
        let Some((cols, frame)) = frame_values(plan, table)? else {
            return Ok(None);
        };
        let (Feed::AsIs(to) | Feed::Cast(to)) = feed(&port.kind, Given::Elem(frame.elem)) else {
            return Ok(None);
        };
        params.enforce(py)?;
        let parts: Vec<&Column<'_>> = cols.iter().collect();
        // one column in the input's type is lent as it is
        let lent = match parts.as_slice() {
            [c] if c.dtype == to => c.as_slice(),
            _ => None,
        };
        let assembled: Data;
        let data = match lent {
            Some(lent) => lent,
            // to the common type through float64, then (Cast) mlflow's float64 -> float32: the
            // same two steps as one assembly through float64
            None => {
                assembled = convert::assemble_columns(
                    py,
                    &parts,
                    to,
                    Rounding::ThroughF64,
                    Layout::RowMajor,
                )?;
                assembled.as_data_ref()
            }
        };
        let shape = frame.shape(table.rows, parts.len());
        let tensors = [(
            port.name.as_str(),
            TensorRef {
                shape: &shape,
                data,
            },
        )];
        let outputs = self.execute(py, &tensors)?;
        let names = self.session.outputs().iter().map(|p| p.name.as_str());
        Ok(Some(convert::outputs_dict(py, names, outputs)?.into_any()))
    }

    /// A DataFrame or Arrow table: the column schema enforced on the columns in place, then
    /// mlflow's DataFrame feeds (one copy assembles k columns into `[N, k]`; a column that is a
    /// whole input already in the right type is lent as it is).
    fn predict_table<'py>(
        &self,
        py: Python<'py>,
        table: &Table<'py>,
        plan: Option<&Plan>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        if let Some(Plan::Tensors(t)) = plan {
            return self.predict_frame_values(py, t, table, params);
        }
        let (cols, labels) = (table.columns(), table.label_strs());
        let Some(taken) = table_columns(plan, &labels, &cols) else {
            return Ok(None);
        };
        if taken.is_empty() || table.rows == 0 {
            return Ok(None);
        }
        let enforced: Vec<&Column<'_>> = taken
            .iter()
            .map(|(i, _)| {
                cols[*i]
                    .as_ref()
                    .expect("enforced columns are read natively")
            })
            .collect();
        let names: Vec<Option<&str>> = taken.iter().map(|(i, _)| labels[*i]).collect();
        let dtypes: Vec<ElemType> = taken.iter().map(|(_, t)| *t).collect();
        let Ok(feeds) = frame_feeds(self.session.inputs(), &names, &dtypes) else {
            return Ok(None);
        };
        params.enforce(py)?;
        let rows = table.rows;
        // Assembled (or lent) tensors, built before the engine runs with the GIL released.
        let mut owned: Vec<(Vec<usize>, Option<Data>, Option<DataRef<'_>>)> = Vec::new();
        for f in &feeds {
            let shape = if f.two_d {
                vec![rows, f.columns.len()]
            } else {
                vec![rows]
            };
            let lent = match f.columns.as_slice() {
                [j] if dtypes[*j] == f.elem && enforced[*j].dtype == f.elem => {
                    enforced[*j].as_slice()
                }
                _ => None,
            };
            if lent.is_some() {
                owned.push((shape, None, lent));
                continue;
            }
            let parts: Vec<&Column<'_>> = f.columns.iter().map(|j| enforced[*j]).collect();
            let data = convert::assemble_columns(
                py,
                &parts,
                f.elem,
                Rounding::ThroughF64,
                Layout::RowMajor,
            )?;
            owned.push((shape, Some(data), None));
        }
        let tensors: Vec<(&str, TensorRef<'_>)> = self
            .session
            .inputs()
            .iter()
            .zip(&owned)
            .map(|(port, (shape, data, lent))| {
                let data = match (data, lent) {
                    (Some(d), _) => d.as_data_ref(),
                    (None, Some(l)) => *l,
                    (None, None) => unreachable!("every feed is lent or assembled"),
                };
                (port.name.as_str(), TensorRef { shape, data })
            })
            .collect();
        let outputs = self.execute(py, &tensors)?;
        let names: Vec<&str> = self
            .session
            .outputs()
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        table_result(py, table.origin, &names, outputs, &self.frame_columns).map(Some)
    }
}
