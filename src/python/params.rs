//! `fastpyfunc._native.ParamPlan`: a model's params schema, with mlflow's
//! `_enforce_params_schema` in one call. The rules are the core's
//! ([`crate::schema::enforce::params`]); this file reads each value into the core's [`Scalar`]
//! and runs Python only where mlflow runs it on the value itself (`int(v)`, `float(v)`, `str(v)`,
//! `np.datetime64(v).item()`, `np.array(v).ndim`) and where the message shows a Python rendering
//! (`str(v)`, a set's repr, whose order is Python's hashing).

use std::cell::RefCell;

use numpy::{PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyModule, PySet, PyString, PyTuple};
use pyo3::{create_exception, intern};

use super::model::{json_to_py, py_to_json};
use super::nested::Rules;
use crate::schema::enforce::params::{
    check_list_shape, datetime_outcome, decide, decide_object_item, invalid_params_message,
    not_a_dict_message, param_type_text, passes_as_is, spec_repr, unknown_keys_warning,
    validation_message, Conv, DatetimeParse, Decision, Fault, PyClass, Scalar, Shown,
    NON_STR_KEYS_WARNING,
};
use crate::schema::{ColType, ParamSpec};

create_exception!(
    fastpyfunc._native,
    ParamError,
    PyException,
    "A param (or a default) failed validation: the message is mlflow's, `key` the param at fault."
);

/// A ParamError whose `key` names the param at fault.
fn param_error(py: Python<'_>, message: String, key: Option<&str>) -> PyErr {
    let err = ParamError::new_err(message);
    if let Err(e) = err.value(py).setattr(intern!(py, "key"), key) {
        return e;
    }
    err
}

/// `str(e)` of an exception mlflow's validation caught (`except Exception as e`).
fn err_text(py: Python<'_>, e: &PyErr) -> String {
    e.value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "<exception str() failed>".into())
}

/// The Python callables the rules need, looked up once.
struct Helpers {
    dtype: Py<PyAny>,
    isscalar: Py<PyAny>,
    array: Py<PyAny>,
    datetime64: Py<PyAny>,
    logger: Py<PyAny>,
    /// The nested rules and `copy.deepcopy`, for Object params.
    object_rules: Option<(Rules, Py<PyAny>)>,
}

struct Spec {
    core: ParamSpec,
    name: Py<PyString>,
    /// `repr(ParamSpec)`, with the default as validated (as mlflow's spec holds it).
    repr: String,
    /// `str(dtype)`.
    type_text: String,
    default: Py<PyAny>,
}

/// A one-value failure: mlflow's message, or a Python exception mlflow lets through.
type Checked<'py> = PyResult<Result<Bound<'py, PyAny>, String>>;

#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct ParamPlan {
    specs: Vec<Spec>,
    /// `{param.name for param in schema.params}`, built in mlflow's order (its repr is in a warning).
    allowed: Py<PySet>,
    py_: Helpers,
}

impl ParamPlan {
    /// Validates the defaults, as mlflow's ParamSpec does when the MLmodel is read: a bad one is
    /// a ParamError keyed by the param's name.
    pub(crate) fn build(py: Python<'_>, specs: &[ParamSpec]) -> PyResult<Self> {
        let np = py.import(intern!(py, "numpy"))?;
        let object_rules = if specs.iter().any(|s| !matches!(s.ty, ColType::Data(_))) {
            let copy = py.import(intern!(py, "copy"))?;
            Some((
                Rules::new(py)?,
                copy.getattr(intern!(py, "deepcopy"))?.unbind(),
            ))
        } else {
            None
        };
        let logging = py.import(intern!(py, "logging"))?;
        let py_ = Helpers {
            dtype: np.getattr(intern!(py, "dtype"))?.unbind(),
            isscalar: np.getattr(intern!(py, "isscalar"))?.unbind(),
            array: np.getattr(intern!(py, "array"))?.unbind(),
            datetime64: np.getattr(intern!(py, "datetime64"))?.unbind(),
            logger: logging
                .call_method1(intern!(py, "getLogger"), ("fastpyfunc",))?
                .unbind(),
            object_rules,
        };
        let mut out = Vec::with_capacity(specs.len());
        for s in specs {
            let name = PyString::new(py, &s.name);
            let name_repr = name.repr()?.to_string();
            let raw = json_to_py(py, &s.default)?;
            let mut spec = Spec {
                core: s.clone(),
                name: name.clone().unbind(),
                // mlflow's repr shows the raw default while the default itself is validated
                repr: spec_repr(s, &name_repr, &raw.str()?.to_string()),
                type_text: param_type_text(&s.ty),
                default: py.None(),
            };
            let default = match py_.validate(&spec, &raw)? {
                Ok(v) => v,
                Err(message) => {
                    return Err(param_error(
                        py,
                        format!(
                            "the default of param {name_repr} does not fit its spec: {message}"
                        ),
                        Some(&s.name),
                    ))
                }
            };
            spec.repr = spec_repr(s, &name_repr, &default.str()?.to_string());
            spec.default = default.unbind();
            out.push(spec);
        }
        let allowed = PySet::new(py, out.iter().map(|s| s.name.bind(py)))?.unbind();
        Ok(ParamPlan {
            specs: out,
            allowed,
            py_,
        })
    }

