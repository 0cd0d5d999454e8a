/**
 * The extension as a user meets it: the packaged .vsix installed into a real VS Code
 * (code-server 4.100.3), driven through headless Chromium with playwright-core. One scenario,
 * one step per test (mocha --bail), a screenshot after each in .e2e/screenshots/ui-NN-*.png.
 *
 * Three loopback mirrors serve a 32 MiB artifact, slowly at first so the download can be watched:
 * the primary, a mirror that a user-level `artifactFetch.mirrors` rule adds, and one typed into
 * the wizard that starts serving corrupt bytes once it is active. The wizard gets the artifact's
 * manifest (piece hashes), so the engine bans that mirror on its first bad piece.
 *
 *   npm run package && npx mocha --no-config -r tsx/cjs --extension ts --timeout 240000 --bail test/e2e-ui/download.e2e.ts
 *   (npm run test:e2e does this after the setup)
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import * as env from '../../scripts/e2e/e2eEnv';
import { createManifest, serializeManifest } from '../../src/engine/integrity/manifest';
import { makeArtifact, sha256FileHex, sha256Hex } from '../harness/artifact';
import { startMirror, type Mirror } from '../harness/mirrorServer';
import { launchBrowser, startCodeServer, type CodeServer } from '../e2e-support/codeServer';
import { normalizeText, Workbench } from './workbench';

const SIZE = 48 * 1024 * 1024;
const PIECE_SIZE = 256 * 1024;
/** Per mirror until the last step: fast enough to show MB/s, slow enough to watch and pause. */
const WATCH_BYTES_PER_SECOND = 3e6;
const CONTAINER_ID = 'artifactFetch';
const VIEW_NAME = 'Downloads';
const STATUS_ITEM_ID = 'artifact-fetch.artifact-fetch.artifactFetch.throughput';
const COMMAND_LABEL = 'Artifact Fetch: Download an Artifact…';

