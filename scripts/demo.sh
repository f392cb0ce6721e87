#!/usr/bin/env bash
# make demo: two private sandbox servers, a sample shop database on the
# source, and the preflight playbook between them, which prints its report.
# Leaves nothing running: the sandboxes are stopped and removed on exit.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
export ANSIBLE_HOME="$root/.build/ansible-home"
export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False

work="$(mktemp -d "${TMPDIR:-/tmp}/dbferry-demo.XXXXXX")"
cleanup() {
  bin/dbferry sandbox down --dir "$work/sandboxes" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "Starting two sandbox servers (source, target) in $work/sandboxes"
bin/dbferry sandbox up --dir "$work/sandboxes" --name source --name target

step "Loading the sample database shop into the source"
PYTHONPATH="$ANSIBLE_COLLECTIONS_PATH" .venv/bin/python scripts/demo_data.py --dir "$work/sandboxes"

# Credentials go to Ansible in a 0600 vars file, never on a command line.
bin/dbferry sandbox vars --dir "$work/sandboxes" --source source --target target --output "$work/connections.json" >/dev/null
cat > "$work/move.json" <<'JSON'
{"dbferry_databases": {"include": ["shop"]}, "dbferry_preflight_allow": ["views"]}
JSON

step "ansible-playbook playbooks/preflight.yml (views accepted: the demo's shop has one)"
.venv/bin/ansible-playbook playbooks/preflight.yml -e "@$work/connections.json" -e "@$work/move.json"

step "Done. The sandboxes are being removed; run \`bin/dbferry sandbox up\` to keep your own."
