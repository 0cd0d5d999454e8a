#!/usr/bin/env node
/**
 * `dist/cli.js`, the `artifact-fetch` command: loads the CLI's bundle (dist/cli-main.js, built
 * from main.ts) from its V8 code cache (codeCache.ts) and runs it. Nothing else lives here, so
 * this file stays tiny and the bundle's compile is the part the cache saves.
 */
// First: its V8 flag must be set before anything compiles (and the cache was made with it set).
import './processFlags';
import * as path from 'node:path';
import { requireWithCodeCache } from './codeCache';

const { exports } = requireWithCodeCache(path.join(__dirname, 'cli-main.js'));
(exports.runAsProgram as () => void)();
