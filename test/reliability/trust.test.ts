/**
 * RELIABILITY.md §F, security and trust: credentials on redirects and across mirrors, HTTPS
 * downgrades, workspace settings, tokens in settings, secrets in logs, TLS and proxy MITM. Every
 * in-process job here carries the canary token (see fixtures.ts) and is scanned for it.
 * Related: test/security/redaction.test.ts (the redactor, unit level), test/host/accessAndTrust.test.ts,
 * test/host/packageManifest.test.ts, test/host/targetLocation.test.ts, test/vscode/restricted.e2e.ts
 * (Restricted Mode in a real VS Code).
 */
import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessTokens } from '../../src/config/accessTokens';
import { parseMirrorRules, sourcesForUrl } from '../../src/config/mirrorRules';
import { credentialsInSettingFiles, moveSettingsCredentials } from '../../src/config/settingsCredentialMigration';
import { hostsNeedingConsent } from '../../src/config/hostTrust';
import { resolveTarget } from '../../src/config/targetLocation';
import type { JobEvent, JobSnapshot, DownloadResult } from '../../src/engine/snapshot';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { startMitmProxy } from '../harness/mitmProxy';
import { testCa } from '../harness/testCa';
import { runCli } from '../engine/fixtures';
import {
  CANARY,
  CANARY_HEADER,
  KiB,
  MiB,
  assertFileEquals,
  buildCli,
  canaryHits,
  record,
  runRel,
  useRelFixtures,
  workerClient,
} from './fixtures';

const PIECE = 64 * KiB;
const REPO = path.join(__dirname, '../..');

/** Credential headers of every kind, all carrying the canary, for one origin. */
function allCredentials(): Record<string, string> {
  return {
    authorization: CANARY_HEADER,
    cookie: `session=${CANARY}`,
    'proxy-authorization': `Basic ${Buffer.from(`u:${CANARY}`).toString('base64')}`,
    'x-api-key': CANARY,
    'private-token': CANARY,
  };
}

