#!/usr/bin/env python3
"""Generates the fuzz targets' seed corpora into fuzz/seeds/<target>/ (ignored by git).

Seeds come from the project's tests and examples and from ../shared/corpora (read in place,
never copied into the repository). Each seed is in the input format of its target: parts
separated by NUL bytes (see fuzz_targets/*.rs). Usage: python3 fuzz/seeds.py
"""

import hashlib
import json
import os
import re
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
SHARED = ROOT.parent / "shared" / "corpora"
CONFORMANCE = ROOT.parent / "shared" / "conformance"
OUT = FUZZ / "seeds"
MAX_SEED = 64 * 1024
MAX_PER_TARGET = 2000


# The hostile inputs of issue 22.
HOSTILE_TEMPLATES = [
    '{{define "x"}}{{template "x" .}}{{end}}{{template "x" .}}',
    '{{ repeat 2000000000 "xxxxxxxxxx" | len }}',
    '{{ until 2000000000 | len }}',
]
HOSTILE_JQ = ["def f: f; f", ".spec | until(false; .)", "del(.spec.nonsense()", ".spec | select("]


def files(base, suffixes):
    if not base.exists():
        return []
    return sorted(
        p for p in base.rglob("*")
        if p.is_file() and p.suffix in suffixes and p.stat().st_size <= MAX_SEED
        and "target" not in p.parts
    )


def text(p):
    return p.read_text(encoding="utf-8", errors="replace")


class Seeds:
    def __init__(self, target):
        self.dir = OUT / target
        self.dir.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(self, *parts):
        data = b"\0".join(p.encode() if isinstance(p, str) else p for p in parts)
        if len(data) > MAX_SEED or self.count >= MAX_PER_TARGET:
            return
        name = hashlib.sha1(data).hexdigest()
        path = self.dir / name
        if not path.exists():
            path.write_bytes(data)
            self.count += 1


def walk_json(v, visit):
    visit(v)
    if isinstance(v, dict):
        for x in v.values():
            walk_json(x, visit)
    elif isinstance(v, list):
        for x in v:
            walk_json(x, visit)


def yaml_sources():
    return (files(SHARED, {".yaml", ".yml", ".json"})
            + files(ROOT / "examples", {".yaml", ".yml", ".json"})
            + [p for p in files(ROOT / "crates", {".yaml", ".yml"}) if "/tests/" in str(p)])


def rust_strings(p):
    """String literals of a Rust test file (plain and raw), unescaped roughly."""
    src = text(p)
    out = [m.group(2) for m in re.finditer(r'r(#+)"(.*?)"\1', src, re.S)]
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', src):
        try:
            out.append(bytes(m.group(1), "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8"))
        except (UnicodeDecodeError, UnicodeEncodeError):
            out.append(m.group(1))
    return out


def yaml_loader():
    s = Seeds("yaml_loader")
    for p in yaml_sources():
        s.add(text(p))
    return s.count


def fieldpath():
    s = Seeds("fieldpath")
    paths, objects = set(), []
    cases = json.loads(text(CONFORMANCE / "crossplane.json")) if (CONFORMANCE / "crossplane.json").exists() else []
    for case in cases:
        inp = case.get("input", {})
        if isinstance(inp, dict) and isinstance(inp.get("path"), str):
            obj = inp.get("object", {})
            s.add(inp["path"], json.dumps(obj), json.dumps(inp.get("value", "x")))
    for p in files(SHARED / "crossplane", {".yaml", ".json"}) + files(ROOT / "crates" / "composition", {".yaml", ".json"}):
        t = text(p)
        for m in re.finditer(r'(?:[fF]ieldPath|toFieldPath|fromFieldPath)"?\s*:\s*"?([^"\n]+)"?', t):
            paths.add(m.group(1).strip())
        if p.suffix == ".json" and len(objects) < 20:
            try:
                objects.append(json.loads(t))
            except ValueError:
                pass
    objects = objects or [{}]
    for i, path in enumerate(sorted(paths)):
        s.add(path, json.dumps(objects[i % len(objects)]), '"x"')
    return s.count


