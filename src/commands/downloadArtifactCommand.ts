import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AccessTokens } from '../config/accessTokens';
import { readDownloadSettings } from '../config/downloadSettings';
import { sourcesForUrl } from '../config/mirrorRules';
import { originHeadersFor } from '../config/originHeaders';
import { withProxyRoutes } from '../config/proxyRoutes';
import { resolveTarget } from '../config/targetLocation';
import type { ExpectedIdentity, SourceSpec } from '../engine/jobOptions';
import { nameFromUrl } from '../engine/security/pathSafety';
import type { MirrorDiscovery } from '../protocol/messages';
import type { EngineClient } from '../worker/engineClient';
import type { ExtensionLog } from '../views/extensionLog';
import { pickWorkspaceFolder, type DownloadLauncher } from './downloadLauncher';
import { reportCommandError } from './reportCommandError';
import { askPick, askText, BACK } from './quickInputSteps';

const TITLE = 'Download an Artifact';
const HEX_256 = /^[0-9a-fA-F]{64}$/;
/** Mirror discovery is a convenience; a slow primary must not hold up the wizard. */
const DISCOVERY_TIMEOUT_MS = 8_000;

interface MirrorItem extends vscode.QuickPickItem {
  source: SourceSpec;
}

/** What the wizard's answers add up to. */
interface WizardAnswers {
  urls: string[];
  mirrors: SourceSpec[];
  expectation: string;
  targetPath: string;
}

function parseUrls(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

function urlProblem(text: string): string | undefined {
  const urls = parseUrls(text);
  if (urls.length === 0) return 'Enter the URL of the artifact';
  for (const url of urls) {
    try {
      const protocol = new URL(url).protocol;
      if (protocol !== 'http:' && protocol !== 'https:') return `${url} is not an http(s) URL`;
    } catch {
      return `${url} is not a URL`;
    }
  }
  return undefined;
}

function describeOrigin(source: SourceSpec): string {
  switch (source.origin) {
    case 'settings': return 'from artifactFetch.mirrors';
    case 'link-header': return "from the primary's Link header";
    default: return 'typed';
  }
}

/**
 * "Download an Artifact…": a multi-step input (URLs; mirrors from settings and the primary's Link
 * headers, shown for confirmation; expected SHA-256 or manifest; target path), then a download
 * with a progress notification.
 */
export class DownloadArtifactCommand {
  constructor(
    private readonly client: EngineClient,
    private readonly tokens: AccessTokens,
    private readonly launcher: DownloadLauncher,
    private readonly log: ExtensionLog,
  ) {}

  async run(): Promise<void> {
    try {
      const folder = await pickWorkspaceFolder();
      const answers = await this.ask(folder);
      if (!answers) return;
      const [primary, ...typed] = answers.urls;
      const expected = await this.expectedIdentity(answers.expectation, primary, folder);
      await this.launcher.launch({
        sources: [{ url: primary, origin: 'user' }, ...typed.map((url): SourceSpec => ({ url, origin: 'user' })), ...answers.mirrors],
        fileName: path.basename(answers.targetPath),
        folder: path.dirname(answers.targetPath),
        workspaceFolder: folder,
        expected,
        // The user confirmed the mirror list, Link-header ones included; the engine adds no others.
        useLinkHeaderMirrors: false,
        origin: 'palette',
      });
    } catch (error) {
      reportCommandError(this.log, 'Download failed to start', error);
    }
  }

  private async ask(folder: vscode.WorkspaceFolder): Promise<WizardAnswers | undefined> {
    const settings = readDownloadSettings(folder.uri);
    const answers: WizardAnswers = { urls: [], mirrors: [], expectation: '', targetPath: '' };
    let discovery: MirrorDiscovery | undefined;
    let mirrorItems: MirrorItem[] = [];
    const totalSteps = 4;
    let step = 1;
    while (step <= totalSteps) {
      if (step === 1) {
        const value = await askText({
          title: TITLE, step, totalSteps,
          prompt: 'URL of the artifact. More URLs of the same file, separated by spaces, are used as mirrors.',
          placeholder: 'https://example.com/releases/model.bin',
          value: answers.urls.join(' '),
          validate: urlProblem,
        });
        if (value === undefined || value === BACK) return undefined;
        answers.urls = parseUrls(value);
        const primary = answers.urls[0];
        discovery = await this.discover(primary, withProxyRoutes([{ url: primary }], settings.proxy)[0].proxy);
        mirrorItems = mirrorChoices(answers.urls, [...sourcesForUrl(primary, settings.rules).slice(1), ...(discovery?.sources ?? [])]);
        answers.mirrors = [];
        step = mirrorItems.length > 0 ? 2 : 3;
        continue;
      }
      if (step === 2) {
        const picked = await askPick({
          title: TITLE, step, totalSteps,
          placeholder: `Mirrors holding the same file as ${new URL(answers.urls[0]).host} (every byte is verified either way)`,
          items: mirrorItems, canPickMany: true, selected: mirrorItems,
        });
        if (picked === undefined) return undefined;
        if (picked === BACK) { step = 1; continue; }
        answers.mirrors = picked.map((item) => item.source);
        step = 3;
        continue;
      }
      if (step === 3) {
        const announced = discovery?.sha256 && answers.urls[0].startsWith('https:') ? discovery.sha256 : '';
        const value = await askText({
          title: TITLE, step, totalSteps,
          prompt: announced
            ? 'Expected SHA-256 (the primary announced this one), a manifest path or https URL, or empty'
            : 'Expected SHA-256, a manifest path or https URL on the primary\'s origin, or empty to verify by cross-checking sources',
          placeholder: '64 hex digits, artifacts/model.bin.manifest.json, or https://…/model.bin.manifest.json',
          value: answers.expectation || announced,
          validate: (text) => expectationProblem(text, folder),
        });
        if (value === undefined) return undefined;
        if (value === BACK) { step = mirrorItems.length > 0 ? 2 : 1; continue; }
        answers.expectation = value.trim();
        step = 4;
        continue;
      }
      const defaultName = nameFromUrl(answers.urls[0]) ?? 'download.bin';
      const value = await askText({
        title: TITLE, step, totalSteps,
        prompt: `Where to save it, relative to the workspace folder ${folder.name}`,
        value: answers.targetPath || `${settings.downloadFolder}/${defaultName}`,
        validate: (text) => targetProblem(text, folder),
      });
      if (value === undefined) return undefined;
      if (value === BACK) { step = 3; continue; }
      answers.targetPath = value.trim();
      step = 5;
    }
    return answers;
  }

  /** Asks the worker for the primary's Link-header mirrors; failures only cost the suggestions. */
  private async discover(url: string, proxy: string | undefined): Promise<MirrorDiscovery | undefined> {
    try {
      const headers = await originHeadersFor([{ url }], (origin) => this.tokens.get(origin));
      const request = this.client.request('discoverMirrors', { url, headers: headers ? Object.values(headers)[0] : undefined, proxy });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), DISCOVERY_TIMEOUT_MS); });
      const found = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'Artifact Fetch: looking for mirrors…' },
        () => Promise.race([request, timeout]),
      );
      clearTimeout(timer);
      if (found) this.log.write('info', `${url}: ${found.sources.length} mirror(s) in Link headers`);
      return found;
    } catch (error) {
      this.log.write('warn', `mirror discovery for ${url} failed: ${(error as Error).message}`);
      return undefined;
    }
  }

  private async expectedIdentity(text: string, primaryUrl: string, folder: vscode.WorkspaceFolder): Promise<ExpectedIdentity | undefined> {
    if (!text) return undefined;
    if (HEX_256.test(text)) return { sha256: text.toLowerCase() };
    const reference = /^https:\/\//i.test(text) ? text : path.resolve(folder.uri.fsPath, text);
    const manifest = await this.client.request('readManifest', { reference, primaryUrl });
    return manifest.expected;
  }
}

