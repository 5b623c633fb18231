"""runs:/ and models:/ URIs resolve through mlflow (a local sqlite tracking store)."""

from __future__ import annotations

import mlflow
import pytest

import fastpyfunc

from conftest import assert_same


@pytest.fixture(scope="module")
def logged(iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    mlflow.set_experiment("fastpyfunc-tests")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            clf, name="model", registered_model_name="fpf-iris", input_example=X.head(2)
        )
    client = mlflow.MlflowClient()
    version = info.registered_model_version
    client.set_registered_model_alias("fpf-iris", "champion", version)
    return run.info.run_id, info, version


@pytest.mark.parametrize(
    "make_uri",
    [
        lambda run_id, info, v: f"runs:/{run_id}/model",
        lambda run_id, info, v: f"models:/fpf-iris/{v}",
        lambda run_id, info, v: "models:/fpf-iris@champion",
        lambda run_id, info, v: "models:/fpf-iris/latest",
        lambda run_id, info, v: f"models:/{info.model_id}",
    ],
    ids=["runs", "models-version", "models-alias", "models-latest", "models-id"],
)
def test_remote_uris(logged, iris, make_uri):
    X, _ = iris
    uri = make_uri(*logged)
    ours = fastpyfunc.load_model(uri)
    theirs = mlflow.pyfunc.load_model(uri)
    assert_same(ours.predict(X.head(10)), theirs.predict(X.head(10)))
    assert ours.model_id == theirs.model_id


def test_dst_path(logged, tmp_path):
    run_id, _, _ = logged
    dst = tmp_path / "dst"
    dst.mkdir()
    fastpyfunc.load_model(f"runs:/{run_id}/model", dst_path=str(dst))
    assert any(p.name == "MLmodel" for p in dst.rglob("MLmodel"))


def test_missing_registered_model():
    with pytest.raises(fastpyfunc.exceptions.ModelNotFoundError) as err:
        fastpyfunc.load_model("models:/no-such-model/1")
    assert "models:/no-such-model/1" in str(err.value)
    assert isinstance(err.value, mlflow.exceptions.MlflowException)
