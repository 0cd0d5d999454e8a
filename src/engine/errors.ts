/**
 * One taxonomy of failures for the engine, the CLI and the extension. Codes are stable strings so
 * they survive `postMessage` between the worker and the host; each maps to one CLI exit code.
 * Messages are human, specific and never carry a secret (they pass through `redactText`).
 */
export const ErrorCode = {
  /** The caller's input is wrong (flags, URLs, hashes, settings). */
  BadArguments: 'E_BAD_ARGUMENTS',
  /** No source could serve the artifact (all excluded, unreachable or failed). */
  NoUsableSource: 'E_NO_USABLE_SOURCE',
  /** The bytes did not match the trusted hash, root or manifest. */
  VerificationFailed: 'E_VERIFICATION_FAILED',
  /** A local file-system failure: disk full, permissions, a missing folder. */
  Disk: 'E_DISK',
  /** The target exists and the caller did not allow replacing it. */
  TargetExists: 'E_TARGET_EXISTS',
  /** Cancelled or interrupted by the user or a signal; resumable state is kept. */
  Interrupted: 'E_INTERRUPTED',
  /** A path from outside (settings, headers, manifests) would land outside the allowed folder. */
  UnsafePath: 'E_UNSAFE_PATH',
  /** Another process holds the lock on the same target. */
  Locked: 'E_LOCKED',
  /** The job's deadline passed before the artifact completed. */
  Timeout: 'E_TIMEOUT',
  /** A bug or an unexpected condition. */
  Internal: 'E_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** CLI exit codes, one per error code (0 is success). Documented in the README. */
export const exitCodeFor: Record<ErrorCode, number> = {
  [ErrorCode.BadArguments]: 2,
  [ErrorCode.NoUsableSource]: 3,
  [ErrorCode.VerificationFailed]: 4,
  [ErrorCode.Disk]: 5,
  [ErrorCode.TargetExists]: 6,
  [ErrorCode.Interrupted]: 7,
  [ErrorCode.UnsafePath]: 8,
  [ErrorCode.Locked]: 9,
  [ErrorCode.Timeout]: 10,
  [ErrorCode.Internal]: 70,
};

/** An engine failure with a stable code and a message safe to show and log. */
export class FetchError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for machines (e.g. the per-source causes), never secrets. */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'FetchError';
    this.code = code;
    this.details = details;
  }
}

/** Wraps anything thrown into a FetchError, keeping a FetchError as it is. */
export function toFetchError(error: unknown, fallback: ErrorCode = ErrorCode.Internal): FetchError {
  if (error instanceof FetchError) return error;
  const nodeCode = (error as NodeJS.ErrnoException | undefined)?.code;
  if (nodeCode === 'ENOSPC') return new FetchError(ErrorCode.Disk, 'disk full: no space left on the target device');
  if (nodeCode === 'EACCES' || nodeCode === 'EPERM') return new FetchError(ErrorCode.Disk, `permission denied: ${(error as Error).message}`);
  if (nodeCode === 'EROFS') return new FetchError(ErrorCode.Disk, `read-only file system: ${(error as Error).message}`);
  if (nodeCode === 'ENOENT' || nodeCode === 'EISDIR' || nodeCode === 'ENOTDIR') {
    return new FetchError(ErrorCode.Disk, `file system error: ${(error as Error).message}`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new FetchError(fallback, message);
}
