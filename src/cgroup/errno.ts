/** The errno name of a failed fs call ("ENOENT", "EBUSY", ...), or "EUNKNOWN" for anything else thrown. */
export function errnoOf(err: unknown): string {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string"
    ? err.code
    : "EUNKNOWN";
}