    fn defaults<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for s in &self.specs {
            out.set_item(s.name.bind(py), s.default.bind(py))?;
        }
        Ok(out)
    }
}

#[pymethods]
impl ParamPlan {
    /// Compiles a params schema given in its canonical form (the list of param spec dicts).
    /// Models loaded from an MLmodel get theirs from `ModelInfo.param_plan()`, built from the
    /// signature parsed at load.
    #[new]
    fn new(py: Python<'_>, specs: &Bound<'_, PyAny>) -> PyResult<Self> {
        let parsed = match py_to_json(specs)? {
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| ParamSpec::from_json(v, &format!("param #{i}")))
                .collect::<Result<Vec<_>, _>>()
                .map_err(PyValueError::new_err)?,
            other => {
                return Err(PyValueError::new_err(format!(
                    "expected a list, found {other}"
                )))
            }
        };
        Self::build(py, &parsed)
    }

    /// mlflow's `_enforce_params_schema(params, schema)`: the params the model gets. Raises
    /// ParamError with mlflow's message; `key` is the first param at fault in schema order.
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let enforced = self.enforce(py, params)?;
        self.log(py, &enforced.warnings)?;
        Ok(enforced.values)
    }
}

/// Params enforced, their warnings not yet logged. A one-call predict enforces params once its
/// input is known to take the native path and logs the warnings only when it runs: where it
/// hands the call on to the Python path instead, that path enforces (and logs) them itself.
pub(crate) struct Enforced<'py> {
    pub(crate) values: Bound<'py, PyDict>,
    warnings: Vec<String>,
}

impl ParamPlan {
    /// Logs what `enforce` found to warn about, as mlflow logs it.
    pub(crate) fn log(&self, py: Python<'_>, warnings: &[String]) -> PyResult<()> {
        for message in warnings {
            self.py_.warn(py, message)?;
        }
        Ok(())
    }

