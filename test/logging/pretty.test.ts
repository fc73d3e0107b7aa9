import { describe, expect, it } from "vitest";
import { formatPretty } from "../../src/logging/pretty.js";
import { isPretty } from "../../src/logging/logger.js";

describe("formatPretty", () => {
  const line = JSON.stringify({
    level: "warn",
    time: "2026-11-30T09:40:47.825Z",
    pid: 1,
    name: "cgwatch",
    component: "watch",
    cgroup: "docker/a b",
    n: 3,
    msg: "oom_kill in docker/a",
  });

  it("shows time, level, component, message and the other fields as key=value", () => {
    expect(formatPretty(line, false)).toBe('09:40:47.825 WARN  watch: oom_kill in docker/a cgroup="docker/a b" n=3');
  });

  it("colours the level only when asked, and passes a non-JSON line through", () => {
    expect(formatPretty(line, true)).toContain("\x1b[33mWARN \x1b[0m");
    expect(formatPretty("not json", true)).toBe("not json");
  });

  it("auto is pretty exactly on a terminal; json and pretty force", () => {
    expect([
      isPretty("auto", true),
      isPretty("auto", false),
      isPretty("json", true),
      isPretty("pretty", false),
    ]).toEqual([true, false, false, true]);
  });
});
