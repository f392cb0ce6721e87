#!/usr/bin/env bash
# One-time (and idempotent) set-up behind `make test` and `make demo`:
#   1. Debian packages for missing commands: mariadb-server (tests and the
#      demo start private servers from its binaries; nothing uses a running
#      one), mariadb-client, shellcheck, rsync, git;
#   2. a Python virtualenv in .venv with the pinned requirements.txt,
#      reinstalled only when requirements.txt changes;
#   3. the checkout made visible to Ansible as dbferry.mysql through a link
#      tree in .build/collections (ANSIBLE_COLLECTIONS_PATH points there).
# With --bench, also what `make bench` compares dbferry with:
# pt-online-schema-change (Debian's percona-toolkit) for the alter part, and
# mydumper/myloader (Debian's mydumper) for the userlevel part; without them
# the bench marks those lines skipped. `make bench` runs it so; `make test` never does.
# With --test (`make test`, `make integration`), also Debian's chromium: a test
# opens the `dbferry report` page in a headless browser and reads its charts
# back; without it that test is skipped and says why. The demo never needs it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

log() { printf 'setup: %s\n' "$*"; }

# command -> Debian package that provides it. mariadbd lives in /usr/sbin,
# which is not always on PATH.
declare -A wanted=(
  [mariadbd]=mariadb-server          # sandbox servers for tests and the demo
  [mariadb-install-db]=mariadb-server
  [mariadb-dump]=mariadb-client      # the dump|load baseline of the benchmarks
  [shellcheck]=shellcheck            # ansible-test sanity skips its shell test without it
  [rsync]=rsync                      # scripts/sanity.sh copies the collection with it
  [git]=git
)
if [ "${1:-}" = "--bench" ]; then
  wanted[pt-online-schema-change]=percona-toolkit
  wanted[mydumper]=mydumper
  wanted[myloader]=mydumper
elif [ "${1:-}" = "--test" ]; then
  wanted[chromium]=chromium
elif [ "$#" -gt 0 ]; then
  echo "usage: $0 [--bench | --test]" >&2
  exit 2
fi
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${wanted[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  packages="$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
  log "installing Debian packages: $packages"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: $python is $("$python" -V 2>&1); ansible-core 2.19 needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $("$python" -V 2>&1)"
  "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing pinned packages from requirements.txt"
  # The machine-wide pip config may list local mirrors that do not exist; its
  # warnings about them are noise here, real errors still stop the set-up.
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$want" > "$stamp"
fi

link=.build/collections/ansible_collections/dbferry/mysql
mkdir -p "$(dirname "$link")"
[ -L "$link" ] || ln -sfn ../../../.. "$link"
ln -sfn ../../bin/dbferry .venv/bin/dbferry
log "ready (.venv, $link)"
