//! `fastpyfunc._native.SavedModel`: a TensorFlow SavedModel signature run through the C API.
//! `run([array, ...])` takes one array per signature input (in `inputs` order) and returns
//! `{output key: array}`, with the GIL released while TensorFlow runs. `predict_module`,
//! `predict_keras` and `predict_signature` are whole predicts in one call for mlflow's three
//! wrappers (a `tf2-module`; a Keras model saved with `save_exported_model=True`, whose tensor
//! signature mlflow requires; a `tf1-estimator`'s serving signature fed from DataFrame columns).

use std::path::PathBuf;

use numpy::prelude::*;
use numpy::PyUntypedArray;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::convert::{self, Held};
use super::enforce::{array_passes, dict_arrays, frame_values, EnforcePlan, NamedArrays};
use super::errors::{invalid_input, to_pyerr};
use super::input::{numpy_elem, Input, Origin, Table};
use super::params::{with_params, CallParams, ParamPlan};
use super::sequence::read_sequence;
use crate::engine::savedmodel::SavedModelSession;
use crate::flavor::tensorflow::{self, OutputColumn};
use crate::flavor::tensorflow_lists::convert_to_tensor;
use crate::frame::{Column, Layout, Rounding};
use crate::schema::enforce::{table_columns, Plan, TensorPlan};
use crate::tensor::{ElemType, Given, TensorRef, Value, ValueKind};

#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct SavedModel {
    session: SavedModelSession,
}

/// Loads the SavedModel at `dir` (`tags`, signature `signature_key`) with the TensorFlow
/// libraries in `library_dir`.
#[pyfunction]
pub(crate) fn load_savedmodel(
    py: Python<'_>,
    dir: &str,
    tags: Vec<String>,
    signature_key: &str,
    library_dir: &str,
) -> PyResult<SavedModel> {
    let dir = PathBuf::from(dir);
    let library_dir = PathBuf::from(library_dir);
    let key = signature_key.to_owned();
    py.detach(move || SavedModelSession::load(&dir, &tags, &key, &library_dir))
        .map(|session| SavedModel { session })
        .map_err(|e| to_pyerr(py, e))
}

#[pymethods]
impl SavedModel {
    /// `[(key, numpy dtype, dims)]` of the signature inputs, in the order `run` takes them.
    #[getter]
    fn inputs(&self) -> Vec<(String, String, Vec<i64>)> {
        describe(self.session.inputs())
    }

    /// `[(key, numpy dtype, dims)]` of the signature outputs.
    #[getter]
    fn outputs(&self) -> Vec<(String, String, Vec<i64>)> {
        describe(self.session.outputs())
    }

