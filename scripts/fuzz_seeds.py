"""Writes real model pickles into fuzz/corpus/verify_pickle/ (seeds for the fuzzer, and the files
`cargo test` reads both ways: see `untracked_reading_agrees_on_the_seed_corpus` in
src/safety/tests.rs).

    .venv/bin/python scripts/fuzz_seeds.py

`sk_*`: small scikit-learn models pickled as mlflow pickles them (protocol 4 and 5, and
cloudpickle), which the verifier's untracked reading certifies; `jl_*`: a joblib dump (arrays after
their wrappers) and `cp_*`: a cloudpickled lambda, which it hands to the tracking machine.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import cloudpickle
import joblib
import numpy as np
from safety_corpus import numeric_data
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

OUT = Path(__file__).resolve().parent.parent / "fuzz" / "corpus" / "verify_pickle"


def main() -> None:
    X, y, _ = numeric_data()
    models = {
        "logreg": LogisticRegression(max_iter=200).fit(X, y),
        "pipeline": make_pipeline(FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression()).fit(
            X.abs(), y
        ),
        "hgb": HistGradientBoostingClassifier(max_iter=2, max_depth=2).fit(X, y),
        "forest": RandomForestClassifier(2, max_depth=2, random_state=0).fit(X, y),
    }
    for name, est in models.items():
        (OUT / f"sk_{name}_p4").write_bytes(pickle.dumps(est, protocol=4))
        (OUT / f"sk_{name}_p5").write_bytes(pickle.dumps(est, protocol=5))
        (OUT / f"sk_{name}_cloudpickle").write_bytes(cloudpickle.dumps(est))
    buf = io.BytesIO()
    joblib.dump(models["logreg"], buf)
    (OUT / "jl_logreg").write_bytes(buf.getvalue())
    (OUT / "cp_lambda").write_bytes(cloudpickle.dumps(lambda x: x + 1))
    for p in sorted(OUT.glob("[sjc][klp]_*")):
        print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