/** Polls `probe` until it returns a value, or fails naming `what` and the last state seen. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, describeLast?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describeLast ? `; last seen: ${describeLast()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('Artifact Fetch UI in code-server (installed .vsix)', function () {
  this.timeout(240_000);
  const body = makeArtifact(SIZE, 'e2e-ui');
  const sha256 = sha256Hex(body);
  let primary: Mirror;
  let ruleMirror: Mirror;
  let corrupt: Mirror;
  let server: CodeServer;
  let browser: Browser;
  let page: Page;
  let bench: Workbench;
  let rows: Locator;
  const downloadRow = () => rows.and(page.locator('[aria-label^="Download artifact.bin,"]'));

  before(async () => {
    if (!fs.existsSync(env.VSIX)) throw new Error(`${env.VSIX} is missing: run \`npm run package\` (npm run test:e2e does)`);
    const started = Date.now();
    [primary, ruleMirror, corrupt] = await Promise.all([0, 1, 2].map(() => startMirror({ body, bytesPerSecond: WATCH_BYTES_PER_SECOND })));
    const artifactFile = path.join(env.E2E_DIR, 'ui-artifact.bin');
    fs.mkdirSync(env.SCREENSHOT_DIR, { recursive: true });
    for (const old of fs.readdirSync(env.SCREENSHOT_DIR).filter((file) => file.startsWith('ui-'))) fs.rmSync(path.join(env.SCREENSHOT_DIR, old));
    fs.writeFileSync(artifactFile, body);
    const manifest = serializeManifest(await createManifest(artifactFile, PIECE_SIZE, 'artifact.bin'));
    fs.rmSync(artifactFile);
    server = await startCodeServer({
      name: 'ui',
      vsix: env.VSIX,
      workspaceFiles: { 'artifact.bin.manifest.json': manifest },
      // A user-level rule: the wizard offers its mirror, and both hosts count as trusted.
      userSettings: { 'artifactFetch.mirrors': [{ prefix: `${primary.origin}/`, mirrors: [`${ruleMirror.origin}/`] }] },
    });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    bench = new Workbench(page, env.SCREENSHOT_DIR, 'ui');
    rows = bench.treeRows(CONTAINER_ID, VIEW_NAME);
    await page.goto(server.workbenchUrl());
    await bench.waitReady('Artifact Fetch');
    console.log(`      setup (mirrors, manifest, .vsix install, code-server, Chromium, workbench) ${Date.now() - started} ms`);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && bench) await bench.screenshot('FAILED').catch(() => undefined);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    await Promise.all([primary, ruleMirror, corrupt].map((mirror) => mirror?.close()));
  });

  it('opens the Artifact Fetch view from the activity bar, with the welcome text and its button', async () => {
    await bench.activityBarItem('Artifact Fetch').click();
    const container = bench.viewContainer(CONTAINER_ID);
    await bench.widenSideBar(640);
    await container.getByText('Fetch one large file from many mirrors at once').waitFor();
    await container.getByRole('button', { name: 'Download an Artifact…' }).waitFor();
    await bench.screenshot('view-welcome');
  });

  it('runs "Download an Artifact…" from the command palette and answers its four steps', async () => {
    await bench.runCommand(COMMAND_LABEL);
    await bench.waitForQuickInputMessage('URL of the artifact');
    await bench.quickInputBox.fill(`${primary.url} ${corrupt.url}`);
    await bench.screenshot('wizard-urls');
    await bench.quickInputBox.press('Enter');

    // Step 2 lists the rule's mirror, already checked.
    const offered = page.locator(`.quick-input-widget .monaco-list-row[role="checkbox"][aria-label*="${ruleMirror.host}:${ruleMirror.port}"]`);
    await offered.waitFor();
    assert.equal(await offered.getAttribute('aria-checked'), 'true');
    await bench.screenshot('wizard-mirrors');
    await bench.quickInputBox.press('Enter');

    await bench.waitForQuickInputMessage('Expected SHA-256');
    await bench.answer('artifact.bin.manifest.json');

    await bench.waitForQuickInputMessage('Where to save it');
    assert.equal(await bench.quickInputBox.inputValue(), 'artifacts/artifact.bin');
    await bench.quickInputBox.press('Enter');

    // The typed mirror's host is not in user settings: one consent dialog.
    await bench.answerDialog(`Download from ${corrupt.host}:${corrupt.port}?`, 'Allow');
    await downloadRow().first().waitFor();
  });

  it('shows the download live: sources with their MB/s, a segment advancing, the status bar throughput', async () => {
    await until('the download row to say downloading', async () => ((await downloadRow().getAttribute('aria-label'))?.includes(', downloading') ? true : undefined));
    // Once the third mirror passed its identity checks (size, first block, a random block) and is
    // active, it flips a byte in every 100 kB. Earlier, the spot check would exclude it instead.
    await rows.and(page.locator(`[aria-label^="Source ${corrupt.host}:${corrupt.port}, active,"]`)).waitFor();
    corrupt.update({ corrupt: { everyBytes: 100_003 } });

    const segmentsGroup = rows.and(page.locator('[aria-label^="Segments of artifact.bin,"]'));
    // A click can land while the tree re-renders the row and be lost: click until it is expanded.
    await until('the segments group to be expanded', async () => {
      if ((await segmentsGroup.getAttribute('aria-expanded')) === 'true') return true;
      await segmentsGroup.click();
      await page.waitForTimeout(1_000);
      return (await segmentsGroup.getAttribute('aria-expanded')) === 'true' ? true : undefined;
    });

    const progress = new Map<string, number[]>();
    let sourceTexts: string[] = [];
    await until('an active source showing MB/s and one segment row whose percent grows', async () => {
      const labels = await bench.ariaLabels(rows);
      for (const label of labels) {
        const match = /^Segment (\d+) to (\d+) from .*, (\d+) percent$/.exec(label);
        if (!match) continue;
        const key = `${match[1]}-${match[2]}`;
        const seen = progress.get(key) ?? [];
        const percent = Number(match[3]);
        if (seen.at(-1) !== percent) seen.push(percent);
        progress.set(key, seen);
      }
      sourceTexts = (await rows.and(page.locator('[aria-label^="Source "]')).allInnerTexts()).map(normalizeText);
      const sourceWithRate = sourceTexts.find((text) => /active · [1-9][\d.]* MB\/s/.test(text));
      const advancing = [...progress.values()].find((seen) => seen.length >= 2 && seen[seen.length - 1] > seen[0]);
      return sourceWithRate && advancing ? true : undefined;
    }, 30_000, () => JSON.stringify({ sourceTexts, segments: [...progress.entries()].slice(-4) }));

    const status = bench.statusBarItem(STATUS_ITEM_ID);
    await status.waitFor();
    assert.match(normalizeText(await status.innerText()), /\d[\d.]* (B|kB|MB)\/s · 1 active/);
    assert.match((await status.getAttribute('aria-label')) ?? '', /Artifact Fetch: .*1 download active/);
    await bench.screenshot('downloading');
  });

  it('pauses and resumes through the inline action of the download row', async () => {
    await bench.clickInlineAction(downloadRow(), 'Pause');
    await until('the paused state', async () => {
      const label = await downloadRow().getAttribute('aria-label');
      return label?.includes(', paused') ? label : undefined;
    });
    // The transfers the pause aborted still commit the bytes they had in flight (the engine's
    // contract: nothing is thrown away), so the percentage may move once more right after; the
    // tree refreshes at most every 300 ms.
    await page.waitForTimeout(1_000);
    const pausedLabel = await downloadRow().getAttribute('aria-label');
    assert.match(pausedLabel ?? '', /, paused/);
    await bench.screenshot('paused');
    await page.waitForTimeout(1_500);
    assert.equal(await downloadRow().getAttribute('aria-label'), pausedLabel, 'nothing moves while paused');

    await bench.clickInlineAction(downloadRow(), 'Resume');
    await until('the download to run again', async () => ((await downloadRow().getAttribute('aria-label'))?.includes(', downloading') ? true : undefined));
  });

  it('shows the corrupt mirror as banned, with the reason in its tooltip', async () => {
    const banned = rows.and(page.locator(`[aria-label^="Source ${corrupt.host}:${corrupt.port}, banned,"]`));
    await banned.waitFor({ timeout: 60_000 });
    assert.match(normalizeText(await banned.innerText()), /banned · sent corrupt data for piece \d+/);
    // The row's tooltip, as VS Code holds it on the label. A real hover cannot open on a row while
    // the download runs (VS Code re-renders the rows on every refresh); the completed row's can.
    const tooltip = (await banned.locator('.monaco-icon-label').getAttribute('aria-label')) ?? '';
    assert.match(tooltip, /banned: sent corrupt data for piece \d+/);
    assert.ok(tooltip.includes(corrupt.url), tooltip);
    await bench.screenshot('banned');
    await bench.mouseAway();
  });

  it('completes verified by the manifest; the file on disk is the artifact', async () => {
    for (const mirror of [primary, ruleMirror]) mirror.update({ bytesPerSecond: undefined });
    await until('the completed row', async () => ((await downloadRow().getAttribute('aria-label')) === 'Download artifact.bin, completed, 100 percent' ? true : undefined), 90_000);
    const tooltip = await bench.hoverText(downloadRow().locator('.monaco-icon-label'), /verified by merkle/);
    assert.match(tooltip, new RegExp(`SHA-256 ${sha256}`));
    await bench.screenshot('completed');
    await bench.mouseAway();
    await bench.statusBarItem(STATUS_ITEM_ID).waitFor({ state: 'hidden' });
    const file = path.join(server.workspace, 'artifacts', 'artifact.bin');
    assert.equal(await sha256FileHex(file), sha256);
    assert.ok(rangedBytes(primary) > 0 && rangedBytes(ruleMirror) > 0, 'the primary and the rule mirror both delivered');
  });

  it('"Reveal in Explorer" on the download shows the verified file in the Explorer', async () => {
    await bench.contextMenu(downloadRow(), 'Reveal in Explorer');
    const explorerRow = page.locator('.explorer-folders-view .monaco-list-row[aria-label="artifact.bin"]');
    await explorerRow.waitFor();
    await until('the file to be selected in the Explorer', async () => ((await explorerRow.getAttribute('aria-selected')) === 'true' ? true : undefined), 10_000);
    await bench.screenshot('explorer');
  });

  it('the Artifact Fetch log channel tells what happened', async () => {
    await bench.runCommand('Artifact Fetch: Show Log');
    const text = await until('the log lines in the Output panel', async () => {
      const shown = await bench.outputText().catch(() => '');
      return /artifact\.bin: done, 50331648 bytes/.test(shown) ? shown : undefined;
    });
    assert.match(text, /verified by merkle/);
    await bench.screenshot('log');
  });
});

function rangedBytes(mirror: Mirror): number {
  return mirror.requests.filter((request) => request.method === 'GET' && request.range).reduce((sum, request) => sum + request.bytesSent, 0);
}
