/** Ids of the extension's settings (under `artifactFetch.`) and of the VS Code settings it honours. */
export const CONFIG_SECTION = 'artifactFetch';

export const SettingKey = {
  mirrors: 'mirrors',
  downloadFolder: 'downloadFolder',
  connectionsPerSource: 'connectionsPerSource',
  maxSources: 'maxSources',
  maxConnections: 'maxConnections',
  pieceSize: 'pieceSize',
  speedLimit: 'speedLimit',
  minSourceSpeed: 'minSourceSpeed',
  rankingWeights: 'rankingWeights',
  location: 'location',
  maxExpensiveShare: 'maxExpensiveShare',
  rankingCommand: 'rankingCommand',
  rankingUrl: 'rankingUrl',
} as const;

/** VS Code's own network settings (section `http`). */
export const HttpSettingKey = {
  section: 'http',
  proxy: 'proxy',
  proxyStrictSSL: 'proxyStrictSSL',
  noProxy: 'noProxy',
} as const;

/** Default folder for downloads, relative to the workspace folder. */
export const DEFAULT_DOWNLOAD_FOLDER = 'artifacts';
