/**
 * Entry of dist/worker.js: the one worker thread that hosts the engine for every download of the
 * extension, so hashing and networking never block the extension host.
 */
import { parentPort } from 'node:worker_threads';
import { DownloadJob } from '../engine/downloadJob';
import { PROTOCOL_VERSION, type WorkerToHostMessage } from '../protocol/messages';
import { fileTaskHandlers } from './fileTasks';
import { JobHost } from './jobHost';
import { RequestDispatcher } from './requestDispatcher';

const port = parentPort;
if (!port) throw new Error('workerMain.ts must run inside a worker thread');

const post = (message: WorkerToHostMessage) => port.postMessage(message);
const jobs = new JobHost(post, (options, jobId) => new DownloadJob(options, jobId));
const dispatcher = new RequestDispatcher(post, {
  startJob: (params) => jobs.startJob(params),
  pauseJob: (params) => jobs.pauseJob(params),
  resumeJob: (params) => jobs.resumeJob(params),
  cancelJob: (params) => jobs.cancelJob(params),
  openStreamUrl: (params) => jobs.openStreamUrl(params),
  shutdown: () => jobs.shutdown(),
  ...fileTaskHandlers,
});

port.on('message', (message: unknown) => void dispatcher.dispatch(message));
post({ type: 'ready', protocolVersion: PROTOCOL_VERSION });
