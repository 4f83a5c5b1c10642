"""A Hugging Face Hub stand-in on 127.0.0.1 for the tests: what ``hf_hub_download`` asks.

``HEAD``/``GET /{owner}/{repo}/resolve/{revision}/{filename}`` answer with the headers
huggingface_hub's ``get_hf_file_metadata`` reads: ``X-Repo-Commit`` (the commit hash),
``ETag`` (the sha256 for large, "LFS" files, as the Hub does; a git-like sha1 otherwise)
and ``Content-Length``. A missing file is a 404 with ``X-Error-Code: EntryNotFound``.
``/files/{name}`` serves plain URLs; ``lie_length`` makes a response announce more bytes
than it sends (a transfer cut short), and ``etag`` overrides the ETag of a file.
"""

import hashlib
import http.server
import re
import threading

LFS_SUFFIXES = (".safetensors", ".h5", ".bin", ".tar.gz")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


class HubServer:
    """``repos[repo_id][filename] = bytes``; ``files[name] = bytes``; started on a free port."""

    def __init__(self):
        self.repos, self.files, self.etags, self.lie_length, self.requests = {}, {}, {}, set(), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body):
                server.requests.append((self.command, self.path))
                data, headers = server.lookup(self.path)
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", headers.get("X-Error-Code", "EntryNotFound"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                length = len(data) + (1000 if self.path in server.lie_length else 0)
                for key, value in {**headers, "Content-Length": str(length)}.items():
                    self.send_header(key, value)
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def commit(self, repo):
        return hashlib.sha1(repo.encode()).hexdigest()

    def lookup(self, path):
        if path.startswith("/files/"):
            return self.files.get(path.split("?")[0][len("/files/"):]), {}
        match = _RESOLVE.match(path.split("?")[0])
        if not match or match["repo"] not in self.repos:
            return None, {"X-Error-Code": "RepoNotFound"}
        data = self.repos[match["repo"]].get(match["file"])
        headers = {"X-Repo-Commit": self.commit(match["repo"])}
        if data is None:
            return None, {**headers, "X-Error-Code": "EntryNotFound"}
        if match["file"].endswith(LFS_SUFFIXES):
            etag = hashlib.sha256(data).hexdigest()
        else:
            etag = hashlib.sha1(data).hexdigest()
        headers["ETag"] = f'"{self.etags.get(match["file"], etag)}"'
        return data, headers

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def use_hub(monkeypatch, server, cache_dir, offline=False):
    """Point huggingface_hub (already imported: its constants are read at import) at ``server``."""
    from huggingface_hub import constants

    endpoint = server.url if server is not None else "http://127.0.0.1:9"
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)


def folder_files(folder):
    """``{name: bytes}`` of the files directly in ``folder``."""
    import os

    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, name))}
