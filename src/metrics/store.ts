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
import { escapeHelp, escapeLabelValue, isValidLabelName, isValidMetricName } from "./exposition.js";

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

/**
 * exposition.ts' labelString text as one flat string. Built with `+=` and
 * template literals it is a rope, ~7 cons cells per series that V8 keeps
 * for the series' life (hashing a rope as a Map key does not flatten it):
 * measured 392k cons strings, 12 MB, at 2,000 cgroups. join() writes one
 * sequential string.
 */
export function flatLabels(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return "";
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++)
    parts.push(i === 0 ? "{" : ",", names[i] ?? "", '="', escapeLabelValue(values[i] ?? ""), '"');
  parts.push("}");
  return parts.join("");
}

/** `,name="value",...}`: the label text after a first label, for `names` from the second on. */
function flatTail(names: readonly string[], values: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 1; i < names.length; i++)
    parts.push(",", names[i] ?? "", '="', escapeLabelValue(values[i - 1] ?? ""), '"');
  parts.push("}");
  return parts.join("");
}

/** How many distinct label tails a family keeps for sharing (devices, event names, process names: a few dozen in practice). */
const MAX_TAILS = 4096;
/** Families with at most this many labels ("cgroup" included) share their tails. */
const MAX_SHARED_TAIL_LABELS = 3;

/** Series reached by label values, one Map level per value: a lookup builds no key string. */
type Trie = Map<string, Series | Trie>;

function findIn(trie: Trie, values: readonly string[], from: number): Series | undefined {
  if (values.length === from) {
    const only = trie.get("");
    return only instanceof Map ? undefined : only;
  }
  let node: Series | Trie | undefined = trie;
  for (let i = from; i < values.length; i++) {
    if (!(node instanceof Map)) return undefined;
    node = node.get(values[i] ?? "");
  }
  return node instanceof Map ? undefined : node;
}

function putIn(trie: Trie, values: readonly string[], from: number, s: Series): void {
  let node = trie;
  for (let i = from; i < values.length - 1; i++) {
    const key = values[i] ?? "";
    let next = node.get(key);
    if (!(next instanceof Map)) {
      next = new Map();
      node.set(key, next);
    }
    node = next;
  }
  node.set(values[values.length - 1] ?? "", s);
}

const NO_VALUES: readonly string[] = [];
const CGROUP_ONLY = { def: { labelNames: ["cgroup"] } } as const;

export class Family {
  readonly series = new Map<string, Series>();
  /** `get`'s index by label values (families without labels keep their one series under the key ""). */
  private readonly lookup: Trie = new Map();
  /** Label text after "cgroup" by extra key (CgroupEntry's), shared by every cgroup's series with those values. */
  private readonly tails = new Map<string, string>();
  /** `# HELP ...\n# TYPE ...\n`, rendered once. */
  readonly header: string;
  /** Histograms: `le="..."` text per bucket, +Inf last. */
  readonly leLabels: readonly string[];