    /// `__call__` without the logging: the params and the warnings mlflow logs on the way.
    pub(crate) fn enforce<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
    ) -> PyResult<Enforced<'py>> {
        let mut warnings = Vec::new();
        if params.is_none() {
            return Ok(Enforced {
                values: self.defaults(py)?,
                warnings,
            });
        }
        let Ok(given) = params.cast::<PyDict>() else {
            let type_name = params.get_type().name()?.to_string();
            return Err(param_error(
                py,
                not_a_dict_message(&type_name),
                Some("params"),
            ));
        };
        let allowed = self.allowed.bind(py);
        let mut src = given.clone();
        if given.iter().any(|(k, _)| !k.is_instance_of::<PyString>()) {
            warnings.push(NON_STR_KEYS_WARNING.to_owned());
            let converted = PyDict::new(py);
            for (k, v) in given.iter() {
                converted.set_item(k.str()?, v)?;
            }
            src = converted;
        }
        let mut unknown = false;
        for (k, _) in src.iter() {
            if !allowed.contains(&k)? {
                unknown = true;
                break;
            }
        }
        let out = if unknown {
            // `set(params) - allowed_keys`, listed: Python's own set order, as in mlflow's warning.
            let ignored =
                PySet::new(py, src.keys())?.call_method1(intern!(py, "__sub__"), (allowed,))?;
            let ignored = PyList::new(py, ignored.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
            warnings.push(unknown_keys_warning(
                &ignored.repr()?.to_string(),
                &allowed.repr()?.to_string(),
            ));
            let out = PyDict::new(py);
            for (k, v) in src.iter() {
                if allowed.contains(&k)? {
                    out.set_item(k, v)?;
                }
            }
            out
        } else {
            src.copy()?
        };
        let mut faults: Vec<(&Spec, String)> = Vec::new();
        for s in &self.specs {
            let name = s.name.bind(py);
            match out.get_item(name)? {
                Some(v) => match self.py_.validate(s, &v)? {
                    Ok(x) if x.is(&v) => {}
                    Ok(x) => out.set_item(name, x)?,
                    Err(message) => faults.push((s, message)),
                },
                None => out.set_item(name, s.default.bind(py))?,
            }
        }
        if let Some((first, _)) = faults.first() {
            // mlflow reports a set of (name, message): its repr's order is Python's
            let set = PySet::empty(py)?;
            for (s, message) in &faults {
                set.add(PyTuple::new(
                    py,
                    [
                        s.name.bind(py).as_any(),
                        PyString::new(py, message).as_any(),
                    ],
                )?)?;
            }
            return Err(param_error(
                py,
                invalid_params_message(&set.repr()?.to_string()),
                Some(&first.core.name),
            ));
        }
        Ok(Enforced {
            values: out,
            warnings,
        })
    }
}

/// The params of a one-call predict (`predict(data, plan, params, param_plan)`): mlflow enforces
/// them after the input, before the flavor's wrapper runs, so each native predict calls
/// `enforce` at the point where its input is known to take the native path.
pub(crate) struct CallParams<'a, 'py> {
    plan: Option<&'a ParamPlan>,
    given: Option<&'a Bound<'py, PyAny>>,
    /// The warnings of `enforce`, logged by `settle`.
    pending: RefCell<Vec<String>>,
}

impl<'a, 'py> CallParams<'a, 'py> {
    pub(crate) fn new(plan: Option<&'a ParamPlan>, given: Option<&'a Bound<'py, PyAny>>) -> Self {
        CallParams {
            plan,
            given: given.filter(|g| !g.is_none()),
            pending: RefCell::new(Vec::new()),
        }
    }

    /// Params given to a model without a params schema: mlflow warns and drops them, which the
    /// Python path does (`params in (None, {})` is the only silent case).
    pub(crate) fn unplanned(&self) -> bool {
        self.plan.is_none()
            && self
                .given
                .is_some_and(|g| g.cast::<PyDict>().map_or(true, |d| !d.is_empty()))
    }

    /// mlflow's `_enforce_params_schema`: the params the wrapper gets (None without a schema).
    /// A bad param raises ParamError; the warnings wait for `settle`.
    pub(crate) fn enforce(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(plan) = self.plan else {
            return Ok(None);
        };
        let none = py.None().into_bound(py);
        let enforced = plan.enforce(py, self.given.unwrap_or(&none))?;
        *self.pending.borrow_mut() = enforced.warnings;
        Ok(Some(enforced.values))
    }

    /// Logs the warnings of `enforce` once the call has answered or raised; not where it handed
    /// the input on to the Python path (`Ok(None)`), which enforces and logs them itself.
    pub(crate) fn settle<T>(&self, py: Python<'_>, out: &PyResult<Option<T>>) -> PyResult<()> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        match (out, self.plan) {
            (Ok(None), _) | (_, None) => Ok(()),
            (_, Some(plan)) => plan.log(py, &pending),
        }
    }
}

/// A one-call predict's `body` with its params: None at once for params the Python path takes
/// (given to a model without a params schema), and the warnings `body` enforced logged once it
/// answered or raised (see [`CallParams::settle`]).
pub(crate) fn with_params<'py, T>(
    py: Python<'py>,
    plan: Option<&ParamPlan>,
    given: Option<&Bound<'py, PyAny>>,
    body: impl FnOnce(&CallParams<'_, 'py>) -> PyResult<Option<T>>,
) -> PyResult<Option<T>> {
    let params = CallParams::new(plan, given);
    if params.unplanned() {
        return Ok(None);
    }
    let out = body(&params);
    params.settle(py, &out)?;
    out
}

