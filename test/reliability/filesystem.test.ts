/**
 * RELIABILITY.md §D, the local file system: hostile names, an existing target, planted symlinks,
 * a full disk, read-only and missing folders. Every test snapshots what lies outside the target
 * folder before and after (figure 2: 0 bytes written outside, 0 pre-existing files modified).
 * Related: test/security/pathSafety.test.ts (the gate, unit level), test/host/targetLocation.test.ts,
 * test/engine/target.test.ts (existing target, overwrite).
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fsp, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { request } from 'undici';
import { resolveTarget } from '../../src/config/targetLocation';
import { DownloadJob } from '../../src/engine/downloadJob';
import { nameFromContentDisposition, nameFromUrl } from '../../src/engine/security/pathSafety';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import {
  KiB,
  LEAD_PROBE_BYTES,
  MiB,
  assertFileEquals,
  checkContained,
  exists,
  readJournalDone,
  record,
  runJobChild,
  runRel,
  snapshotTree,
  statePaths,
  treeChanges,
  useRelFixtures,
  waitFor,
} from './fixtures';

const PIECE = 64 * KiB;

// huggingface_hub UNSAFE_FILENAMES-style, curl and aria2 vectors, and the catalogue's list.
const VECTORS = [
  '../../x', '/etc/passwd', '..\\..\\x', 'C:\\Windows\\x', 'C:/x', 'D:rel\\x', '\\\\host\\share\\x', '\\x', 'folder/C:\\x',
  '..', '.', '../', '..\\', './x', 'x/..', '/', '\\\\?\\C:\\x', '\\\\.\\pipe\\x', 'a/b/../../../x', '..%2f..%2fx', '.../x',
  'CON', 'nul.txt', 'COM1', 'lpt9.log', 'Con .txt', 'x.. ', 'x:stream', 'C:', '\uff0e\uff0e\uff0fx', '\uff0e\uff0e', 'sub/\uff0e\uff0e/x',
  'x\u202etxt.exe', '~/.ssh/authorized_keys', '.git/hooks/post-checkout', '.vscode/settings.json', '../.artifact-fetch/x.part',
];
// Control characters cannot travel in a raw header value; they come percent-encoded in filename*.
const ENCODED_ONLY = ['x\u0000.txt', 'x\n.txt', '..\r\n/x', '\u0000'];

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Mounts a tmpfs at `dir` (root only); returns false when that is not possible here. */
function mountTmpfs(dir: string, options: string): boolean {
  if (!isRoot()) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch {
    // not mounted
  }
}

