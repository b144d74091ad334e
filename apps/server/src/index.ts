export { type RunningServer, startServer } from './app.ts';
export { type ConfigInput, defaultDataDir, loadConfig, type ServerConfig } from './config.ts';
