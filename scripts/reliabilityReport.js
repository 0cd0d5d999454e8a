#!/usr/bin/env node
'use strict';
/**
 * Runs the reliability suite (test/reliability) with mocha's JSON reporter and regenerates
 * docs/RELIABILITY.md: one row per catalogue case (id, what it is, its tests, pass / fail /
 * skipped as a known bug) and the six figures, measured by the tests themselves
 * (they append JSON lines to $AF_RELIABILITY_OUT/measurements.jsonl, see test/reliability/fixtures.ts).
 *
 *   npm run reliability:report            default suite + the 20-kill crash/resume run (~3 min)
 *   npm run reliability:report -- --load  + the 4 GiB download and the 1 GiB lag run (~+1.5 min)
 *   npm run reliability:report -- --fast  default suite only
 *
 * Exits 1 when a test failed (the report is written either way).
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const OUT_DOC = path.join(ROOT, 'docs', 'RELIABILITY.md');

/** The catalogue (RELIABILITY.md): id and what it is. */
const CATALOGUE = [
  ['A', 'Server / protocol faults'],
  ['S01', 'Range ignored on resume (200 + full body), also after a redirect'],
  ['S02', 'Range ignored by one mirror during parallel chunking'],
  ['S03', '206 with a wrong, missing or malformed Content-Range'],
  ['S05', '416 Range Not Satisfiable, with and without `*/size`'],
  ['S06', 'Transient errors 408/429/5xx, Retry-After (seconds, date, garbage, huge)'],
  ['S07', 'Permanent errors 401/403/404/410 on one mirror'],
  ['S08', 'Truncated body (closed before Content-Length)'],
  ['S09', 'Truncated chunked body (no last chunk)'],
  ['S11', 'Redirect loop, too many hops, two Locations, no Location'],
  ['S12', 'Size disagreement between mirrors'],
  ['S14', 'FTP: no REST, bad SIZE, resume beyond the end'],
  ['S15', 'FTP: data connection closes early; 4xx/421/425; EPSV refused'],
  ['B', 'Network faults'],
  ['N01', 'Connection refused / DNS failure on one mirror, or all'],
  ['N02', 'Connect timeout'],
  ['N04', 'Stall mid-body'],
  ['N05', 'Trickle mirror'],
  ['N06', 'RST mid-body'],
  ['N07', 'User cancel (body, backoff, before connect)'],
  ['C', 'Data integrity'],
  ['D01', 'Corrupted chunk, same length'],
  ['D02', 'Mirror serves a different file (same size)'],
  ['D03', 'Verification fails closed (root mismatch, missing/malformed manifest)'],
  ['D04', 'File changed on the origin (new ETag)'],
  ['D07', 'Merkle attacks by a malicious mirror'],
  ['D', 'Local file system'],
  ['F01', 'Path traversal in a server-provided name'],
  ['F04', 'Target already exists'],
  ['F05', 'Symlink planted at the target, temp path or a parent'],
  ['F07', 'Disk full (ENOSPC)'],
  ['F08', 'Permission denied / read-only / missing / deleted target folder'],
  ['E', 'Crash / resume'],
  ['R01', 'kill -9 mid-download, then restart'],
  ['R02', 'Torn or edited state file'],
  ['R03', 'Power loss: "done" pieces not on disk'],
  ['R06', 'Already complete (resume at EOF, 416)'],
  ['R07', 'Manifest, piece size or root changed between sessions'],
  ['R08', 'Two downloads of the same target at once'],
  ['R09', 'Worker crash / extension host restart'],
  ['F', 'Security / trust'],
  ['T01', 'Credential leak on a cross-origin redirect'],
  ['T03', 'HTTPS→HTTP downgrade redirect'],
  ['T05', 'A token scoped to mirror A sent to mirror B'],
  ['T06', 'Malicious workspace settings'],
  ['T07', 'Tokens stored in settings.json'],
  ['T08', 'Secrets in logs, errors, output'],
  ['T10', 'TLS / proxy MITM'],
  ['T11', 'FTP PASV address spoofing'],
  ['G', 'Resource exhaustion / load'],
  ['X01', 'Decompression bomb / encoding chain'],
  ['X03', 'Body longer than promised / endless'],
  ['X05', 'Slowloris at scale (every mirror trickles)'],
  ['X06', 'Retry storms / flapping mirrors'],
  ['X07', 'Memory growth (file size, slow disk)'],
  ['X08', 'Connection and fd exhaustion (64 mirrors × 1,000 pieces)'],
  ['X09', 'CPU / UI starvation (host event-loop lag)'],
];

