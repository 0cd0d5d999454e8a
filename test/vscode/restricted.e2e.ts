/**
 * Runs only in the runners' `restricted` pass: workspace trust on, the folder untrusted, and a
 * .vscode/settings.json (test/vscode/untrustedWorkspaceSettings.json) that tries to move
 * downloads elsewhere and to add a mirror for every loopback URL.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ArtifactFetchApi } from '../../src/commands/publicApi';
import { makeArtifact, sha256FileHex, sha256Hex } from '../harness/artifact';
import { startMirror, type Mirror } from '../harness/mirrorServer';
import { activatedExtension, resetSettings, settings, trustHostsInUserSettings, workspaceFolder } from './extensionFixtures';

const SIZE = 4 * 1024 * 1024;

describe('Artifact Fetch in Restricted Mode (untrusted workspace)', function () {
  this.timeout(90_000);
  const body = makeArtifact(SIZE, 'exthost-restricted');
  const sha256 = sha256Hex(body);
  let api: ArtifactFetchApi;
  let primary: Mirror;

  before(async () => {
    api = (await activatedExtension()).exports;
    primary = await startMirror({ body });
    // User settings still count in Restricted Mode: that is how the user trusts a host.
    await trustHostsInUserSettings([primary]);
  });

  after(async () => {
    await resetSettings();
    await primary?.close();
  });

  it('runs with the folder untrusted, and the extension (untrustedWorkspaces: limited) is active', async () => {
    assert.equal(vscode.workspace.isTrusted, false, 'the runner opens the folder in Restricted Mode');
    assert.equal((await activatedExtension()).isActive, true);
  });

  it('VS Code reads the workspace settings file but withholds the restricted settings from it', () => {
    const file = path.join(workspaceFolder().uri.fsPath, '.vscode', 'settings.json');
    const onDisk = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.equal(onDisk['artifactFetch.downloadFolder'], 'from-untrusted-workspace');
    assert.ok(Array.isArray(onDisk['artifactFetch.mirrors']));
    // connectionsPerSource is not restricted, so the same file's value applies: the file was read.
    assert.equal(settings().get('connectionsPerSource'), 2);
    assert.equal(settings().get('downloadFolder'), 'artifacts', 'the workspace downloadFolder is ignored');
    // What remains is the user-level rule this suite wrote to trust its mirror's host.
    assert.deepEqual(settings().get('mirrors'), settings().inspect('mirrors')?.globalValue, 'the workspace mirror rule is ignored');
    assert.doesNotMatch(JSON.stringify(settings().get('mirrors')), /untrusted-workspace-mirror/);
    assert.equal(settings().inspect('downloadFolder')?.workspaceValue, undefined);
    assert.equal(settings().inspect('mirrors')?.workspaceValue, undefined);
  });

  it('a download lands in the default folder and never uses the workspace rule\'s mirror', async () => {
    const result = await api.download({ url: primary.url, sha256, fileName: 'restricted.bin' });
    assert.equal(result.ok, true, result.error?.message);
    const root = workspaceFolder().uri.fsPath;
    assert.equal(fs.realpathSync(result.path), fs.realpathSync(path.join(root, 'artifacts', 'restricted.bin')));
    assert.equal(await sha256FileHex(result.path), sha256);
    assert.equal(fs.existsSync(path.join(root, 'from-untrusted-workspace')), false);
    assert.deepEqual(result.sources.map((source) => source.url), [primary.url], 'only the primary was a source');
  });
});
