"""Where weights come from: URLs, the Hugging Face Hub, Kaggle, and the local cache.

URIs accepted everywhere a preset or weights are (``create_model``, ``weights=``,
``load_preset``, ``preset_info``):

* ``hf://owner/repo[@revision]``: a Hub repository in our preset format or in timm's
  (``config.json`` + ``model.safetensors``), fetched with ``huggingface_hub`` (its cache,
  ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, tokens and revisions apply);
* ``kaggle://owner/model/framework/variation[/version]``: a Kaggle Models handle, fetched
  with ``kagglehub`` (pin a version to load offline from kagglehub's cache);
* ``https://...``: a weights file (``.weights.h5``, ``.safetensors``, ``.pth``, TF-slim
  ``.tar.gz``) or anything else we read, downloaded into the cache;
* ``file://...``: a local file or folder, read where it is (never copied: a file that
  changes is read again, as it is now);
* a local folder or file.

Every download goes to a temporary name in the cache folder (:mod:`inception_keras.utils.fileio`'s
naming: host and pid in the name) and is renamed when complete, under a
``filelock.FileLock`` on the entry (several processes filling one cache at once download
once); whoever takes the lock next deletes what a killed writer left there. Its sha256 is
checked against a known value where there is one (for Hub LFS files the ETag is the
sha256), and otherwise recorded on first download and checked on every later use (trust on
first use). The cache is ``$KERAS_HOME/models/inception_keras`` (``~/.keras/...`` by default).

No network: before the first request to a host (the Hub's endpoint, a URL's host) one TCP
connection is tried, for at most :data:`PROBE_TIMEOUT` seconds (through the proxy the
environment names, if any). When it fails, one line says so (a warning of the
``inception_keras`` logger), the Hub is asked for its local cache only and URLs are not
tried, instead of huggingface_hub's five retries. ``HF_HUB_OFFLINE=1`` skips the check and
every network request (the Hub and URLs; ``localhost`` mirrors stay allowed).

Example:
    >>> from inception_keras import create_model, upload_preset
    >>> model = create_model("hf://timm/inception_v4.tf_in1k")            # doctest: +SKIP
    >>> upload_preset("runs/x/best", "hf://me/my-inception")              # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
import warnings

from filelock import FileLock

from ..errors import PresetError
from ..utils.fileio import make_temporary_file, remove_stale_temporaries, write_json
from ..version import __version__
from .format import read_preset, sha256_file, verify_weights
from .schema import CONFIG_FILE, LABELS_FILE, REQUIRED_FILES, TIMM_FILES

CACHE_SUBDIR = os.path.join("models", "inception_keras")
HUB_EXTRA = "pip install 'inception-keras[hub]'"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
PROBE_TIMEOUT = 3.0  # seconds for the one connection that tells whether a host can be reached
PROBE_MEMORY = 60.0  # seconds a probe's answer is reused (a network that comes back is seen again)
_LEGACY_PART = ".part-"  # the unnamed temporaries of earlier versions' downloads
log = logging.getLogger("inception_keras")


class SourceUnavailable(RuntimeError):
    """One source of weights could not be used (offline, missing, failed check); says why."""


class WeightsUnavailable(RuntimeError):
    """No source of a named preset's weights could be used.

    Structured, so that each audience gets its own hint: ``str(e)`` ends with Python's
    (``weights=...``), :meth:`message` ``(tool=True)`` with a tool's (``--weights PATH``,
    ``HF_HUB_OFFLINE=1``).

    Attributes:
        preset: the :class:`inception_keras.weights.presets.Preset`.
        failures: one line per source tried, in order: ``"<source>: <why>"``.
        local: the value of ``INCEPTION_KERAS_WEIGHTS_DIR`` (None when it is not set).
    """

    def __init__(self, preset, failures, local: str | None = None):
        self.preset, self.failures, self.local = preset, list(failures), local
        super().__init__(self.message())

    def message(self, *, tool: bool = False) -> str:
        preset = self.preset
        folder = self.local or "a folder named by INCEPTION_KERAS_WEIGHTS_DIR"
        text = (f"could not get the {preset.name} weights; sources tried, in order:\n  - "
                + "\n  - ".join(self.failures)
                + f"\nWithout internet: download {preset.archive} on another machine and put it in {folder} "
                f"(or {preset.timm_name}.safetensors, timm's model.safetensors from hf://{preset.hf_repo}), ")
        if not tool:
            return text + "or pass its path as weights=..."
        text += f"or pass its path: --model {preset.arch} --weights PATH"
        if offline():
            return text + " (HF_HUB_OFFLINE=1 is set: no network was tried)"
        return text + ". Set HF_HUB_OFFLINE=1 to skip the network at once (no connection attempt)"

    def __reduce__(self):
        return type(self), (self.preset, self.failures, self.local)


def cache_dir() -> str:
    """``$KERAS_HOME/models/inception_keras`` (``~/.keras/models/inception_keras`` by default)."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(base, CACHE_SUBDIR)


