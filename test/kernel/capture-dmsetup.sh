#!/usr/bin/env bash
# Regenerate test/vectors/dmsetup/dmsetup-golden.json (or, with UCRYPT_JOB_CRYPT=0,
# dmsetup-core-golden.json) and its PROVENANCE-*.md by
# running jobs/capture-dmsetup.sh in the QEMU-booted Debian kernel.
#
# usage: test/kernel/capture-dmsetup.sh [output-dir]
#   UCRYPT_JOB_CRYPT=0 leaves out the crypt cases and writes dmsetup-core-golden.json
#   output-dir defaults to <repo>/test/vectors/dmsetup
# Needs: setup.sh prerequisites (run automatically) and node (to write JSON).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${UCRYPT_KERNEL_CACHE:-$REPO/.cache/kernel}"
OUTDIR="${1:-$REPO/test/vectors/dmsetup}"
mkdir -p "$OUTDIR"
if [ "${UCRYPT_JOB_CRYPT:-1}" = 0 ]; then GOLDEN=dmsetup-core-golden.json; else GOLDEN=dmsetup-golden.json; fi
export UCRYPT_JOB_CRYPT="${UCRYPT_JOB_CRYPT:-1}"
OUTDIR="$(cd "$OUTDIR" && pwd)"

"$HERE/setup.sh" >/dev/null
# shellcheck disable=SC1091
. "$CACHE/current.env"

SHARED="$(mktemp -d "${TMPDIR:-/tmp}/ucrypt-capture.XXXXXX")"
trap 'rm -rf "$SHARED"' EXIT

start=$(date +%s)
if ! UCRYPT_KERNEL_SETUP=0 "$HERE/run.sh" "$HERE/jobs/capture-dmsetup.sh" "$SHARED" > "$SHARED/.run-stdout"; then
  cat "$SHARED/.run-stdout" >&2
  echo "capture-dmsetup: guest job failed" >&2
  exit 1
fi
echo "capture-dmsetup: guest run took $(( $(date +%s) - start ))s" >&2

node - "$SHARED/cases" "$OUTDIR/$GOLDEN" <<'EOF'
const fs = require('fs');
const path = require('path');
const [casesDir, outFile] = process.argv.slice(2);
const rd = (d, f) => { const p = path.join(d, f); return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined; };
const lines = (s) => (s || '').split('\n').filter((l) => l.length > 0);
const records = [];
for (const name of fs.readdirSync(casesDir).sort()) {
  const d = path.join(casesDir, name);
  const argv = fs.readFileSync(path.join(d, 'argv'), 'utf8').split('\0');
  argv.pop(); // trailing NUL
  const rec = { note: rd(d, 'note'), cmd: rd(d, 'cmd'), argv };
  const stdin = rd(d, 'stdin');
  if (stdin !== undefined) rec.stdin = stdin;
  rec.stdout = rd(d, 'stdout');
  rec.stderr = rd(d, 'stderr');
  rec.exit = Number(rd(d, 'exit').trim());
  rec.dmesg = lines(rd(d, 'dmesg'));
  const other = lines(rd(d, 'dmesg-all')).filter((l) => !l.startsWith('device-mapper:'));
  if (other.length) rec.dmesgOther = other;
  records.push(rec);
}
fs.writeFileSync(outFile, JSON.stringify(records, null, 2) + '\n');
JSON.parse(fs.readFileSync(outFile, 'utf8'));
console.error(`capture-dmsetup: wrote ${records.length} records to ${outFile}`);
EOF

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
cat > "$OUTDIR/PROVENANCE-${GOLDEN%.json}.md" <<EOF
# dmsetup golden outputs: provenance

\`$GOLDEN\` was captured by running the real \`dmsetup\` against the real
Linux device-mapper, inside Debian's stock kernel booted under QEMU (TCG), by
\`test/kernel/capture-dmsetup.sh\` (guest job: \`test/kernel/jobs/capture-dmsetup.sh\`).

| what | value |
| --- | --- |
| captured (UTC) | $(date -u +%Y-%m-%dT%H:%M:%SZ) |
| kernel | \`$(uname_r="$KVER"; echo "$uname_r")\` from Debian package \`$KPKG\` version \`$KPKG_VERSION\` |
| dmsetup | Debian \`dmsetup\` \`$(pkgver dmsetup)\`, \`libdevmapper1.02.1\` \`$(pkgver libdevmapper1.02.1)\` |
| cryptsetup (in guest, unused here) | \`cryptsetup-bin\` \`$(pkgver cryptsetup-bin)\` |
| qemu | \`qemu-system-x86\` \`$(pkgver qemu-system-x86)\` |
| block devices | \`brd\` with \`rd_nr=2 rd_size=8192\`: \`/dev/ram0\`, \`/dev/ram1\` = 16384 sectors each (major 1, minors 0 and 1) |
| environment | no udev (see notes below), devtmpfs on /dev, busybox init, \`sh -c CMD\` with stdin from \`stdin\` or /dev/null |

## Format

A JSON array, one record per command, in the order they were run (each depends on
the state left by the previous ones):

- \`note\`: what the case is about
- \`cmd\`: the shell command line as run (\`sh -c\`); \`argv\`: its words after shell parsing
- \`stdin\` (only when the command was fed a table on stdin): exact bytes given
- \`stdout\`, \`stderr\`: exact output; \`exit\`: exit status
- \`dmesg\`: kernel log lines emitted during the command that start with \`device-mapper:\`
  (printk timestamps disabled)
- \`dmesgOther\` (only when non-empty): the other kernel log lines emitted during the command

Device numbers: the dm major is 254 in this kernel; minors are allocated lowest-free
(a failed create briefly takes a minor and frees it again).

## Capture environment notes

- There is no udev in the guest, and Debian's libdevmapper trusts udev to create
  \`/dev/mapper/NAME\` ("Skipping NODE_ADD ... [trust_udev]"), so the job runs an
  unrecorded \`dmsetup mknodes\` after every successful \`dmsetup create\` (without
  it, \`/dev/mapper/lin\` does not exist and a table naming it fails with
  \`Device lookup failed (-ENODEV)\`). The recorded commands themselves are unchanged.
- The kernel loads target modules on demand (\`dm-zero\` is a module in this
  kernel), so \`zero\` appears in \`dmsetup targets\` only after a table used it.
- In this kernel dm-crypt's own warnings are logged with a stray \`trusted_key: \`
  prefix (e.g. \`trusted_key: device-mapper: crypt: not suspended during key
  manipulation.\`), so they land in \`dmesgOther\`, not \`dmesg\`.

## Regenerate

\`\`\`sh
test/kernel/capture-dmsetup.sh                     # dmsetup-golden.json (with crypt cases)
UCRYPT_JOB_CRYPT=0 test/kernel/capture-dmsetup.sh  # dmsetup-core-golden.json (no crypt)
\`\`\`

(It runs \`test/kernel/setup.sh\` first; see \`test/kernel/README.md\`.)
EOF
echo "capture-dmsetup: wrote $OUTDIR/PROVENANCE-${GOLDEN%.json}.md" >&2
