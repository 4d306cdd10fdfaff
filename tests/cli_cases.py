"""Runs many invocations of one command line program in one interpreter (its imports
paid once): `python -m tests.cli_cases MODULE` reads a JSON list of {"argv": [...],
"output": path or null} on stdin and prints, per invocation, its exit code, what it wrote
to stderr (or the traceback of an exception that escaped it) and whether it left
`output` behind (which is then removed, so that every case starts without it). The
bad-input suite (tests/test_bad_input.py) uses it; each program runs as `app.run(main)`
would: flags parsed, then main."""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import runpy
import shutil
import sys
import traceback


def load(module: str):
    """The program's module: a dotted name, or a script path (data_prep/*.py)."""
    if module.endswith(".py"):
        return type("Script", (), runpy.run_path(module, run_name="cli_case"))
    return importlib.import_module(module)


def run_one(program, flags, argv: list[str]) -> dict:
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            flags.unparse_flags()
            flags(["program"] + argv)
            program.main([])
        except SystemExit as e:  # what the interpreter would print and return
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
                code = 1
            else:
                code = e.code or 0
        except Exception as e:  # noqa: BLE001 - the point: anything that escapes
            from absl.flags import Error as FlagsError

            if isinstance(e, FlagsError):  # absl's app.run: one line, exit 1
                print(f"FATAL Flags parsing error: {e}", file=sys.stderr)
                code = 1
            else:
                traceback.print_exc(file=err)
                code = "traceback"
    return {"code": code, "stderr": err.getvalue()}


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    module = sys.argv[1]
    cases = json.load(sys.stdin)
    program = load(module)
    from absl import flags

    results = []
    for case in cases:
        result = run_one(program, flags.FLAGS, case["argv"])
        output = case.get("output")
        result["left_output"] = bool(output and os.path.exists(output))  # empty dirs too
        if output and os.path.exists(output):
            shutil.rmtree(output) if os.path.isdir(output) else os.remove(output)
        results.append(result)
    sys.stdout.write("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
