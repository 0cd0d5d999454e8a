/**
 * The typed message protocol between the extension host and the engine worker. Everything here is
 * plain data (structured-clone safe), so both sides can `postMessage` it unchanged. Failures carry a
 * stable {@link ErrorCode} from the engine's taxonomy and a message that is safe to show and log.
 */
import type { ErrorCode } from '../engine/errors';
import type { ExpectedIdentity, JobOptions, SourceSpec } from '../engine/jobOptions';
import type { DownloadResult, JobEvent, JobSnapshot } from '../engine/snapshot';

/** Bumped when a message changes shape; the worker announces it in its `ready` message. */
export const PROTOCOL_VERSION = 1;

/** How often the worker may post a snapshot of one job (state changes are posted at once). */
export const SNAPSHOT_INTERVAL_MS = 200;

/** A failure crossing the boundary: a stable code and a human, secret-free message. */
export interface ProtocolError {
  code: ErrorCode;
  message: string;
}

/** Mirrors advertised by a primary URL (RFC 6249 `Link: rel=duplicate`) plus what its probe said. */
export interface MirrorDiscovery {
  /** Mirrors from Link headers, in the order the server gave them, with priority and location if stated. */
  sources: SourceSpec[];
  /** Content length of the primary, if it answered with one. */
  size?: number;
  /** Whole-file SHA-256 from a `Digest`/`Repr-Digest` header, hex, if present. */
  sha256?: string;
}

/** A download described by a Metalink file (RFC 5854), ready to become JobOptions. */
export interface MetalinkPlan {
  /** File name the Metalink asks for (already reduced to a safe single path segment). */
  fileName: string;
  sources: SourceSpec[];
  expected?: ExpectedIdentity;
}

/** What "Create Manifest for File…" produced. */
export interface ManifestSummary {
  /** Absolute path of the manifest written next to the file. */
  manifestPath: string;
  size: number;
  pieceSize: number;
  sha256: string;
  /** RFC 6962 Merkle root, hex. */
  root: string;
}

/** What "Verify File…" found. */
export interface VerificationSummary {
  ok: boolean;
  size: number;
  sha256: string;
  /** Present when checked against a Merkle manifest. */
  root?: string;
  /** Indexes of pieces whose hash did not match the manifest (empty when ok). */
  badPieces: number[];
  /** One line for the user: what matched or what did not. */
  message: string;
}

/**
 * Request methods the worker serves, with their parameters and results. The client and the worker
 * are both typed from this one table.
 */
export interface WorkerMethods {
  /** Start (or restart after interruption) a job; the engine resumes from its journal in stateDir. */
  startJob: { params: { jobId: string; options: JobOptions }; result: { jobId: string } };
  pauseJob: { params: { jobId: string }; result: void };
  resumeJob: { params: { jobId: string }; result: void };
  /**
   * Stop a job; `discard` deletes the .part file and journal, otherwise they stay for a later resume.
   * `options` lets the worker discard the state of a job it is not running (one interrupted by a crash).
   */
  cancelJob: { params: { jobId: string; discard: boolean; options?: JobOptions }; result: void };
  /** Probe a primary URL for mirrors in its Link headers (shown to the user before use). */
  discoverMirrors: {
    params: { url: string; headers?: Record<string, string>; proxy?: string };
    result: MirrorDiscovery;
  };
  /** Read and validate a local .metalink / .meta4 file. */
  readMetalink: { params: { path: string }; result: MetalinkPlan };
  /**
   * Load a manifest (a local path, or an https URL on the primary's origin) as a trusted expected
   * identity for a download. A manifest from anywhere else is refused unless `root` pins it.
   */
  readManifest: {
    params: { reference: string; primaryUrl: string; root?: string };
    result: { name: string; expected: ExpectedIdentity };
  };
  /** Hash a local file and write its Merkle manifest sidecar. */
  createManifest: { params: { path: string; pieceSize?: number }; result: ManifestSummary };
  /** Check a local file against a manifest file or an expected identity. */
  verifyFile: {
    params: { path: string; manifestPath?: string; expected?: ExpectedIdentity };
    result: VerificationSummary;
  };
  /**
   * The loopback stream URL of a running job (`http://127.0.0.1:<port>/<job>/<name>?token=…`),
   * starting the worker's stream endpoint on first use. The URL answers while the job runs.
   */
  openStreamUrl: { params: { jobId: string }; result: { url: string } };
  /** Stop every job (keeping resumable state) and let the worker exit. */
  shutdown: { params: Record<string, never>; result: void };
}

export type WorkerMethod = keyof WorkerMethods;
export type ParamsOf<M extends WorkerMethod> = WorkerMethods[M]['params'];
export type ResultOf<M extends WorkerMethod> = WorkerMethods[M]['result'];

/** Host → worker: one request, answered by exactly one {@link ResponseMessage} with the same id. */
export type RequestMessage = {
  [M in WorkerMethod]: { type: 'request'; requestId: number; method: M; params: ParamsOf<M> };
}[WorkerMethod];

/** Everything the host sends to the worker. */
export type HostToWorkerMessage = RequestMessage;

/** Worker → host: the answer to one request. */
export type ResponseMessage =
  | { type: 'response'; requestId: number; ok: true; result: unknown }
  | { type: 'response'; requestId: number; ok: false; error: ProtocolError };

/** Worker → host: sent once when the worker is ready to take requests. */
export interface ReadyMessage {
  type: 'ready';
  protocolVersion: number;
}

/** Worker → host: the latest state of one job (coalesced to at most one per {@link SNAPSHOT_INTERVAL_MS}). */
export interface SnapshotMessage {
  type: 'snapshot';
  snapshot: JobSnapshot;
}

/** Worker → host: a decision worth a log line (promotion, drop, ban, repair…). */
export interface JobEventMessage {
  type: 'jobEvent';
  jobId: string;
  event: JobEvent;
}

/** Worker → host: the job finished (ok or not); no further messages for this run of the job. */
export interface JobResultMessage {
  type: 'jobResult';
  jobId: string;
  result: DownloadResult;
}

/** Worker → host: a line for the extension's log (redacted again on the host before it is shown). */
export interface LogMessage {
  type: 'log';
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

/** Everything the worker sends to the host. */
export type WorkerToHostMessage =
  | ReadyMessage
  | ResponseMessage
  | SnapshotMessage
  | JobEventMessage
  | JobResultMessage
  | LogMessage;

const workerMethodNames: ReadonlySet<string> = new Set<WorkerMethod>([
  'startJob', 'pauseJob', 'resumeJob', 'cancelJob', 'discoverMirrors', 'readMetalink', 'readManifest', 'createManifest', 'verifyFile', 'openStreamUrl', 'shutdown',
]);

/** True when `value` has the shape of a request (the worker checks this before dispatching). */
export function isRequestMessage(value: unknown): value is RequestMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Partial<RequestMessage>;
  return message.type === 'request'
    && typeof message.requestId === 'number'
    && typeof message.method === 'string'
    && workerMethodNames.has(message.method)
    && typeof message.params === 'object' && message.params !== null;
}

/** True when `value` is one of the messages the worker sends (the client ignores anything else). */
export function isWorkerToHostMessage(value: unknown): value is WorkerToHostMessage {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return type === 'ready' || type === 'response' || type === 'snapshot' || type === 'jobEvent' || type === 'jobResult' || type === 'log';
}
