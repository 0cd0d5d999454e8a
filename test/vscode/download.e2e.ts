import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ArtifactFetchApi } from '../../src/commands/publicApi';
import { makeArtifact, sha256FileHex, sha256Hex } from '../harness/artifact';
import { startMirror, type Mirror } from '../harness/mirrorServer';
import { artifactFetchApi, rangedBytesServed, resetSettings, settings, trustHostsInUserSettings, workspaceFolder } from './extensionFixtures';

const SIZE = 8 * 1024 * 1024;

describe('Artifact Fetch in a real extension host: downloads through the exported API', function () {
  this.timeout(90_000);
  const body = makeArtifact(SIZE, 'exthost-download');
  const sha256 = sha256Hex(body);
  let api: ArtifactFetchApi;
  let primary: Mirror;
  let second: Mirror;
  let ruleMirror: Mirror;

  before(async () => {
    api = await artifactFetchApi();
    [primary, second, ruleMirror] = await Promise.all([startMirror({ body }), startMirror({ body }), startMirror({ body })]);
    await trustHostsInUserSettings([primary, second, ruleMirror]);
  });

  after(async () => {
    await resetSettings();
    await Promise.all([primary, second, ruleMirror].map((mirror) => mirror?.close()));
  });

  afterEach(async () => {
    // Back to the defaults, keeping the user-level host trust.
    const config = vscode.workspace.getConfiguration('artifactFetch');
    for (const key of ['mirrors', 'downloadFolder']) {
      if (config.inspect(key)?.workspaceValue !== undefined) await config.update(key, undefined, vscode.ConfigurationTarget.Workspace);
    }
    for (const mirror of [primary, second, ruleMirror]) mirror.update({ bytesPerSecond: undefined });
  });

  it('downloads from two loopback mirrors in parallel and lands the verified file in artifactFetch.downloadFolder', async () => {
    // Capped so that both mirrors are needed.
    primary.update({ bytesPerSecond: 6e6 });
    second.update({ bytesPerSecond: 6e6 });
    const result = await api.download({ url: primary.url, mirrors: [second.url], sha256, fileName: 'two-mirrors.bin' });
    assert.equal(result.ok, true, result.error?.message);
    assert.equal(result.verifiedBy, 'sha256');
    assert.equal(result.sha256, sha256);
    const expectedPath = path.join(workspaceFolder().uri.fsPath, 'artifacts', 'two-mirrors.bin');
    assert.equal(fs.realpathSync(result.path), fs.realpathSync(expectedPath));
    assert.equal(await sha256FileHex(expectedPath), sha256);
    assert.ok(rangedBytesServed(primary) > 0 && rangedBytesServed(second) > 0, 'both mirrors sent ranged bytes');
    const listed = api.list().find((info) => info.name === 'two-mirrors.bin');
    assert.equal(listed?.status, 'completed');
    assert.equal(listed?.percent, 100);
    const stateFolder = path.join(workspaceFolder().uri.fsPath, '.artifact-fetch');
    assert.equal(fs.readFileSync(path.join(stateFolder, '.gitignore'), 'utf8'), '*\n', 'partial data is kept out of git');
    // The engine keeps the verified file's manifest there; the .part, journal and lock are gone.
    assert.deepEqual(fs.readdirSync(stateFolder).filter((file) => file.startsWith('two-mirrors.bin')), ['two-mirrors.bin.manifest.json']);
  });

  it('follows a change of artifactFetch.downloadFolder (workspace setting) for the next download', async () => {
    await settings().update('downloadFolder', 'e2e-out/nested', vscode.ConfigurationTarget.Workspace);
    assert.equal(settings().get('downloadFolder'), 'e2e-out/nested');
    const result = await api.download({ url: primary.url, sha256, fileName: 'moved.bin' });
    assert.equal(result.ok, true, result.error?.message);
    const expectedPath = path.join(workspaceFolder().uri.fsPath, 'e2e-out', 'nested', 'moved.bin');
    assert.equal(fs.realpathSync(result.path), fs.realpathSync(expectedPath));
    assert.equal(await sha256FileHex(expectedPath), sha256);
    assert.equal(fs.existsSync(path.join(workspaceFolder().uri.fsPath, 'artifacts', 'moved.bin')), false);
  });

  it('adds the mirror of a matching artifactFetch.mirrors rule, and that mirror serves part of the file', async () => {
    await settings().update('mirrors', [{ prefix: `${primary.origin}/`, mirrors: [{ url: `${ruleMirror.origin}/`, priority: 1 }] }], vscode.ConfigurationTarget.Workspace);
    primary.update({ bytesPerSecond: 4e6 });
    ruleMirror.update({ bytesPerSecond: 4e6 });
    const before = ruleMirror.requests.length;
    const result = await api.download({ url: primary.url, sha256, fileName: 'with-rule.bin' });
    assert.equal(result.ok, true, result.error?.message);
    const fromRule = result.sources.find((source) => source.url === ruleMirror.url);
    assert.ok(fromRule, `the rule's mirror is a source: ${result.sources.map((source) => source.url).join(', ')}`);
    assert.ok(fromRule.bytes > 0, 'the rule mirror delivered bytes');
    const requests = ruleMirror.requests.slice(before);
    assert.ok(requests.some((request) => request.method === 'GET' && request.range && request.bytesSent > 0), 'ranged GETs reached the rule mirror');
    assert.equal(await sha256FileHex(result.path), sha256);
  });

  it('leaves the rule mirror out when the caller says useSettingsMirrors: false', async () => {
    await settings().update('mirrors', [{ prefix: `${primary.origin}/`, mirrors: [`${ruleMirror.origin}/`] }], vscode.ConfigurationTarget.Workspace);
    const before = ruleMirror.requests.length;
    const result = await api.download({ url: primary.url, sha256, fileName: 'without-rule.bin', useSettingsMirrors: false });
    assert.equal(result.ok, true, result.error?.message);
    assert.deepEqual(result.sources.map((source) => source.url), [primary.url]);
    assert.equal(ruleMirror.requests.length, before, 'no request reached the rule mirror');
  });

  it('streams a running download in order: api.openStream() and the Copy Stream URL command give the verified bytes', async () => {
    primary.update({ bytesPerSecond: 3e6 });
    let downloadId: string | undefined;
    const added = api.onDidChange((change) => { if (change.kind === 'added') downloadId ??= change.id; });
    const finished = api.download({ url: primary.url, sha256, fileName: 'streamed.bin' });
    await waitUntil(() => api.list().find((entry) => entry.id === downloadId)?.status === 'downloading', 20_000, 'the download to run');
    added.dispose();
    // The command copies the loopback URL (with its token) for the one running download.
    await vscode.commands.executeCommand('artifactFetch.copyStreamUrl');
    const copied = await vscode.env.clipboard.readText();
    assert.match(copied, /^http:\/\/127\.0\.0\.1:\d+\/[^/]+\/streamed\.bin\?token=[A-Za-z0-9_-]{16,}$/, `copied: ${copied.replace(/token=.*/, 'token=…')}`);
    // Both readers start while the download runs (a stream exists only then) and read to the end.
    const [viaUrl, viaApi] = await Promise.all([
      fetch(copied).then(async (response) => ({ status: response.status, bytes: Buffer.from(await response.arrayBuffer()) })),
      api.openStream(downloadId!).then(readAll),
    ]);
    const result = await finished;
    assert.equal(result.ok, true, result.error?.message);
    assert.equal(viaUrl.status, 200);
    assert.equal(sha256Hex(viaUrl.bytes), sha256, 'the stream URL served the exact file');
    assert.equal(sha256Hex(viaApi), sha256, 'api.openStream() read the exact file');
    // Once the download is over its stream is gone: the URL no longer answers with bytes.
    const afterwards = await fetch(copied).then((response) => response.status, () => 0);
    assert.notEqual(afterwards, 200, 'the stream URL still served bytes after the download ended');
  });

  it('pauses and resumes a running download through the API, and it still completes verified', async () => {
    primary.update({ bytesPerSecond: 2e6 });
    let downloadId: string | undefined;
    const added = api.onDidChange((change) => { if (change.kind === 'added') downloadId ??= change.id; });
    const finished = api.download({ url: primary.url, sha256, fileName: 'paused.bin' });
    const info = () => api.list().find((entry) => entry.id === downloadId);
    await waitUntil(() => (info()?.bytesDone ?? 0) > 0 && info()?.status === 'downloading', 20_000, 'the download to start moving');
    added.dispose();
    await api.pause(downloadId!);
    await waitUntil(() => info()?.status === 'paused', 10_000, 'the paused state');
    const pausedAt = info()!.bytesDone;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.ok(info()!.bytesDone - pausedAt < 512 * 1024, `little moves while paused (${info()!.bytesDone - pausedAt} bytes)`);
    primary.update({ bytesPerSecond: undefined });
    await api.resume(downloadId!);
    const result = await finished;
    assert.equal(result.ok, true, result.error?.message);
    assert.equal(await sha256FileHex(result.path), sha256);
    assert.equal(info()?.status, 'completed');
  });
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