@contextlib.contextmanager
def file_lock(path: str):
    """Hold a ``filelock.FileLock`` on ``path + '.lock'`` (its folder is created) to write ``path``.

    Once the lock is held, what a killed writer left next to ``path`` is deleted: the stale
    temporaries of :mod:`inception_keras.utils.fileio` (their writer's pid is gone), and the unnamed
    ``.part-*`` downloads of earlier versions whose target is in this folder (only a lock
    holder writes those, so none is in use).
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with FileLock(path + ".lock"):
        removed = remove_stale_temporaries(folder)
        removed += _remove_legacy_parts(folder)
        if removed:
            log.info("removed %d leftover temporaries of a killed writer in %s", len(removed), folder)
        yield


def _remove_legacy_parts(folder: str) -> list[str]:
    removed = []
    for name in os.listdir(folder):
        if name.startswith(_LEGACY_PART) and os.path.isfile(os.path.join(folder, name)):
            try:
                os.remove(os.path.join(folder, name))
                removed.append(os.path.join(folder, name))
            except OSError:
                pass
    return removed


def require(module: str):
    """Import an optional hub client, or an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{module} is needed for this source of weights: {HUB_EXTRA} "
                          f"(or pip install {module.replace('_', '-')})") from None


# =========================================================================== #
# Hashes: known, or recorded on first use
# =========================================================================== #
def _record_path(key: str) -> str:
    return os.path.join(cache_dir(), "hashes", hashlib.sha1(key.encode()).hexdigest()[:24] + ".json")


def check_hash(key: str, path: str, known: str | None = None) -> str:
    """Check ``path`` (what ``key`` names) against ``known`` or the hash recorded on first use.

    Records the hash the first time a key is seen. Returns the sha256; raises
    SourceUnavailable on a mismatch, naming the file, both hashes and the key.
    """
    # Ours: keras.utils.get_file checks only a hash known in advance; it keeps no first-use record.
    digest = sha256_file(path)
    record = _record_path(key)
    recorded = None
    if os.path.isfile(record):
        with open(record) as f:
            recorded = json.load(f).get("sha256")
    expected = known or recorded
    if expected and digest != expected:
        how = "the known sha256" if known else f"the sha256 recorded when it was first downloaded ({record})"
        raise SourceUnavailable(f"{path} ({key}) does not match {how}: expected {expected}, got {digest}")
    if recorded != digest:
        write_json(record, {"key": key, "sha256": digest, "size": os.path.getsize(path), "known": bool(known)})
    return digest


def forget(key: str, path: str | None = None) -> None:
    """Drop a download and its recorded hash (after it failed to convert)."""
    for p in (path, _record_path(key)):
        if p and os.path.isfile(p):
            os.remove(p)