impl Helpers {
    fn warn(&self, py: Python<'_>, message: &str) -> PyResult<()> {
        self.logger
            .bind(py)
            .call_method1(intern!(py, "warning"), (message,))?;
        Ok(())
    }

    /// `ParamSpec.validate_type_and_shape(repr(spec), value, dtype, shape)`.
    fn validate<'py>(&self, spec: &Spec, v: &Bound<'py, PyAny>) -> Checked<'py> {
        let py = v.py();
        if spec.core.shape.is_some() {
            let is_array = v.is_instance_of::<PyUntypedArray>();
            let list_or_ndarray = is_array || v.is_instance_of::<PyList>();
            // np.array(value).ndim, whose ValueError (a ragged list) mlflow lets through
            let ndim = match v.cast::<PyUntypedArray>() {
                Ok(a) => a.ndim(),
                Err(_) if flat_list(v) => 1,
                Err(_) => self
                    .array
                    .bind(py)
                    .call1((v,))?
                    .getattr(intern!(py, "ndim"))?
                    .extract()?,
            };
            let type_name = v.get_type().name()?.to_string();
            if let Err(m) = check_list_shape(&spec.repr, list_or_ndarray, ndim, &type_name) {
                return Ok(Err(m));
            }
            let checked = (|| -> Result<Bound<'py, PyAny>, String> {
                let out = PyList::empty(py);
                let items = v.try_iter().map_err(|e| err_text(py, &e))?;
                for item in items {
                    let item = item.map_err(|e| err_text(py, &e))?;
                    let x = match &spec.core.ty {
                        ColType::Data(t) => self.datatype(*t, &spec.type_text, &item)?,
                        _ => self.object_item(&spec.type_text, &item)?,
                    };
                    out.append(x).map_err(|e| err_text(py, &e))?;
                }
                Ok(out.into_any())
            })();
            return Ok(checked.map_err(|e| validation_message(&spec.repr, &e)));
        }
        let checked = match &spec.core.ty {
            ColType::Data(t) => self.datatype(*t, &spec.type_text, v),
            _ => self.object(spec, v),
        };
        Ok(checked.map_err(|e| validation_message(&spec.repr, &e)))
    }

    /// `_enforce_param_datatype(value, t)`; Err is the message of whatever it raised.
    fn datatype<'py>(
        &self,
        t: crate::schema::DataType,
        type_text: &str,
        v: &Bound<'py, PyAny>,
    ) -> Result<Bound<'py, PyAny>, String> {
        let py = v.py();
        if v.is_none() {
            return Ok(v.clone());
        }
        let class = class_of(v);
        if passes_as_is(t, class) {
            return Ok(v.clone()); // the common call: no numpy lookups
        }
        let text = |e: PyErr| err_text(py, &e);
        let facts = Scalar {
            class,
            dtype: self.dtype_of(v),
            is_scalar: self.is_scalar(v).map_err(text)?,
        };
        let fault = |f: Fault| -> String {
            match shown(v) {
                Ok((value, class)) => f.message(
                    type_text,
                    &Shown {
                        text: &value,
                        type_repr: &class,
                    },
                ),
                Err(e) => err_text(py, &e),
            }
        };
        match decide(t, &facts) {
            Decision::Keep => Ok(v.clone()),
            Decision::Convert {
                to,
                value_error_is_fault,
            } => convert(v, to).map_err(|e| {
                if value_error_is_fault && e.is_instance_of::<PyValueError>(py) {
                    fault(Fault::FailedConvert)
                } else {
                    err_text(py, &e)
                }
            }),
            Decision::ParseDatetime => {
                let parsed = self
                    .datetime64
                    .bind(py)
                    .call1((v,))
                    .and_then(|d| d.call_method0(intern!(py, "item")));
                let outcome = match &parsed {
                    Ok(x) if x.is_instance_of::<PyInt>() => DatetimeParse::Int,
                    Ok(_) => DatetimeParse::Value,
                    Err(e) if e.is_instance_of::<PyValueError>(py) => DatetimeParse::ValueError,
                    Err(e) => return Err(err_text(py, e)),
                };
                match datetime_outcome(outcome) {
                    Some(f) => Err(fault(f)),
                    None => parsed.map_err(text),
                }
            }
            Decision::Fault(f) => Err(fault(f)),
        }
    }

    /// An item of an Object param of shape (-1,): `_enforce_param_datatype(item, Object)`.
    fn object_item<'py>(
        &self,
        type_text: &str,
        v: &Bound<'py, PyAny>,
    ) -> Result<Bound<'py, PyAny>, String> {
        let py = v.py();
        if v.is_none() {
            return Ok(v.clone());
        }
        let is_scalar = self.is_scalar(v).map_err(|e| err_text(py, &e))?;
        let (value, class) = shown(v).map_err(|e| err_text(py, &e))?;
        Err(decide_object_item(is_scalar).message(
            type_text,
            &Shown {
                text: &value,
                type_repr: &class,
            },
        ))
    }

    /// `_enforce_object(deepcopy(value), dtype)`, returning the value itself as mlflow does.
    fn object<'py>(&self, spec: &Spec, v: &Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>, String> {
        let py = v.py();
        let Some((rules, deepcopy)) = &self.object_rules else {
            return Err("no rules for this type".into());
        };
        deepcopy
            .bind(py)
            .call1((v,))
            .and_then(|copy| rules.enforce(&copy, &spec.core.ty, true))
            .map(|_| v.clone())
            .map_err(|e| err_text(py, &e))
    }

    /// `(kind, itemsize)` of `np.dtype(type(value))`: what a numpy dtype compares equal to.
    fn dtype_of(&self, v: &Bound<'_, PyAny>) -> Option<(u8, usize)> {
        let py = v.py();
        let d = self.dtype.bind(py).call1((v.get_type(),)).ok()?;
        let kind: String = d.getattr(intern!(py, "kind")).ok()?.extract().ok()?;
        let itemsize: usize = d.getattr(intern!(py, "itemsize")).ok()?.extract().ok()?;
        Some((*kind.as_bytes().first()?, itemsize))
    }

    /// `np.isscalar(value)`.
    fn is_scalar(&self, v: &Bound<'_, PyAny>) -> PyResult<bool> {
        if class_of(v) != PyClass::Other {
            return Ok(true); // exact builtins are in numpy's ScalarType
        }
        self.isscalar.bind(v.py()).call1((v,))?.is_truthy()
    }
}

