"""Windows of a large model's days from their mergeable states (issue 28's targets), in one session on a local S3
server (moto, in its own process):

    .venv/bin/python -m benchmarks.windows                       # W1: 1M rows a day, 30 features
    .venv/bin/python -m benchmarks.windows --rows 100000 --daily 2   # a quicker look

1. **The day's state**: the first pipeline run of the day (`python -m monitoring run`, which fits the reference
   profile too), and the size of the `state.json` it publishes (target: at most 500 KB for W1).
2. **The daily run with windows on and off** (the model's `windows.daily: true`): the same day run with the 27 days before it published (their states,
   copies of the first day's, so its trailing window and slow-drift sums are judged) and without them (nothing to
   judge), alternating, `--daily` runs of each: the medians and their ratio (target: at most 1.10).
3. **A 30-day window compared**: 30 published days against the 30 before them (`compare.compare_range`: 60 states
   read and merged, the comparison judged) against rereading the 30 days' logs (every file downloaded and read
   in batches, each day's rows counted into its state, merged, the same comparison against the same baseline):
   both timed in one run (target: the states' way under 3 s).

The days' logs are the generated day's files copied to every day (a server-side copy): reading them costs what
reading 30 different days would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench import BUCKET, DAY, WORKLOADS, _client, generate, local_s3, measure, run_command, write_config

MODEL = "w1"


def _copy_logs(client, day: dt.date, to: dt.date) -> None:
    prefix = f"predictions/{MODEL}/dt={day.isoformat()}/"
    for item in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]:
        client.copy_object(Bucket=BUCKET, Key=item["Key"].replace(day.isoformat(), to.isoformat()),
                           CopySource={"Bucket": BUCKET, "Key": item["Key"]})


def _put_states(store, model, state, days: list[dt.date]) -> None:
    from monitoring.layout import DayLayout

    for day in days:
        store.put_bytes(DayLayout.of(model, day).state, state.model_copy(update={"days": [day]}).to_json(),
                        "application/json")


def _delete_states(store, model, days: list[dt.date]) -> None:
    from monitoring.layout import DayLayout

    for day in days:
        store.delete(DayLayout.of(model, day).state)


def _reread(store, model, days: list[dt.date], version: str):
    """The 30 days' states counted again from their logs (what the states spare)."""
    from monitoring import ingest, window_state

    edges = window_state.StateEdges.model_validate_json(store.get_bytes(
        f"reference/{model.name}/_state/edges.json"))
    states = []
    for day in days:
        tally = window_state.tally_of(model, day, version, edges)
        for item in store.list(f"predictions/{model.name}/dt={day.isoformat()}/"):
            with store.download(item.key) as local:
                for batch in ingest.batches(local, ingest.BATCH_ROWS):
                    tally.add(batch.to_pandas())
        states.append(tally.state())
    return window_state.merge(states)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=WORKLOADS["w1"], help="rows a day (default: W1's 1M)")
    parser.add_argument("--daily", type=int, default=3, help="daily runs with windows on, and as many off")
    parser.add_argument("--days", type=int, default=30, help="the compared window's days")
    args = parser.parse_args(argv)
    server, url, env = local_s3()
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "models.yaml"
            write_config(config, [MODEL])
            config.write_text(config.read_text().replace(f"  {MODEL}:\n", f"  {MODEL}:\n    windows: {{daily: true}}\n"))
            from monitoring import compare, window_state
            from monitoring.config import load_config
            from monitoring.layout import DayLayout
            from monitoring.storage import ObjectStore

            model = load_config(config).model(MODEL)
            store = ObjectStore(_client(url), BUCKET)
            started = time.monotonic()
            generate(url, MODEL, args.rows)
            print(f"{MODEL}: {args.rows:,} rows a day, generated in {time.monotonic() - started:.0f} s", flush=True)

            first = measure(run_command(config, url, MODEL), env)
            state_bytes = store.get_bytes(DayLayout.of(model, DAY).state)
            print(f"1. first run of the day (fits the reference profile): {first.seconds:.1f} s; its state.json "
                  f"{len(state_bytes) / 1024:.0f} KB (target 500 KB)", flush=True)
            state = window_state.WindowState.from_json(state_bytes)

            before = [DAY - dt.timedelta(days=n) for n in range(27, 0, -1)]
            on, off = [], []
            for _ in range(args.daily):
                _put_states(store, model, state, before)
                on.append(measure(run_command(config, url, MODEL), env).seconds)
                _delete_states(store, model, before)
                off.append(measure(run_command(config, url, MODEL), env).seconds)
            print(f"2. daily run, median of {args.daily}: windows on (27 days before it published) "
                  f"{statistics.median(on):.1f} s, off {statistics.median(off):.1f} s: "
                  f"{statistics.median(on) / statistics.median(off):.3f}x (target 1.10); on {on}, off {off}",
                  flush=True)

            window = [DAY - dt.timedelta(days=n) for n in range(args.days - 1, -1, -1)]
            baseline = [d - dt.timedelta(days=args.days) for d in window]
            _put_states(store, model, state, [*baseline, *window[:-1]])
            started = time.monotonic()
            comparison, _ = compare.compare_range(store, model, window[0], window[-1], (baseline[0], baseline[-1]))
            from_states = time.monotonic() - started
            for day in window[:-1]:
                _copy_logs(_client(url), DAY, day)
            started = time.monotonic()
            reread = _reread(store, model, window, state.reference_versions[0])
            baseline_state, _ = window_state.read_window(store, model, baseline)
            from monitoring import windows

            again = windows.compare(reread, baseline_state, "range", k=model.drift.band_sigma, fdr=model.drift.fdr,
                                    min_mean_shift=model.windows.min_mean_shift,
                                    min_distance=model.windows.min_distance)
            from_logs = time.monotonic() - started
            same = again.drifted == comparison.drifted
            print(f"3. {args.days} days ({args.days * args.rows:,} rows) against the {args.days} before: from the "
                  f"states {from_states:.2f} s (target 3 s), rereading the logs {from_logs:.1f} s "
                  f"({from_logs / from_states:.0f}x); the same verdicts: {same} (drifted: "
                  f"{', '.join(comparison.drifted) or 'none'})", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