/** Existing suites that test the same thing (listed, not re-run). */
const RELATED = {
  S01: 'test/engine/constraints.test.ts', S02: 'test/engine/constraints.test.ts', S03: 'test/engine/constraints.test.ts',
  S06: 'test/engine/constraints.test.ts', S07: 'test/engine/constraints.test.ts', S08: 'test/engine/constraints.test.ts',
  S12: 'test/engine/constraints.test.ts', S14: 'test/engine/ftpSources.test.ts', S15: 'test/engine/ftpSources.test.ts',
  T11: 'test/engine/ftpSources.test.ts', N04: 'test/engine/slowLink.test.ts', N05: 'test/engine/slowLink.test.ts',
  N06: 'test/engine/constraints.test.ts', N07: 'test/engine/target.test.ts', D01: 'test/integrity/corruptMirror.test.ts',
  D02: 'test/integrity/corruptMirror.test.ts', D03: 'test/integrity/corruptMirror.test.ts', D07: 'test/integrity/merkleTree.test.ts',
  F01: 'test/security/pathSafety.test.ts', F04: 'test/engine/target.test.ts', F05: 'test/host/targetLocation.test.ts',
  R01: 'test/engine/resume.test.ts', R02: 'test/engine/resume.test.ts', R03: 'test/engine/resume.test.ts',
  R08: 'test/engine/target.test.ts', R09: 'test/worker/engineWorker.test.ts', T05: 'test/host/accessAndTrust.test.ts',
  T06: 'test/host/packageManifest.test.ts, test/vscode/restricted.e2e.ts', T08: 'test/security/redaction.test.ts',
};

function parseArgs(argv) {
  const flags = new Set(argv.slice(2));
  const files = ['test/reliability/*.test.ts'];
  if (!flags.has('--fast')) files.push('test/reliability/crashResume.slow.ts');
  if (flags.has('--load')) files.push('test/reliability/load.slow.ts');
  return { files, mode: flags.has('--fast') ? 'fast' : flags.has('--load') ? 'full (with load)' : 'default' };
}

function runMocha(files, outDir) {
  const jsonFile = path.join(outDir, 'mocha.json');
  const args = [
    path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'),
    '--no-config', '--require', 'tsx/cjs', '--extension', 'ts', '--timeout', '600000',
    '--reporter', 'json', '--reporter-option', `output=${jsonFile}`,
    ...files,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, AF_RELIABILITY_OUT: outDir } });
    child.once('error', reject);
    child.once('close', (code) => {
      if (!fs.existsSync(jsonFile)) return reject(new Error(`mocha wrote no JSON report (exit ${code})`));
      resolve({ code, report: JSON.parse(fs.readFileSync(jsonFile, 'utf8')) });
    });
  });
}