describe('reliability §D: the local file system', function () {
  this.timeout(40_000);
  const fx = useRelFixtures();

  /** sandbox/{ws/artifacts, outside/victim.txt}; what lies outside ws/artifacts and ws/.artifact-fetch is watched. */
  async function sandbox() {
    const root = await fx.tempDir();
    const ws = path.join(root, 'ws');
    const target = path.join(ws, 'artifacts');
    const outside = path.join(root, 'outside');
    await fsp.mkdir(target, { recursive: true });
    await fsp.mkdir(outside);
    await fsp.writeFile(path.join(outside, 'victim.txt'), 'precious\n');
    await fsp.writeFile(path.join(ws, 'README.md'), 'workspace file\n');
    await fsp.writeFile(path.join(root, 'sibling.txt'), 'sibling\n');
    const watched = () => snapshotTree(root, [target, path.join(ws, '.artifact-fetch')]);
    const cwdBefore = readdirSync(process.cwd()).sort();
    let before = watched();
    return {
      root, ws, target, outside, victim: path.join(outside, 'victim.txt'),
      /** Takes the baseline again (after the test planted its own traps). */
      rebase: () => { before = watched(); },
      check: (what: string) => {
        checkContained(treeChanges(before, watched()), what);
        assert.deepEqual(readdirSync(process.cwd()).sort(), cwdBefore, `${what}: the current folder changed`);
      },
    };
  }

  it('F01 server-provided names (Content-Disposition filename and filename*) never place a byte outside the target folder, for every traversal vector', async () => {
    const body = makeArtifact(64 * KiB + 1, 'f01');
    const box = await sandbox();
    const headers: string[] = [];
    for (const vector of VECTORS) {
      // node:http sends only Latin-1 in header values; other characters travel in filename*.
      if (/^[\x20-\x7e]*$/.test(vector)) headers.push(`attachment; filename="${vector.replace(/[\\"]/g, '\\$&')}"`);
      headers.push(`attachment; filename*=UTF-8''${encodeURIComponent(vector)}`);
    }
    for (const vector of ENCODED_ONLY) headers.push(`attachment; filename*=UTF-8''${encodeURIComponent(vector)}`);
    let downloaded = 0;
    let refused = 0;
    // One mirror; its Content-Disposition changes per vector. Every name the gate lets through is
    // downloaded (once per distinct name) into the folder the extension would use.
    const mirror = await fx.mirror({ body, path: '/dl/artifact.bin' });
    const names = new Map<string, string>();
    for (const header of headers) {
      mirror.update({ headers: { 'Content-Disposition': header } });
      const response = await request(mirror.url, { method: 'HEAD' });
      await response.body.dump();
      const name = nameFromContentDisposition(String(response.headers['content-disposition'])) ?? nameFromUrl(mirror.url) ?? 'download.bin';
      let location;
      try {
        location = resolveTarget(box.ws, 'artifacts', name);
      } catch (error) {
        assert.equal((error as { code?: string }).code, 'E_UNSAFE_PATH', `${header}: ${(error as Error).message}`);
        refused++;
        continue;
      }
      const rel = path.relative(box.target, location.outputPath);
      assert.ok(rel !== '' && rel !== '..' && !path.isAbsolute(rel) && !rel.includes(path.sep), `${header} → ${location.outputPath}`);
      downloaded++;
      if (names.has(location.outputPath)) continue;
      names.set(location.outputPath, header);
      const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: location.outputPath, stateDir: location.stateDir, pieceSize: PIECE }, { trustedSha256: sha256Hex(body) });
      assert.equal(result.ok, true, `${header}: ${JSON.stringify(result.error)}`);
      await fsp.rm(location.outputPath);
    }
    assert.ok(downloaded > 0 && downloaded + refused === headers.length);
    record({ figure: 'containment', vectors: headers.length, downloaded, refused });
    box.check('F01');
    assert.deepEqual((await fsp.readdir(box.target)).sort(), []);
  });

  it('F04 an existing target is never overwritten silently, including one that appears while downloading', async () => {
    const body = makeArtifact(2 * MiB, 'f04');
    const box = await sandbox();
    const output = path.join(box.target, 'f04.bin');
    const previous = Buffer.from('the user\'s own file\n');
    await fsp.writeFile(output, previous);
    const mirror = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const first = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(first.result.error?.code, 'E_TARGET_EXISTS');
    assert.ok((await fsp.readFile(output)).equals(previous), 'the existing file changed');
    assert.equal(mirror.requests.length, 0);

    // A file created at the output path during the download is not replaced by the publish.
    const racing = path.join(box.target, 'f04-race.bin');
    const raced = Buffer.from('created by someone else mid-download\n');
    const second = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: racing, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } }, {
      testWritesOutput: true,
      onStart: () => void waitFor(() => mirror.bytesServed > 300_000, 10_000, 'bytes').then(() => fsp.writeFile(racing, raced)),
    });
    assert.equal(second.result.error?.code, 'E_TARGET_EXISTS', JSON.stringify(second.result.error));
    assert.ok((await fsp.readFile(racing)).equals(raced), 'the file that appeared was overwritten');
    record({ figure: 'containment', bytesOutside: 0, preexistingModified: 0 });
    box.check('F04');
  });

  it('F05 a symlink planted at the output path, the .part path or the state folder: the symlink target is unchanged', async () => {
    const body = makeArtifact(1 * MiB, 'f05');
    const mirror = await fx.mirror({ body, bytesPerSecond: 8e6 });
    const sha256 = sha256Hex(body);
    for (const where of ['output', 'part', 'state folder'] as const) {
      const box = await sandbox();
      const output = path.join(box.target, 'f05.bin');
      const { stateDir, part } = statePaths(output);
      if (where === 'output') await fsp.symlink(box.victim, output);
      if (where === 'part') {
        await fsp.mkdir(stateDir);
        await fsp.symlink(box.victim, part);
      }
      if (where === 'state folder') await fsp.symlink(box.outside, stateDir);
      for (const overwrite of [false, true]) {
        const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, overwrite, expected: { sha256 } }, { trustedSha256: sha256 });
        if (where !== 'part') assert.equal(result.ok, false, `${where} (overwrite ${overwrite}): downloaded through a symlink`);
        if (result.ok) await assertFileEquals(output, body);
        if (where === 'output') assert.ok((await fsp.lstat(output)).isSymbolicLink(), 'the planted symlink was replaced');
        assert.equal(await fsp.readFile(box.victim, 'utf8'), 'precious\n', `${where}: the symlink target changed`);
        if (result.ok) await fsp.rm(output);
      }
      box.check(`F05 ${where}`);
    }
  });

  it('F05 symlinks planted at the journal temp path, the manifest sidecar and the lock: their targets are unchanged', async () => {
    const body = makeArtifact(3 * MiB, 'f05b');
    const sha256 = sha256Hex(body);
    const mirror = await fx.mirror({ body, bytesPerSecond: 2e6 }); // ~1.6 s: several journal saves
    const box = await sandbox();
    const output = path.join(box.target, 'f05b.bin');
    const { stateDir, journal, lock } = statePaths(output);
    await fsp.mkdir(stateDir);
    const victims: string[] = [];
    for (const [i, link] of [`${journal}.tmp`, path.join(stateDir, 'f05b.bin.manifest.json'), lock].entries()) {
      const victim = path.join(box.outside, `victim-${i}.txt`);
      await fsp.writeFile(victim, `precious ${i}\n`);
      victims.push(victim);
      await fsp.symlink(victim, link);
    }
    const before = snapshotTree(box.outside);
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } }, { trustedSha256: sha256 });
    const changes = treeChanges(before, snapshotTree(box.outside));
    checkContained(changes, 'F05 state files');
    for (const [i, victim] of victims.entries()) assert.equal(await fsp.readFile(victim, 'utf8'), `precious ${i}\n`, `victim ${i} was written through a symlink`);
    assert.ok(result.ok || result.error?.code === 'E_UNSAFE_PATH', JSON.stringify(result.error));
  });

  it('F05 a symlinked folder on the way to the target is refused by the target resolver', async () => {
    const box = await sandbox();
    await fsp.symlink(box.outside, path.join(box.ws, 'out'));
    box.rebase();
    assert.throws(() => resolveTarget(box.ws, 'out', 'x.bin'), (e: { code?: string }) => e.code === 'E_UNSAFE_PATH');
    assert.throws(() => resolveTarget(box.ws, 'out/sub', 'x.bin'), (e: { code?: string }) => e.code === 'E_UNSAFE_PATH');
    box.check('F05 parent');
  });

  describe('F07 disk full', function () {
    let mount: string | undefined;
    let mounted = false;
    before(async function () {
      mount = await fsp.mkdtemp(path.join((await import('node:os')).tmpdir(), 'af-tmpfs-'));
      mounted = mountTmpfs(mount, 'size=8m');
    });
    after(async () => {
      if (mounted) unmount(mount!);
      await fsp.rm(mount!, { recursive: true, force: true });
    });

    it('F07 a file larger than the free space: E_DISK "disk full" before any download, nothing at the final path', async function () {
      if (!mounted) this.skip(); // needs root for the tmpfs; the injected variant below runs anywhere
      const body = makeArtifact(16 * MiB, 'f07a');
      const mirror = await fx.mirror({ body });
      const dir = await fsp.mkdtemp(path.join(mount!, 'a-'));
      const output = path.join(dir, 'big.bin');
      const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE });
      assert.equal(result.error?.code, 'E_DISK');
      assert.match(result.error!.message, /disk full|no space/i);
      assert.equal(await exists(output), false);
      // Nothing beyond the probe (whose response, a 4 MiB lead, is dropped unread past its sample).
      assert.deepEqual(mirror.requests.map((r) => r.range), [`bytes=0-${LEAD_PROBE_BYTES - 1}`], 'requests beyond the probe for a file that cannot fit');
      await fsp.rm(dir, { recursive: true, force: true });
    });

    it('F07 the disk fills up mid-download: E_DISK, nothing at the final path, and the state resumes once space is freed', async function () {
      const size = 5 * MiB;
      const body = makeArtifact(size, 'f07b');
      const sha256 = sha256Hex(body);
      const mirror = await fx.mirror({ body, bytesPerSecond: 3e6 });
      const dir = mounted ? await fsp.mkdtemp(path.join(mount!, 'b-')) : await fx.tempDir();
      const output = path.join(dir, 'full.bin');
      const { journal } = statePaths(output);
      const filler = path.join(dir, 'filler.bin');
      let first;
      if (mounted) {
        // Once pieces are journaled, another writer takes every free byte of the 8 MiB tmpfs.
        first = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } }, {
          onStart: () => void waitFor(async () => ((await readJournalDone(journal))?.done.length ?? 0) >= 8, 10_000, 'a journal').then(() => fillDisk(filler)),
        });
        first = first.result;
      } else {
        // Not root: the same failure injected into the part file's writes (ENOSPC after 1.5 MiB).
        first = (await runJobChild({ sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } }, { failWritesAfterBytes: 1.5 * MiB })).result;
      }
      assert.equal(first.error?.code, 'E_DISK', JSON.stringify(first.error));
      assert.match(first.error!.message, /disk full|no space/i);
      assert.equal(await exists(output), false, 'a file was published although the disk was full');
      assert.ok(await readJournalDone(journal), 'no resumable state after the disk filled up');
      // Space freed: the same job resumes from its journal and completes.
      await fsp.rm(filler, { force: true });
      const second = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } });
      record({ figure: 'availability', healthySources: 1, ok: second.result.ok });
      assert.equal(second.result.ok, true, JSON.stringify(second.result.error));
      await assertFileEquals(output, body);
      assert.ok(second.result.bytesResumed > 0, 'nothing was resumed');
      await fsp.rm(dir, { recursive: true, force: true });
    });
  });

  it('F08 a read-only target folder: E_DISK saying it is read-only (or permission denied), nothing written anywhere else', async () => {
    const body = makeArtifact(1 * MiB, 'f08');
    const mirror = await fx.mirror({ body });
    const box = await sandbox();
    const readOnly = path.join(box.ws, 'readonly');
    await fsp.mkdir(readOnly);
    // Root ignores chmod: a read-only tmpfs then; otherwise chmod 555.
    let remounted = false;
    if (mountTmpfs(readOnly, 'size=4m')) {
      try {
        execFileSync('mount', ['-o', 'remount,ro', readOnly], { stdio: 'ignore' });
        remounted = true;
      } catch {
        unmount(readOnly);
      }
    }
    if (!remounted) await fsp.chmod(readOnly, 0o555);
    box.rebase();
    try {
      const ro = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: path.join(readOnly, 'x.bin'), pieceSize: PIECE });
      assert.equal(ro.result.error?.code, 'E_DISK', JSON.stringify(ro.result.error));
      assert.equal(mirror.requests.length, 0, 'sources were contacted although the target cannot be written');
      box.check('F08 read-only');
      assert.match(ro.result.error!.message, /read-only|permission|EROFS|EACCES/i, 'the message does not say why the folder cannot be written');
    } finally {
      if (remounted) unmount(readOnly);
      else await fsp.chmod(readOnly, 0o755);
    }
  });

  it('F08 a missing target folder: E_DISK naming it, the folder not created, no source contacted', async () => {
    const body = makeArtifact(1 * MiB, 'f08m');
    const mirror = await fx.mirror({ body });
    const box = await sandbox();
    const missing = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: path.join(box.ws, 'nope', 'x.bin'), pieceSize: PIECE });
    assert.equal(missing.result.error?.code, 'E_DISK');
    assert.match(missing.result.error!.message, /does not exist/);
    assert.equal(await exists(path.join(box.ws, 'nope')), false, 'the missing folder was created');
    assert.equal(mirror.requests.length, 0, 'sources were contacted although the target cannot be written');
    box.check('F08 missing');
  });

  it('F08 the target folder deleted mid-download: a specific error, no file recreated anywhere else', async () => {
    const body = makeArtifact(3 * MiB, 'f08b');
    const mirror = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const box = await sandbox();
    const folder = path.join(box.ws, 'doomed');
    await fsp.mkdir(folder);
    const output = path.join(folder, 'x.bin');
    const started = Date.now();
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } }, {
      onStart: () => void waitFor(() => mirror.bytesServed > 500_000, 10_000, 'bytes').then(() => fsp.rm(folder, { recursive: true, force: true })),
    });
    assert.equal(result.ok, false, 'the job reported success for a folder that no longer exists');
    assert.equal(result.error?.code, 'E_DISK', JSON.stringify(result.error));
    assert.ok(Date.now() - started < 15_000);
    assert.equal(await exists(folder), false, 'the deleted folder was recreated');
    box.check('F08 deleted');
  });

  it('F08 an unwritable state folder (a file where the folder should be): E_DISK or E_UNSAFE_PATH, nothing elsewhere', async () => {
    const body = makeArtifact(256 * KiB, 'f08c');
    const mirror = await fx.mirror({ body });
    const box = await sandbox();
    const output = path.join(box.target, 'x.bin');
    await fsp.writeFile(statePaths(output).stateDir, 'not a folder');
    const job = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE });
    const result = await job.run();
    assert.ok(['E_DISK', 'E_UNSAFE_PATH'].includes(result.error?.code ?? ''), JSON.stringify(result.error));
    await fsp.rm(statePaths(output).stateDir);
    box.check('F08 state file');
  });
});

/** Writes zeros to `file` until the file system is full. */
async function fillDisk(file: string): Promise<void> {
  const handle = await fsp.open(file, 'w');
  const block = Buffer.alloc(256 * 1024);
  try {
    for (;;) await handle.write(block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await handle.close().catch(() => undefined);
  }
}