    fn run<'py>(
        &self,
        py: Python<'py>,
        arrays: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let path = self.session.path();
        let ports = self.session.inputs();
        let invalid = |key: &str, reason: String| invalid_input(py, path, Some(key.into()), reason);
        if arrays.len() != ports.len() {
            return Err(invalid(
                &ports
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                format!(
                    "the signature takes {} inputs, got {}",
                    ports.len(),
                    arrays.len()
                ),
            ));
        }
        let mut held: Vec<Held<'py>> = Vec::with_capacity(ports.len());
        for (port, value) in ports.iter().zip(arrays.iter()) {
            let ValueKind::Tensor { elem, .. } = port.kind else {
                return Err(invalid(&port.name, "not a tensor input".into()));
            };
            let arr = value
                .cast::<numpy::PyUntypedArray>()
                .map_err(|_| invalid(&port.name, "expected a numpy array".into()))?
                .clone();
            if convert::given(&arr) != Some(Given::Elem(elem)) {
                let given = arr.dtype().to_string();
                return Err(invalid(&port.name, refused_dtype(&given, &port.name, elem)));
            }
            held.push(convert::lend(&arr, elem)?);
        }
        let tensors: Vec<TensorRef<'_>> = held.iter().map(|h| h.tensor()).collect();
        let session = &self.session;
        let outputs = py
            .detach(|| session.run(&tensors))
            .map_err(|e| to_pyerr(py, e))?;
        drop(tensors);
        let names = self.session.outputs().into_iter().map(|p| p.name.as_str());
        convert::outputs_dict(py, names, outputs)
    }

    /// A `tf2-module` model's whole predict in one call: an ndarray (checked against a single
    /// unnamed TensorSpec) fed to the one input, or, without a signature, a list converted as
    /// the wrapper's `tf.convert_to_tensor` converts it (`flavor::tensorflow_lists`); `params`
    /// enforced with `param_plan` (mlflow's wrapper then ignores them); the output array, or
    /// `{key: array}` for several. None for anything mlflow's wrapper or rules handle in Python.
    #[pyo3(signature = (data, plan=None, params=None, param_plan=None))]
    fn predict_module<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        plan: Option<PyRef<'py, EnforcePlan>>,
        params: Option<Bound<'py, PyAny>>,
        param_plan: Option<PyRef<'py, ParamPlan>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let plan = plan.as_deref().map(|p| &p.plan);
        with_params(py, param_plan.as_deref(), params.as_ref(), |params| {
            let outputs = match data.cast::<PyList>() {
                // mlflow's enforcement refuses a list under a tensor signature
                Ok(list) if plan.is_none() => self.run_list(py, list, params)?,
                _ => match Input::read(data)? {
                    Input::Array(arr) => self.run_array(py, &arr, plan, params)?,
                    _ => None,
                },
            };
            let Some(mut outputs) = outputs else {
                return Ok(None);
            };
            if outputs.len() == 1 {
                return convert::value_to_py(py, outputs.remove(0)).map(Some);
            }
            let names = self.session.outputs().into_iter().map(|p| p.name.as_str());
            Ok(Some(convert::outputs_dict(py, names, outputs)?.into_any()))
        })
    }

    /// mlflow.keras' wrapper for an exported model, in one call: an ndarray (checked against the
    /// signature's TensorSpec) fed as it is, or a DataFrame or Arrow table of scalar columns as
    /// mlflow's enforcement turns it into one (`df.to_numpy()`); the output array. None for
    /// anything mlflow's wrapper or rules handle in Python. `params` are enforced with
    /// `param_plan`, then ignored, as mlflow's wrapper ignores them.
    #[pyo3(signature = (data, plan=None, params=None, param_plan=None))]
    fn predict_keras<'py>(
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
                Input::Array(arr) => Ok(match self.run_array(py, &arr, plan, params)? {
                    Some(mut outputs) if !outputs.is_empty() => {
                        Some(convert::value_to_py(py, outputs.remove(0))?)
                    }
                    _ => None,
                }),
                Input::Table(table) => match plan {
                    Some(Plan::Tensors(t)) => self.keras_frame_values(py, t, &table, params),
                    _ => Ok(None),
                },
                Input::Dict(_) | Input::Other => Ok(None),
            },
        )
    }

    /// mlflow's `_TF2Wrapper` (a `tf1-estimator` model's serving signature) in one call for a
    /// pandas DataFrame: its column signature (if any) enforced in place, each column fed to the
    /// signature input of its name as `np.array(series.to_list())` would be (`flavor::tensorflow`),
    /// `params` enforced with `param_plan` and then ignored as the wrapper ignores them, and the
    /// answer `pd.DataFrame.from_dict` of the outputs by the wrapper's rules. None for anything
    /// else (dicts, Arrow, columns that are not exactly the inputs, values numpy decides on).
    #[pyo3(signature = (data, plan=None, params=None, param_plan=None))]
    fn predict_signature<'py>(
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
                Input::Table(table) if table.origin == Origin::Pandas && table.rows > 0 => {
                    self.signature_frame(py, &table, plan, params)
                }
                Input::Dict(dict) => match dict_arrays(plan, &dict)? {
                    Some(named) => self.signature_dict(py, named, params),
                    None => Ok(None),
                },
                _ => Ok(None),
            },
        )
    }

    fn __repr__(&self) -> String {
        format!("SavedModel({})", self.session.path().display())
    }
}

