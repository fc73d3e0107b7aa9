/**
 * withContainerIdentity: every line about a cgroup names its container, the
 * caller's fields win, and a line whose level is off costs no identity
 * lookup (the formatter runs only for lines that are written).
 */
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { withContainerIdentity } from "../../src/identity/log.js";
import type { ContainerIdentity } from "../../src/identity/types.js";

const WEB: ContainerIdentity = {
  engine: "docker",
  id: "a".repeat(64),
  name: "web",
  image: "nginx:1.27",
  pod: null,
  namespace: null,
  podUid: null,
  labels: {},
  resolved: true,
};

function capture(level: string): { lines: Record<string, unknown>[]; lookups: string[]; log: pino.Logger } {
  const lines: Record<string, unknown>[] = [];
  const lookups: string[] = [];
  const root = pino({ level }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  const log = withContainerIdentity(root, (cgroup) => {
    lookups.push(cgroup);
    return cgroup === "docker/web" ? WEB : null;
  });
  return { lines, lookups, log };
}

describe("withContainerIdentity", () => {
  it("adds the container to lines with a cgroup or an event's cgroup, and leaves other lines alone", () => {
    const { lines, log } = capture("info");
    log.info({ cgroup: "docker/web" }, "a");
    log.warn({ event: { kind: "oom_kill", cgroup: "docker/web" } }, "b");
    log.info({ cgroup: "system.slice/other" }, "c");
    log.info({ policy: "p" }, "d");
    log.info({ cgroup: "docker/web", container: "given" }, "e");
    const container = { engine: "docker", name: "web", id: "aaaaaaaaaaaa", image: "nginx:1.27" };
    expect(lines.map((l) => l["container"])).toEqual([container, container, undefined, undefined, "given"]);
    expect(lines[1]?.["event"]).toEqual({ kind: "oom_kill", cgroup: "docker/web" });
  });

  it("a line below the level looks nothing up", () => {
    const { lines, lookups, log } = capture("info");
    for (let i = 0; i < 100; i++) log.debug({ cgroup: "docker/web" }, "per event");
    expect(lines).toEqual([]);
    expect(lookups).toEqual([]);
    log.info({ cgroup: "docker/web" }, "written");
    expect(lookups).toEqual(["docker/web"]);
  });
});
