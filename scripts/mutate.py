#!/usr/bin/env python3
"""Mutation testing: does the suite catch plausible bugs?

Each mutant in scripts/mutants.txt (a file, a literal text found exactly once
in it, its replacement, and the tests that should notice) is applied alone to
a scratch copy of the working tree (build/mutate/src), the named targets are
rebuilt there (build/mutate/src/build/dev), and the named tests run. A mutant is
killed when a test fails or times out, survives when they all pass, and is
invalid when it does not compile. The score is killed / (killed + survived).

The unmutated copy is built and its tests run first: a test that fails
without a mutant would kill every mutant, so the run stops there.

Slow on two cores (a rebuild and a test run per mutant): not part of CI.
Run it by hand before and after a change that moves code:

    scripts/mutate.sh                    # every mutant
    scripts/mutate.sh --only 'engine'    # those whose name matches
    scripts/mutate.sh --list             # the mutants, checked, nothing built
"""
import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("file", "find", "replace", "tests", "targets")


class Mutant:
    def __init__(self, name, line):
        self.name = name
        self.line = line  # where it starts in the list, for errors
        self.file = self.find = self.tests = None
        self.replace = ""
        self.targets = []


def parse(path):
    """The mutants of `path`; errors name path:line."""
    mutants, errors = [], []
    current = None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("== "):
                current = Mutant(line[3:].strip(), n)
                mutants.append(current)
                continue
            key, sep, value = line.partition(": ")
            if not sep and line.endswith(":"):
                key, value = line[:-1], ""
            elif not sep:
                errors.append(f"{path}:{n}: expected 'key: value' or '== name', got {line!r}")
                continue
            if current is None:
                errors.append(f"{path}:{n}: '{key}' before the first '== name'")
            elif key not in KEYS:
                errors.append(f"{path}:{n}: unknown key {key!r} (one of {', '.join(KEYS)})")
            elif key == "targets":
                current.targets = value.split()
            else:
                setattr(current, key, value)
    for m in mutants:
        for key in ("file", "find", "tests"):
            if not getattr(m, key):
                errors.append(f"{path}:{m.line}: mutant {m.name!r} has no {key}")
        if m.file and m.find:
            source = os.path.join(ROOT, m.file)
            if not os.path.isfile(source):
                errors.append(f"{path}:{m.line}: {m.file}: no such file")
                continue
            count = open(source, encoding="utf-8").read().count(m.find)
            if count != 1:
                errors.append(f"{path}:{m.line}: {m.file} holds the find text {count} times, "
                              f"not once: {m.find!r}")
    return mutants, errors


def tree_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                         check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p and os.path.isfile(os.path.join(ROOT, p))]


def sync(dst):
    """Copies the working tree to `dst`, touching only what differs, so that
    the scratch build stays incremental."""
    copied = 0
    for rel in tree_files():
        src, out = os.path.join(ROOT, rel), os.path.join(dst, rel)
        if os.path.exists(out) and filecmp.cmp(src, out, shallow=False):
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copy2(src, out)
        copied += 1
    # The npm packages of tests/schema and tests/browser are ignored by git;
    # the schema and browser tests need them.
    for folder in ("tests/schema", "tests/browser"):
        modules = os.path.join(ROOT, folder, "node_modules")
        link = os.path.join(dst, folder, "node_modules")
        if os.path.isdir(modules) and not os.path.exists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(modules, link)
    return copied


def run(cmd, log, timeout=None):
    with open(log, "w") as f:
        try:
            return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return 124


