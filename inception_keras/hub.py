"""Where weights come from: URLs, the Hugging Face Hub, Kaggle, and the local cache.

URIs accepted everywhere a preset or weights are (``create_model``, ``weights=``,
``load_preset``, ``preset_info``):

* ``hf://owner/repo[@revision]``: a Hub repository in our preset format or in timm's
  (``config.json`` + ``model.safetensors``), fetched with ``huggingface_hub`` (its cache,
  ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, tokens and revisions apply);
* ``kaggle://owner/model/framework/variation[/version]``: a Kaggle Models handle, fetched
  with ``kagglehub`` (pin a version to load offline from kagglehub's cache);
* ``https://...`` / ``file://...``: a weights file (``.weights.h5``, ``.safetensors``,
  ``.pth``, TF-slim ``.tar.gz``) or anything else we read, downloaded into the cache;
* a local folder or file.

Every download goes to a temporary name in the cache folder and is renamed when complete,
under a ``filelock.FileLock`` on the entry (several processes filling one cache at once
download once). Its sha256 is checked against a known value where there is one (for Hub
LFS files the ETag is the sha256), and otherwise recorded on first download and checked
on every later use (trust on first use). The cache is ``$KERAS_HOME/models/inception_keras``
(``~/.keras/...`` by default).

Example:
    >>> from inception_keras import create_model, upload_preset
    >>> model = create_model("hf://timm/inception_v4.tf_in1k")            # doctest: +SKIP
    >>> upload_preset("runs/x/best", "hf://me/my-inception")              # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import urllib.parse
import urllib.request
import warnings

from .preset_format import PresetError, sha256_file

CACHE_SUBDIR = os.path.join("models", "inception_keras")
HUB_EXTRA = "pip install 'inception-keras[hub]'"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
log = logging.getLogger("inception_keras")


class SourceUnavailable(RuntimeError):
    """One source of weights could not be used (offline, missing, failed check); says why."""


def cache_dir() -> str:
    """``$KERAS_HOME/models/inception_keras`` (``~/.keras/models/inception_keras`` by default)."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(base, CACHE_SUBDIR)


def file_lock(path: str):
    """A ``filelock.FileLock`` on ``path + '.lock'`` (its folder is created)."""
    from filelock import FileLock  # noqa: PLC0415

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return FileLock(path + ".lock")


def require(module: str):
    """Import an optional hub client, or an ImportError that says how to install it."""
    import importlib  # noqa: PLC0415

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
        from .fileio import write_json  # noqa: PLC0415

        write_json(record, {"key": key, "sha256": digest, "size": os.path.getsize(path), "known": bool(known)})
    return digest


def forget(key: str, path: str | None = None) -> None:
    """Drop a download and its recorded hash (after it failed to convert)."""
    for p in (path, _record_path(key)):
        if p and os.path.isfile(p):
            os.remove(p)


# =========================================================================== #
# URLs (https:// and file://)
# =========================================================================== #
def download(url: str, *, sha256: str | None = None) -> str:
    """The local path of ``url``'s content in the cache: downloaded once, hash-checked on every use.

    A cached copy that no longer matches its hash is reported (a warning naming the file)
    and downloaded again once. Raises SourceUnavailable (URL error, incomplete transfer,
    hash mismatch); nothing is left at the final name after a failure.
    """
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
        _fetch(url, path)
        try:
            check_hash(url, path, sha256)
        except SourceUnavailable as e:
            os.remove(path)
            raise SourceUnavailable(f"{e}. If the file was replaced upstream on purpose, delete "
                                    f"{_record_path(url)} to accept the new one") from None
    return path


def _fetch(url: str, path: str) -> None:
    from . import __version__  # noqa: PLC0415

    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=os.path.dirname(path))
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"inception-keras/{__version__}"})
        written, total = 0, None
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=60) as response:
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
    from . import __version__  # noqa: PLC0415

    hf = require("huggingface_hub")
    errors = require("huggingface_hub.errors")
    try:
        path = hf.hf_hub_download(repo_id=repo, filename=filename, revision=revision,
                                  library_name="inception-keras", library_version=__version__)
    except errors.RemoteEntryNotFoundError:
        raise FileNotFoundError(f"hf://{repo} has no {filename}") from None
    except errors.LocalEntryNotFoundError as e:
        raise SourceUnavailable(f"hf://{repo}/{filename}: not in the Hugging Face cache and the Hub cannot be "
                                f"reached ({_first_line(e)})") from None
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
    from .preset_format import CONFIG_FILE, LABELS_FILE, REQUIRED_FILES, TIMM_FILES  # noqa: PLC0415

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
    from .preset_format import read_preset, verify_weights  # noqa: PLC0415

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
