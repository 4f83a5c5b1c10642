"""Shared fixtures. Models are expensive to build (1-2 s each on 2 cores), so every
test asks the session-wide ``zoo`` cache for them instead of building its own."""

import collections
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The tests never reach the real Hugging Face Hub or Kaggle, nor read the user's caches:
# huggingface_hub reads these when it is imported (the hub tests patch its constants).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = os.path.join(tempfile.mkdtemp(prefix="inception_keras_hf_"), "hf")
os.environ["KAGGLEHUB_CACHE"] = os.path.join(tempfile.mkdtemp(prefix="inception_keras_kaggle_"), "kaggle")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # onnxruntime writes ~/.cache/Microsoft/... on import otherwise

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import inception_keras  # noqa: E402


class Zoo:
    """Builds each (model name, constructor arguments) once. The default graphs (no arguments),
    which most tests ask for, are kept; of the others only the ``keep`` most recently used. A
    full-size graph holds 150-300 MB, and keeping every one a module asks for grew a test
    process by 6 GB."""

    def __init__(self, keep: int = 3):
        self._models = {}
        self._recent = collections.OrderedDict()
        self.keep = keep

    def get(self, name, **kwargs):
        if not kwargs:
            if name not in self._models:
                self._models[name] = inception_keras.create_model(name)
            return self._models[name]
        key = (name, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        if key in self._recent:
            self._recent.move_to_end(key)
        else:
            self._recent[key] = inception_keras.create_model(name, **kwargs)
            while len(self._recent) > self.keep:
                self._recent.popitem(last=False)
        return self._recent[key]

    def clear(self):
        self._models.clear()
        self._recent.clear()


@pytest.fixture(scope="session")
def zoo():
    return Zoo()


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module", autouse=True)
def _release_models_after_each_module(zoo):
    """Each test module starts from an empty zoo and a fresh Keras session: models shared
    within a module stay shared, but none is kept alive for the rest of the run. Without this a
    worker holds every model any earlier module built (several GB by the end of the suite)."""
    yield
    import gc  # noqa: PLC0415

    zoo.clear()
    keras.backend.clear_session()
    gc.collect()


if os.environ.get("IK_MEMLOG"):  # debugging aid: resident memory after every test
    def pytest_runtest_logfinish(nodeid, location):
        import time  # noqa: PLC0415

        fields = {}
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0]) // 1024
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(os.environ["IK_MEMLOG"], "a") as f:
            f.write(f"{time.time():.0f} {worker} {fields['VmRSS']} {fields['VmHWM']} {nodeid}\n")
