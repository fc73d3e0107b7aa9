/** The config module's public face: what the CLI and the daemon import. */
export { loadConfig, packagePolicyDir, type ConfigOverrides, type LoadOptions } from "./load.js";
export { formatConfigError } from "./format.js";
export { DEFAULT_CONFIG_PATH } from "./defaults.js";
export { configJsonSchema } from "./jsonSchema.js";
export type { ConfigError, ConfigSource, LoadResult, MetricsListen, PsiTrigger, RuntimeConfig, WatchRule, LogLevel, LogFormat, CgroupRootSetting, PolicySettings } from "./types.js";
