/** Public surface of actions/: what main.ts wires in. */
export { createActionExecutor, type ActionExecutor, type ActionExecutorOptions, type ActionHooks, type Clock } from "./executor.js";
export { DEFAULT_GUARDRAILS, guardrailsForPolicy, type GuardrailConfig, type GuardrailOverrides, type GuardrailSettings } from "./guardrailConfig.js";
export { protectSelf, ownCgroupsFromProcSelf, readOwnCgroups, parseMemTotal, type ProtectSelfOptions } from "./selfProtection.js";
export { validateAction } from "./validate.js";
export { ACTION_KINDS, type Action, type ActionKind, type ActionOutcome, type ActionOutcomeKind, type ActionProposal } from "./types.js";
