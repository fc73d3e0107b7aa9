/**
 * The series store behind cgwatch's own metrics: plain Maps of numbers with
 * the label text rendered once, when a series is created. prom-client keeps
 * label objects and re-formats every label of every series on each scrape
 * (measured: 150 ms for 80k series, all of it blocking the loop); here a
 * scrape is string concatenation over pre-rendered prefixes, and the
 * renderer (render.ts) can stop and yield between any two series.
 *
 * Per-cgroup series are reached through a CgroupEntry so that a setter
 * called for 10k cgroups on every poll sweep is a Map lookup, not a label
 * format, and so that removing a cgroup drops exactly its series.
 */
import { escapeHelp, isValidLabelName, isValidMetricName, labelString } from "./exposition.js";

export type MetricType = "counter" | "gauge" | "histogram";

export interface FamilyDef {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Per-cgroup families put "cgroup" first. */
  readonly labelNames: readonly string[];
  /** Histograms only: upper bounds, ascending, without +Inf. */
  readonly buckets?: readonly number[];
}

export interface Histogram {
  /** Non-cumulative counts per bucket; the last slot is the +Inf overflow. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export interface Series {
  readonly family: Family;
  /** Rendered `{...}` label text ("" without labels). Also the series' key in its family. */
  readonly labels: string;
  value: number;
  /**
   * Counter series that came into existence with a non-zero value are
   * exposed as 0 until one scrape has shown them: Prometheus' increase()
   * ignores a series' first sample, so without this the first OOM kill of a
   * new cgroup (or the first failure of a policy) would never alert.
   */
  hold: boolean;
  readonly histogram: Histogram | null;
}

export class Family {
  readonly series = new Map<string, Series>();
  /** `# HELP ...\n# TYPE ...\n`, rendered once. */
  readonly header: string;
  /** Histograms: `le="..."` text per bucket, +Inf last. */
  readonly leLabels: readonly string[];

  constructor(readonly def: FamilyDef) {
    if (!isValidMetricName(def.name)) throw new Error(`invalid metric name ${def.name}`);
    for (const l of def.labelNames) {
      if (!isValidLabelName(l) || l === "le") throw new Error(`invalid label name ${l} on ${def.name}`);
    }
    this.header = `# HELP ${def.name} ${escapeHelp(def.help)}\n# TYPE ${def.name} ${def.type}\n`;
    const buckets = def.type === "histogram" ? (def.buckets ?? []) : [];
    for (let i = 1; i < buckets.length; i++) {
      if ((buckets[i] ?? 0) <= (buckets[i - 1] ?? 0)) throw new Error(`buckets of ${def.name} must ascend`);
    }
    this.leLabels = def.type === "histogram" ? [...buckets.map((b) => `le="${String(b)}"`), 'le="+Inf"'] : [];
  }

  /** Gets or creates the series with these label values (in labelNames order). */
  get(values: readonly string[], hold = false): Series {
    if (values.length !== this.def.labelNames.length) {
      throw new Error(`${this.def.name} takes ${this.def.labelNames.length} label values, got ${values.length}`);
    }
    const labels = labelString(this.def.labelNames, values);
    let s = this.series.get(labels);
    if (s === undefined) {
      s = {
        family: this,
        labels,
        value: 0,
        hold: hold && this.def.type === "counter",
        histogram: this.def.type === "histogram" ? { counts: new Float64Array(this.leLabels.length), sum: 0, count: 0 } : null,
      };
      this.series.set(labels, s);
    }
    return s;
  }

  delete(series: Series): void {
    if (this.series.get(series.labels) === series) this.series.delete(series.labels);
  }
}

/** Observes one value into a histogram series. */
export function observe(series: Series, value: number): void {
  const h = series.histogram;
  if (h === null) throw new Error(`${series.family.def.name} is not a histogram`);
  const bounds = series.family.def.buckets ?? [];
  let i = 0;
  while (i < bounds.length && value > (bounds[i] ?? Infinity)) i++;
  h.counts[i] = (h.counts[i] ?? 0) + 1;
  h.sum += value;
  h.count += 1;
}

/** The series of one watched cgroup across families, keyed by family name plus extra label text. */
export class CgroupEntry {
  readonly series = new Map<string, Series>();

  constructor(
    readonly cgroup: string,
    /** Created while cgwatch watched (its kernel counters started at 0 then): counters hold at 0 until scraped. */
    readonly fresh: boolean,
  ) {}

  /** The series of `family` for this cgroup with extra label values after "cgroup"; `hold` for counters born with a count. */
  get(family: Family, extra: readonly string[] = [], hold: boolean = this.fresh): Series {
    const key = extra.length === 0 ? family.def.name : `${family.def.name}\0${extra.join("\0")}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = family.get([this.cgroup, ...extra], hold);
      this.series.set(key, s);
    }
    return s;
  }

  /** Drops one series (a setting that became unlimited, a device that went away). */
  drop(family: Family, extra: readonly string[] = []): void {
    const key = extra.length === 0 ? family.def.name : `${family.def.name}\0${extra.join("\0")}`;
    const s = this.series.get(key);
    if (s !== undefined) {
      family.delete(s);
      this.series.delete(key);
    }
  }

  /** Drops every series whose key starts with the family (for replacing per-device sets). */
  dropAllOf(family: Family, keep: (s: Series) => boolean): void {
    for (const [key, s] of this.series) {
      if (s.family === family && !keep(s)) {
        family.delete(s);
        this.series.delete(key);
      }
    }
  }

  /** Removes every series of the cgroup from its family: nothing of it is rendered afterwards. */
  clear(): void {
    for (const s of this.series.values()) s.family.delete(s);
    this.series.clear();
  }
}

export class Store {
  readonly families: Family[] = [];
  private readonly byName = new Map<string, Family>();

  define(def: FamilyDef): Family {
    if (this.byName.has(def.name)) throw new Error(`metric ${def.name} defined twice`);
    const f = new Family(def);
    this.families.push(f);
    this.byName.set(def.name, f);
    return f;
  }

  family(name: string): Family | undefined {
    return this.byName.get(name);
  }
}
