#!/usr/bin/env bash
# Regenerate test/vectors/faults/kernel-faults.json and PROVENANCE.md by running
# jobs/capture-faults.sh (dm-flakey and dm-delay tables, valid and invalid, and flakey I/O while
# down) in the QEMU-booted Debian kernel.
#
# usage: test/kernel/capture-faults.sh [output-dir]   (default <repo>/test/vectors/faults)
#        UCRYPT_KERNEL=6.12 test/kernel/capture-faults.sh   writes kernel-faults-6.12.json and
#                                                           PROVENANCE-6.12.md instead
# Needs: setup.sh prerequisites (run automatically) and node (to write JSON).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${UCRYPT_KERNEL_CACHE:-$REPO/.cache/kernel}"
OUTDIR="${1:-$REPO/test/vectors/faults}"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
SUFFIX=""
[ -z "${UCRYPT_KERNEL:-}" ] || SUFFIX="-$UCRYPT_KERNEL"
JSON="kernel-faults$SUFFIX.json"
PROV="PROVENANCE$SUFFIX.md"

"$HERE/setup.sh" >/dev/null
# shellcheck disable=SC1091
. "$CACHE/current.env"

SHARED="$(mktemp -d "${TMPDIR:-/tmp}/ucrypt-capture-faults.XXXXXX")"
trap 'rm -rf "$SHARED"' EXIT

# The disk's contents before each I/O case and the data written (4 KiB each, fixed patterns).
node -e 'const fs = require("fs"); const d = process.argv[1];
  fs.writeFileSync(d + "/old.bin", Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31 + 7) & 255)));
  fs.writeFileSync(d + "/new.bin", Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 17 + 101) & 255)));' "$SHARED"

start=$(date +%s)
if ! UCRYPT_KERNEL_SETUP=0 "$HERE/run.sh" "$HERE/jobs/capture-faults.sh" "$SHARED" > "$SHARED/.run-stdout"; then
  cat "$SHARED/.run-stdout" >&2
  echo "capture-faults: guest job failed" >&2
  exit 1
fi
echo "capture-faults: guest run took $(( $(date +%s) - start ))s" >&2

node - "$SHARED" "$OUTDIR/$JSON" <<'JS'
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
// cmp -l: 1-based byte number, then both values in octal.
const diff = (s) => lines(s).map((l) => { const [pos, a, b] = l.trim().split(/\s+/); return [Number(pos), parseInt(a, 8), parseInt(b, 8)]; });
const io = [];
const ioDir = path.join(shared, 'io');
for (const name of fs.existsSync(ioDir) ? fs.readdirSync(ioDir).sort() : []) {
  const d = path.join(ioDir, name);
  const rec = { id: rd(d, 'id'), op: rd(d, 'op'), table: rd(d, 'table'), createExit: Number(rd(d, 'create-exit').trim()) };
  const e = rd(d, 'io-exit');
  if (e !== undefined) rec.ioExit = Number(e.trim());
  const od = rd(d, 'on-disk');
  if (od !== undefined) rec.onDisk = od.trim();
  const df = rd(d, 'diff');
  // A write's diff only when the disk holds neither the old nor the new data.
  if (df !== undefined && (rec.op === 'read' || rec.onDisk === 'other')) rec.diff = diff(df);
  io.push(rec);
}
const out = { kernelRelease: fs.readFileSync(path.join(shared, 'uname'), 'utf8').trim(), targets: fs.readFileSync(path.join(shared, 'targets'), 'utf8'), cases, io };
fs.writeFileSync(outFile, JSON.stringify(out, null, 2) + '\n');
console.error(`capture-faults: wrote ${cases.length} cases and ${io.length} I/O cases to ${outFile}`);
JS

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
cat > "$OUTDIR/$PROV" <<EOF2
# dm-flakey / dm-delay kernel vectors: provenance

\`$JSON\` was captured by running the real \`dmsetup\` against the real
dm-flakey and dm-delay modules, inside Debian's stock kernel booted under QEMU (TCG), by
\`test/kernel/capture-faults.sh\` (guest job: \`test/kernel/jobs/capture-faults.sh\`).

| what | value |
| --- | --- |
| captured (UTC) | $(date -u +%Y-%m-%dT%H:%M:%SZ) |
| kernel | \`$KVER\` from Debian package \`$KPKG\` version \`$KPKG_VERSION\` |
| dmsetup | Debian \`dmsetup\` \`$(pkgver dmsetup)\` |
| qemu | \`qemu-system-x86\` \`$(pkgver qemu-system-x86)\` |
| block devices | \`brd\` with \`rd_nr=2 rd_size=8192\`: \`/dev/ram0\`, \`/dev/ram1\` = 16384 sectors each (1:0, 1:1) |
| command | \`$( [ -z "$SUFFIX" ] || echo "UCRYPT_KERNEL=$UCRYPT_KERNEL " )test/kernel/capture-faults.sh\` |

## Format

\`{ kernelRelease, targets, cases: [...] }\`; \`targets\` is \`dmsetup targets\` after loading
dm-flakey and dm-delay. Each case: \`id\`, \`table\` (given to \`dmsetup create f --table\`),
\`exit\`, \`stderr\` of the create, \`dmesg\` (its kernel lines starting with \`device-mapper:\`,
timestamps off), and when the table was accepted \`tableOut\` (\`dmsetup table f\`) and
\`statusOut\` (\`dmsetup status f\`).

\`io\`: flakey I/O while down (up 0, down 1) or up (up 1, down 0). Each: \`id\`, \`op\` (\`read\` or
\`write\`: one 4 KiB O_DIRECT \`dd\` at sector 0 of \`/dev/mapper/f\`), \`table\`, \`createExit\`,
\`ioExit\` (dd's exit status: 1 = the I/O failed), and \`diff\` (\`cmp -l\` as
\`[byte number from 1, expected, got]\`): for a read, the data read against what the disk held
(\`old.bin\`: byte i = (31 i + 7) mod 256); for a write, \`onDisk\` = \`new\`, \`old\` or \`other\`
(the disk afterwards against \`new.bin\`: byte i = (17 i + 101) mod 256, and \`old.bin\`), and
only for \`other\` the disk against \`new.bin\`.

## How the tests use it

\`test/faults/kernel-vectors.test.ts\` replays every case through ucrypt's registry and compares
the accept/reject decision, the kernel's error line and the table/status output, and replays
every I/O case on a ucrypt RAM disk (same patterns) and compares failure, bytes changed and
what reached the disk. ucrypt implements the newest dm-flakey/dm-delay (Linux 6.18+/7.x,
both 1.5.0); where this kernel differs (listed in that test with the reason) the test checks
ucrypt against the newest kernel source instead.

## Regenerate

\`\`\`sh
$( [ -z "$SUFFIX" ] || echo "UCRYPT_KERNEL=$UCRYPT_KERNEL " )test/kernel/capture-faults.sh
\`\`\`
EOF2
echo "capture-faults: wrote $OUTDIR/$PROV" >&2
