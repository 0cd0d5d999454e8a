/**
 * A throwaway certificate authority for TLS loopback tests, generated at test time with the
 * `openssl` CLI (once per process, in a temp folder removed at exit). Nothing is trusted by the
 * system: a test passes `ca.caPem` to the client (JobOptions.ca) when it wants the chain trusted.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TestCertificate {
  /** PEM private key. */
  key: string;
  /** PEM certificate (leaf only). */
  cert: string;
}

export interface TestCa {
  /** PEM of the test CA: give it to the client to trust `server`. */
  caPem: string;
  /** Signed by the test CA for 127.0.0.1, 127.0.0.2, ::1 and localhost. */
  server: TestCertificate;
  /** Signed by the test CA but for `wrong.invalid` only (a name mismatch on loopback). */
  wrongHost: TestCertificate;
  /** Self-signed for 127.0.0.1 (not from the test CA): never trusted. */
  selfSigned: TestCertificate;
}

let cached: TestCa | undefined;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function leaf(dir: string, name: string, subject: string, san: string): TestCertificate {
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-sha256', '-extfile', ext], dir);
  return { key: readFileSync(path.join(dir, `${name}.key`), 'utf8'), cert: readFileSync(path.join(dir, `${name}.crt`), 'utf8') };
}

/** The process-wide test CA and its certificates (generated on first call, ~0.5 s). */
export function testCa(): TestCa {
  if (cached) return cached;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'af-test-ca-'));
  try {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=artifact-fetch test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    const server = leaf(dir, 'server', '/CN=127.0.0.1', 'IP:127.0.0.1,IP:127.0.0.2,IP:::1,DNS:localhost');
    const wrongHost = leaf(dir, 'wrong', '/CN=wrong.invalid', 'DNS:wrong.invalid');
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'self.key', '-out', 'self.crt', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost'], dir);
    const selfSigned = { key: readFileSync(path.join(dir, 'self.key'), 'utf8'), cert: readFileSync(path.join(dir, 'self.crt'), 'utf8') };
    cached = { caPem: readFileSync(path.join(dir, 'ca.crt'), 'utf8'), server, wrongHost, selfSigned };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