# =========================================================================== #
# No network: one probe per host, one line
# =========================================================================== #
_PROBES: dict[tuple[str, int], tuple[float, str | None]] = {}  # (host, port) -> (when, problem)
_SAID = [0.0]  # when the last "no network" line was written


def offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set (as huggingface_hub read it, where it is installed)."""
    try:
        from huggingface_hub import constants  # noqa: PLC0415

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:
        return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _is_loopback(host: str | None) -> bool:
    return (host or "").lower() in ("localhost", "127.0.0.1", "::1") or (host or "").startswith("127.")


def _probe_target(url: str) -> tuple[str, int]:
    """The (host, port) a request for ``url`` connects to first: the URL's, or its proxy's."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
        if proxy_parts.hostname:
            return proxy_parts.hostname, proxy_parts.port or (443 if proxy_parts.scheme == "https" else 80)
    return host, port


def _connect(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection to ``host:port`` opens within ``timeout`` (name lookup included)."""
    result = []

    def attempt():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(None)
        except OSError as e:
            result.append(e.strerror or str(e) or type(e).__name__)

    thread = threading.Thread(target=attempt, name="inception-keras-probe", daemon=True)
    thread.start()
    thread.join(timeout)  # bounds the name lookup too, which has no timeout of its own
    return result[0] if result else f"no answer within {timeout:g} s"


def network_problem(url: str) -> str | None:
    """Why ``url``'s host cannot be reached (``"cannot connect to host:443 (...)"``), or None.

    One TCP connection of at most :data:`PROBE_TIMEOUT` seconds, its answer reused for
    :data:`PROBE_MEMORY` seconds. The first failure in that time writes one warning line.
    """
    host, port = _probe_target(url)
    now = time.monotonic()
    known = _PROBES.get((host, port))
    if known is not None and now - known[0] < PROBE_MEMORY:
        return known[1]
    problem = _connect(host, port, PROBE_TIMEOUT)
    problem = None if problem is None else f"cannot connect to {host}:{port} ({problem})"
    _PROBES[(host, port)] = (time.monotonic(), problem)
    if problem and time.monotonic() - _SAID[0] > PROBE_MEMORY:
        _SAID[0] = time.monotonic()
        log.warning("no network: %s; using local copies only (HF_HUB_OFFLINE=1 skips this check)", problem)
    return problem


# =========================================================================== #
# URLs (https:// and file://)
# =========================================================================== #
def file_url_path(url: str) -> str:
    """The local path of a ``file://`` URL (``file:///x/w.safetensors`` -> ``/x/w.safetensors``)."""
    parts = urllib.parse.urlparse(url)
    if parts.netloc not in ("", "localhost"):
        raise SourceUnavailable(f"{url}: a file:// URL names a file on this machine (file:///path), "
                                f"not on {parts.netloc}")
    return urllib.request.url2pathname(parts.path)


def download(url: str, *, sha256: str | None = None) -> str:
    """The local path of ``url``'s content: downloaded once into the cache, hash-checked on every use.

    A ``file://`` URL is not copied: its file (or folder) is read where it is, so a file that
    changes is used as it is now (checked against ``sha256`` when given). A cached copy
    that no longer matches its hash is reported (a warning naming the file) and downloaded
    again once. Raises SourceUnavailable (URL error, no network, ``HF_HUB_OFFLINE``,
    incomplete transfer, hash mismatch); nothing is left at the final name after a failure.
    """
    if url.startswith("file:"):
        return _local_file(url, sha256)
    name = os.path.basename(urllib.parse.urlparse(url).path) or "download"
    path = os.path.join(cache_dir(), "downloads", hashlib.sha1(url.encode()).hexdigest()[:16], name)
    with file_lock(path):
        if os.path.isfile(path):
            try:
                check_hash(url, path, sha256)
                return path
            except SourceUnavailable as e:  # the recorded hash stays: the new copy must match it
                warnings.warn(f"cached download {path} is damaged ({e}); downloading it again", stacklevel=2)
                os.remove(path)
        host = urllib.parse.urlsplit(url).hostname
        if offline() and not _is_loopback(host):
            raise SourceUnavailable(f"cannot download {url}: HF_HUB_OFFLINE is set (no network request is made)")
        problem = network_problem(url)
        if problem:
            raise SourceUnavailable(f"cannot download {url}: no network ({problem})")
        _fetch(url, path)
        try:
            check_hash(url, path, sha256)
        except SourceUnavailable as e:
            os.remove(path)
            raise SourceUnavailable(f"{e}. If the file was replaced upstream on purpose, delete "
                                    f"{_record_path(url)} to accept the new one") from None
    return path


def _local_file(url: str, sha256: str | None) -> str:
    path = file_url_path(url)
    if not os.path.exists(path):
        raise SourceUnavailable(f"cannot download {url}: there is no file {path}")
    if sha256 and os.path.isfile(path):
        digest = sha256_file(path)
        if digest != sha256:
            raise SourceUnavailable(f"{path} ({url}) does not match the known sha256: expected {sha256}, got {digest}")
    return path


def _fetch(url: str, path: str) -> None:
    # Ours, not keras.utils.get_file: it writes at the final name, has no timeout and prints to stdout.
    tmp = make_temporary_file(path, "", "download")
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"inception-keras/{__version__}"})
        written, total = 0, None
        with open(tmp, "wb") as out, urllib.request.urlopen(request, timeout=60) as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            log.info("downloading %s%s", url, f" ({total / 1e6:.1f} MB)" if total else "")
            while block := response.read(1 << 20):
                out.write(block)
                written += len(block)
        if total is not None and written != total:
            raise SourceUnavailable(f"incomplete download of {url}: {written} of {total} bytes")
        os.replace(tmp, path)
    except SourceUnavailable:
        raise
    except Exception as e:  # noqa: BLE001 - urllib, http.client and OS errors all mean "not from here"
        raise SourceUnavailable(f"cannot download {url}: {type(e).__name__}: {e}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# =========================================================================== #
# Hugging Face Hub and Kaggle
# =========================================================================== #
def parse_hf(uri: str) -> tuple[str, str | None]:
    """``hf://owner/repo[@revision]`` -> (repo id, revision or None)."""
    body = uri[len("hf://"):]
    repo, _, revision = body.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise PresetError(f"{uri!r} is not a Hugging Face URI: expected hf://owner/repo or hf://owner/repo@revision")
    return repo, revision or None


def hf_file(repo: str, filename: str, revision: str | None = None) -> str:
    """``hf_hub_download`` of one file, its sha256 checked (the LFS ETag where the Hub gives one).

    Raises FileNotFoundError when the repository has no such file, SourceUnavailable when
    the Hub cannot be reached and the file is not in the local Hub cache.
    """
    hf = require("huggingface_hub")
    errors = require("huggingface_hub.errors")
    constants = require("huggingface_hub.constants")
    # No network: the local Hub cache only, at once (huggingface_hub would retry five times, ~25 s).
    problem = None if constants.HF_HUB_OFFLINE else network_problem(constants.ENDPOINT)
    try:
        path = hf.hf_hub_download(repo_id=repo, filename=filename, revision=revision,
                                  library_name="inception-keras", library_version=__version__,
                                  local_files_only=problem is not None)
    except errors.RemoteEntryNotFoundError:
        raise FileNotFoundError(f"hf://{repo} has no {filename}") from None
    except errors.LocalEntryNotFoundError as e:
        why = (f"no network: {problem}" if problem else
               "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else _first_line(e))
        raise SourceUnavailable(f"hf://{repo}/{filename}: not in the Hugging Face cache and the Hub cannot be "
                                f"reached ({why})") from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError) as e:
        raise SourceUnavailable(f"hf://{repo}: {_first_line(e)}") from None
    except (errors.HfHubHTTPError, OSError, ValueError) as e:
        raise SourceUnavailable(f"hf://{repo}/{filename}: {type(e).__name__}: {_first_line(e)}") from None
    blob = os.path.basename(os.path.realpath(path))
    commit = os.path.basename(os.path.dirname(path))
    check_hash(f"hf://{repo}@{commit}/{filename}", path, blob if _SHA256.match(blob) else None)
    return path


def _first_line(error) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def hf_folder(uri: str) -> str:
    """A local folder with the files of an ``hf://`` repository in either layout (ours or timm's)."""
    repo, revision = parse_hf(uri)
    try:
        config_path = hf_file(repo, CONFIG_FILE, revision)
    except FileNotFoundError:
        raise PresetError(f"{uri} has no config.json: it is neither an inception-keras preset nor a timm "
                          f"model repository") from None
    with open(config_path) as f:
        config = json.load(f)
    files = REQUIRED_FILES if "arguments" in config else TIMM_FILES
    for name in files:
        hf_file(repo, name, revision)
    if "arguments" in config:
        try:
            hf_file(repo, LABELS_FILE, revision)
        except (FileNotFoundError, SourceUnavailable):
            pass  # labels are optional (and offline, only there if cached)
    return os.path.dirname(config_path)


def parse_kaggle(uri: str) -> str:
    handle = uri[len("kaggle://"):].strip("/")
    if handle.count("/") not in (3, 4):
        raise PresetError(f"{uri!r} is not a Kaggle model URI: expected "
                          f"kaggle://owner/model/framework/variation[/version]")
    return handle


def kaggle_folder(uri: str) -> str:
    """``kagglehub.model_download`` of a Kaggle Models handle: a local folder."""
    handle = parse_kaggle(uri)
    kagglehub = require("kagglehub")
    try:
        return kagglehub.model_download(handle)
    except Exception as e:  # noqa: BLE001 - kagglehub raises requests, HTTP and its own errors
        pin = "" if handle.count("/") == 4 else " (pin a version, kaggle://.../<version>, to load from kagglehub's cache offline)"
        raise SourceUnavailable(f"{uri}: {type(e).__name__}: {_first_line(e)}{pin}") from None


def local_path(uri) -> str:
    """A local file or folder for any URI or path (downloads into the caches as needed)."""
    uri = os.fspath(uri)
    if uri.startswith("hf://"):
        return hf_folder(uri)
    if uri.startswith("kaggle://"):
        return kaggle_folder(uri)
    if uri.startswith(("https://", "http://", "file://")):
        return download(uri)
    return uri


def is_uri(value) -> bool:
    return isinstance(value, str) and value.startswith(("hf://", "kaggle://", "https://", "http://", "file://"))


# =========================================================================== #
# Publishing
# =========================================================================== #
def upload_preset(path, uri: str, *, token: str | None = None, private: bool | None = None,
                  commit_message: str | None = None):
    """Publish a preset folder to the Hugging Face Hub: ``upload_preset("runs/x/best", "hf://me/my-model")``.

    The folder is checked first (every file present, the weights matching their sha256).
    The repository is created if needed (``private`` as given). Returns the
    ``huggingface_hub`` CommitInfo.
    """
    if not uri.startswith("hf://"):
        raise PresetError(f"upload_preset publishes to the Hugging Face Hub: expected hf://owner/repo, got {uri!r}")
    repo, revision = parse_hf(uri)
    info = read_preset(path)
    verify_weights(info)
    hf = require("huggingface_hub")
    api = hf.HfApi(token=token)
    api.create_repo(repo_id=repo, exist_ok=True, private=private)
    return api.upload_folder(repo_id=repo, folder_path=os.fspath(path), revision=revision,
                             commit_message=commit_message or f"Upload {info.model} preset (inception-keras)")
