import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCode, FetchError } from '../../src/engine/errors';
import {
  isSafeFileName,
  nameFromContentDisposition,
  nameFromUrl,
  resolveInsideFolder,
  safeFileName,
} from '../../src/engine/security/pathSafety';

// F01 vectors (curl, aria2, huggingface_hub UNSAFE_FILENAMES and the brief's list).
const TRAVERSAL_VECTORS = [
  '../../x', '/etc/passwd', '..\\..\\x', 'C:\\Windows\\x', 'C:/x', 'D:rel\\x', '\\\\host\\share\\x', '\\x',
  'folder/C:\\x', '..', '.', '', '../', '..\\', './x', 'x/..', '/', '\\\\?\\C:\\x', '\\\\.\\pipe\\x',
  'a/b/../../../x', '..%2f..%2fx', '.../x', 'x\u0000.txt', 'x\n.txt', 'CON', 'nul.txt', 'COM1', 'lpt9.log',
  'Con .txt', 'x.. ', 'x:stream', 'C:', '\uff0e\uff0e\uff0fx', '\uff0e\uff0e', 'sub/\uff0e\uff0e/x', 'x\u202etxt.exe',
];
const isUnsafe = (e: unknown): boolean => e instanceof FetchError && e.code === ErrorCode.UnsafePath;

