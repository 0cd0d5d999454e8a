import * as vscode from 'vscode';

/** Returned when the user pressed the Back button of a step. */
export const BACK = Symbol('back');

/** One text step of a multi-step input. */
export interface TextStep {
  title: string;
  step: number;
  totalSteps: number;
  prompt: string;
  placeholder?: string;
  value?: string;
  password?: boolean;
  /** Message shown under the box, or undefined when the value is fine. */
  validate?: (value: string) => string | undefined;
}

/** One pick step of a multi-step input. */
export interface PickStep<T extends vscode.QuickPickItem> {
  title: string;
  step: number;
  totalSteps: number;
  placeholder: string;
  items: readonly T[];
  canPickMany?: boolean;
  /** Items selected at first (only with canPickMany). */
  selected?: readonly T[];
}

/** Shows one text step; resolves with the value, {@link BACK}, or undefined when dismissed. */
export function askText(step: TextStep): Promise<string | typeof BACK | undefined> {
  const box = vscode.window.createInputBox();
  box.title = step.title;
  box.step = step.step;
  box.totalSteps = step.totalSteps;
  box.prompt = step.prompt;
  box.placeholder = step.placeholder;
  box.value = step.value ?? '';
  box.password = step.password ?? false;
  box.ignoreFocusOut = true;
  box.buttons = step.step > 1 ? [vscode.QuickInputButtons.Back] : [];
  return new Promise((resolve) => {
    const disposables: vscode.Disposable[] = [];
    const done = (value: string | typeof BACK | undefined) => {
      disposables.forEach((disposable) => disposable.dispose());
      box.dispose();
      resolve(value);
    };
    disposables.push(
      box.onDidTriggerButton((button) => { if (button === vscode.QuickInputButtons.Back) done(BACK); }),
      box.onDidChangeValue((value) => { box.validationMessage = value ? step.validate?.(value) : undefined; }),
      box.onDidAccept(() => {
        const problem = step.validate?.(box.value);
        if (problem) {
          box.validationMessage = problem;
          return;
        }
        done(box.value);
      }),
      box.onDidHide(() => done(undefined)),
    );
    box.show();
  });
}

/** Shows one pick step; resolves with the chosen items, {@link BACK}, or undefined when dismissed. */
export function askPick<T extends vscode.QuickPickItem>(step: PickStep<T>): Promise<readonly T[] | typeof BACK | undefined> {
  const pick = vscode.window.createQuickPick<T>();
  pick.title = step.title;
  pick.step = step.step;
  pick.totalSteps = step.totalSteps;
  pick.placeholder = step.placeholder;
  pick.items = step.items;
  pick.canSelectMany = step.canPickMany ?? false;
  if (step.selected) pick.selectedItems = step.selected;
  pick.ignoreFocusOut = true;
  pick.buttons = step.step > 1 ? [vscode.QuickInputButtons.Back] : [];
  return new Promise((resolve) => {
    const disposables: vscode.Disposable[] = [];
    const done = (value: readonly T[] | typeof BACK | undefined) => {
      disposables.forEach((disposable) => disposable.dispose());
      pick.dispose();
      resolve(value);
    };
    disposables.push(
      pick.onDidTriggerButton((button) => { if (button === vscode.QuickInputButtons.Back) done(BACK); }),
      pick.onDidAccept(() => done(pick.canSelectMany ? pick.selectedItems : pick.activeItems)),
      pick.onDidHide(() => done(undefined)),
    );
    pick.show();
  });
}
