/** Something that can be undone, shaped like `vscode.Disposable` so it can join its subscriptions. */
export interface Unsubscribe {
  dispose(): void;
}

/** A subscription function shaped like `vscode.Event<T>`, so model events can be exposed as-is. */
export type Subscribe<T> = (listener: (value: T) => unknown, thisArgs?: unknown, disposables?: Unsubscribe[]) => Unsubscribe;

/**
 * A minimal typed event for the vscode-free model (the same shape as `vscode.EventEmitter`, which
 * the model may not use because its tests run in plain Node).
 */
export class Signal<T> {
  private readonly listeners = new Set<(value: T) => unknown>();

  /** Subscribes a listener; pass the result to `dispose` to stop listening. */
  readonly event: Subscribe<T> = (listener, thisArgs, disposables) => {
    const bound = thisArgs === undefined ? listener : listener.bind(thisArgs);
    this.listeners.add(bound);
    const subscription = { dispose: () => { this.listeners.delete(bound); } };
    disposables?.push(subscription);
    return subscription;
  };

  /** Calls every listener; one that throws does not stop the others. */
  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (error) {
        queueMicrotask(() => { throw error; });
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
