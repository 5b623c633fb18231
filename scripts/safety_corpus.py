"""Ordinary scikit-learn models, fitted on small deterministic data.

Shared by ``gen_allowlist.py`` (the globals their pickles reference feed the allow-list) and by
``tests/test_safety_legit.py`` (each must load without trust and predict like mlflow) and by
``benches/scanner_compare.py`` (the legitimate corpus the scanners are compared on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def numeric_data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(X, class labels, regression target)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=["a", "b", "c", "d"])
    y_cls = (X["a"] + X["b"] * 0.5 > 0).astype(int).to_numpy() + (X["c"] > 1).astype(int).to_numpy()
    y_reg = (X["a"] * 2 - X["d"] + rng.normal(scale=0.1, size=120)).to_numpy()
    return X, y_cls, y_reg


def mixed_data() -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers, strings, a category, a bool and missing values in one frame."""
    rng = np.random.default_rng(1)
    n = 120
    X = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "count": rng.integers(0, 10, size=n),
            "city": rng.choice(["paris", "rome", "oslo"], size=n),
            "grade": pd.Categorical(rng.choice(["a", "b", "c"], size=n)),
            "flag": rng.random(n) > 0.5,
        }
    )
    X.loc[::7, "num"] = np.nan
    y = ((X["num"].fillna(0) > 0) ^ (X["city"] == "rome")).astype(int).to_numpy()
    return X, y


def text_data() -> tuple[pd.DataFrame, np.ndarray]:
    words = ["good", "bad", "great", "awful", "fine", "poor", "nice", "sad", "happy", "ok"]
    rng = np.random.default_rng(2)
    docs = [" ".join(rng.choice(words, size=6)) for _ in range(80)]
    y = np.array([int(sum(w in ("good", "great", "nice", "happy") for w in d.split()) > 1) for d in docs])
    return pd.DataFrame({"text": docs}), y


