/**
 * Selectors and actions for VS Code 1.100's web workbench (code-server 4.100.3), as verified on
 * the live DOM. Rows are found by their aria-label, which the extension keeps stable
 * ("Download <name>, <status>, <n> percent", "Source <host>, <state>, rank <n>", "Segment …").
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Locator, Page } from 'playwright-core';

/** Monaco renders spaces as NBSP; match on normal spaces. */
export function normalizeText(text: string): string {
  return text.replace(/\u00a0/g, ' ');
}

export class Workbench {
  private shot = 0;

  constructor(readonly page: Page, private readonly screenshotDir: string, private readonly prefix: string) {
    fs.mkdirSync(screenshotDir, { recursive: true });
  }

  /** Saves `<prefix>-NN-<name>.png` and returns its path. */
  async screenshot(name: string): Promise<string> {
    this.shot += 1;
    const file = path.join(this.screenshotDir, `${this.prefix}-${String(this.shot).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** The workbench is up once the activity bar shows the extension's container. */
  async waitReady(containerTitle: string): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await this.activityBarItem(containerTitle).waitFor({ timeout: 60_000 });
  }

  activityBarItem(title: string): Locator {
    return this.page.locator(`.part.activitybar .action-label[aria-label^="${title}"]`);
  }

  /** The side bar pane of a contributed view container. */
  viewContainer(containerId: string): Locator {
    return this.page.locator(`[id="workbench.view.extension.${containerId}"]`);
  }

  /** Drags the sash right of the side bar so tree descriptions are not cut off. */
  async widenSideBar(width: number): Promise<void> {
    const sidebar = await this.page.locator('.part.sidebar').boundingBox();
    if (!sidebar) throw new Error('no side bar');
    const y = sidebar.y + sidebar.height / 2;
    const x = sidebar.x + sidebar.width;
    await this.page.mouse.move(x - 1, y);
    await this.page.mouse.down();
    await this.page.mouse.move(sidebar.x + width, y, { steps: 8 });
    await this.page.mouse.up();
    await this.mouseAway();
  }

  // ------------------------------------------------------------------ command palette and quick input

  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  get quickInputBox(): Locator {
    return this.page.locator('.quick-input-widget .quick-input-box input');
  }

  /**
   * Runs a command by clicking its exact palette row: Enter would run the top fuzzy match, which
   * may be another command (e.g. "… Focus on Downloads View").
   */
  async runCommand(label: string): Promise<void> {
    await this.page.keyboard.press('F1');
    await this.quickInputBox.waitFor();
    await this.quickInputBox.fill(`>${label}`);
    const row = this.page.locator(`.quick-input-widget .monaco-list-row[role="option"][aria-label^="${label}"]`).first();
    await row.waitFor();
    await row.click();
  }

  /** Waits for a quick input step whose prompt/message contains `text`. */
  async waitForQuickInputMessage(text: string | RegExp): Promise<void> {
    await this.page.locator('.quick-input-widget .quick-input-message').filter({ hasText: text }).waitFor();
  }

  /** Replaces the quick input's value and presses Enter. */
  async answer(value: string): Promise<void> {
    await this.quickInputBox.fill(value);
    await this.quickInputBox.press('Enter');
  }

  // ------------------------------------------------------------------ trees

  /** Rows of the custom tree whose view is named `viewName`, inside its container. */
  treeRows(containerId: string, viewName: string): Locator {
    return this.viewContainer(containerId).locator(`.monaco-list[aria-label="${viewName}"] .monaco-list-row[role="treeitem"]`);
  }

  /** The aria-labels of the rows present now. */
  async ariaLabels(rows: Locator): Promise<string[]> {
    return rows.evaluateAll((elements) => elements.map((element) => element.getAttribute('aria-label') ?? ''));
  }

  /** Clicks the inline action `title` of a tree row (inline actions show on hover). */
  async clickInlineAction(row: Locator, title: string): Promise<void> {
    await row.hover();
    const action = row.locator(`.actions .action-label[aria-label="${title}"]`);
    await action.waitFor();
    await action.click();
  }

  /** Opens the context menu of a row and picks `title`. */
  async contextMenu(row: Locator, title: string): Promise<void> {
    await row.click({ button: 'right' });
    const menu = this.page.locator('.context-view .monaco-menu');
    const item = menu.getByRole('menuitem', { name: title, exact: true });
    await item.waitFor();
    // A click right after the menu opens is dropped (VS Code ignores the mouse-up that may belong
    // to the right-click): seen as a menu left open with the item highlighted. Let it settle.
    await this.page.waitForTimeout(300);
    await item.hover();
    await item.click();
    await menu.waitFor({ state: 'detached', timeout: 5_000 });
  }

  /** Text of the hover (tooltip) VS Code shows while the mouse rests on `target`, once it contains `expected`. */
  async hoverText(target: Locator, expected: RegExp, timeoutMs = 10_000): Promise<string> {
    await this.mouseAway();
    const box = await target.boundingBox();
    if (!box) throw new Error('the hover target is not on screen');
    // Custom hovers start on mouseover and wait for the mouse to rest; move in a few small steps.
    await this.page.mouse.move(box.x + 4, box.y + box.height / 2);
    await this.page.mouse.move(box.x + 24, box.y + box.height / 2, { steps: 5 });
    const hover = this.page.locator('.workbench-hover').filter({ hasText: expected }).last();
    await hover.waitFor({ timeout: timeoutMs });
    return normalizeText(await hover.innerText());
  }

  /** Parks the mouse over the empty editor area, where it shows no hover. */
  async mouseAway(): Promise<void> {
    await this.page.mouse.move(900, 500);
  }

  // ------------------------------------------------------------------ status bar, dialogs, output

  statusBarItem(id: string): Locator {
    return this.page.locator(`.part.statusbar .statusbar-item[id="${id}"]`);
  }

  /** Clicks `button` of the modal dialog whose message contains `text`. */
  async answerDialog(text: string | RegExp, button: string): Promise<void> {
    const dialog = this.page.locator('.monaco-dialog-box').filter({ hasText: text });
    await dialog.waitFor();
    await dialog.locator('.monaco-button', { hasText: button }).first().click();
    await dialog.waitFor({ state: 'detached' });
  }

  /** The text of the Output panel's editor, NBSP-normalized. */
  async outputText(): Promise<string> {
    const lines = this.page.locator('.part.panel .monaco-editor .view-lines');
    await lines.first().waitFor();
    return normalizeText(await lines.first().innerText());
  }
}
