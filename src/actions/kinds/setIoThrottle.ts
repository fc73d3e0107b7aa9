/** `--device-read-bps` and friends; device is "major:minor". v1: one blkio.throttle file per field; v2: one io.max line. */
import { ACTION_LIMITS } from "../limits.js";
import type { FileAddr, Step } from "../plan.js";
import { BYTES_FIELD, device, integerIn } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { exists, missing, planOf, write } from "./planKit.js";

export type SetIoThrottle = {
  readonly kind: "set_io_throttle";
  readonly device: string;
  readonly readBps?: number | "max";
  readonly writeBps?: number | "max";
  readonly readIops?: number | "max";
  readonly writeIops?: number | "max";
};

type Field = "readBps" | "writeBps" | "readIops" | "writeIops";
const V1_THROTTLE_FILES: Readonly<Record<Field, string>> = {
  readBps: "blkio.throttle.read_bps_device",
  writeBps: "blkio.throttle.write_bps_device",
  readIops: "blkio.throttle.read_iops_device",
  writeIops: "blkio.throttle.write_iops_device",
};
const V2_IO_KEYS: Readonly<Record<Field, string>> = {
  readBps: "rbps",
  writeBps: "wbps",
  readIops: "riops",
  writeIops: "wiops",
};
const FIELDS = Object.keys(V2_IO_KEYS) as Field[];
const IO_MAX: FileAddr = { scope: "io", file: "io.max" };
const v1File = (k: Field): FileAddr => ({ scope: "blkio", file: V1_THROTTLE_FILES[k] });
const given = (action: SetIoThrottle): Field[] => FIELDS.filter((k) => action[k] !== undefined);

const bps = { ...BYTES_FIELD, type: 'number | "max"', optional: true } as const;
const iops = { check: integerIn(ACTION_LIMITS.iops, true), type: 'number | "max"', optional: true } as const;

export const setIoThrottle: ActionKindDef<SetIoThrottle> = {
  kind: "set_io_throttle",
  fields: { device: { check: device, type: "string" }, readBps: bps, writeBps: bps, readIops: iops, writeIops: iops },
  needsOneOptional: true,
  scope: "blkio",
  writes: { 1: FIELDS.map(v1File), 2: [IO_MAX] },
  reads: (action, version) => (version === 1 ? given(action).map(v1File) : [IO_MAX]),
  plan(action, version, current) {
    const fields = given(action);
    if (version === 1) {
      const steps: Step[] = [];
      for (const k of fields) {
        const file = V1_THROTTLE_FILES[k];
        if (!exists(current, file)) return missing(file, "blkio throttling is not available");
        const v = action[k];
        // v1 removes a device's limit with 0.
        const value = v === "max" || v === undefined ? 0 : v;
        steps.push(
          write("blkio", file, `${action.device} ${value}`, {
            kind: "device_line",
            device: action.device,
            expect: [String(value)],
            unlimited: value === 0,
          }),
        );
      }
      return planOf(version, steps);
    }
    if (!exists(current, "io.max")) return missing("io.max", "is the io controller enabled for this cgroup?");
    const tokens = fields.map((k) => `${V2_IO_KEYS[k]}=${String(action[k])}`);
    const allMax = fields.every((k) => action[k] === "max");
    return planOf(version, [
      write("io", "io.max", `${action.device} ${tokens.join(" ")}`, {
        kind: "device_line",
        device: action.device,
        expect: tokens,
        unlimited: allMax,
      }),
    ]);
  },
};