def models() -> list[tuple[str, Callable[[], Any], str, str]]:
    """(name, estimator factory, data kind: numeric-cls / numeric-reg / mixed / text, predict_fn)."""
    from sklearn import (
        calibration,
        cluster,
        compose,
        decomposition,
        discriminant_analysis,
        ensemble,
        feature_extraction,
        feature_selection,
        gaussian_process,
        impute,
        linear_model,
        multiclass,
        naive_bayes,
        neighbors,
        neural_network,
        pipeline,
        preprocessing,
        svm,
        tree,
    )

    P = pipeline.make_pipeline
    mixed_pre = lambda: compose.ColumnTransformer(  # noqa: E731
        [
            ("num", P(impute.SimpleImputer(), preprocessing.StandardScaler()), ["num", "count"]),
            ("city", preprocessing.OneHotEncoder(handle_unknown="ignore"), ["city"]),
            ("grade", preprocessing.OrdinalEncoder(), ["grade"]),
            ("flag", "passthrough", ["flag"]),
        ]
    )
    text = lambda vec: compose.ColumnTransformer([("t", vec, "text")])  # noqa: E731
    rs = 0
    return [
        ("logreg", lambda: linear_model.LogisticRegression(max_iter=500), "numeric-cls", "predict"),
        (
            "logreg_proba",
            lambda: linear_model.LogisticRegression(max_iter=500),
            "numeric-cls",
            "predict_proba",
        ),
        ("linreg", linear_model.LinearRegression, "numeric-reg", "predict"),
        ("ridge", linear_model.Ridge, "numeric-reg", "predict"),
        ("lasso", lambda: linear_model.Lasso(alpha=0.01), "numeric-reg", "predict"),
        ("elasticnet", lambda: linear_model.ElasticNet(alpha=0.01), "numeric-reg", "predict"),
        ("sgd", lambda: linear_model.SGDClassifier(random_state=rs), "numeric-cls", "predict"),
        ("svc_proba", lambda: svm.SVC(probability=True, random_state=rs), "numeric-cls", "predict_proba"),
        ("svr", svm.SVR, "numeric-reg", "predict"),
        ("linearsvc", lambda: svm.LinearSVC(random_state=rs), "numeric-cls", "predict"),
        ("knn_kdtree", lambda: neighbors.KNeighborsClassifier(algorithm="kd_tree"), "numeric-cls", "predict"),
        (
            "knn_balltree",
            lambda: neighbors.KNeighborsRegressor(algorithm="ball_tree"),
            "numeric-reg",
            "predict",
        ),
        ("tree_cls", lambda: tree.DecisionTreeClassifier(random_state=rs), "numeric-cls", "predict_proba"),
        ("tree_reg", lambda: tree.DecisionTreeRegressor(random_state=rs), "numeric-reg", "predict"),
        (
            "forest_cls",
            lambda: ensemble.RandomForestClassifier(10, random_state=rs),
            "numeric-cls",
            "predict",
        ),
        ("forest_reg", lambda: ensemble.RandomForestRegressor(10, random_state=rs), "numeric-reg", "predict"),
        ("extratrees", lambda: ensemble.ExtraTreesClassifier(10, random_state=rs), "numeric-cls", "predict"),
        (
            "gb_cls",
            lambda: ensemble.GradientBoostingClassifier(n_estimators=10, random_state=rs),
            "numeric-cls",
            "predict",
        ),
        (
            "gb_reg",
            lambda: ensemble.GradientBoostingRegressor(n_estimators=10, random_state=rs),
            "numeric-reg",
            "predict",
        ),
        (
            "hgb_cls",
            lambda: ensemble.HistGradientBoostingClassifier(max_iter=10, random_state=rs),
            "numeric-cls",
            "predict_proba",
        ),
        (
            "hgb_reg",
            lambda: ensemble.HistGradientBoostingRegressor(max_iter=10, random_state=rs),
            "numeric-reg",
            "predict",
        ),
        (
            "hgb_mixed",
            lambda: P(mixed_pre(), ensemble.HistGradientBoostingClassifier(max_iter=10, random_state=rs)),
            "mixed",
            "predict",
        ),
        (
            "adaboost",
            lambda: ensemble.AdaBoostClassifier(n_estimators=10, random_state=rs),
            "numeric-cls",
            "predict",
        ),
        (
            "bagging",
            lambda: ensemble.BaggingClassifier(n_estimators=5, random_state=rs),
            "numeric-cls",
            "predict",
        ),
        (
            "isoforest",
            lambda: ensemble.IsolationForest(n_estimators=10, random_state=rs),
            "numeric-cls",
            "predict",
        ),
        (
            "mlp_cls",
            lambda: neural_network.MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=rs),
            "numeric-cls",
            "predict_proba",
        ),
        (
            "mlp_reg",
            lambda: neural_network.MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=rs),
            "numeric-reg",
            "predict",
        ),
        ("gaussian_nb", naive_bayes.GaussianNB, "numeric-cls", "predict"),
        (
            "calibrated",
            lambda: calibration.CalibratedClassifierCV(svm.LinearSVC(random_state=rs), cv=3),
            "numeric-cls",
            "predict_proba",
        ),
        (
            "stacking",
            lambda: ensemble.StackingClassifier(
                [
                    ("lr", linear_model.LogisticRegression()),
                    ("t", tree.DecisionTreeClassifier(random_state=rs)),
                ],
                final_estimator=linear_model.LogisticRegression(),
                cv=3,
            ),
            "numeric-cls",
            "predict",
        ),
        (
            "voting",
            lambda: ensemble.VotingClassifier(
                [("lr", linear_model.LogisticRegression()), ("nb", naive_bayes.GaussianNB())], voting="soft"
            ),
            "numeric-cls",
            "predict_proba",
        ),
        (
            "pca_pipeline",
            lambda: P(
                preprocessing.StandardScaler(), decomposition.PCA(2), linear_model.LogisticRegression()
            ),
            "numeric-cls",
            "predict",
        ),
        (
            "column_transformer_forest",
            lambda: P(mixed_pre(), ensemble.RandomForestClassifier(10, random_state=rs)),
            "mixed",
            "predict",
        ),
        (
            "column_transformer_logreg",
            lambda: P(mixed_pre(), linear_model.LogisticRegression(max_iter=500)),
            "mixed",
            "predict_proba",
        ),
        (
            "tfidf_logreg",
            lambda: P(text(feature_extraction.text.TfidfVectorizer()), linear_model.LogisticRegression()),
            "text",
            "predict",
        ),
        (
            "count_nb",
            lambda: P(
                text(feature_extraction.text.CountVectorizer(ngram_range=(1, 2))), naive_bayes.MultinomialNB()
            ),
            "text",
            "predict_proba",
        ),
        (
            "hashing_sgd",
            lambda: P(
                text(feature_extraction.text.HashingVectorizer(n_features=64)),
                linear_model.SGDClassifier(random_state=rs),
            ),
            "text",
            "predict",
        ),
        (
            "log1p_ridge",
            lambda: P(
                preprocessing.FunctionTransformer(np.abs),
                preprocessing.FunctionTransformer(np.log1p),
                linear_model.Ridge(),
            ),
            "numeric-reg",
            "predict",
        ),
        (
            "transformed_target",
            lambda: compose.TransformedTargetRegressor(
                linear_model.Ridge(), func=np.exp, inverse_func=np.log
            ),
            "numeric-reg",
            "predict",
        ),
        (
            "imputer_knn",
            lambda: P(impute.SimpleImputer(strategy="median"), neighbors.KNeighborsClassifier()),
            "numeric-cls",
            "predict",
        ),
        ("kmeans", lambda: cluster.KMeans(3, n_init=2, random_state=rs), "numeric-cls", "predict"),
        (
            "poly_ridge",
            lambda: P(preprocessing.PolynomialFeatures(2), linear_model.Ridge()),
            "numeric-reg",
            "predict",
        ),
        (
            "selectkbest",
            lambda: P(
                feature_selection.SelectKBest(feature_selection.f_classif, k=2),
                linear_model.LogisticRegression(),
            ),
            "numeric-cls",
            "predict",
        ),
        (
            "quantile_svc",
            lambda: P(preprocessing.QuantileTransformer(n_quantiles=50), svm.SVC()),
            "numeric-cls",
            "predict",
        ),
        ("lda", discriminant_analysis.LinearDiscriminantAnalysis, "numeric-cls", "predict_proba"),
        ("gpr", lambda: gaussian_process.GaussianProcessRegressor(random_state=rs), "numeric-reg", "predict"),
        (
            "ovr",
            lambda: multiclass.OneVsRestClassifier(linear_model.LogisticRegression()),
            "numeric-cls",
            "predict",
        ),
    ]


