/** Ids of the extension's views, commands and status bar item, as declared in package.json. */

export const VIEW_CONTAINER_ID = 'artifactFetch';
export const DOWNLOADS_VIEW_ID = 'artifactFetch.downloads';
/** VS Code generates `<viewId>.focus` for every view. */
export const FOCUS_DOWNLOADS_VIEW_COMMAND = `${DOWNLOADS_VIEW_ID}.focus`;
export const THROUGHPUT_STATUS_ITEM_ID = 'artifactFetch.throughput';

export const CommandId = {
  download: 'artifactFetch.download',
  downloadMetalink: 'artifactFetch.downloadMetalink',
  createManifest: 'artifactFetch.createManifest',
  verifyFile: 'artifactFetch.verifyFile',
  pause: 'artifactFetch.pause',
  resume: 'artifactFetch.resume',
  cancel: 'artifactFetch.cancel',
  retry: 'artifactFetch.retry',
  setAccessToken: 'artifactFetch.setAccessToken',
  showLog: 'artifactFetch.showLog',
  openFile: 'artifactFetch.openFile',
  revealFile: 'artifactFetch.revealFile',
  copySha256: 'artifactFetch.copySha256',
  copyMerkleRoot: 'artifactFetch.copyMerkleRoot',
  remove: 'artifactFetch.remove',
  copyStreamUrl: 'artifactFetch.copyStreamUrl',
} as const;
