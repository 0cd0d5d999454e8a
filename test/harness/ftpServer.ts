/**
 * A real FTP server for tests: pyftpdlib (Debian `python3-pyftpdlib`) in a
 * child process on 127.0.0.1, port 0, serving one folder, with a log of every command it received.
 * A machine without pyftpdlib fails the test with the install command, never skips it.
 * (FTPS is served by test/harness/ftpResponder.ts: pyftpdlib 1.5.7's TLS data connections reset
 * with Debian 12's pyOpenSSL, for basic-ftp and curl alike.)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

export interface FtpServerOptions {
  /** Folder served (the login directory). */
  root: string;
  /** Login; anonymous (read-only) when absent. */
  user?: string;
  password?: string;
  /** Sessions allowed per client address (0 = unlimited); beyond it pyftpdlib answers 421. */
  maxConsPerIp?: number;
}

export interface FtpCommand {
  cmd: string;
  arg: string;
}

export interface FtpServer {
  readonly port: number;
  /** `ftp://127.0.0.1:<port>/` with the login, for appending a file name. */
  readonly baseUrl: string;
  /** Every command received so far, in order (PASS arguments blanked). */
  readonly commands: FtpCommand[];
  close(): Promise<void>;
}

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'pyftpdServer.py');
const INSTALL_HINT = 'pyftpdlib is missing: run `apt-get install -y python3-pyftpdlib` (the FTP tests need a real FTP server)';

let checked = false;

/** Throws with the install command when /usr/bin/python3 cannot import pyftpdlib. */
export function requirePyftpdlib(): void {
  if (checked) return;
  const probe = spawnSync(PYTHON, ['-c', 'import pyftpdlib.handlers, pyftpdlib.servers'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`${INSTALL_HINT}\n${probe.error?.message ?? probe.stderr}`);
  checked = true;
}

export async function startFtpServer(options: FtpServerOptions): Promise<FtpServer> {
  requirePyftpdlib();
  const child: ChildProcess = spawn(PYTHON, [SCRIPT, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const commands: FtpCommand[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000); });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the FTP server did not start: ${stderr}`)), 10_000);
    child.once('exit', (code) => reject(new Error(`the FTP server exited (${code}): ${stderr}`)));
    lines.on('line', (line) => {
      const message = JSON.parse(line) as { port?: number } & FtpCommand;
      if (message.port) {
        clearTimeout(timer);
        resolve(message.port);
      } else {
        commands.push({ cmd: message.cmd, arg: message.arg });
      }
    });
  });
  const login = options.user ? `${encodeURIComponent(options.user)}:${encodeURIComponent(options.password ?? '')}@` : '';
  return {
    port,
    baseUrl: `ftp://${login}127.0.0.1:${port}/`,
    commands,
    close: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}
