//! `fastpyfunc._native.NestedType`: mlflow's `_enforce_type` on one value of a nested type (an
//! Array, Object or Map cell, or an Object param). The rules and messages are the core's
//! ([`crate::schema::enforce::nested`]); this file walks the Python value and runs Python only
//! where mlflow does: a scalar, or an Array's scalar items, go through `pd.Series` and the column
//! rules (`_columns.scalars`), and the reprs of two sets (ordered by Python's hashing).

use numpy::PyUntypedArray;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PySet, PyString, PyType};

use super::model::py_to_json;
use crate::schema::enforce::nested::{
    datatype_failed, empty_passes, expected_dict, expected_list, expected_map, expected_scalar,
    invalid_properties, invalid_type, key_failed, missing_properties, property, MAP_KEYS_NOT_STR,
};
use crate::schema::enforce::params::type_repr;
use crate::schema::{ColType, DataType, Property};

/// The Python callables the rules need, looked up once.
pub(crate) struct Rules {
    /// `_columns.scalars(data, type_name, as_array)`.
    scalars: Py<PyAny>,
    /// `_columns.Failure` (mlflow's message) and its subclass `PandasFailure` (pandas' own).
    failure: Py<PyType>,
    pandas_failure: Py<PyType>,
    isscalar: Py<PyAny>,
    np_array: Py<PyAny>,
}

impl Rules {
    pub(crate) fn new(py: Python<'_>) -> PyResult<Self> {
        let columns = py.import(intern!(py, "fastpyfunc._columns"))?;
        let np = py.import(intern!(py, "numpy"))?;
        Ok(Rules {
            scalars: columns.getattr(intern!(py, "scalars"))?.unbind(),
            failure: columns
                .getattr(intern!(py, "Failure"))?
                .cast_into()?
                .unbind(),
            pandas_failure: columns
                .getattr(intern!(py, "PandasFailure"))?
                .cast_into()?
                .unbind(),
            isscalar: np.getattr(intern!(py, "isscalar"))?.unbind(),
            np_array: np.getattr(intern!(py, "array"))?.unbind(),
        })
    }

    /// `enforce_type(data, ty, required)`: errors are a `Failure` (mlflow's message) or a
    /// `PandasFailure` carrying whatever else was raised, as mlflow lets numpy's and pandas'
    /// errors through its wrappers.
    pub(crate) fn enforce<'py>(
        &self,
        data: &Bound<'py, PyAny>,
        ty: &ColType,
        required: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = data.py();
        match self.rule(data, ty, required) {
            Err(e) if !e.is_instance(py, self.failure.bind(py)) => {
                let text = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
                let wrapped = PyErr::from_value(self.pandas_failure.bind(py).call1((text,))?);
                wrapped.set_cause(py, Some(e));
                Err(wrapped)
            }
            out => out,
        }
    }

    fn rule<'py>(
        &self,
        data: &Bound<'py, PyAny>,
        ty: &ColType,
        required: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        match ty {
            ColType::Data(t) => self.datatype(data, *t, ty, required),
            ColType::Array(items) => self.array(data, items, required),
            ColType::Object(props) => self.object(data, ty, props, required),
            ColType::Map(values) => self.map(data, values, required),
            ColType::Any => Ok(data.clone()),
            ColType::SparkMlVector => Err(self.fail(data.py(), invalid_type(ty))),
        }
    }

    fn fail(&self, py: Python<'_>, message: String) -> PyErr {
        match self.failure.bind(py).call1((message,)) {
            Ok(e) => PyErr::from_value(e),
            Err(e) => e,
        }
    }

    fn is_pandas_failure(&self, py: Python<'_>, e: &PyErr) -> bool {
        e.is_instance(py, self.pandas_failure.bind(py))
    }

    /// mlflow's `_enforce_datatype`: a missing optional value is None; else a scalar through
    /// `pd.Series` and the column rules, whose refusal becomes mlflow's one message.
    fn datatype<'py>(
        &self,
        data: &Bound<'py, PyAny>,
        t: DataType,
        ty: &ColType,
        required: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = data.py();
        if !required && none_or_nan(data)? {
            return Ok(py.None().into_bound(py));
        }
        if !self.isscalar.bind(py).call1((data,))?.is_truthy()? {
            return Err(self.fail(py, expected_scalar(&type_name(data)?)));
        }
        match self.scalars.bind(py).call1((data, t.name(), false)) {
            Err(e)
                if !self.is_pandas_failure(py, &e) && e.is_instance(py, self.failure.bind(py)) =>
            {
                Err(self.fail(py, datatype_failed(&data.str()?.to_string(), ty)))
            }
            out => out,
        }
    }

    /// mlflow's `_enforce_array`: a list or ndarray, its scalar items converted together, other
    /// items one by one; a list stays a list and an ndarray an ndarray.
    fn array<'py>(
        &self,
        data: &Bound<'py, PyAny>,
        items: &ColType,
        required: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = data.py();
        let is_list = data.is_instance_of::<PyList>();
        let is_array = data.is_instance_of::<PyUntypedArray>();
        if empty_passes(required, items)
            && (data.is_none() || ((is_list || is_array) && data.len()? == 0))
        {
            return Ok(data.clone());
        }
        if !(is_list || is_array) {
            return Err(self.fail(py, expected_list(&type_name(data)?)));
        }
        let out = match items {
            ColType::Data(t) if data.len()? > 0 => {
                self.scalars.bind(py).call1((data, t.name(), true))?
            }
            ColType::Data(_) => data.clone(),
            _ => {
                let out = PyList::empty(py);
                for x in data.try_iter()? {
                    out.append(self.enforce(&x?, items, required)?)?;
                }
                out.into_any()
            }
        };
        if is_list && out.is_instance_of::<PyUntypedArray>() {
            return out.call_method0(intern!(py, "tolist"));
        }
        if is_array && out.is_instance_of::<PyList>() {
            return self.np_array.bind(py).call1((out,));
        }
        Ok(out)
    }

    /// mlflow's `_enforce_object`: a dict with every required property and no other key, each
    /// value enforced; a new dict (mlflow rewrites the caller's in place).
    fn object<'py>(
        &self,
        data: &Bound<'py, PyAny>,
        ty: &ColType,
        props: &[Property],
        required: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = data.py();
        if !required && (data.is_none() || data.eq(PyDict::new(py))?) {
            return Ok(data.clone());
        }
        let Ok(dict) = data.cast::<PyDict>() else {
            return Err(self.fail(
                py,
                expected_dict(&data.str()?.to_string(), ty, &type_name(data)?),
            ));
        };
        // the sets as mlflow builds them, for their reprs: properties in the schema's order
        let wanted = PySet::new(py, props.iter().filter(|p| p.required).map(|p| &p.name))?;
        let given = PySet::new(py, dict.keys())?;
        let missing = wanted.call_method1(intern!(py, "__sub__"), (given,))?;
        if missing.is_truthy()? {
            return Err(self.fail(py, missing_properties(&missing.repr()?.to_string())));
        }
        let names = PySet::new(py, props.iter().map(|p| &p.name))?;
        let invalid = data
            .call_method0(intern!(py, "keys"))?
            .call_method1(intern!(py, "__sub__"), (names,))?;
        if invalid.is_truthy()? {
            return Err(self.fail(py, invalid_properties(&invalid.repr()?.to_string())));
        }
        let out = PyDict::new(py);
        for (k, v) in dict.iter() {
            let key = k.str()?;
            let Some(prop) = property(props, key.to_str()?) else {
                return Err(PyKeyError::new_err(k.unbind()));
            };
            match self.enforce(&v, &prop.ty, prop.required) {
                Ok(x) => out.set_item(&k, x)?,
                Err(e) if self.is_pandas_failure(py, &e) => return Err(e),
                Err(_) => {
                    return Err(
                        self.fail(py, key_failed(&key.to_string(), &prop.ty, &type_name(&v)?))
                    )
                }
            }
        }
        Ok(out.into_any())
    }

    /// mlflow's `_enforce_map`: a dict with str keys, each value enforced.
    fn map<'py>(
        &self,
        data: &Bound<'py, PyAny>,
        values: &ColType,
        required: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = data.py();
        if empty_passes(required, values) && (data.is_none() || data.eq(PyDict::new(py))?) {
            return Ok(data.clone());
        }
        let Ok(dict) = data.cast::<PyDict>() else {
            return Err(self.fail(py, expected_map(&type_name(data)?)));
        };
        if !dict.keys().iter().all(|k| k.is_instance_of::<PyString>()) {
            return Err(self.fail(py, MAP_KEYS_NOT_STR.to_owned()));
        }
        let out = PyDict::new(py);
        for (k, v) in dict.iter() {
            out.set_item(k, self.enforce(&v, values, required)?)?;
        }
        Ok(out.into_any())
    }
}

