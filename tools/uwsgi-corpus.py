#!/usr/bin/env python3
"""Records what the real uWSGI 2.0 resolves for every config of tests/fixtures/corpus/.

Dev-time only (tests read the recorded JSON, they do not need uWSGI): needs a `uwsgi` binary,
e.g. from `pip install pyuwsgi` in a venv:

    python3 -m venv target/uwsgi-venv && target/uwsgi-venv/bin/pip install pyuwsgi
    python3 tools/uwsgi-corpus.py target/uwsgi-venv/bin/uwsgi > tests/fixtures/corpus/uwsgi-resolved.json

Each config runs in a fresh copy of the corpus directory (cwd = the copy) with the `; env:`
lines of its header set, with `--show-config` and an HTTP socket that cannot bind so uWSGI
exits right after printing its option list. The copy's path is recorded as `{dir}`. When
strict mode refuses a file, it is resolved once more without its `strict` lines
(`entries_without_strict`), for the tests that compare what rw reads.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

UWSGI = os.path.abspath(sys.argv[1])
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "corpus")
UNBINDABLE = "/nonexistent-rw-corpus-dir/x.sock"


def resolve(name, text, env):
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "c")
        shutil.copytree(CORPUS, d)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        p = subprocess.run([UWSGI, "--ini", name, "--show-config", "--http-socket", UNBINDABLE],
                           cwd=d, env=env, capture_output=True, text=True, timeout=30)
    log = p.stdout + p.stderr
    start = log.find(";uWSGI instance configuration\n[uwsgi]\n")
    if start < 0:
        first = [l for l in log.splitlines() if not l.startswith("[uWSGI] getting")]
        return None, first[0] if first else ""
    body = log[start:].split("\n", 2)[2]
    body = body[: body.find(";end of configuration")]
    entries = []
    for line in body.splitlines():
        # A config with log-date prefixes uWSGI's own log lines with the date.
        line = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - ", "", line)
        if not line:
            continue
        k, _, v = line.partition(" = ")
        entries.append([k, v.replace(d, "{dir}")])
    # The harness's own additions are not part of the config.
    entries = [e for e in entries if e not in (["show-config", "true"], ["http-socket", UNBINDABLE])]
    if entries and entries[0][0] == "ini":
        entries = entries[1:]
    return entries, None


out = {}
for name in sorted(os.listdir(CORPUS)):
    if not name.endswith(".ini"):
        continue
    text = open(os.path.join(CORPUS, name)).read()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UWSGI_")}
    for line in text.splitlines():
        if line.startswith("; env: "):
            k, v = line[len("; env: "):].split("=", 1)
            env[k] = v
    entries, message = resolve(name, text, env)
    if entries is not None:
        out[name] = {"refused": False, "entries": entries}
        continue
    out[name] = {"refused": True, "message": message}
    if "strict-mode" in message:
        relaxed = "\n".join(l for l in text.splitlines() if not l.startswith("strict"))
        out[name]["entries_without_strict"] = resolve(name, relaxed, env)[0]
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()
