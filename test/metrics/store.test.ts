/**
 * The series store's lookups: a series is found again by its label values
 * (the per-event path), a deleted series is not resurrected by a stale
 * index entry, and a cgroup's entry drops exactly the series asked for.
 */
import { describe, expect, it } from "vitest";
import { renderToString } from "../../src/metrics/render.js";
import { CgroupEntry, Store } from "../../src/metrics/store.js";

const lines = async (store: Store): Promise<string[]> =>
  (await renderToString(store)).split("\n").filter((l) => l !== "" && !l.startsWith("#"));

describe("Family.get", () => {
  it("returns the same series for the same values, another for other values, with and without labels", async () => {
    const store = new Store();
    const events = store.define({ name: "e_total", help: "h", type: "counter", labelNames: ["kind", "source"] });
    const beat = store.define({ name: "beat", help: "h", type: "gauge", labelNames: [] });
    events.get(["oom_kill", "inotify"]).value += 1;
    events.get(["oom_kill", "inotify"]).value += 1;
    events.get(["oom_kill", "poll"]).value += 1;
    events.get(["oom", "inotify"]).value += 5;
    beat.get([]).value = 3;
    beat.get([]).value += 1;
    expect(await lines(store)).toEqual([
      'e_total{kind="oom_kill",source="inotify"} 2',
      'e_total{kind="oom_kill",source="poll"} 1',
      'e_total{kind="oom",source="inotify"} 5',
      "beat 4",
    ]);
  });

  it("a series deleted since its last lookup comes back as a new series at 0, and is rendered", async () => {
    const store = new Store();
    const fam = store.define({ name: "q", help: "h", type: "gauge", labelNames: ["policy"] });
    const first = fam.get(["p"]);
    first.value = 7;
    fam.delete(first);
    expect(await lines(store)).toEqual([]);
    const again = fam.get(["p"]);
    expect(again).not.toBe(first);
    expect(again.value).toBe(0);
    again.value = 2;
    expect(await lines(store)).toEqual(['q{policy="p"} 2']);
  });

  it("refuses a wrong number of label values", () => {
    const fam = new Store().define({ name: "q", help: "h", type: "gauge", labelNames: ["a", "b"] });
    expect(() => fam.get(["x"])).toThrow(/takes 2 label values, got 1/);
  });
});

describe("CgroupEntry", () => {
  const setup = () => {
    const store = new Store();
    const usage = store.define({ name: "usage", help: "h", type: "gauge", labelNames: ["cgroup"] });
    const io = store.define({ name: "io", help: "h", type: "gauge", labelNames: ["cgroup", "device", "op"] });
    const ev = store.define({ name: "ev_total", help: "h", type: "counter", labelNames: ["cgroup", "event"] });
    return { store, usage, io, ev, a: new CgroupEntry("a", false), b: new CgroupEntry("b", false) };
  };

  it("finds each series again by family and extra values, per cgroup", async () => {
    const { store, usage, io, ev, a, b } = setup();
    a.get(usage).value = 1;
    a.get(usage).value += 1;
    b.get(usage).value = 5;
    a.get(io, ["8:0", "read"]).value = 10;
    a.get(io, ["8:0", "write"]).value = 11;
    a.get(io, ["8:0", "read"]).value += 1;
    a.get(ev, ["max"]).value = 3;
    expect(a.get(io, ["8:0", "read"])).toBe(a.get(io, ["8:0", "read"]));
    expect(await lines(store)).toEqual([
      'usage{cgroup="a"} 2',
      'usage{cgroup="b"} 5',
      'io{cgroup="a",device="8:0",op="read"} 11',
      'io{cgroup="a",device="8:0",op="write"} 11',
      'ev_total{cgroup="a",event="max"} 3',
    ]);
  });

  it("drop and dropAllOf remove exactly the series asked for; get creates them again", async () => {
    const { store, usage, io, a } = setup();
    a.get(usage).value = 1;
    for (const dev of ["8:0", "8:16"]) for (const op of ["read", "write"]) a.get(io, [dev, op]).value = 1;
    a.drop(io, ["8:0", "write"]);
    a.drop(io, ["9:9", "read"]); // never existed: nothing happens
    expect(await lines(store)).toEqual([
      'usage{cgroup="a"} 1',
      'io{cgroup="a",device="8:0",op="read"} 1',
      'io{cgroup="a",device="8:16",op="read"} 1',
      'io{cgroup="a",device="8:16",op="write"} 1',
    ]);
    a.dropAllOf(io, (s) => s.labels.includes('"8:16"'));
    expect(await lines(store)).toEqual([
      'usage{cgroup="a"} 1',
      'io{cgroup="a",device="8:16",op="read"} 1',
      'io{cgroup="a",device="8:16",op="write"} 1',
    ]);
    a.drop(usage);
    a.get(io, ["8:0", "write"]).value = 4;
    expect(await lines(store)).toEqual([
      'io{cgroup="a",device="8:16",op="read"} 1',
      'io{cgroup="a",device="8:16",op="write"} 1',
      'io{cgroup="a",device="8:0",op="write"} 4',
    ]);
    expect(a.get(usage).value).toBe(0);
  });

  it("clear removes every series of the cgroup and none of another's", async () => {
    const { store, usage, io, ev, a, b } = setup();
    a.get(usage).value = 1;
    a.get(io, ["8:0", "read"]).value = 1;
    a.get(ev, ["oom"]).value = 1;
    b.get(ev, ["oom"]).value = 2;
    a.clear();
    expect(await lines(store)).toEqual(['ev_total{cgroup="b",event="oom"} 2']);
  });

  it("a fresh cgroup's counters hold at 0 for one scrape", async () => {
    const { store, ev } = setup();
    new CgroupEntry("c", true).get(ev, ["oom_kill"]).value = 1;
    expect(await lines(store)).toEqual(['ev_total{cgroup="c",event="oom_kill"} 0']);
    expect(await lines(store)).toEqual(['ev_total{cgroup="c",event="oom_kill"} 1']);
  });
});