/// `type(value).__name__`.
fn type_name(v: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(v.get_type().name()?.to_string())
}

/// None, a float NaN, `pd.NA` or `pd.NaT` (pandas is asked only if something imported it).
fn none_or_nan(v: &Bound<'_, PyAny>) -> PyResult<bool> {
    if v.is_none() {
        return Ok(true);
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(f.value().is_nan());
    }
    let py = v.py();
    let modules = py
        .import(intern!(py, "sys"))?
        .getattr(intern!(py, "modules"))?;
    let Some(pd) = modules.cast::<PyDict>()?.get_item(intern!(py, "pandas"))? else {
        return Ok(false);
    };
    Ok(v.is(&pd.getattr(intern!(py, "NA"))?) || v.is(&pd.getattr(intern!(py, "NaT"))?))
}

/// A nested type compiled once (a column's, an Object param's), called on each value.
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct NestedType {
    ty: ColType,
    rules: Rules,
}

impl NestedType {
    pub(crate) fn of(py: Python<'_>, ty: ColType) -> PyResult<Self> {
        Ok(NestedType {
            ty,
            rules: Rules::new(py)?,
        })
    }

    pub(crate) fn enforce<'py>(
        &self,
        data: &Bound<'py, PyAny>,
        required: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.rules.enforce(data, &self.ty, required)
    }
}

#[pymethods]
impl NestedType {
    /// From mlflow's dict form of the type (`{"type": "array", "items": ...}`) or a DataType's
    /// name.
    #[new]
    fn new(py: Python<'_>, ty: &Bound<'_, PyAny>) -> PyResult<Self> {
        let parsed = match py_to_json(ty)? {
            serde_json::Value::String(name) => DataType::from_name(&name)
                .map(ColType::Data)
                .ok_or_else(|| format!("unknown DataType {name:?}")),
            other => ColType::from_json(&other, "type"),
        }
        .map_err(PyValueError::new_err)?;
        Self::of(py, parsed)
    }

    /// mlflow's `_enforce_type(data, type, required)`: the value the model gets. Raises
    /// `_columns.Failure` with mlflow's message, or `_columns.PandasFailure` with the message of
    /// what pandas or numpy raised.
    #[pyo3(signature = (data, required=true))]
    fn __call__<'py>(
        &self,
        data: &Bound<'py, PyAny>,
        required: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.enforce(data, required)
    }

    fn __repr__(&self) -> String {
        format!("NestedType({})", type_repr(&self.ty))
    }
}
