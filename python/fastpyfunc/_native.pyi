"""Private native module (Rust). Load-time helpers; results are JSON text."""

__version__: str

def load_model_info(model_dir: str) -> str:
    """JSON ``{root, mlmodel, signature, plan}`` for ``<model_dir>/MLmodel``."""

def read_yaml(path: str) -> str:
    """A YAML file, read under MLmodel's resource limits, as JSON text."""

def classify_uri(model_uri: str) -> tuple[str, str]:
    """``("local", path)`` or ``("remote", scheme)``."""