/// The exact class, as `type(value) in [...]` compares.
fn class_of(v: &Bound<'_, PyAny>) -> PyClass {
    if v.is_exact_instance_of::<PyBool>() {
        PyClass::Bool
    } else if v.is_exact_instance_of::<PyInt>() {
        PyClass::Int
    } else if v.is_exact_instance_of::<PyFloat>() {
        PyClass::Float
    } else if v.is_exact_instance_of::<PyString>() {
        PyClass::Str
    } else {
        PyClass::Other
    }
}

/// A list of exact builtin scalars or None: `np.array(value).ndim` is 1 without asking numpy.
fn flat_list(v: &Bound<'_, PyAny>) -> bool {
    v.cast::<PyList>().is_ok_and(|l| {
        l.iter()
            .all(|x| x.is_none() || class_of(&x) != PyClass::Other)
    })
}

/// `str(value)` and `str(type(value))`, as mlflow's f-strings print them.
fn shown(v: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
    Ok((v.str()?.to_string(), v.get_type().str()?.to_string()))
}

/// `dtype.to_python()(value)`.
fn convert<'py>(v: &Bound<'py, PyAny>, to: Conv) -> PyResult<Bound<'py, PyAny>> {
    let py = v.py();
    match to {
        Conv::Bool => Ok(PyBool::new(py, v.is_truthy()?).to_owned().into_any()),
        Conv::Int => py.get_type::<PyInt>().call1((v,)),
        Conv::Float => py.get_type::<PyFloat>().call1((v,)),
        Conv::Str => py.get_type::<PyString>().call1((v,)),
    }
}

/// Registers the class and exception, with `ParamError.key` defaulting to None.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<ParamPlan>()?;
    let err = py.get_type::<ParamError>();
    err.setattr("key", py.None())?;
    m.add("ParamError", err)?;
    Ok(())
}