def fitted() -> list[tuple[str, Any, pd.DataFrame, str]]:
    """(name, fitted estimator, input frame for predict, predict_fn) for every model."""
    X, y_cls, y_reg = numeric_data()
    Xm, ym = mixed_data()
    Xt, yt = text_data()
    data = {"numeric-cls": (X, y_cls), "numeric-reg": (X, y_reg), "mixed": (Xm, ym), "text": (Xt, yt)}
    out = []
    for name, make, kind, fn in models():
        Xk, yk = data[kind]
        if name == "transformed_target":
            yk = np.abs(yk) + 1.0
        out.append((name, make().fit(Xk, yk), Xk, fn))
    return out


def save(est: Any, path: str, fmt: str, predict_fn: str) -> bool:
    """Saves a fitted estimator with mlflow in `fmt` (pickle, cloudpickle or skops); returns whether
    its MLmodel lists skops_trusted_types (types skops does not trust by default, which mlflow
    needs listed to save a skops model)."""
    import mlflow
    import skops.io

    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(est)) if fmt == "skops" else None
    mlflow.sklearn.save_model(
        est,
        path,
        serialization_format=fmt,
        pyfunc_predict_fn=predict_fn,
        skops_trusted_types=trusted or None,
        pip_requirements=["scikit-learn"],  # skips requirement inference (a subprocess each)
    )
    return bool(trusted)