function readMeasurements(outDir) {
  const file = path.join(outDir, 'measurements.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

/** `// BUG:` notes written above each `it.skip(` in test/reliability, by test title. */
function bugNotes() {
  const notes = new Map();
  const dir = path.join(ROOT, 'test', 'reliability');
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    const lines = fs.readFileSync(path.join(dir, name), 'utf8').split('\n');
    lines.forEach((line, i) => {
      const skip = /\bit\.skip\((['`"])(.*?)\1/.exec(line);
      if (!skip) return;
      const comment = [];
      for (let j = i - 1; j >= 0 && /^\s*\/\//.test(lines[j]); j--) comment.unshift(lines[j].replace(/^\s*\/\/\s?/, ''));
      notes.set(skip[2], comment.join(' ').replace(/^BUG:\s*/, '').trim());
    });
  }
  return notes;
}

const idOf = (title) => (/^([A-Z]\d\d)\b/.exec(title) || [])[1];
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const esc = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function figures(measurements) {
  const by = (figure) => measurements.filter((m) => m.figure === figure);
  const lines = [];
  const integrity = by('integrity');
  const published = integrity.filter((m) => m.published).length;
  const unverified = integrity.filter((m) => m.unverified).length;
  lines.push(['1. Integrity', `**${unverified}** files published at the final path without matching the trusted hash/root`, `${integrity.length} job outcomes checked, ${published} published (each hashed), ${integrity.length - published} refused/failed closed`]);
  const containment = by('containment');
  const bytesOutside = containment.reduce((s, m) => s + (m.bytesOutside || 0), 0);
  const modified = containment.reduce((s, m) => s + (m.preexistingModified || 0), 0);
  const vectors = containment.reduce((s, m) => s + (m.vectors || 0), 0);
  lines.push(['2. Containment', `**${bytesOutside}** bytes written outside the target folder; **${modified}** pre-existing files modified`, `${containment.length} checks (trees hashed before/after), ${vectors} hostile names`]);
  const secrets = by('secrets');
  const leaks = secrets.reduce((s, m) => s + (m.leaks || 0), 0);
  const scanned = secrets.reduce((s, m) => s + (m.requestsScanned || 0), 0);
  lines.push(['3. Secret hygiene', `**${leaks}** canary occurrences in requests to other origins, events, snapshots, results, worker messages, CLI output`, `${secrets.length} jobs carried the canary; ${scanned} requests scanned`]);
  const resume = by('resume');
  const twenty = resume.filter((m) => m.via === 'cli-20');
  const others = resume.filter((m) => m.via !== 'cli-20');
  const held = (list) => `${list.filter((m) => m.held).length}/${list.length}`;
  const kills = resume.filter((m) => m.via !== 'complete');
  const worst = kills.length ? Math.max(...kills.map((m) => m.refetched / m.bound)) : 0;
  lines.push(['4. Resume efficiency', twenty.length ? `bound held in **${held(twenty)}** kill -9 runs (20-kill run)` : 'bound held: 20-kill run not run (omit --fast)', `also ${held(others)} in the default suite (CLI kills, worker terminations, an already complete state); worst re-fetch after a kill ${(worst * 100).toFixed(0)}% of its bound (in-flight pieces + one 1.2 s journal interval at the source rate + the 64 KiB probe); no journaled piece ever re-fetched`]);
  const availability = by('availability');
  const healthy = availability.filter((m) => m.healthySources >= 1);
  const none = availability.filter((m) => m.healthySources === 0);
  const inTime = none.filter((m) => !m.ok && (m.boundMs === undefined || m.ms <= m.boundMs));
  lines.push(['5. Availability', `with ≥ 1 healthy source: **${healthy.filter((m) => m.ok).length}/${healthy.length}** completed; with 0: **${inTime.length}/${none.length}** ended with a specific error within the bound`, none.map((m) => `${m.case} ${m.code} in ${(m.ms / 1000).toFixed(1)} s (bound ${(m.boundMs / 1000).toFixed(1)} s)`).join('; ')]);
  const resources = by('resources').map((m) => {
    const value = m.bytes !== undefined ? mb(m.bytes) : m.count !== undefined ? String(m.count) : String(m.value);
    const bound = m.bound === undefined ? '' : m.bytes !== undefined || /RSS|bytes/.test(m.what) ? ` (bound ${mb(m.bound)})` : ` (bound ${m.bound})`;
    const extra = [m.mbPerSecond ? `${m.mbPerSecond} MB/s` : '', m.ms ? `${(m.ms / 1000).toFixed(1)} s` : '', m.max ? `max ${m.max} ms` : ''].filter(Boolean).join(', ');
    return `${m.what}: ${value}${bound}${extra ? `, ${extra}` : ''}`;
  });
  lines.push(['6. Resource bounds', resources.length ? resources.map((r) => `- ${esc(r)}`).join('<br>') : 'not measured', '']);
  return lines;
}

async function main() {
  const { files, mode } = parseArgs(process.argv);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'af-reliability-'));
  const started = Date.now();
  const { code, report } = await runMocha(files, outDir);
  const seconds = (Date.now() - started) / 1000;
  const measurements = readMeasurements(outDir);
  const notes = bugNotes();
  const tests = [
    ...report.passes.map((t) => ({ ...t, result: 'pass' })),
    ...report.failures.map((t) => ({ ...t, result: 'fail' })),
    ...report.pending.map((t) => ({ ...t, result: 'skipped (bug)' })),
  ];
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    commit = 'unknown';
  }

  const out = [];
  out.push('# Reliability report');
  out.push('');
  out.push(`Generated by \`npm run reliability:report\` (${mode}) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit}, Node ${process.version}, ${os.cpus().length} cores; the suite ran ${seconds.toFixed(0)} s.`);
  out.push('The catalogue, its **Pass:** lines and the six figures are defined in the shared RELIABILITY.md; the tests are in `test/reliability/` (helpers in `test/reliability/helpers/`, harness in `test/harness/`).');
  out.push('');
  out.push(`Tests: **${report.stats.passes} passed**, **${report.stats.failures} failed**, **${report.stats.pending} skipped as known product bugs**.`);
  out.push('');
  out.push('## The six figures');
  out.push('');
  out.push('| figure | measured | detail |');
  out.push('|---|---|---|');
  for (const [name, value, detail] of figures(measurements)) out.push(`| ${name} | ${value} | ${esc(detail)} |`);
  out.push('');
  out.push('## Catalogue');
  out.push('');
  out.push('| id | case | result | tests | also covered by |');
  out.push('|---|---|---|---|---|');
  for (const [id, what] of CATALOGUE) {
    if (id.length === 1) {
      out.push(`| **${id}** | **${what}** | | | |`);
      continue;
    }
    const mine = tests.filter((t) => idOf(t.title) === id);
    let result;
    if (mine.length === 0) result = 'not run';
    else if (mine.some((t) => t.result === 'fail')) result = '**fail**';
    else if (mine.some((t) => t.result === 'skipped (bug)')) result = mine.every((t) => t.result !== 'pass') ? '**skipped: bug**' : 'partly skipped: bug';
    else result = 'pass';
    const names = mine.map((t) => `${t.result === 'pass' ? '✔' : t.result === 'fail' ? '✘' : '○'} ${esc(t.title.replace(/^[A-Z]\d\d\s+/, ''))}`).join('<br>');
    out.push(`| ${id} | ${esc(what)} | ${result} | ${names} | ${RELATED[id] || ''} |`);
  }
  out.push('');
  const skipped = tests.filter((t) => t.result !== 'pass');
  if (skipped.length > 0) {
    out.push('## Failing and skipped tests');
    out.push('');
    for (const t of skipped) {
      const why = t.result === 'fail' ? (t.err && t.err.message ? t.err.message.split('\n')[0] : 'failed') : notes.get(t.title) || 'skipped';
      out.push(`- **${t.result}** — ${esc(t.title)}: ${esc(why)}`);
    }
    out.push('');
  }
  out.push('## Running');
  out.push('');
  out.push('- `npm test` runs `test/reliability/*.test.ts` with everything else.');
  out.push('- `npm run test:load`: the 20-kill crash/resume run and the load runs (4 GiB through the CLI, 1 GiB through the worker).');
  out.push('- `npm run reliability:report` regenerates this file (`-- --load` adds the load runs, `-- --fast` skips the 20-kill run).');
  out.push('');
  fs.mkdirSync(path.dirname(OUT_DOC), { recursive: true });
  fs.writeFileSync(OUT_DOC, `${out.join('\n')}`);
  fs.rmSync(outDir, { recursive: true, force: true });
  process.stdout.write(`wrote ${path.relative(ROOT, OUT_DOC)}: ${report.stats.passes} passed, ${report.stats.failures} failed, ${report.stats.pending} skipped (${seconds.toFixed(0)} s)\n`);
  process.exitCode = code === 0 ? 0 : 1;
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exitCode = 1;
});
