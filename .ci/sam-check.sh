#!/usr/bin/env bash
# Check the SAM stack offline: cfn-lint, `sam validate --lint`, `sam build`, and a smoke
# import of the built bundle (the policy validator must load from the bundle alone).
# Usage: .ci/sam-check.sh            (from anywhere; uses the project's .venv)
# Needs no AWS account and no network: fake credentials keep every client local.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export PATH="$root/.venv/bin:$PATH"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export SAM_CLI_TELEMETRY=0 SAM_CLI_CONTACT_TELEMETRY=0
build_dir="$(mktemp -d "${TMPDIR:-/tmp}/gwlbd-sam.XXXXXX")"
trap 'rm -rf "$build_dir"' EXIT

echo "sam-check: cfn-lint"
cfn-lint template.yaml

echo "sam-check: sam validate --lint"
sam validate --lint --template template.yaml

echo "sam-check: sam build"
# --build-in-source: make runs in the project instead of a copy of it (and of .venv)
sam build --template template.yaml --build-dir "$build_dir" --build-in-source \
    --cache-dir "$build_dir/.cache" >"$build_dir/build.log" 2>&1 || {
    cat "$build_dir/build.log" >&2
    exit 1
}

echo "sam-check: smoke-import the bundle"
for fn in LifecycleEventFunction WorkflowStepsFunction WorkflowFailedFunction \
          HealthAlarmFunction ScheduleFunction ParameterChangeFunction; do
    test -f "$build_dir/$fn/lambdas/handlers/__init__.py" || {
        echo "sam-check: $fn was not bundled" >&2
        exit 1
    }
done
# -S: no site hooks, so the editable install of the project cannot shadow the bundle;
# the venv's libraries come last on the path, standing in for the Powertools layer.
site_packages="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
(cd "$build_dir" && PYTHONPATH="$build_dir/ParameterChangeFunction:$site_packages" \
    python -S - "$build_dir" "$root/events" <<'PY'
import pathlib
import sys

import yaml

import lambdas.policy_publish as publish

bundle = pathlib.Path(sys.argv[1]).resolve()
events = pathlib.Path(sys.argv[2])
assert pathlib.Path(yaml.__file__).resolve().is_relative_to(bundle), yaml.__file__
assert pathlib.Path(publish.__file__).resolve().is_relative_to(bundle), publish.__file__
label, problems = publish.validate((events / "policy-valid.yaml").read_text(), "smoke")
assert (label, problems) == ("2026-11-29.1", []), (label, problems)
label, problems = publish.validate((events / "policy-invalid.yaml").read_text(), "smoke")
assert problems, "the invalid sample policy passed"
PY
)
echo "sam-check: ok"