describe("CgroupEntry label text (shared between a cgroup's families and between cgroups)", () => {
  it("every series' label text is labelString's, for each cgroup, family and extra values, escapes included", async () => {
    const { labelString } = await import("../../src/metrics/exposition.js");
    const store = new Store();
    const fams = [
      store.define({ name: "u", help: "h", type: "gauge", labelNames: ["cgroup"] }),
      store.define({ name: "v", help: "h", type: "gauge", labelNames: ["cgroup"] }),
      store.define({ name: "ev_total", help: "h", type: "counter", labelNames: ["cgroup", "event"] }),
      store.define({ name: "io", help: "h", type: "gauge", labelNames: ["cgroup", "device", "op"] }),
      store.define({ name: "other", help: "h", type: "gauge", labelNames: ["policy"] }),
    ];
    const extras: Record<string, string[][]> = {
      u: [[]],
      v: [[]],
      ev_total: [["oom_kill"], ['q"uote'], ["max"]],
      io: [
        ["8:0", "read"],
        ["8:0", "write"],
        ["8:16", "we\\ird\n"],
      ],
      other: [[]],
    };
    for (const cgroup of ["a", 'kubepods/"x"\\y\nz/é', "b"]) {
      const e = new CgroupEntry(cgroup, false);
      for (const fam of fams) {
        for (const extra of extras[fam.def.name] ?? []) {
          const s = e.get(fam, extra);
          expect(s.labels).toBe(
            labelString(fam.def.labelNames, [cgroup, ...extra].slice(0, fam.def.labelNames.length)),
          );
          expect(fam.series.get(s.labels)).toBe(s);
        }
      }
    }
    expect(fams[3]?.series.size).toBe(9);
  });
});

describe("flatLabels", () => {
  it("is labelString's text, escapes included", async () => {
    const { labelString } = await import("../../src/metrics/exposition.js");
    const { flatLabels } = await import("../../src/metrics/store.js");
    const cases: [string[], string[]][] = [
      [[], []],
      [["cgroup"], ["kubepods/pod1/abc"]],
      [
        ["cgroup", "event"],
        ['we"ird\\path\nx', "oom_kill"],
      ],
      [
        ["a", "b", "c"],
        ["", "1", "é"],
      ],
    ];
    for (const [names, values] of cases) expect(flatLabels(names, values)).toBe(labelString(names, values));
  });
});
