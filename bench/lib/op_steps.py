"""Where `vm.create` ops spent their time, from `warren --json events` lines.

usage: op_steps.py EVENTS_JSONL [T0_MS]

One op: each step's milliseconds (a step lasts until the next) and the total.
Several: per step the median / max over the ops, and when they started and
ended, in ms after T0_MS (when the first `vm create` was called).
"""
import json
import statistics
import sys


def steps_by_op(path):
    ops = {}
    for line in open(path):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        data = e.get("data") or {}
        if e.get("kind") != "op" or data.get("kind") != "vm.create":
            continue
        steps = ops.setdefault(data.get("target"), [])
        step = data.get("step") or e.get("action")
        if not steps or steps[-1][0] != step:
            steps.append((step, e["time_ms"]))
    return [s for s in ops.values() if s]


def main():
    ops = steps_by_op(sys.argv[1])
    if not ops:
        print("  (no vm.create progress events recorded)")
        return
    if len(ops) == 1:
        steps = ops[0]
        for (step, t), nxt in zip(steps, steps[1:]):
            print(f"  {step:32s} {nxt[1] - t:6d} ms")
        print(f"  {'total (op start to end)':32s} {steps[-1][1] - steps[0][1]:6d} ms")
        return
    durations, order = {}, []
    for steps in ops:
        for (step, t), nxt in zip(steps, steps[1:]):
            if step not in durations:
                order.append(step)
            durations.setdefault(step, []).append(nxt[1] - t)
    for step in order:
        d = durations[step]
        print(f"  {step:32s} {statistics.median(d):6.0f} / {max(d):6d}")
    t0 = int(sys.argv[2]) if len(sys.argv) > 2 else min(s[0][1] for s in ops)
    starts = sorted(s[0][1] - t0 for s in ops)
    ends = sorted(s[-1][1] - t0 for s in ops)
    print(f"  ops started {starts[0]}..{starts[-1]} ms after the first call, "
          f"ended {ends[0]}..{ends[-1]} ms")


if __name__ == "__main__":
    main()
