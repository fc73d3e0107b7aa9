// Runs when `node-gyp rebuild` fails during `npm install` (no compiler, no
// node headers). cgwatch still works without its addon: v1 OOM and PSI fall
// back to polling, which the daemon reports at startup and as the metric
// cgwatch_notifier_fallback. So the install must not fail, but it must say so.
process.stderr.write(
  "cgwatch: the native eventfd/PSI addon could not be built; cgwatch will poll instead of " +
    "receiving kernel notifications. Install python3, make and g++ and run `npm run build:native`.\n",
);
