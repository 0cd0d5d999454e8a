/** Types of e2eEnv.js, for the TypeScript test code that shares its paths. */
export declare const ROOT: string;
export declare const CODE_SERVER_VERSION: string;
export declare const RIPGREP_PACKAGE_VERSION: string;
export declare const RIPGREP_ASSET: string;
export declare const TOOLS_DIR: string;
export declare const CODE_SERVER_BIN: string;
export declare const E2E_DIR: string;
export declare const SCREENSHOT_DIR: string;
export declare const VSIX: string;
export declare const EXTENSION_ID: string;
export declare const CHROMIUM_ARGS: readonly string[];
export declare function chromiumBin(): string;
export declare function installedCodeServerVersion(): string | undefined;
