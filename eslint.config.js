// Lint rules that catch the bugs a long-running daemon cannot afford:
// floating promises (an unhandled rejection kills the process), misused
// promises (an async callback where a sync one is expected), and switches
// over `kind` unions that forget a case.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "build/**", "policies/**/*.js", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true, allowNullish: true, allowAny: false }],
    },
  },
  {
    files: ["eslint.config.js", "vitest.config.ts", "scripts/**/*.mjs", "**/*.cjs"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, program: null, project: false },
      globals: { process: "readonly", URL: "readonly", console: "readonly", Buffer: "readonly", setTimeout: "readonly", require: "readonly", module: "readonly", __dirname: "readonly" },
    },
  },
  {
    // The policy-authoring types default params/state to `any` on purpose: a
    // policy author's `ctx.params.stepPercent * limit` must type-check in
    // plain JS with checkJs, without casts the language does not have.
    files: ["policies/**/*.d.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
);
