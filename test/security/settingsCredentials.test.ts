import * as assert from 'node:assert/strict';
import { AccessTokens } from '../../src/config/accessTokens';
import { parseMirrorRules } from '../../src/config/mirrorRules';
import { moveSettingsCredentials, type MirrorSettingFile } from '../../src/config/settingsCredentialMigration';
import { credentialWarning, findMirrorSettingCredentials, urlCredentials } from '../../src/config/settingsCredentials';
import type { SettingsScope } from '../../src/config/settingsCredentials';

const SECRET = 'hf_CanarySecretValue0123456789';

/** SecretStorage and Memento in memory: just the calls AccessTokens makes. */
function memoryTokens(): { tokens: AccessTokens; secrets: Map<string, string> } {
  const secrets = new Map<string, string>();
  const state = new Map<string, unknown>();
  const secretStorage = {
    get: async (key: string) => secrets.get(key),
    store: async (key: string, value: string) => { secrets.set(key, value); },
    delete: async (key: string) => { secrets.delete(key); },
  };
  const memento = {
    get: <T>(key: string) => state.get(key) as T | undefined,
    update: async (key: string, value: unknown) => { state.set(key, value); },
  };
  return { tokens: new AccessTokens(secretStorage as never, memento as never), secrets };
}

/** A settings file in memory, as `inspect()` + `update()` would see it. */
function memoryFile(scope: SettingsScope, value: unknown): MirrorSettingFile & { value: unknown } {
  const file = {
    scope,
    value,
    read: () => file.value,
    write: async (next: unknown) => { file.value = next; },
  };
  return file;
}

describe('security: credentials in settings.json (artifactFetch.mirrors)', () => {
  it('finds a password, a lone user name and token query parameters in a URL, and strips only those', () => {
    const password = urlCredentials(`https://user:${SECRET}@mirror.test/r/`);
    assert.deepEqual(password.found.map((f) => f.secret), [SECRET]);
    assert.equal(password.stripped, 'https://mirror.test/r/');
    assert.deepEqual(urlCredentials(`https://${SECRET}@mirror.test/r/`).found.map((f) => f.where), ['a user name in the URL']);
    const query = urlCredentials(`https://mirror.test/r/?revision=main&access_token=abc123&X-Amz-Signature=def456&v=${SECRET}`);
    assert.deepEqual(query.found.map((f) => f.secret), ['abc123', 'def456', SECRET]);
    assert.equal(query.stripped, 'https://mirror.test/r/?revision=main');
    assert.deepEqual(urlCredentials('https://mirror.test/r/?revision=main').found, []);
    assert.equal(urlCredentials('not a url').stripped, 'not a url');
  });

  it('names the setting path of every credential, mirrors and proxies alike, with its scope and origin', () => {
    const raw = [{ prefix: 'https://releases.test/', mirrors: [
      `https://u:${SECRET}@a.test/r/`,
      { url: `https://b.test/r/?token=${SECRET}` },
      { url: 'https://c.test/r/', proxy: `http://p:${SECRET}@proxy.test:3128` },
    ] }];
    const found = findMirrorSettingCredentials(raw, 'workspace');
    assert.deepEqual(found.map((f) => [f.setting, f.origin, f.proxy, f.scope]), [
      ['artifactFetch.mirrors[0].mirrors[0]', 'https://a.test', false, 'workspace'],
      ['artifactFetch.mirrors[0].mirrors[1].url', 'https://b.test', false, 'workspace'],
      ['artifactFetch.mirrors[0].mirrors[2].proxy', 'http://proxy.test:3128', true, 'workspace'],
    ]);
  });

  it('warns without ever repeating the secret, and says what to do for each kind of file', () => {
    const [user] = findMirrorSettingCredentials([{ prefix: 'https://r.test/', mirrors: [`https://u:${SECRET}@a.test/`] }], 'user');
    const [workspace] = findMirrorSettingCredentials([{ prefix: 'https://r.test/', mirrors: [`https://u:${SECRET}@a.test/`] }], 'workspace');
    for (const warning of [credentialWarning(user), credentialWarning(workspace)]) {
      assert.ok(!warning.includes(SECRET), warning);
      assert.match(warning, /credential \(a password in the URL\) for https:\/\/a\.test; it is not used/);
    }
    assert.match(credentialWarning(user), /SecretStorage/);
    assert.match(credentialWarning(workspace), /workspace settings.*remove it and revoke it/);
  });

  it('parseMirrorRules flags the credential and uses the URL without it', () => {
    const parsed = parseMirrorRules([{ prefix: 'https://r.test/', mirrors: [{ url: `https://u:${SECRET}@a.test/r/`, proxy: `http://p:${SECRET}@proxy.test:3128` }] }]);
    assert.deepEqual(parsed.rules, [{ prefix: 'https://r.test/', mirrors: [{ url: 'https://a.test/r/', proxy: 'http://proxy.test:3128/' }] }]);
    assert.equal(parsed.problems.length, 2);
    assert.ok(!JSON.stringify(parsed).includes(SECRET));
  });

  it('moves a user-settings mirror token to SecretStorage for its exact origin and removes every credential from every file', async () => {
    const { tokens, secrets } = memoryTokens();
    const user = memoryFile('user', [{ prefix: 'https://r.test/', mirrors: [`https://u:${SECRET}@a.test/r/`, { url: 'https://c.test/', proxy: `http://p:${SECRET}-proxy@proxy.test:3128` }] }]);
    const workspace = memoryFile('workspace', [{ prefix: 'https://r.test/', mirrors: [`https://b.test/r/?access_token=${SECRET}-workspace`] }]);
    const report = await moveSettingsCredentials([user, workspace], tokens);
    assert.deepEqual(report, { moved: ['https://a.test'], removed: 3, kept: [] });
    assert.equal(await tokens.get('https://a.test'), SECRET);
    // Nothing from the workspace file or the proxy went into SecretStorage.
    assert.deepEqual([...secrets.values()], [SECRET]);
    assert.deepEqual(user.value, [{ prefix: 'https://r.test/', mirrors: ['https://a.test/r/', { url: 'https://c.test/', proxy: 'http://proxy.test:3128/' }] }]);
    assert.deepEqual(workspace.value, [{ prefix: 'https://r.test/', mirrors: ['https://b.test/r/'] }]);
    assert.ok(!JSON.stringify([user.value, workspace.value]).includes(SECRET));
  });

  it('keeps a different token already in SecretStorage and leaves files without credentials untouched', async () => {
    const { tokens } = memoryTokens();
    await tokens.set('https://a.test', 'stored-before');
    const clean = memoryFile('workspace', [{ prefix: 'https://r.test/', mirrors: ['https://b.test/'] }]);
    const cleanBefore = clean.value;
    const user = memoryFile('user', [{ prefix: 'https://r.test/', mirrors: [`https://u:${SECRET}@a.test/`] }]);
    const report = await moveSettingsCredentials([clean, user], tokens);
    assert.deepEqual(report, { moved: [], removed: 1, kept: ['https://a.test'] });
    assert.equal(await tokens.get('https://a.test'), 'stored-before');
    assert.equal(clean.value, cleanBefore);
    assert.ok(!JSON.stringify(user.value).includes(SECRET));
  });
});