def failed_tests(log):
    text = open(log, errors="replace").read()
    part = text.split("The following tests FAILED:", 1)
    if len(part) < 2:
        return []
    return re.findall(r"^\s*\d+ - (\S+)", part[1], re.M)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mutants", default=os.path.join(ROOT, "scripts/mutants.txt"),
                    help="the list of mutants (default: scripts/mutants.txt)")
    ap.add_argument("--only", help="run only the mutants whose name matches this regex")
    ap.add_argument("--list", action="store_true", help="check and print the mutants, build nothing")
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build/mutate"),
                    help="scratch copy, its build and the logs (default: build/mutate)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--test-timeout", type=int, default=120, help="seconds per test")
    args = ap.parse_args()

    mutants, errors = parse(args.mutants)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 2
    if args.only:
        mutants = [m for m in mutants if re.search(args.only, m.name)]
    if args.list:
        for m in mutants:
            print(f"{m.name}\n    {m.file}: {m.find!r} -> {m.replace!r}\n    tests: {m.tests}")
        print(f"{len(mutants)} mutants")
        return 0
    if not mutants:
        print("no mutant matches", file=sys.stderr)
        return 2

    # The copy is built with the dev preset, as the tree itself is, and ccache
    # sees paths relative to each checkout: most objects come from the cache.
    src = os.path.join(args.workdir, "src")
    build = os.path.join(src, "build/dev")
    logs = os.path.join(args.workdir, "logs")
    os.makedirs(logs, exist_ok=True)
    os.environ.update(CCACHE_BASEDIR=src, CCACHE_NOHASHDIR="true")
    print(f"== scratch copy: {sync(src)} files updated in {src}", flush=True)
    if not os.path.exists(os.path.join(build, "build.ninja")):
        rc = subprocess.run(["cmake", "--preset", "dev"], cwd=src, stdout=subprocess.DEVNULL).returncode
        if rc:
            print("configure failed", file=sys.stderr)
            return 1

    def build_for(ms, log):
        targets = sorted({t for m in ms for t in m.targets})
        cmd = ["cmake", "--build", build, "-j", str(args.jobs)]
        return run(cmd + (["--target"] + targets if targets else []), log)

    def list_tests():
        out = subprocess.run(["ctest", "--test-dir", build, "-N"], capture_output=True,
                             text=True).stdout
        return {name: int(n) for n, name in re.findall(r"Test\s+#(\d+): (\S+)", out)}

    def test(numbers, log):
        # By number: CTest's own regex engine refuses long alternations.
        return run(["ctest", "--test-dir", build, "-I", "0,0,0," + ",".join(map(str, numbers)),
                    "-j", str(args.jobs), "--timeout", str(args.test_timeout),
                    "--stop-on-failure", "--output-on-failure"], log)

    start = time.monotonic()
    log = os.path.join(logs, "baseline.log")
    if build_for(mutants, log):
        print(f"the unmutated copy does not build: see {log}", file=sys.stderr)
        return 1
    tests = list_tests()
    selected = {}
    for m in mutants:
        selected[m.name] = sorted(n for name, n in tests.items() if re.search(m.tests, name))
        if not selected[m.name]:
            print(f"{args.mutants}:{m.line}: no test matches {m.tests!r}", file=sys.stderr)
            return 2
    union = sorted({n for numbers in selected.values() for n in numbers})
    if test(union, log):
        print(f"the unmutated copy fails its tests ({', '.join(failed_tests(log))}); see {log}",
              file=sys.stderr)
        return 1
    print(f"== baseline: {len(union)} tests green in {time.monotonic() - start:.0f}s; "
          f"{len(mutants)} mutants", flush=True)

    results = {"killed": [], "survived": [], "invalid": []}
    for i, m in enumerate(mutants, 1):
        path = os.path.join(src, m.file)
        original = open(path, encoding="utf-8").read()
        log = os.path.join(logs, f"{i:03d}.log")
        t0 = time.monotonic()
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original.replace(m.find, m.replace, 1))
            if build_for([m], log):
                verdict, detail = "invalid", "does not compile"
            elif test(selected[m.name], log) == 0:
                verdict, detail = "survived", ""
            else:
                verdict = "killed"
                detail = "by " + (", ".join(failed_tests(log)[:2]) or "a timeout")
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)
        results[verdict].append(m)
        print(f"[{i}/{len(mutants)}] {verdict.upper():8} {m.name} ({time.monotonic() - t0:.0f}s)"
              f"{': ' + detail if detail else ''}", flush=True)

    killed, survived = len(results["killed"]), len(results["survived"])
    print(f"\n== {len(mutants)} mutants in {time.monotonic() - start:.0f}s: {killed} killed, "
          f"{survived} survived, {len(results['invalid'])} invalid")
    for m in results["survived"]:
        print(f"   survived: {m.name} ({m.file})")
    for m in results["invalid"]:
        print(f"   invalid: {m.name} ({m.file})")
    if killed + survived:
        print(f"mutation score: {killed}/{killed + survived} killed "
              f"({100.0 * killed / (killed + survived):.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