describe('pathSafety', () => {
  it('safeFileName strips or rejects every vector, leaving a plain basename', () => {
    for (const vector of TRAVERSAL_VECTORS) {
      let result: string | undefined;
      try {
        result = safeFileName(vector);
      } catch (error) {
        assert.ok(isUnsafe(error), `${JSON.stringify(vector)} threw a non-UnsafePath error`);
        continue;
      }
      // eslint-disable-next-line no-control-regex -- asserting control characters are gone
      assert.ok(!/[/\\:\u0000-\u001f]/.test(result), `${JSON.stringify(vector)} -> ${JSON.stringify(result)}`);
      assert.ok(result !== '.' && result !== '..' && result !== '', JSON.stringify(vector));
      assert.ok(!/[. ]$/.test(result), `trailing dot/space kept for ${JSON.stringify(vector)}`);
      assert.equal(safeFileName(result), result, 'idempotent');
    }
  });

  it('safeFileName: specific expectations', () => {
    assert.equal(safeFileName('../../x'), 'x');
    assert.equal(safeFileName('/etc/passwd'), 'passwd');
    assert.equal(safeFileName('..\\..\\x'), 'x');
    assert.equal(safeFileName('C:\\Windows\\x'), 'x');
    assert.equal(safeFileName('C:/x'), 'x');
    assert.equal(safeFileName('D:rel\\x'), 'x');
    assert.equal(safeFileName('\\\\host\\share\\x'), 'x');
    assert.equal(safeFileName('folder/C:\\x'), 'x');
    assert.equal(safeFileName('C:x'), 'C_x');
    assert.equal(safeFileName('report.pdf. . '), 'report.pdf');
    assert.equal(safeFileName('ubuntu-24.04.iso'), 'ubuntu-24.04.iso');
    assert.equal(safeFileName('naïve €.bin'), 'naïve €.bin');
    for (const rejected of ['', '.', '..', '...', 'CON', 'con.txt', 'Nul', 'COM1.tar.gz', 'LPT3', 'x\u0000y', 'a\tb', 'x/', 'x'.repeat(256), '\uff0e\uff0e']) {
      assert.throws(() => safeFileName(rejected), isUnsafe, JSON.stringify(rejected));
    }
    assert.ok(isSafeFileName('file.bin'));
    assert.ok(!isSafeFileName('dir/file.bin'));
    assert.ok(!isSafeFileName('file.bin.'));
  });

  describe('resolveInsideFolder', () => {
    let sandbox: string;
    let root: string;
    let outside: string;

    before(() => {
      sandbox = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'af-paths-')));
      root = path.join(sandbox, 'ws');
      outside = path.join(sandbox, 'outside');
      fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'victim'), 'original');
      fs.symlinkSync(outside, path.join(root, 'linkdir'), 'dir');
      fs.symlinkSync(path.join(outside, 'victim'), path.join(root, 'sub', 'linkfile'));
    });
    after(() => fs.rmSync(sandbox, { recursive: true, force: true }));

    it('no vector resolves outside the root', () => {
      const vectors = [...TRAVERSAL_VECTORS, 'sub/../../x', 'sub/..\\..\\x', 'sub/C:\\x', 'sub//..//x', 'a/./../../x'];
      for (const vector of vectors) {
        try {
          const resolved = resolveInsideFolder(root, vector);
          const rel = path.relative(root, resolved);
          assert.ok(rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel) && path.dirname(resolved).startsWith(root), `${JSON.stringify(vector)} -> ${resolved}`);
        } catch (error) {
          assert.ok(isUnsafe(error), `${JSON.stringify(vector)}: ${(error as Error).message}`);
        }
      }
      assert.deepEqual(fs.readdirSync(outside), ['victim']);
    });

    it('resolves ordinary relative paths, with either separator', () => {
      assert.equal(resolveInsideFolder(root, 'file.bin'), path.join(root, 'file.bin'));
      assert.equal(resolveInsideFolder(root, 'sub/new/file.bin'), path.join(root, 'sub', 'new', 'file.bin'));
      assert.equal(resolveInsideFolder(root, 'sub\\file.bin'), path.join(root, 'sub', 'file.bin'));
    });

    it('refuses a symlinked parent pointing outside, and a symlinked target', () => {
      assert.throws(() => resolveInsideFolder(root, 'linkdir/victim'), (e: unknown) => isUnsafe(e) && /symbolic link/.test((e as Error).message));
      assert.throws(() => resolveInsideFolder(root, 'linkdir/new.bin'), /symbolic link/);
      assert.throws(() => resolveInsideFolder(root, 'sub/linkfile'), /symbolic link/);
      assert.equal(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'original');
    });

    it('refuses denied folders case-insensitively, and a file used as a folder', () => {
      assert.throws(() => resolveInsideFolder(root, '.git/config'), /protected folder/);
      assert.throws(() => resolveInsideFolder(root, 'sub/.GIT/hooks/x'), /protected folder/);
      assert.throws(() => resolveInsideFolder(root, '.vscode/settings.json'), /protected folder/);
      assert.equal(resolveInsideFolder(root, '.vscode/x', { deny: [] }), path.join(root, '.vscode', 'x'));
      fs.writeFileSync(path.join(root, 'plain'), '');
      assert.throws(() => resolveInsideFolder(root, 'plain/x'), /not a folder/);
    });

    it('refuses a missing root and paths naming the root itself', () => {
      assert.throws(() => resolveInsideFolder(path.join(sandbox, 'nope'), 'x'), /does not exist/);
      assert.throws(() => resolveInsideFolder(root, './'), /folder itself/);
    });
  });

  it('nameFromUrl takes the decoded last segment through the gate', () => {
    assert.equal(nameFromUrl('https://h.example/dl/file.tar.gz?sig=abc#x'), 'file.tar.gz');
    assert.equal(nameFromUrl('https://h.example/dl/my%20file.bin'), 'my file.bin');
    assert.equal(nameFromUrl('https://h.example/dl/..%2F..%2Fetc%2Fpasswd'), 'passwd');
    assert.equal(nameFromUrl('https://h.example/dl/..%5C..%5Cx'), 'x');
    assert.equal(nameFromUrl('https://h.example/'), undefined);
    assert.equal(nameFromUrl('https://h.example/dir/'), undefined);
    assert.equal(nameFromUrl('https://h.example/CON'), undefined);
    assert.equal(nameFromUrl('https://h.example/a%00b'), undefined);
    assert.equal(nameFromUrl('not a url'), undefined);
  });

  it('nameFromContentDisposition follows RFC 6266 and the gate', () => {
    assert.equal(nameFromContentDisposition('attachment; filename="report.pdf"'), 'report.pdf');
    assert.equal(nameFromContentDisposition('attachment; filename=plain.txt'), 'plain.txt');
    assert.equal(nameFromContentDisposition('attachment; filename="a;b \\"q\\".txt"'), 'a;b _q_.txt');
    assert.equal(nameFromContentDisposition("attachment; filename=\"euro.txt\"; filename*=UTF-8''%e2%82%ac%20rates.txt"), '€ rates.txt');
    assert.equal(nameFromContentDisposition("attachment; filename*=iso-8859-1'en'%A3%20rates"), '£ rates');
    assert.equal(nameFromContentDisposition("attachment; filename*=UTF-8''%ff%fe; filename=fallback.bin"), 'fallback.bin');
    assert.equal(nameFromContentDisposition('attachment; filename="..\\..\\evil"'), 'evil');
    assert.equal(nameFromContentDisposition('attachment; filename="../../etc/passwd"'), 'passwd');
    assert.equal(nameFromContentDisposition("attachment; filename*=UTF-8''..%2F..%2Fx"), 'x');
    assert.equal(nameFromContentDisposition('attachment; filename="\\\\host\\share\\x"'), 'x');
    assert.equal(nameFromContentDisposition('attachment; filename="C:\\Windows\\system32\\x.dll"'), 'x.dll');
    assert.equal(nameFromContentDisposition('attachment; filename=".."'), undefined);
    assert.equal(nameFromContentDisposition('attachment; filename="CON"'), undefined);
    assert.equal(nameFromContentDisposition('attachment'), undefined);
    assert.equal(nameFromContentDisposition(''), undefined);
    assert.equal(nameFromContentDisposition(undefined), undefined);
    assert.equal(nameFromContentDisposition('attachment; filename="unterminated'), 'unterminated');
  });
});