describe('reliability §F: security and trust', function () {
  this.timeout(40_000);
  const fx = useRelFixtures();

  before(async function () {
    this.timeout(60_000);
    await buildCli();
    testCa();
  });

  it('T01 a redirect to another origin (host or port) carries no credential of the first; a token configured for the new origin is the only one it gets', async () => {
    const body = makeArtifact(1 * MiB, 't01');
    for (const where of ['another host (127.0.0.2)', 'another port']) {
      const target = await fx.mirror({ body, host: where.includes('host') ? '127.0.0.2' : '127.0.0.1' });
      const origin = await fx.mirror({ body, redirectTo: target.urlFor('/moved.bin') });
      const output = path.join(await fx.tempDir(), 't01.bin');
      const ownToken = `Bearer other-origin-token-${where.length}`;
      const { result, leaks } = await runRel(fx, {
        sources: [{ url: origin.url }],
        outputPath: output,
        pieceSize: PIECE,
        expected: { sha256: sha256Hex(body) },
        originHeaders: { [origin.origin]: allCredentials(), [target.origin]: { authorization: ownToken } },
      });
      assert.equal(result.ok, true, JSON.stringify(result.error));
      assert.ok(target.requests.length > 0, 'the redirect was not followed');
      assert.deepEqual(leaks, [], `${where}: the canary leaked`);
      for (const request of target.requests) {
        assert.equal(request.headers.authorization, ownToken, `${where}: the new origin's own token is not what it got`);
        for (const name of ['cookie', 'proxy-authorization', 'x-api-key', 'private-token']) assert.equal(request.headers[name], undefined, `${where}: ${name} crossed the redirect`);
      }
    }
  });

  it('T03 an HTTPS source redirecting to cleartext HTTP: no cleartext request at all (so no token on it); the job fails over or fails clearly', async () => {
    const ca = testCa();
    const body = makeArtifact(1 * MiB, 't03');
    const cleartext = await fx.mirror({ body });
    const behind = await fx.mirror({ body, redirectTo: cleartext.url });
    const front = await fx.tls({ host: '127.0.0.1', port: behind.port }, ca.server);
    const output = path.join(await fx.tempDir(), 't03.bin');
    const alone = await runRel(fx, { sources: [{ url: front.url() }], outputPath: output, pieceSize: PIECE, ca: ca.caPem }, { trustedOrigins: [behind.origin] });
    assert.equal(alone.result.ok, false);
    assert.match(alone.result.error!.message, /HTTPS to cleartext|downgrade/i);
    assert.equal(cleartext.requests.length, 0, 'a cleartext request was sent after an HTTPS→HTTP redirect');
    assert.deepEqual(alone.leaks, []);

    const healthyBehind = await fx.mirror({ body, bytesPerSecond: 8e6 });
    const healthy = await fx.tls({ host: '127.0.0.1', port: healthyBehind.port }, ca.server);
    const out2 = path.join(await fx.tempDir(), 't03b.bin');
    const over = await runRel(fx, { sources: [{ url: front.url() }, { url: healthy.url() }], outputPath: out2, pieceSize: PIECE, ca: ca.caPem, expected: { sha256: sha256Hex(body) } }, { trustedOrigins: [behind.origin] });
    assert.equal(over.result.ok, true, JSON.stringify(over.result.error));
    await assertFileEquals(out2, body);
    assert.equal(cleartext.requests.length, 0);
    assert.deepEqual(over.leaks, []);
  });

  it('T05 a token bound to mirror A reaches no other mirror: not another port, not another host, not a Link-header fallback', async () => {
    const body = makeArtifact(2 * MiB, 't05');
    const linked = await fx.mirror({ body, host: '127.0.0.2', bytesPerSecond: 4e6 });
    const a = await fx.mirror({ body, bytesPerSecond: 4e6, headers: { Link: `<${linked.url}>; rel=duplicate; pri=1` } });
    const samePortOtherPath = a.urlFor('/again/artifact.bin');
    const b = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const c = await fx.mirror({ body, host: '127.0.0.2', bytesPerSecond: 4e6 });
    const output = path.join(await fx.tempDir(), 't05.bin');
    const { result, leaks } = await runRel(fx, {
      sources: [{ url: a.url }, { url: b.url }, { url: c.url }, { url: samePortOtherPath }],
      outputPath: output,
      pieceSize: PIECE,
      expected: { sha256: sha256Hex(body) },
      originHeaders: { [a.origin]: allCredentials() },
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    for (const [name, mirror] of [['B (other port)', b], ['C (other host)', c], ['Link fallback', linked]] as const) {
      assert.ok(mirror.requests.length > 0, `${name} was never asked: the test proves nothing`);
    }
    assert.deepEqual(leaks, [], 'the token reached another origin or a report');
    assert.ok(a.requests.every((r) => r.headers.authorization === CANARY_HEADER), 'the origin it belongs to did not get it');
  });

  it('T06 malicious workspace settings: mirrors and the folder are restricted settings, a new host needs consent, and target folders outside the workspace are refused', async () => {
    // (Restricted Mode itself runs in a real VS Code: test/vscode/restricted.e2e.ts.)
    const manifest = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    const properties = manifest.contributes.configuration.properties as Record<string, { scope?: string }>;
    const restricted = new Set<string>(manifest.capabilities.untrustedWorkspaces.restrictedConfigurations);
    for (const [key, setting] of Object.entries(properties)) {
      if (/mirror|proxy|folder|token|secret|ca\b|cert|tls|ssl|insecure|verify/i.test(key)) {
        assert.ok(restricted.has(key) || setting.scope === 'application' || setting.scope === 'machine', `${key} can be set by a workspace in Restricted Mode`);
      }
      assert.doesNotMatch(key, /insecure|strictSSL|rejectUnauthorized|ignoreCert|skipVerif/i, `${key}: a setting that turns TLS checks off`);
    }
    // A host named only in workspace settings is not trusted: it needs the user's consent.
    assert.deepEqual(hostsNeedingConsent(['https://attacker.test/x.bin'], new Set(['user.test']), new Set()), ['attacker.test']);
    // Target folders a cloned repo might set.
    const workspace = (await fx.tempDir());
    for (const folder of ['../../', '..', '/etc', '.git/hooks', 'sub/.vscode', '.artifact-fetch', 'C:\\Windows']) {
      assert.throws(() => resolveTarget(workspace, folder, 'x.bin'), (e: { code?: string }) => e.code === 'E_UNSAFE_PATH', folder);
    }
    // `~` means nothing special: it stays a folder inside the workspace, never the home folder.
    const tilde = resolveTarget(workspace, '~/.ssh', 'authorized_keys').outputPath;
    assert.ok(tilde.startsWith(workspace + path.sep) && !tilde.startsWith(os.homedir() + path.sep + '.ssh'), tilde);
  });

  it('T07 tokens live only in SecretStorage: no setting holds one, and a credential pasted into a mirror URL in settings is flagged (never silently used)', async () => {
    const manifest = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    for (const key of Object.keys(manifest.contributes.configuration.properties)) {
      assert.doesNotMatch(key, /token|secret|password|credential|apiKey/i, `${key}: a setting meant to hold a credential`);
    }
    const tokens = readFileSync(path.join(REPO, 'src/config/accessTokens.ts'), 'utf8');
    assert.match(tokens, /secrets\.store/);
    assert.doesNotMatch(tokens, /getConfiguration/);
    for (const file of readdirSync(path.join(REPO, 'src/commands'))) {
      const code = readFileSync(path.join(REPO, 'src/commands', file), 'utf8');
      assert.doesNotMatch(code, /getConfiguration\([^)]*\)\.update\([^)]*token/i, `${file} writes a token into settings`);
    }
    // A user pasted a token into a mirror URL and a proxy URL in settings.json.
    const parsed = parseMirrorRules([{ prefix: 'https://releases.test/', mirrors: [`https://user:${CANARY}@mirror.test/r/`, { url: 'https://ok.test/r/', proxy: `http://u:${CANARY}@proxy.test:3128` }] }]);
    const used = JSON.stringify(parsed.rules);
    const warned = parsed.problems.some((p) => /credential|password|token|secret/i.test(p));
    assert.deepEqual(canaryHits('problems', parsed.problems), [], 'the warning repeats the secret');
    assert.ok(warned, `no warning about credentials stored in settings: ${JSON.stringify(parsed.problems)}`);
    assert.ok(!used.includes(CANARY), 'the credential from settings is used as is');

    // Workspace settings (a cloned repo) name a loopback mirror with the token in its URL: the
    // download uses the mirror, and no request to it carries the token (URL or headers).
    const body = makeArtifact(1 * MiB, 't07');
    const primary = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const mirror = await fx.mirror({ body, host: '127.0.0.2' });
    const workspaceValue = [{ prefix: `${primary.origin}/`, mirrors: [`${mirror.origin.replace('http://', `http://user:${CANARY}@`)}/?access_token=${CANARY}`] }];
    const fromWorkspace = parseMirrorRules(workspaceValue);
    assert.equal(fromWorkspace.problems.length, 2, JSON.stringify(fromWorkspace.problems));
    const sources = sourcesForUrl(primary.url, fromWorkspace.rules);
    assert.equal(sources.length, 2);
    const output = path.join(await fx.tempDir(), 't07.bin');
    const run = await runRel(fx, { sources, outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } }, { canaryOrigin: false });
    assert.equal(run.result.ok, true, JSON.stringify(run.result.error));
    assert.ok(mirror.requests.length > 0, 'the mirror from settings was not used at all');
    for (const request of [...mirror.requests, ...primary.requests]) {
      assert.equal(request.headers.authorization, undefined, `a request carried Authorization: ${request.url}`);
      assert.deepEqual(canaryHits('request', [request.url, JSON.stringify(request.headers)]), []);
    }

    // The offered migration (the same module the extension runs, over in-memory settings and
    // SecretStorage): the user-settings token lands in SecretStorage for its exact origin, the
    // workspace one is only removed, and no JSON settings file holds a token afterwards.
    const secrets = new Map<string, string>();
    const state = new Map<string, unknown>();
    const accessTokens = new AccessTokens(
      { get: async (key: string) => secrets.get(key), store: async (key: string, value: string) => { secrets.set(key, value); }, delete: async (key: string) => { secrets.delete(key); } } as never,
      { get: (key: string) => state.get(key), update: async (key: string, value: unknown) => { state.set(key, value); } } as never,
    );
    const files = (['user', 'workspace'] as const).map((scope) => {
      const file = { scope, value: scope === 'user' ? [{ prefix: 'https://releases.test/', mirrors: [`https://user:${CANARY}@mirror.test/r/`] }] : workspaceValue as unknown, read: () => file.value, write: async (next: unknown) => { file.value = next; } };
      return file;
    });
    const report = await moveSettingsCredentials(files, accessTokens);
    assert.deepEqual(report.moved, ['https://mirror.test']);
    assert.equal(await accessTokens.get('https://mirror.test'), CANARY);
    assert.equal(secrets.size, 1, 'a workspace credential was read into SecretStorage');
    assert.deepEqual(canaryHits('settings.json', files.map((f) => JSON.stringify(f.value))), [], 'a token is still in settings');
    assert.deepEqual(credentialsInSettingFiles(files), []);
  });

  it('T08 no canary anywhere: URL userinfo, a pre-signed query, a token header, with errors, redirects and retries — events, snapshots, results, worker messages, CLI output', async () => {
    const body = makeArtifact(1 * MiB, 't08');
    const other = await fx.mirror({ body, host: '127.0.0.2' });
    const good = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const redirecting = await fx.mirror({ body, redirectTo: `${other.url}?X-Amz-Signature=${CANARY}` });
    // Retried twice (503), then refused (404): each run that reaches it sees the retries and the refusal.
    const failing = await fx.mirror({ body, onRequest: (_req, res, { entry }) => {
      const status = entry === failingRequests()[0] || entry === failingRequests()[1] ? 503 : 404;
      entry.status = status;
      res.writeHead(status, { 'Content-Length': '0', ...(status === 503 ? { 'Retry-After': '0' } : {}) });
      res.end();
      return true;
    } });
    const failingRequests = () => failing.requests.slice(failingFrom);
    let failingFrom = 0;
    const sources = [
      { url: `${good.url}?X-Amz-Signature=${CANARY}&token=${CANARY}` },
      { url: `${good.origin.replace('http://', `http://user:${CANARY}@`)}/artifact.bin` },
      { url: `${failing.url}?sig=${CANARY}` },
      { url: redirecting.url },
      { url: `http://127.0.0.1:9/dead.bin?access_token=${CANARY}` },
    ];
    // In process.
    const output = path.join(await fx.tempDir(), 't08.bin');
    const run = await runRel(fx, { sources, outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } }, { trustedOrigins: [good.origin, other.origin, failing.origin] });
    assert.equal(run.result.ok, true, JSON.stringify(run.result.error));
    const jobTexts = [...run.events.map((e) => e.message), JSON.stringify(run.result), ...run.snapshots.map((s) => JSON.stringify(s))];
    assert.deepEqual(canaryHits('job', jobTexts), []);
    // A failing job (no usable source): the error message and causes.
    const out2 = path.join(await fx.tempDir(), 't08-fail.bin');
    failingFrom = failing.requests.length;
    const failed = await runRel(fx, { sources: [sources[2]], outputPath: out2, pieceSize: PIECE }, { trustedOrigins: [failing.origin, other.origin, good.origin] });
    assert.equal(failed.result.ok, false);
    assert.deepEqual(canaryHits('failed job', [JSON.stringify(failed.result), ...failed.events.map((e) => e.message)]), []);

    // Through the worker, as the extension runs it: every message the host receives.
    const { client } = await workerClient(fx);
    const seen: string[] = [];
    client.on('snapshot', (s: JobSnapshot) => seen.push(JSON.stringify(s)));
    client.on('jobEvent', (_id: string, e: JobEvent) => seen.push(e.message));
    client.on('log', (_level, message) => seen.push(message));
    const finished = new Promise<DownloadResult>((resolve) => client.on('jobResult', (_id, r) => resolve(r)));
    const out3 = path.join(await fx.tempDir(), 't08-worker.bin');
    await client.startJob('t08', { sources, outputPath: out3, pieceSize: PIECE, originHeaders: { [good.origin]: { authorization: CANARY_HEADER } } });
    const result = await finished;
    seen.push(JSON.stringify(result));
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.deepEqual(canaryHits('worker → host', seen), []);

    // The CLI: stdout (--json) and stderr, success and failure.
    const out4 = path.join(await fx.tempDir(), 't08-cli.bin');
    const ok = await runCli(['get', ...sources.map((s) => s.url), '-o', out4, '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    failingFrom = failing.requests.length;
    const bad = await runCli(['get', sources[2].url, '-o', `${out4}.2`, '--json']);
    assert.notEqual(bad.code, 0);
    const cliHits = canaryHits('cli', [ok.stdout, ok.stderr, bad.stdout, bad.stderr]);
    record({ figure: 'secrets', requestsScanned: 0, textsScanned: seen.length + jobTexts.length + 4, leaks: cliHits.length });
    assert.deepEqual(cliHits, []);
  });

  it('T10 an untrusted TLS peer (self-signed, wrong host name, or a CA not given) is refused: 0 bytes accepted from it, the trusted mirror finishes', async () => {
    const ca = testCa();
    const body = makeArtifact(2 * MiB, 't10');
    const sha256 = sha256Hex(body);
    const goodBehind = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const good = await fx.tls({ host: '127.0.0.1', port: goodBehind.port }, ca.server);
    for (const [name, certificate] of [['self-signed', ca.selfSigned], ['wrong host name', ca.wrongHost]] as const) {
      const behind = await fx.mirror({ body });
      const impostor = await fx.tls({ host: '127.0.0.1', port: behind.port }, certificate);
      const output = path.join(await fx.tempDir(), 't10.bin');
      const { result } = await runRel(fx, { sources: [{ url: impostor.url() }, { url: good.url() }], outputPath: output, pieceSize: PIECE, ca: ca.caPem, expected: { sha256 } }, { trustedOrigins: [goodBehind.origin] });
      assert.equal(result.ok, true, `${name}: ${JSON.stringify(result.error)}`);
      await assertFileEquals(output, body);
      assert.equal(behind.requests.length, 0, `${name}: an HTTP request went over an untrusted TLS session`);
      assert.equal(impostor.bytesDown, 0, `${name}: bytes accepted from an untrusted peer`);
      assert.equal(result.sources[0].state, 'excluded');
      assert.match(result.sources[0].reason, /TLS|certificate/i, result.sources[0].reason);
    }
    // Without the test CA, the test-CA mirror itself is untrusted: a clear error, nothing published.
    const output = path.join(await fx.tempDir(), 't10-noca.bin');
    const before = goodBehind.requests.length;
    const noCa = await runRel(fx, { sources: [{ url: good.url() }], outputPath: output, pieceSize: PIECE });
    assert.equal(noCa.result.ok, false);
    assert.match(noCa.result.error!.message, /TLS|certificate/i);
    assert.equal(goodBehind.requests.length, before);
  });

  it('T10 a CONNECT proxy that terminates TLS itself (MITM) or refuses the tunnel: 0 bytes accepted through it, the direct route finishes', async () => {
    const ca = testCa();
    const body = makeArtifact(2 * MiB, 't10p');
    const sha256 = sha256Hex(body);
    const behind = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const real = await fx.tls({ host: '127.0.0.1', port: behind.port }, ca.server);
    const fakeBehind = await fx.mirror({ body });
    const fake = await fx.tls({ host: '127.0.0.1', port: fakeBehind.port }, ca.selfSigned);
    const mitm = await startMitmProxy({ impostor: { host: '127.0.0.1', port: fake.port } });
    const refusing = await startMitmProxy({ refuseWith: 403 });
    fx.defer(() => mitm.close());
    fx.defer(() => refusing.close());
    for (const [name, proxy] of [['MITM', mitm], ['refusing', refusing]] as const) {
      const output = path.join(await fx.tempDir(), 't10p.bin');
      const { result } = await runRel(fx, { sources: [{ url: real.url(), proxy: proxy.url }, { url: real.url() }], outputPath: output, pieceSize: PIECE, ca: ca.caPem, expected: { sha256 } }, { trustedOrigins: [behind.origin] });
      assert.equal(result.ok, true, `${name}: ${JSON.stringify(result.error)}`);
      await assertFileEquals(output, body);
      assert.ok(proxy.tunnels.length > 0, `${name}: the proxy route was never tried`);
      assert.equal(result.sources[0].bytes, 0, `${name}: bytes kept from the proxied route`);
      assert.notEqual(result.sources[0].state, 'active', `${name}: the proxied route is still active`);
    }
    assert.equal(fakeBehind.requests.length, 0, 'an HTTP request went through the MITM');
    assert.equal(fake.bytesDown, 0, 'bytes accepted from the MITM');
  });
});
