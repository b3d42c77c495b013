#!/usr/bin/env python3
"""Fails when two modules of a crate import each other, directly or around a
circle (ARCHITECTURE.md: "no two modules import each other").

Edges are `use crate::…`, `use super::…` and inline `crate::a::b` paths,
resolved to the module file they name. The crate root (lib.rs / main.rs) is
the crate's facade and is left out: everything may import what it
re-exports, and it re-exports everything. Standard library only.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CRATES = ["formats", "index", "ingest", "query", "server", "quarry", "benches", "testsite"]


def modules(src):
    """module path (tuple) -> file, for every .rs file under src."""
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]) or rel[0] == "bin":
                continue
            out[tuple(rel)] = os.path.join(dirpath, f)
    return out


def strip_tests(text):
    i = text.find("#[cfg(test)]")
    return text if i < 0 else text[:i]


def edges(mods):
    found = {m: set() for m in mods}
    for mod, path in mods.items():
        text = strip_tests(open(path, encoding="utf-8").read())
        text = re.sub(r"//[^\n]*", "", text)
        is_dir_mod = path.endswith("mod.rs")
        for m in re.finditer(r"\b(crate|super)((?:::\w+)+)", text):
            head, rest = m.group(1), [p for p in m.group(2).split("::") if p]
            if head == "crate":
                base = []
            else:
                base = list(mod) if is_dir_mod else list(mod[:-1])
                while rest and rest[0] == "super":
                    base, rest = base[:-1], rest[1:]
            full = base + rest
            # the longest prefix that is a module
            for n in range(len(full), 0, -1):
                target = tuple(full[:n])
                if target in mods:
                    if target != mod and target != mod[: len(target)]:
                        found[mod].add(target)
                    break
        # `use super::{a, b}` / `use crate::{a::X, b}` groups
        for m in re.finditer(r"\b(crate|super)::\{([^}]*)\}", text):
            head = m.group(1)
            base = [] if head == "crate" else (list(mod) if is_dir_mod else list(mod[:-1]))
            for item in m.group(2).split(","):
                first = item.strip().split("::")[0].strip()
                target = tuple(base + [first])
                if first and target in mods and target != mod:
                    found[mod].add(target)
    return found


def cycles(graph):
    out, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                out.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return out


def main():
    bad = 0
    for crate in CRATES:
        src = os.path.join(ROOT, crate, "src")
        graph = edges(modules(src))
        for c in cycles(graph):
            bad += 1
            print(f"{crate}: " + " -> ".join("::".join(m) for m in c))
    if bad:
        print(f"{bad} import circle(s)")
        return 1
    print("no import circles in " + ", ".join(CRATES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
