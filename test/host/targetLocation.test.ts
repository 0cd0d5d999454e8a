import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepareTargetFolders, resolveTarget } from '../../src/config/targetLocation';

describe('target location inside the workspace folder', () => {
  let workspace: string;

  beforeEach(() => {
    workspace = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'af-target-')));
  });

  afterEach(() => fs.rmSync(workspace, { recursive: true, force: true }));

  it('lands in the download folder with a hidden state folder beside it', () => {
    const target = resolveTarget(workspace, 'artifacts', 'model.bin');
    assert.equal(target.outputPath, path.join(workspace, 'artifacts', 'model.bin'));
    assert.equal(target.stateDir, path.join(workspace, '.artifact-fetch'));
    assert.equal(resolveTarget(workspace, './', 'model.bin').outputPath, path.join(workspace, 'model.bin'));
  });

  it('refuses .git, .vscode, the state folder, climbing out and absolute folders', () => {
    for (const folder of ['.git', 'sub/.vscode', '.artifact-fetch', '../elsewhere', '/etc']) {
      assert.throws(() => resolveTarget(workspace, folder, 'x.bin'), (error: Error & { code?: string }) => error.code === 'E_UNSAFE_PATH', folder);
    }
  });

  it('reduces a hostile file name to a safe base name', () => {
    assert.equal(resolveTarget(workspace, 'artifacts', '../../evil.sh').outputPath, path.join(workspace, 'artifacts', 'evil.sh'));
    assert.throws(() => resolveTarget(workspace, 'artifacts', 'CON'), /reserved/);
  });

  it('refuses a symlink that leads out of the workspace', () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'af-outside-'));
    try {
      fs.symlinkSync(outside, path.join(workspace, 'artifacts'));
      assert.throws(() => resolveTarget(workspace, 'artifacts', 'x.bin'), /symbolic link/);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('creates the target folder, and the state folder with a .gitignore so partial data is never committed', () => {
    const target = resolveTarget(workspace, 'deep/artifacts', 'x.bin');
    prepareTargetFolders(target);
    assert.ok(fs.statSync(path.dirname(target.outputPath)).isDirectory());
    assert.equal(fs.readFileSync(path.join(target.stateDir, '.gitignore'), 'utf8'), '*\n');
  });
});
