# Shared by the lab's end-to-end tests (sourced). Needs: bin (the registry-setup binary),
# name (the lab's), work (a temp dir, removed at exit), inventory (what apply runs on).
fail=0
# check DESCRIPTION COMMAND: runs COMMAND (eval) and says ok or FAIL; a FAIL fails the test.
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
lab() { "$bin" lab "$1" --name "$name" "${@:2}"; }
on() { lab exec "$1" -- "${@:2}"; }
apply() { lab run -- "$bin" apply "$inventory" "$@"; }
cleanup() { "$bin" lab down --name "$name" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
