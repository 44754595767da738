#!/usr/bin/env bash
# `cargo deny check` (advisories, bans, licenses, sources; see deny.toml). The RustSec advisory database is fetched
# when the network allows; where it does not (CI reaches package registries only), the committed snapshot
# deny/advisory-db.tar.xz is laid out where cargo-deny looks for it, dated as the snapshot is, so its age is honest.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deny >/dev/null 2>&1 || { echo "cargo-deny is missing: cargo install cargo-deny --locked" >&2; exit 1; }

# cargo-deny's folder for the default database URL under deny.toml's db-path.
db=target/advisory-db/advisory-db-3157b0e258782691

if timeout 120 cargo deny fetch db >/dev/null 2>&1; then
  echo "advisory database: fetched"
  exec cargo deny check
fi

read -r repo commit date < deny/advisory-db.source
rm -rf "$db"
mkdir -p "$db"
tar -xJf deny/advisory-db.tar.xz -C "$db"
git -C "$db" init -q
git -C "$db" add -A
GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" \
  git -C "$db" -c user.name=nvfix -c user.email=nvfix@invalid -c commit.gpgsign=false commit -q -m "$repo $commit"
# cargo-deny dates a database by its newest of HEAD's commit and the HEAD file: both say the snapshot's date.
touch -d "$date" "$db/.git/HEAD"
age_days=$(( ($(date +%s) - $(date -d "$date" +%s)) / 86400 ))
echo "advisory database: offline, the committed snapshot of $repo at ${commit:0:12} ($date, $age_days days old)"
if [ "$age_days" -gt 90 ]; then
  echo "warning: the advisory snapshot is over 90 days old; refresh it (deny/README.md)" >&2
fi
# --offline reaches neither GitHub nor crates.io, so `cargo metadata` inside cargo-deny needs every crate of the lock
# file already downloaded, those of other targets (Windows, UEFI) too: fetch them from the registry first.
cargo fetch --locked --quiet
exec cargo deny --offline check