impl SavedModel {
    /// Runs the signature on `tensors` (in `inputs` order) with the GIL released; the outputs by
    /// `_TF2Wrapper`'s rule: raveled where they hold one value per row, else `tolist()`.
    fn signature_outputs<'py>(
        &self,
        py: Python<'py>,
        tensors: &[TensorRef<'_>],
    ) -> PyResult<Bound<'py, PyDict>> {
        let session = &self.session;
        let outputs = py
            .detach(|| session.run(tensors))
            .map_err(|e| to_pyerr(py, e))?;
        let preds = PyDict::new(py);
        for (port, value) in self.session.outputs().into_iter().zip(outputs) {
            let arr = convert::value_to_py(py, value)?;
            let dims = arr.cast::<PyUntypedArray>()?.shape().to_vec();
            let column = match tensorflow::output_column(&dims) {
                OutputColumn::Flat => arr.call_method0(intern!(py, "ravel"))?,
                OutputColumn::Lists => arr.call_method0(intern!(py, "tolist"))?,
            };
            preds.set_item(&port.name, column)?;
        }
        Ok(preds)
    }

    /// [`SavedModel::predict_signature`] on a dict of ndarrays: each fed as `tf.constant` feeds
    /// an ndarray (its own dtype), by name; answered with the dict of outputs. None unless the
    /// names are exactly the signature's inputs, each of the type it takes.
    fn signature_dict<'py>(
        &self,
        py: Python<'py>,
        named: NamedArrays<'py>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let ports = self.session.inputs();
        let inputs: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
        let names: Vec<Option<&str>> = named.iter().map(|(n, _)| Some(n.as_str())).collect();
        let Some(order) = tensorflow::feeds(&inputs, &names) else {
            return Ok(None);
        };
        let mut feeds = Vec::with_capacity(order.len());
        for (port, &j) in ports.iter().zip(&order) {
            // the dtype the signature takes, else TensorFlow's error (worded in Python)
            match (&port.kind, numpy_elem(&named[j].1.dtype())) {
                (ValueKind::Tensor { elem, .. }, Some(given)) if *elem == given => {
                    feeds.push((&named[j].1, given));
                }
                _ => return Ok(None),
            }
        }
        params.enforce(py)?;
        let held = feeds
            .into_iter()
            .map(|(arr, elem)| convert::lend(arr, elem))
            .collect::<PyResult<Vec<Held<'py>>>>()?;
        let tensors: Vec<TensorRef<'_>> = held.iter().map(|h| h.tensor()).collect();
        Ok(Some(self.signature_outputs(py, &tensors)?.into_any()))
    }

    /// [`SavedModel::predict_signature`] on a DataFrame read natively.
    fn signature_frame<'py>(
        &self,
        py: Python<'py>,
        table: &Table<'py>,
        plan: Option<&Plan>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let (cols, labels) = (table.columns(), table.label_strs());
        let Some(taken) = table_columns(plan, &labels, &cols) else {
            return Ok(None);
        };
        let names: Vec<Option<&str>> = taken.iter().map(|(i, _)| labels[*i]).collect();
        let ports = self.session.inputs();
        let inputs: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
        let Some(order) = tensorflow::feeds(&inputs, &names) else {
            return Ok(None);
        };
        let mut owned = Vec::with_capacity(order.len());
        for (port, &j) in ports.iter().zip(&order) {
            let (i, enforced) = taken[j];
            let (Some(col), Some(elem)) = (cols[i].as_ref(), tensorflow::column_feed(enforced))
            else {
                return Ok(None);
            };
            // the dtype the signature takes, else TensorFlow's error (worded in Python)
            if !matches!(port.kind, ValueKind::Tensor { elem: e, .. } if e == elem) {
                return Ok(None);
            }
            let data = convert::assemble_columns(
                py,
                &[col],
                elem,
                Rounding::ThroughF64,
                Layout::RowMajor,
            )?;
            owned.push(data);
        }
        params.enforce(py)?;
        let shape = [table.rows];
        let tensors: Vec<TensorRef<'_>> = owned
            .iter()
            .map(|d| TensorRef {
                shape: &shape,
                data: d.as_data_ref(),
            })
            .collect();
        let preds = self.signature_outputs(py, &tensors)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "data"), preds)?;
        py.import(intern!(py, "pandas"))?
            .getattr(intern!(py, "DataFrame"))?
            .call_method(intern!(py, "from_dict"), (), Some(&kwargs))
            .map(Some)
    }

    /// A table under the tensor signature mlflow requires of exported Keras models: the
    /// `df.to_numpy()` its enforcement hands the wrapper, assembled once; the output array.
    fn keras_frame_values<'py>(
        &self,
        py: Python<'py>,
        plan: &TensorPlan,
        table: &Table<'py>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some((cols, frame)) = frame_values(plan, table)? else {
            return Ok(None);
        };
        let elem = frame.elem;
        if Some(elem) != self.input_elem() {
            return Ok(None);
        }
        params.enforce(py)?;
        let parts: Vec<&Column<'_>> = cols.iter().collect();
        let data =
            convert::assemble_columns(py, &parts, elem, Rounding::ThroughF64, Layout::RowMajor)?;
        let shape = frame.shape(table.rows, parts.len());
        let tensors = [TensorRef {
            shape: &shape,
            data: data.as_data_ref(),
        }];
        let session = &self.session;
        let mut outputs = py
            .detach(|| session.run(&tensors))
            .map_err(|e| to_pyerr(py, e))?;
        if outputs.is_empty() {
            return Ok(None);
        }
        convert::value_to_py(py, outputs.remove(0)).map(Some)
    }

    /// The one input's element type (the array wrappers are planned for one input).
    fn input_elem(&self) -> Option<ElemType> {
        match self.session.inputs().as_slice() {
            [port] => match port.kind {
                ValueKind::Tensor { elem, .. } => Some(elem),
                ValueKind::Other(_) => None,
            },
            _ => None,
        }
    }

    /// Runs the one input on `tf.convert_to_tensor(list)`, TensorFlow's refusals and a dtype
    /// the input does not take raised as its input's `InvalidInputError`. None where the list
    /// holds what the native reader leaves to the Python path (see `sequence`).
    fn run_list<'py>(
        &self,
        py: Python<'py>,
        list: &Bound<'py, PyList>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Vec<Value>>> {
        let ports = self.session.inputs();
        let [port] = ports.as_slice() else {
            return Ok(None);
        };
        // string inputs: the engine feeds numbers only (the Python path words its error)
        let ValueKind::Tensor { elem: want, .. } = port.kind else {
            return Ok(None);
        };
        if want == ElemType::String {
            return Ok(None);
        }
        let Some(seq) = read_sequence(list)? else {
            return Ok(None);
        };
        params.enforce(py)?;
        let invalid = |reason: String| {
            invalid_input(py, self.session.path(), Some(port.name.clone()), reason)
        };
        let data = convert_to_tensor(&seq).map_err(|e| invalid(e.to_string()))?;
        let elem = data.elem_type();
        if elem != want {
            return Err(invalid(refused_dtype(elem.numpy_name(), &port.name, want)));
        }
        let tensors = [TensorRef {
            shape: &seq.shape,
            data: data.as_data_ref(),
        }];
        let session = &self.session;
        py.detach(|| session.run(&tensors))
            .map(Some)
            .map_err(|e| to_pyerr(py, e))
    }

    /// Runs the one input on `arr` when the signature (if any) and the input's dtype accept it
    /// as they are; None otherwise (the Python path raises what mlflow raises).
    fn run_array<'py>(
        &self,
        py: Python<'py>,
        arr: &Bound<'py, numpy::PyUntypedArray>,
        plan: Option<&Plan>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Vec<Value>>> {
        let (Some(want), Some(elem)) = (self.input_elem(), numpy_elem(&arr.dtype())) else {
            return Ok(None);
        };
        if elem != want
            || convert::given(arr) != Some(Given::Elem(want))
            || !array_passes(plan, arr)
        {
            return Ok(None);
        }
        params.enforce(py)?;
        let held = convert::lend(arr, want)?;
        let tensors = [held.tensor()];
        let session = &self.session;
        py.detach(|| session.run(&tensors))
            .map(Some)
            .map_err(|e| to_pyerr(py, e))
    }
}

/// Why a tensor of dtype `given` is not fed to the signature input `name` of `want`.
fn refused_dtype(given: &str, name: &str, want: ElemType) -> String {
    format!(
        "cannot feed an array of dtype {given} to the signature input '{name}' of dtype {}",
        want.numpy_name()
    )
}

fn describe(ports: Vec<&crate::tensor::Port>) -> Vec<(String, String, Vec<i64>)> {
    ports
        .into_iter()
        .map(|p| match &p.kind {
            ValueKind::Tensor { elem, dims } => {
                (p.name.clone(), elem.numpy_name().to_string(), dims.clone())
            }
            ValueKind::Other(t) => (p.name.clone(), t.clone(), vec![]),
        })
        .collect()
}