  constructor(
    readonly def: FamilyDef,
    /** Position in its store: a CgroupEntry's slot for this family (so an entry serves the families of one store). */
    readonly index: number,
  ) {
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

  /**
   * Gets or creates the series with these label values (in labelNames
   * order). A hit walks `lookup` by the values themselves, so a counter
   * bumped per event formats no label text and allocates nothing.
   */
  get(values: readonly string[], hold = false): Series {
    if (values.length !== this.def.labelNames.length) {
      throw new Error(`${this.def.name} takes ${this.def.labelNames.length} label values, got ${values.length}`);
    }
    const hit = findIn(this.lookup, values, 0);
    // A series deleted since (a cgroup's, a policy's) is no longer the one in `series`.
    if (hit !== undefined && this.series.get(hit.labels) === hit) return hit;
    const s = this.create(values, hold);
    putIn(this.lookup, values, 0, s);
    return s;
  }

  /**
   * Gets or creates a series by its label text, without keeping it in
   * `lookup` (per-cgroup series are found through their CgroupEntry).
   * `labels`, when given, is that text already rendered (a cgroup's one
   * label text, shared by its families).
   */
  create(values: readonly string[], hold = false, labels = flatLabels(this.def.labelNames, values)): Series {
    let s = this.series.get(labels);
    if (s === undefined) {
      s = {
        family: this,
        labels,
        value: 0,
        hold: hold && this.def.type === "counter",
        histogram:
          this.def.type === "histogram" ? { counts: new Float64Array(this.leLabels.length), sum: 0, count: 0 } : null,
      };
      this.series.set(labels, s);
    }
    return s;
  }

  /** The label text after the first label for these extra values (`key`: their CgroupEntry key), shared while few. */
  tail(key: string, extra: readonly string[]): string {
    let t = this.tails.get(key);
    if (t === undefined) {
      t = flatTail(this.def.labelNames, extra);
      // Event names, devices, process names repeat across cgroups; a family with many extra labels
      // (cgroup_info's identity) has one tail per container, which sharing would only keep alive.
      if (this.def.labelNames.length <= MAX_SHARED_TAIL_LABELS && this.tails.size < MAX_TAILS) this.tails.set(key, t);
    }
    return t;
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

/** A family's series of one cgroup with extra labels: key, series, key, series ... (a handful per family). */
type ByExtra = (string | Series)[];

const NO_PAIRS: ByExtra = [];

/** A new array of the exact length: push() or a spread would leave room for more, per family and cgroup. */
function withPair(pairs: ByExtra, key: string, s: Series): ByExtra {
  const next = new Array<string | Series>(pairs.length + 2);
  for (let i = 0; i < pairs.length; i++) next[i] = pairs[i] ?? "";
  next[pairs.length] = key;
  next[pairs.length + 1] = s;
  return next;
}

function findByExtra(pairs: ByExtra, key: string): Series | undefined {
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === key) return pairs[i + 1] as Series;
  return undefined;
}

/**
 * The series of one watched cgroup across families: per family its one
 * series, or its series by the extra label values after "cgroup" (the value
 * itself when there is one, the values joined otherwise), as key/series
 * pairs in one array. A setter called for every cgroup on every pass then
 * finds its series without building a key string, except for the families
 * with two extra labels (per-device I/O). An array, not a Map: a family
 * has a handful of series per cgroup, and a Map each would cost more
 * memory at 10k cgroups than the key strings it saves.
 *
 * Memory per cgroup (10k cgroups, 27 series each): the families' slots are
 * one array indexed by the family's position in the store, not a Map (a
 * ~30-entry Map is ~1 KB), and the families without extra labels share one
 * `{cgroup="..."}` text (one ~150-byte string instead of one per family).
 */
export class CgroupEntry {
  private readonly byFamily: (Series | ByExtra | undefined)[] = [];
  /** `{cgroup="..."}`, rendered once for every family whose only label is "cgroup". */
  private cgroupLabels: string | undefined;
  /** `{cgroup="..."`, the start of the label text of the cgroup's series with extra labels. */
  private cgroupPrefix: string | undefined;

  constructor(
    readonly cgroup: string,
    /** Created while cgwatch watched (its kernel counters started at 0 then): counters hold at 0 until scraped. */
    readonly fresh: boolean,
  ) {}

  /** The series of `family` for this cgroup with extra label values after "cgroup"; `hold` for counters born with a count. */
  get(family: Family, extra: readonly string[] = NO_VALUES, hold: boolean = this.fresh): Series {
    const slot = this.byFamily[family.index];
    if (extra.length === 0) {
      if (slot !== undefined && !Array.isArray(slot)) return slot;
      const s = family.create([this.cgroup], hold, this.labelsOf(family));
      this.byFamily[family.index] = s;
      return s;
    }
    const pairs = Array.isArray(slot) ? slot : NO_PAIRS;
    const key = extraKey(extra);
    let s = findByExtra(pairs, key);
    if (s === undefined) {
      s = family.create([this.cgroup, ...extra], hold, this.extraLabelsOf(family, key, extra));
      this.byFamily[family.index] = withPair(pairs, key, s);
    }
    return s;
  }

  /** The label text of a series of `family` without extra labels: the shared one when its only label is "cgroup". */
  private labelsOf(family: { readonly def: Pick<FamilyDef, "labelNames"> }): string {
    const names = family.def.labelNames;
    if (names.length !== 1 || names[0] !== "cgroup") return flatLabels(names, [this.cgroup]);
    this.cgroupLabels ??= flatLabels(names, [this.cgroup]);
    return this.cgroupLabels;
  }

  /**
   * The label text of a series with extra labels: `{cgroup="..."` (a slice
   * of the shared text) joined to the family's shared tail. V8 keeps the
   * join as one 32-byte cons cell over the two shared strings; a flat copy
   * would be ~170 bytes per series.
   */
  private extraLabelsOf(family: Family, key: string, extra: readonly string[]): string {
    const names = family.def.labelNames;
    if (names[0] !== "cgroup") return flatLabels(names, [this.cgroup, ...extra]);
    this.cgroupPrefix ??= this.labelsOf(CGROUP_ONLY).slice(0, -1);
    return this.cgroupPrefix + family.tail(key, extra);
  }

  /** Drops one series (a setting that became unlimited, a device that went away). */
  drop(family: Family, extra: readonly string[] = NO_VALUES): void {
    const slot = this.byFamily[family.index];
    if (slot === undefined) return;
    const s = Array.isArray(slot) ? findByExtra(slot, extraKey(extra)) : extra.length === 0 ? slot : undefined;
    if (s !== undefined) this.dropAllOf(family, (x) => x !== s);
  }

  /** Drops every series of the family that `keep` refuses (for replacing per-device sets). */
  dropAllOf(family: Family, keep: (s: Series) => boolean): void {
    const slot = this.byFamily[family.index];
    if (slot === undefined) return;
    if (!Array.isArray(slot)) {
      if (keep(slot)) return;
      family.delete(slot);
      this.byFamily[family.index] = undefined;
      return;
    }
    let kept = NO_PAIRS;
    for (let i = 0; i < slot.length; i += 2) {
      const s = slot[i + 1] as Series;
      if (keep(s)) kept = withPair(kept, (slot[i] as string | undefined) ?? "", s);
      else family.delete(s);
    }
    this.byFamily[family.index] = kept.length === 0 ? undefined : kept;
  }

  /** Removes every series of the cgroup from its family: nothing of it is rendered afterwards. */
  clear(): void {
    for (const slot of this.byFamily) {
      if (slot === undefined) continue;
      if (!Array.isArray(slot)) slot.family.delete(slot);
      else for (let i = 1; i < slot.length; i += 2) (slot[i] as Series).family.delete(slot[i] as Series);
    }
    this.byFamily.length = 0;
  }
}

const extraKey = (extra: readonly string[]): string => (extra.length === 1 ? (extra[0] ?? "") : extra.join("\0"));

export class Store {
  readonly families: Family[] = [];
  private readonly byName = new Map<string, Family>();

  define(def: FamilyDef): Family {
    if (this.byName.has(def.name)) throw new Error(`metric ${def.name} defined twice`);
    const f = new Family(def, this.families.length);
    this.families.push(f);
    this.byName.set(def.name, f);
    return f;
  }

  family(name: string): Family | undefined {
    return this.byName.get(name);
  }
}