/** One pick item per candidate mirror, leaving out typed URLs and duplicates (same URL and route). */
function mirrorChoices(typedUrls: readonly string[], candidates: readonly SourceSpec[]): MirrorItem[] {
  const seen = new Set(typedUrls.map((url) => `${url} `));
  const items: MirrorItem[] = [];
  for (const source of candidates) {
    const key = `${source.url} ${source.proxy ?? ''}`;
    if (seen.has(key) || typedUrls.includes(source.url)) continue;
    seen.add(key);
    items.push({ label: new URL(source.url).host, description: describeOrigin(source), detail: source.proxy ? `${source.url} via ${source.proxy}` : source.url, source });
  }
  return items;
}

function expectationProblem(text: string, folder: vscode.WorkspaceFolder): string | undefined {
  const value = text.trim();
  if (!value || HEX_256.test(value) || /^https:\/\//i.test(value)) return undefined;
  if (/^http:\/\//i.test(value)) return 'A manifest URL must be https (it is a trusted commitment)';
  if (/^[0-9a-fA-F]+$/.test(value)) return 'A SHA-256 has 64 hex digits';
  return fs.existsSync(path.resolve(folder.uri.fsPath, value)) ? undefined : `No manifest file at ${value}`;
}

function targetProblem(text: string, folder: vscode.WorkspaceFolder): string | undefined {
  const value = text.trim();
  if (!value) return 'Enter a path such as artifacts/model.bin';
  try {
    resolveTarget(folder.uri.fsPath, path.dirname(value), path.basename(value));
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
