/**
 * The kernel's OOM report, parsed from /dev/kmsg text. Pure functions.
 *
 * The report's format changed over the kernel's history (mm/oom_kill.c,
 * mm/memcontrol.c), and every variant below is still shipped by some distro:
 *
 *   ≤ 4.4   Killed process 1234 (hog) total-vm:…kB, anon-rss:…kB, file-rss:…kB
 *   4.5     … file-rss:…kB, shmem-rss:…kB
 *   4.19    Memory cgroup out of memory: Killed process …          ("<reason>: " prefix)
 *           oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,
 *             oom_memcg=/a,task_memcg=/a/b,task=hog,pid=1234,uid=0   (the one-line summary)
 *   5.x     … shmem-rss:…kB, UID:0 pgtables:…kB oom_score_adj:0
 *   5.x     oom-kill:…,global_oom,task_memcg=…                      (no oom_memcg outside memcg OOMs)
 *   < 4.19  Task in /a/b killed as a result of limit of /a           (memcg paths before the summary)
 *
 * A /dev/kmsg record is `prio,seq,usec,flags[,…];message` plus continuation
 * lines that start with a space (` SUBSYSTEM=…`), which are ignored.
 */
import type { OomVictim } from "../events/types.js";

export interface KmsgRecord {
  readonly priority: number;
  readonly seq: number;
  /** Microseconds since boot. */
  readonly usec: number;
  readonly message: string;
}

/** The `oom-kill:` summary line (4.19+). Memcg paths are relative to the memory hierarchy root, no leading slash. */
export interface OomSummary {
  readonly kind: "summary";
  readonly constraint: string;
  /** The memcg whose limit was hit; null for a global OOM. */
  readonly oomMemcg: string | null;
  readonly taskMemcg: string;
  readonly task: string;
  readonly pid: number;
  readonly uid: number;
}

/** Pre-4.19 memcg line: `Task in /a/b killed as a result of limit of /a`. */
export interface OomTaskIn {
  readonly kind: "task_in";
  readonly taskMemcg: string;
  readonly oomMemcg: string;
}

export interface OomKilled {
  readonly kind: "killed";
  /** "Memory cgroup out of memory", "Out of memory", …; null before 4.19. */
  readonly reason: string | null;
  readonly pid: number;
  readonly comm: string;
  readonly totalVmBytes: number;
  readonly anonRssBytes: number;
  readonly fileRssBytes: number;
  readonly shmemRssBytes: number | null;
  readonly uid: number | null;
  readonly pgtablesBytes: number | null;
  readonly oomScoreAdj: number | null;
}

export type OomLine = OomSummary | OomTaskIn | OomKilled;

const RECORD = /^(\d+),(\d+),(\d+),[^;]*;([^\n]*)/;

export function parseKmsgRecord(text: string): KmsgRecord | null {
  const m = RECORD.exec(text);
  if (m === null) return null;
  const [, prio, seq, usec, message] = m;
  return { priority: Number(prio), seq: Number(seq), usec: Number(usec), message: message ?? "" };
}

/** Memcg paths as the kernel prints them ("/a/b", "/" for the root) → cgwatch's relative form ("a/b", ""). */
function relative(memcg: string): string {
  return memcg.replace(/^\/+/, "").replace(/\/+$/, "");
}

const SUMMARY = /oom-kill:constraint=([A-Z_]+)(.*?),task_memcg=(.*),task=(.*),pid=(\d+),uid=(\d+)\s*$/;
const OOM_MEMCG = /(?:^|,)oom_memcg=(.*)$/;
const TASK_IN = /Task in (.*) killed as a result of limit of (.*?)\s*$/;
const KILLED =
  /(?:^|\s)(?:([^:]+): )?Killed process (\d+) \((.*)\) total-vm:(\d+)kB, anon-rss:(\d+)kB, file-rss:(\d+)kB(?:, shmem-rss:(\d+)kB)?(?:,? UID:(\d+) pgtables:(\d+)kB oom_score_adj:(-?\d+))?/;

const KB = 1024;

export function parseOomLine(message: string): OomLine | null {
  let m = SUMMARY.exec(message);
  if (m !== null) {
    const [, constraint = "", middle = "", taskMemcg = "", task = "", pid = "0", uid = "0"] = m;
    const oomMemcg = OOM_MEMCG.exec(middle)?.[1];
    return {
      kind: "summary",
      constraint,
      oomMemcg: oomMemcg === undefined ? null : relative(oomMemcg),
      taskMemcg: relative(taskMemcg),
      task,
      pid: Number(pid),
      uid: Number(uid),
    };
  }
  m = KILLED.exec(message);
  if (m !== null) {
    const [, reason, pid = "0", comm = "", vm = "0", anon = "0", file = "0", shmem, uid, pgtables, adj] = m;
    return {
      kind: "killed",
      reason: reason ?? null,
      pid: Number(pid),
      comm,
      totalVmBytes: Number(vm) * KB,
      anonRssBytes: Number(anon) * KB,
      fileRssBytes: Number(file) * KB,
      shmemRssBytes: shmem === undefined ? null : Number(shmem) * KB,
      uid: uid === undefined ? null : Number(uid),
      pgtablesBytes: pgtables === undefined ? null : Number(pgtables) * KB,
      oomScoreAdj: adj === undefined ? null : Number(adj),
    };
  }
  m = TASK_IN.exec(message);
  if (m !== null) return { kind: "task_in", taskMemcg: relative(m[1] ?? ""), oomMemcg: relative(m[2] ?? "") };
  return null;
}

/** One OOM kill: the victim and the memcgs involved (the event union's type: it travels on oom_kill events). */
export type { OomVictim };

/**
 * Pairs the report's lines into victims, in kernel order: the summary (or the
 * old `Task in` line) comes before `Killed process`; a `Killed process` with
 * no context still names the victim, without memcgs.
 */
export function createOomAssembler(): (message: string, usec?: number) => OomVictim | null {
  let context: OomSummary | OomTaskIn | null = null;
  return (message, usec = 0) => {
    const line = parseOomLine(message);
    if (line === null) return null;
    if (line.kind !== "killed") {
      context = line;
      return null;
    }
    const ctx: OomSummary | OomTaskIn | null = context;
    context = null;
    const summary = ctx?.kind === "summary" && ctx.pid === line.pid ? ctx : null;
    const taskIn = ctx?.kind === "task_in" ? ctx : null;
    return {
      pid: line.pid,
      comm: line.comm,
      oomMemcg: summary?.oomMemcg ?? taskIn?.oomMemcg ?? null,
      taskMemcg: summary?.taskMemcg ?? taskIn?.taskMemcg ?? null,
      constraint: summary?.constraint ?? null,
      uid: line.uid ?? summary?.uid ?? null,
      totalVmBytes: line.totalVmBytes,
      anonRssBytes: line.anonRssBytes,
      fileRssBytes: line.fileRssBytes,
      shmemRssBytes: line.shmemRssBytes,
      oomScoreAdj: line.oomScoreAdj,
      kernelUsec: usec,
    };
  };
}

/** Whether a victim belongs to an OOM kill counted in `cgroup`: its memcg is the cgroup or below it, or the cgroup's limit was hit. */
export function victimIn(victim: OomVictim, cgroup: string): boolean {
  if (victim.oomMemcg === cgroup) return true;
  const t = victim.taskMemcg;
  if (t === null) return false;
  return t === cgroup || cgroup === "" || t.startsWith(`${cgroup}/`);
}
