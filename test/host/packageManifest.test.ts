import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommandId, DOWNLOADS_VIEW_ID, VIEW_CONTAINER_ID } from '../../src/commands/commandIds';
import { CONFIG_SECTION, SettingKey } from '../../src/config/settingKeys';
import { downloadFacets } from '../../src/model/contextValue';

interface MenuEntry { command: string; when?: string; group?: string }

const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8'));
const contributes = manifest.contributes;

describe('package.json contributions match the code', () => {
  it('declares every command the code registers, and no other', () => {
    const declared = contributes.commands.map((command: { command: string }) => command.command).sort();
    assert.deepEqual(declared, Object.values(CommandId).sort());
    for (const command of contributes.commands) assert.equal(command.category, 'Artifact Fetch', command.command);
  });

  it('has the view container, the Downloads view with an SVG icon and one welcome button', () => {
    assert.equal(contributes.viewsContainers.activitybar[0].id, VIEW_CONTAINER_ID);
    const view = contributes.views[VIEW_CONTAINER_ID][0];
    assert.equal(view.id, DOWNLOADS_VIEW_ID);
    assert.ok(fs.existsSync(path.join(__dirname, '../..', view.icon)) && view.icon.endsWith('.svg'));
    const welcome = contributes.viewsWelcome.find((entry: { view: string }) => entry.view === DOWNLOADS_VIEW_ID);
    const buttons = welcome.contents.split('\n').filter((line: string) => /^\[[^\]]+\]\(command:[^)]+\)$/.test(line.trim()));
    assert.deepEqual(buttons, ['[Download an Artifact…](command:artifactFetch.download)']);
  });

  it('matches tree item menus only on facets the model produces', () => {
    const itemMenus: MenuEntry[] = contributes.menus['view/item/context'];
    for (const entry of itemMenus) {
      const match = /viewItem =~ \/\(\^\|\\\+\)(\w+)\(\\\+\|\$\)\//.exec(entry.when ?? '');
      assert.ok(match, `${entry.command}: ${entry.when}`);
      assert.ok((downloadFacets as readonly string[]).includes(match[1]), `${entry.command} matches unknown facet ${match[1]}`);
    }
    const inline = itemMenus.filter((entry) => entry.group?.startsWith('inline')).map((entry) => entry.command);
    for (const command of [CommandId.pause, CommandId.resume, CommandId.cancel, CommandId.retry]) assert.ok(inline.includes(command), command);
  });

  it('hides row-only commands from the palette', () => {
    const hidden = contributes.menus.commandPalette.filter((entry: MenuEntry) => entry.when === 'false').map((entry: MenuEntry) => entry.command);
    assert.deepEqual(hidden.sort(), [CommandId.copyMerkleRoot, CommandId.copySha256, CommandId.openFile, CommandId.remove, CommandId.revealFile].sort());
  });

  it('declares every setting the code reads, with defaults and descriptions, in order', () => {
    const properties = contributes.configuration.properties;
    for (const key of Object.values(SettingKey)) {
      const setting = properties[`${CONFIG_SECTION}.${key}`];
      assert.ok(setting, key);
      assert.ok('default' in setting && setting.markdownDescription && typeof setting.order === 'number', key);
    }
    assert.equal(properties['artifactFetch.downloadFolder'].default, 'artifacts');
    assert.equal(properties['artifactFetch.pieceSize'].default, 'auto');
  });

  it('restricts workspace-level mirror, folder and ranking-service settings in untrusted workspaces', () => {
    const trust = manifest.capabilities.untrustedWorkspaces;
    assert.equal(trust.supported, 'limited');
    // The ranking command runs on this machine and the URL learns every source: a workspace must not set them.
    assert.deepEqual(trust.restrictedConfigurations.sort(), ['artifactFetch.downloadFolder', 'artifactFetch.mirrors', 'artifactFetch.rankingCommand', 'artifactFetch.rankingUrl']);
  });

  it('runs on the workspace side and never activates on *', () => {
    assert.deepEqual(manifest.extensionKind, ['workspace']);
    assert.ok(!manifest.activationEvents.includes('*'));
    assert.ok(manifest.activationEvents.includes('onUri'));
  });
});
