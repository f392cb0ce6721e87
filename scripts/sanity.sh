#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection.
# - ansible-test must run inside .../ansible_collections/<namespace>/<name>
#   and resolves symlinks, so the link tree that Ansible uses does not do:
#   copy the files git knows (tracked, and new ones not ignored).
# - The copy sits inside this repository's ignored .build, where ansible-test
#   would ask the outer repository for its file list and find nothing, so
#   the copy gets a git index of its own.
# - ansible-test runs from a virtualenv of its own, .build/sanity-venv, and
#   installs each test's pinned tools (--requirements) in virtualenvs it
#   creates without pip and bootstraps with a script it downloads from a host
#   outside the package registries. That script is replaced by
#   scripts/ansible-test-get-pip.py, in a HOME of its own (.build/sanity-home)
#   so the user's ~/.ansible is left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$root/.build/sanity-venv"
core="$(grep -E '^ansible-core==' requirements.txt)"
if [ "$("$venv/bin/python" -m pip freeze 2>/dev/null | grep -E '^ansible-core==')" != "$core" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$core" 2> >(grep -v "is ignored: it is neither" >&2)
fi
# A folder per run, so that two runs at once (two checkouts' worth of work in one tree) do not delete each other's copy.
run_dir="$root/.build/sanity/run-$$"
trap 'rm -rf "$run_dir"' EXIT
dest="$run_dir/ansible_collections/dbferry/mysql"
rm -rf "$root/.build/sanity/ansible_collections"  # the single copy of earlier versions of this script
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | rsync -a --ignore-missing-args --from0 --files-from=- ./ "$dest/"  # a tracked file deleted in the work tree is left out
cd "$dest"
git init -q . && git add -A
export HOME="$root/.build/sanity-home"
# The pip version ansible-test bootstraps, from its own table (get_venv_packages).
pip_version="$(grep -A2 'default_packages = dict(' "$venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | grep -o "pip='[0-9.]*'" | grep -o "[0-9][0-9.]*")"
mkdir -p "$HOME/.ansible/test/cache"
cp "$root/scripts/ansible-test-get-pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
export PATH="$venv/bin:$PATH"
"$venv/bin/ansible-test" sanity --requirements --python 3.11 --color no "$@" 2> >(grep -v "is ignored: it is neither" >&2)
