import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArtifactFetchApi } from '../../src/commands/publicApi';
import { makeArtifact, sha256FileHex, sha256Hex } from '../harness/artifact';
import { startMirror, type Mirror } from '../harness/mirrorServer';
import { artifactFetchApi, resetSettings, trustHostsInUserSettings, workspaceFolder } from './extensionFixtures';

const SIZE = 4 * 1024 * 1024;

describe('Artifact Fetch in a real extension host: failures keep their codes and the worker lives on', function () {
  this.timeout(90_000);
  const body = makeArtifact(SIZE, 'exthost-errors');
  const sha256 = sha256Hex(body);
  let api: ArtifactFetchApi;
  let good: Mirror;
  /** Serves only /elsewhere.bin: every other path is a 404. */
  let missing: Mirror;

  before(async () => {
    api = await artifactFetchApi();
    [good, missing] = await Promise.all([startMirror({ body }), startMirror({ body, path: '/elsewhere.bin' })]);
    await trustHostsInUserSettings([good, missing]);
  });

  after(async () => {
    await resetSettings();
    await Promise.all([good, missing].map((mirror) => mirror?.close()));
  });

  it('a source that answers 404 fails the download with E_NO_USABLE_SOURCE, shown in the list', async () => {
    const url = missing.urlFor('/artifact.bin');
    const result = await api.download({ url, fileName: 'not-there.bin' });
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'E_NO_USABLE_SOURCE', result.error?.message);
    assert.match(result.error?.message ?? '', /404/);
    assert.ok(missing.requests.some((request) => request.status === 404), 'the mirror was asked and said 404');
    const listed = api.list().find((info) => info.name === 'not-there.bin');
    assert.equal(listed?.status, 'failed');
    assert.equal(listed?.error?.code, 'E_NO_USABLE_SOURCE');
    assert.equal(fs.existsSync(path.join(workspaceFolder().uri.fsPath, 'artifacts', 'not-there.bin')), false);
  });

  it('the same worker then downloads the next artifact fine', async () => {
    const result = await api.download({ url: good.url, sha256, fileName: 'after-404.bin' });
    assert.equal(result.ok, true, result.error?.message);
    assert.equal(await sha256FileHex(result.path), sha256);
  });

  it('bytes that do not match the expected SHA-256 fail with E_VERIFICATION_FAILED and no file appears', async () => {
    const wrong = sha256Hex('not the artifact');
    const result = await api.download({ url: good.url, sha256: wrong, fileName: 'wrong-hash.bin' });
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'E_VERIFICATION_FAILED', result.error?.message);
    assert.equal(fs.existsSync(path.join(workspaceFolder().uri.fsPath, 'artifacts', 'wrong-hash.bin')), false);
  });

  it('a folder outside the workspace is refused with E_UNSAFE_PATH before any request', async () => {
    const before = good.requests.length;
    const result = await api.download({ url: good.url, folder: '../outside-the-workspace', fileName: 'escape.bin' });
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'E_UNSAFE_PATH', result.error?.message);
    assert.equal(good.requests.length, before, 'nothing was fetched');
    assert.equal(fs.existsSync(path.join(path.dirname(workspaceFolder().uri.fsPath), 'outside-the-workspace')), false);
  });

  it('a download after all those failures still completes', async () => {
    const result = await api.download({ url: good.url, sha256, fileName: 'last.bin' });
    assert.equal(result.ok, true, result.error?.message);
  });
});
