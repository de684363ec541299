#!/usr/bin/env bash
# Regenerate test/vectors/faults/kernel-faults.json and PROVENANCE.md by running
# jobs/capture-faults.sh (dm-flakey and dm-delay tables, valid and invalid) in the
# QEMU-booted Debian kernel.
#
# usage: test/kernel/capture-faults.sh [output-dir]   (default <repo>/test/vectors/faults)
# Needs: setup.sh prerequisites (run automatically) and node (to write JSON).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${UCRYPT_KERNEL_CACHE:-$REPO/.cache/kernel}"
OUTDIR="${1:-$REPO/test/vectors/faults}"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"

"$HERE/setup.sh" >/dev/null
# shellcheck disable=SC1091
. "$CACHE/current.env"

SHARED="$(mktemp -d "${TMPDIR:-/tmp}/ucrypt-capture-faults.XXXXXX")"
trap 'rm -rf "$SHARED"' EXIT

start=$(date +%s)
if ! UCRYPT_KERNEL_SETUP=0 "$HERE/run.sh" "$HERE/jobs/capture-faults.sh" "$SHARED" > "$SHARED/.run-stdout"; then
  cat "$SHARED/.run-stdout" >&2
  echo "capture-faults: guest job failed" >&2
  exit 1
fi
echo "capture-faults: guest run took $(( $(date +%s) - start ))s" >&2

node - "$SHARED" "$OUTDIR/kernel-faults.json" <<'JS'
const fs = require('fs');
const path = require('path');
const [shared, outFile] = process.argv.slice(2);
const casesDir = path.join(shared, 'cases');
const rd = (d, f) => { const p = path.join(d, f); return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined; };
const lines = (s) => (s || '').split('\n').filter((l) => l.length > 0);
const cases = [];
for (const name of fs.readdirSync(casesDir).sort()) {
  const d = path.join(casesDir, name);
  const rec = { id: rd(d, 'id'), table: rd(d, 'table'), exit: Number(rd(d, 'exit').trim()), stderr: rd(d, 'stderr'), dmesg: lines(rd(d, 'dmesg')) };
  const t = rd(d, 'table-out');
  if (t !== undefined) rec.tableOut = t;
  const s = rd(d, 'status-out');
  if (s !== undefined) rec.statusOut = s;
  cases.push(rec);
}
const out = { kernelRelease: fs.readFileSync(path.join(shared, 'uname'), 'utf8').trim(), targets: fs.readFileSync(path.join(shared, 'targets'), 'utf8'), cases };
fs.writeFileSync(outFile, JSON.stringify(out, null, 2) + '\n');
console.error(`capture-faults: wrote ${cases.length} cases to ${outFile}`);
JS

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
cat > "$OUTDIR/PROVENANCE.md" <<EOF2
# dm-flakey / dm-delay kernel vectors: provenance

\`kernel-faults.json\` was captured by running the real \`dmsetup\` against the real
dm-flakey and dm-delay modules, inside Debian's stock kernel booted under QEMU (TCG), by
\`test/kernel/capture-faults.sh\` (guest job: \`test/kernel/jobs/capture-faults.sh\`).

| what | value |
| --- | --- |
| captured (UTC) | $(date -u +%Y-%m-%dT%H:%M:%SZ) |
| kernel | \`$KVER\` from Debian package \`$KPKG\` version \`$KPKG_VERSION\` |
| dmsetup | Debian \`dmsetup\` \`$(pkgver dmsetup)\` |
| qemu | \`qemu-system-x86\` \`$(pkgver qemu-system-x86)\` |
| block devices | \`brd\` with \`rd_nr=2 rd_size=8192\`: \`/dev/ram0\`, \`/dev/ram1\` = 16384 sectors each (1:0, 1:1) |

## Format

\`{ kernelRelease, targets, cases: [...] }\`; \`targets\` is \`dmsetup targets\` after loading
dm-flakey and dm-delay. Each case: \`id\`, \`table\` (given to \`dmsetup create f --table\`),
\`exit\`, \`stderr\` of the create, \`dmesg\` (its kernel lines starting with \`device-mapper:\`,
timestamps off), and when the table was accepted \`tableOut\` (\`dmsetup table f\`) and
\`statusOut\` (\`dmsetup status f\`).

## How the tests use it

\`test/faults/kernel-vectors.test.ts\` replays every case through ucrypt's registry and compares
the accept/reject decision, the kernel's error line and the table/status output. ucrypt
implements the newest dm-flakey/dm-delay (Linux 6.18+/7.x, both 1.5.0); where this older
kernel differs (listed in that test with the reason) the test checks ucrypt against the
newest kernel source instead.

## Regenerate

\`\`\`sh
test/kernel/capture-faults.sh
\`\`\`
EOF2
echo "capture-faults: wrote $OUTDIR/PROVENANCE.md" >&2