def gotemplate():
    s = Seeds("gotemplate")
    data = json.dumps({"name": "web", "path": {"basename": "app", "segments": ["a", "b"]}, "values": {"k": "v"}})
    for hostile in HOSTILE_TEMPLATES:
        s.add(hostile, data, "")
    for p in files(SHARED / "applicationsets", {".yaml", ".yml", ".json"}):
        s.add(text(p), data, "")
    for p in files(ROOT / "crates" / "sources" / "tests" / "helm_charts", {".yaml", ".tpl", ".txt"}):
        if "templates" in p.parts:
            s.add(text(p), data, "")
    for p in files(ROOT / "crates" / "gotemplate" / "tests", {".rs"}) + files(ROOT / "crates" / "cli" / "tests", {".rs"}):
        for lit in rust_strings(p):
            if "{{" in lit:
                s.add(lit, data, "")
    return s.count


def jq():
    s = Seeds("jq")
    exprs = set()

    def visit(v):
        if isinstance(v, dict) and isinstance(v.get("jqPathExpressions"), list):
            exprs.update(x for x in v["jqPathExpressions"] if isinstance(x, str))
    for p in files(CONFORMANCE, {".json"}):
        walk_json(json.loads(text(p)), visit)
    for p in files(ROOT / "crates" / "drift", {".rs"}) + files(ROOT / "crates" / "cli" / "tests", {".rs"}):
        for lit in rust_strings(p):
            if lit.startswith(".") and len(lit) < 200:
                exprs.add(lit)
    exprs.update(HOSTILE_JQ)
    manifests = [text(p) for p in files(SHARED / "argocd-health", {".yaml"}) if "testdata" in p.parts][:200]
    manifests = manifests or ["{}"]
    for i, e in enumerate(sorted(exprs)):
        for m in manifests[i % len(manifests)::max(1, len(manifests) // 3)][:3]:
            s.add(e, m)
    return s.count


def kustomize_patch():
    s = Seeds("kustomize_patch")
    dirs = [SHARED / "kustomize", ROOT / "crates" / "sources" / "tests" / "kustomize_features"]
    for base in dirs:
        for k in files(base, {".yaml", ".yml"}):
            if k.name not in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
                continue
            siblings = [p for p in files(k.parent, {".yaml", ".yml", ".json"}) if p.parent == k.parent and p != k]
            kt = text(k)
            patches = [p for p in siblings if p.name in kt and "patch" in kt]
            resources = [p for p in siblings if p not in patches] or siblings
            for patch in patches:
                for res in resources[:3]:
                    s.add(text(res), text(patch))
    return s.count


def helm():
    s = Seeds("helm")
    for chart in sorted((ROOT / "crates" / "sources" / "tests" / "helm_charts").glob("*/")):
        if not (chart / "Chart.yaml").exists():
            continue
        values = text(chart / "values.yaml") if (chart / "values.yaml").exists() else ""
        helpers = text(chart / "templates" / "_helpers.tpl") if (chart / "templates" / "_helpers.tpl").exists() else ""
        for t in files(chart / "templates", {".yaml", ".tpl", ".txt"}):
            if t.name != "_helpers.tpl":
                s.add(text(t), values, helpers, text(chart / "Chart.yaml"))
    for hostile in HOSTILE_TEMPLATES:
        s.add(hostile, "", "", "")
    return s.count


TARGETS = {f.__name__: f for f in (yaml_loader, fieldpath, gotemplate, jq, kustomize_patch, helm)}

if __name__ == "__main__":
    wanted = sys.argv[1:] or list(TARGETS)
    for name in wanted:
        print(f"{name}: {TARGETS[name]()} seeds in {OUT / name}")
