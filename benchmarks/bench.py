"""One day of a large model, two ways, in one session: the naive way and this pipeline's whole-day run.

    .venv/bin/python -m benchmarks.bench                  # W1 (1M rows), then W10 (10M rows)
    .venv/bin/python -m benchmarks.bench --workloads w1   # W1 only
    .venv/bin/python -m benchmarks.bench --rows 100000    # a quick look at a smaller day
    .venv/bin/python -m benchmarks.bench --workloads w1 --estimate   # what CBPE adds to a W1 day
    .venv/bin/python -m benchmarks.bench --rows 3000 --daily 5 --naive-max-rows 0   # a small day's daily run
    .venv/bin/python -m benchmarks.bench --workloads w1 --segments 50   # what 50 segments add to a W1 day
    .venv/bin/python -m benchmarks.bench --rows 100000 --multiclass 5 --daily 5   # a 5-class day against a binary one

Each workload is a day of prediction logs (24 numeric and 6 categorical features, a score and a label; parquet files
of 250k rows) and a 200k-row reference, on a local S3 server (moto, in its own process, so its memory is not counted).
Ten features are shifted in the day, two of them close to the drift threshold, so the verdicts are neither trivial
nor safe from a careless sample.

(a) naive: every file of the day into one pandas frame, the reference likewise, Evidently's DataDriftPreset and
    DataSummaryPreset on all rows (with its tests, which carry the drift verdicts): what most monitoring code does.
(b) pipeline: `python -m monitoring run` for the day: contract, reports, publication, site, decision.

Each runs in a child process; its wall time and peak RSS (the kernel's, from wait4) are printed with the ratio, and
whether the two agree on each feature's drift verdict and on the dataset verdict. The naive run of a day above
`--naive-max-rows` is skipped (10M rows would need ~20 GB: W1 peaks at 2 GB).

`--estimate`: the reference's labels declared, the pipeline's day run with `performance.estimate` off, then on
(CBPE), each twice: the first run fits the reference profile (printed), the second is the daily run against it;
the second runs' times and their ratio are printed.

`--daily N`: after the first run (which fits the reference profile once for the version), N more runs of the same
day, as every later day runs: their median wall time, the Evidently import inside it (from the run's log) and the
rest.

`--segments N`: the workload gains an extra logged column `channel` (the model does not use it; values of unequal
shares, falling as 1/rank^0.75, drawn from generators of their own: the other columns are the usual ones), and the
model's `segments:` cut N segments: `channel`'s values, the feature num_08 (not shifted in the day) in 4 buckets at
its quartiles, and `channel` x num_08 crossed, `max_per_column` chosen so that the three dimensions hold N segments
between them (`segment_plan`; fewer than 10: `channel`'s values alone). The same files are run without segments
(the column then one the contract ignores) and with them: each setting's first run (which fits its reference profile;
the fit's time read from the run's log) and then `--daily` (default 3) daily runs of each, alternating; the medians
of the daily runs compared, and the peak RSS of every run.

`--multiclass K`: the same generated rows as two models of one config: the binary model (its score and label, as
above) and a K-class model (`task: multiclass_classification`) whose score and label are replaced by K class scores
summing to 1 (the softmax of class logits from the same standardized numeric features: `_multiclass`), the predicted
class (the top score's) as its decision and a class label drawn from the scores. Both declare their labels (the
reference's), so both fit and apply CBPE, binary or multiclass. Each model's first run (it fits its reference
profile; the fit's time read from the run's log), then `--daily` (default 3) daily runs of each, alternating: the
medians compared, with Evidently's import inside each (target: the multiclass day at most 1.5x the binary day), and
the peak RSS of the daily runs and of every run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import statistics
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bench"
DAY = dt.date(2026, 11, 2)
NUMERIC = [f"num_{i:02d}" for i in range(24)]
CATEGORICAL = [f"cat_{i}" for i in range(6)]
# Shifted in the day, in standard deviations: six clearly, two close to the 0.1 threshold of the normed Wasserstein
# distance on either side (the sample must not flip them), and two categorical columns.
SHIFTS = {**dict.fromkeys(NUMERIC[:6], 0.6), NUMERIC[6]: 0.13, NUMERIC[7]: 0.07}
SHIFTED = [*SHIFTS, *CATEGORICAL[:2]]
FILE_ROWS = 250_000
REFERENCE_ROWS = 200_000
WORKLOADS = {"w1": 1_000_000, "w10": 10_000_000}
CATEGORIES = [f"v{i:02d}" for i in range(12)]
DECISION = "predicted_class"  # --multiclass: the model's decision, the class of its top score


def class_names(k: int) -> list[str]:
    return [f"c{i}" for i in range(k)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(url: str):
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def segment_plan(n: int) -> tuple[int, int, int]:
    """(channel's values, num_08's buckets, max_per_column) that cut `n` segments: channel's c values (all kept:
    c < max_per_column m), num_08's b buckets, and channel x num_08's c x b combinations of which m - 1 are kept and
    the rest pooled: c + b + m segments. Below 10, channel's n values alone (b = 0)."""
    if n < 10:
        return n, 0, max(n + 1, 2)
    buckets = 4
    per_column = -(-(n - buckets + 1) // 2)
    return n - buckets - per_column, buckets, per_column


def segments_setting(n: int) -> str:
    """The model's `segments:` entry for `n` segments (`segment_plan`)."""
    _, buckets, per_column = segment_plan(n)
    if not buckets:
        return f"segments: {{columns: [channel], max_per_column: {per_column}}}"
    quartiles = [round(90 + z * 4, 2) for z in (-0.6745, 0.0, 0.6745)]  # num_08 ~ N(90, 4)
    return (f"segments: {{columns: [channel], buckets: {{num_08: {quartiles}}}, crossed: [[channel, num_08]], "
            f"max_per_column: {per_column}}}")


def _channel(n: int, values: int, seed: int):
    """The extra logged column: `values` channels of unequal shares (1/rank^0.75: the largest 10 times the smallest
    at 22 values), from a generator of its own."""
    import pyarrow as pa

    weights = 1 / np.arange(1, values + 1) ** 0.75
    names = [f"ch{i:02d}" for i in range(values)]
    return pa.array(np.random.default_rng(seed).choice(names, n, p=weights / weights.sum()))


def _rows(rng: np.random.Generator, n: int, start: int, shifted: bool, day: dt.date):
    """`n` rows of the log (or reference) as a pyarrow table; ids `start`.. `start + n`."""
    import pyarrow as pa

    columns = {"prediction_id": pa.array([f"p{start + i:09d}" for i in range(n)])}
    seconds = rng.integers(0, 86_400, n)
    columns["event_time"] = pa.array(
        np.datetime64(day.isoformat(), "s") + seconds.astype("timedelta64[s]"), pa.timestamp("s", tz="UTC"))
    logit = np.zeros(n)
    for i, name in enumerate(NUMERIC):
        values = rng.normal(10 * (i + 1), 1 + i % 5, n)
        if shifted and name in SHIFTS:
            values = values + SHIFTS[name] * (1 + i % 5)
        logit += (values - 10 * (i + 1)) / (1 + i % 5) * (0.3 if i < 8 else 0.05)
        columns[name] = pa.array(values.round(4))
    for name in CATEGORICAL:
        weights = np.linspace(2, 1, len(CATEGORIES))
        if shifted and name in SHIFTED:
            weights = weights[::-1] ** 3
        columns[name] = pa.array(rng.choice(CATEGORIES, n, p=weights / weights.sum()))
    score = 1 / (1 + np.exp(-logit / 2))
    columns["score"] = pa.array(score)
    columns["label"] = pa.array((rng.random(n) < score).astype("int8"))
    return pa.table(columns)


def _multiclass(table, k: int, seed: int):
    """`table` as a `k`-class model's log: its score and label replaced by `k` class scores (the softmax of class
    logits, each a fixed mix of the standardized numeric features, the first eight weighing most: the day's shifted
    features move the scores as they move the binary one), the predicted class and a class label drawn from the
    scores by a generator of its own (`seed`)."""
    import pyarrow as pa

    standard = np.column_stack([(table[name].to_numpy() - 10 * (i + 1)) / (1 + i % 5)
                                for i, name in enumerate(NUMERIC)])
    leaning = np.where(np.arange(len(NUMERIC)) < 8, 0.5, 0.1)[:, None]  # the first eight features weigh most
    weights = np.random.default_rng(k).normal(0, 1, (len(NUMERIC), k)) * leaning
    logits = standard @ weights + np.linspace(0.6, -0.6, k)  # unequal class shares
    chance = np.exp(logits - logits.max(axis=1, keepdims=True))
    chance /= chance.sum(axis=1, keepdims=True)
    names = np.array(class_names(k))
    drawn = (np.random.default_rng(seed).random(len(chance))[:, None] > np.cumsum(chance, axis=1)).sum(axis=1)
    table = table.drop_columns(["score", "label"])
    for i, name in enumerate(names):
        table = table.append_column(f"score_{name}", pa.array(chance[:, i]))
    table = table.append_column(DECISION, pa.array(names[chance.argmax(axis=1)]))
    return table.append_column("label", pa.array(names[np.minimum(drawn, k - 1)]))


def _put_table(client, key: str, table) -> None:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=125_000)
    client.put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())


def generate(url: str, model: str, rows: int, day: dt.date = DAY, channels: int = 0, classes: int = 0) -> None:
    """The model's reference (once) and its log of `day`, in parquet files of FILE_ROWS rows; `channels`: the extra
    logged column `channel` with that many values (none: 0); `classes`: a multiclass model's log of that many
    classes (`_multiclass`), of the same rows as the binary model's (binary: 0)."""
    client = _client(url)
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    rng = np.random.default_rng(day.toordinal())
    if "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix=f"reference/{model}/"):
        table = _rows(np.random.default_rng(7), REFERENCE_ROWS, 0, False, DAY - dt.timedelta(days=30))
        if classes:
            table = _multiclass(table, classes, 60)
        if channels:
            table = table.append_column("channel", _channel(REFERENCE_ROWS, channels, 70))
        _put_table(client, f"reference/{model}/v=1/part-0.parquet", table)
        client.put_object(Bucket=BUCKET, Key=f"reference/{model}/CURRENT.json", Body=b'{"version": "1"}')
    for part, start in enumerate(range(0, rows, FILE_ROWS)):
        n = min(FILE_ROWS, rows - start)
        table = _rows(rng, n, 10**8 + start, True, day)
        if classes:
            table = _multiclass(table, classes, 61 + part)
        if channels:
            table = table.append_column("channel", _channel(n, channels, 71 + part))
        _put_table(client, f"predictions/{model}/dt={day.isoformat()}/part-{part:04d}.parquet", table)


def local_s3() -> tuple[subprocess.Popen, str, dict[str, str]]:
    """moto's S3 server in a process of its own (its memory not counted), once it answers; its URL, and the
    environment the children run with (the benchmark's credentials, the project on the path)."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "NO_PROXY": "127.0.0.1,localhost", "PYTHONPATH": str(ROOT)}
    env.pop("AWS_PROFILE", None)
    wait_for_port(port)
    return server, f"http://127.0.0.1:{port}", env


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def model_entry(model: str, settings: list[str], storage: str = f"{{bucket: {BUCKET}, log_format: parquet}}",
                classes: int = 0) -> str:
    """One model's entry in config/models.yaml for the benchmark workload's columns; `settings`: more lines of it
    (`key: value`, at the model's level); `classes`: a multiclass model of that many classes (binary: 0)."""
    scores = ", ".join(f"{c}: score_{c}" for c in class_names(classes))
    predictions = ([f"  scores: {{{scores}}}", f"  decision: {DECISION}"] if classes else ["  score: score"])
    lines = [f"task: {'multiclass' if classes else 'binary'}_classification", f"storage: {storage}", "columns:",
             "  id: prediction_id", "  timestamp: event_time", *predictions, f"  numerical: [{', '.join(NUMERIC)}]",
             f"  categorical: [{', '.join(CATEGORICAL)}]", *settings]
    return f"  {model}:\n" + "".join(f"    {line}\n" for line in lines)


def write_config(path: Path, models: list[str], max_rows: int | None = None, estimate: bool | None = None,
                 segments: int = 0, classes: dict[str, int] | None = None) -> None:
    """`estimate`: None, no labels declared; else labels declared and `performance.estimate` set to it. `segments`:
    that many segments (`segments_setting`), none: 0. `classes`: the multiclass models and their classes."""
    settings = ["drift: {dataset_drift_share: 0.2}", *([f"reports: {{max_rows: {max_rows}}}"] if max_rows else []),
                *([] if estimate is None else ["labels: {column: label, lag_days: 1}",
                                               f"performance: {{estimate: {str(estimate).lower()}}}"]),
                *([segments_setting(segments)] if segments else [])]
    entries = "\n".join(model_entry(model, [*settings, f"retraining: {{dag_id: retrain_{model}}}"],
                                     classes=(classes or {}).get(model, 0)) for model in models)
    path.write_text(f"models:\n{entries}")


# --- (a) the naive way ----------------------------------------------------------------------------------------------
def naive(url: str, model: str) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    client = _client(url)

    def read(prefix: str) -> pd.DataFrame:
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
                if o["Key"].endswith(".parquet")]
        return pd.concat([pd.read_parquet(io.BytesIO(client.get_object(Bucket=BUCKET, Key=k)["Body"].read()))
                          for k in keys], ignore_index=True)

    current = read(f"predictions/{model}/dt={DAY.isoformat()}/")
    reference = read(f"reference/{model}/v=1/")
    definition = DataDefinition(numerical_columns=NUMERIC + ["score"], categorical_columns=CATEGORICAL)
    columns = NUMERIC + CATEGORICAL + ["score"]
    snapshot = Report([DataDriftPreset(columns=NUMERIC + CATEGORICAL), DataSummaryPreset(columns=columns)],
                      include_tests=True).run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition))
    snapshot.get_html_str(as_iframe=False)
    document = snapshot.dict()
    verdicts = {t["metric_config"]["metric_id"]: t["status"] for t in document["tests"]}
    drifted, scores = {}, {}
    for metric in document["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith(":ValueDrift") and metric["id"] in verdicts:
            drifted[config["column"]] = verdicts[metric["id"]] == "FAIL"
            scores[config["column"]] = float(metric["value"])
    share = sum(drifted.values()) / len(drifted)
    return {"rows": len(current), "drifted": drifted, "scores": scores, "dataset_drift": share >= 0.2}


# --- (b) this pipeline ----------------------------------------------------------------------------------------------
def pipeline_verdicts(url: str, model: str) -> dict:
    summary = json.loads(_client(url).get_object(
        Bucket=BUCKET, Key=f"reports/{model}/dt={DAY.isoformat()}/summary.json")["Body"].read())
    drift = summary["data_drift"]
    return {"rows": summary["rows"]["read"], "drifted": {c: f["drifted"] for c, f in drift["features"].items()},
            "scores": {c: f["score"] for c, f in drift["features"].items()}, "dataset_drift": drift["dataset_drift"]}


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    output: str


def run_command(config: Path, url: str, model: str) -> list[str]:
    """The pipeline's whole-day run of the benchmark's day, as a user starts it."""
    return [sys.executable, "-m", "monitoring", "run", "--model", model, "--day", DAY.isoformat(), "--config",
            str(config), "--endpoint-url", url]


def measure(argv: list[str], env: dict[str, str]) -> Measured:
    """Run a child process; its wall time and peak resident set size (kernel accounting, from wait4)."""
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{output[-4000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024, output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="w1,w10", help="comma-separated: w1 (1M rows), w10 (10M rows)")
    parser.add_argument("--rows", type=int, default=None, help="one custom workload of this many rows instead")
    parser.add_argument("--naive-max-rows", type=int, default=2_000_000,
                        help="skip the naive run above this many rows (default 2M)")
    parser.add_argument("--max-rows", default=None,
                        help="the pipeline's reports.max_rows (rows handed to Evidently; default: the config's, "
                             "100000); several, comma-separated, run the pipeline once with each")
    parser.add_argument("--estimate", action="store_true",
                        help="measure what estimating performance before the labels (CBPE) adds to the day's run")
    parser.add_argument("--daily", type=int, default=0, metavar="N",
                        help="after the first run (it fits the reference profile), N daily runs of the same day: "
                             "median time, Evidently's import and the rest")
    parser.add_argument("--segments", type=int, default=0, metavar="N",
                        help="measure what N segments add to the day's run (time and peak memory; see above)")
    parser.add_argument("--multiclass", type=int, default=0, metavar="K",
                        help="measure a K-class model's day against the binary model's day of the same rows "
                             "(time and peak memory; see above)")
    parser.add_argument("--verbose", action="store_true", help="print the pipeline run's log")
    parser.add_argument("--child", nargs=2, metavar=("URL", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(naive(*args.child)))
        return 0

    workloads = {f"r{args.rows}": args.rows} if args.rows else {
        name: WORKLOADS[name] for name in args.workloads.split(",")}
    server, url, env = local_s3()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "models.yaml"
            caps = [int(v) for v in args.max_rows.split(",")] if args.max_rows else [None]
            print(f"machine: {os.cpu_count()} cores, {_memory_gb():.0f} GB; python {sys.version.split()[0]}")
            for model, rows in workloads.items():
                started = time.monotonic()
                generate(url, model, rows, channels=segment_plan(args.segments)[0] if args.segments else 0)
                if args.multiclass:
                    generate(url, f"{model}-mc{args.multiclass}", rows, classes=args.multiclass)
                print(f"\n{model}: {rows:,} rows x {len(NUMERIC) + len(CATEGORICAL)} features, reference "
                      f"{REFERENCE_ROWS:,} rows (generated in {time.monotonic() - started:.0f}s)", flush=True)
                if args.multiclass:
                    multiclass_cost(config, url, model, args.multiclass, env, args.daily or 3, args.verbose)
                    continue
                if args.estimate:
                    estimate_cost(config, url, model, list(workloads), env)
                    continue
                if args.segments:
                    segments_cost(config, url, model, list(workloads), env, args.segments, args.daily or 3,
                                  args.verbose)
                    continue
                runs = []
                for cap in caps:
                    write_config(config, list(workloads), cap)
                    ours = measure(run_command(config, url, model), env)
                    verdicts = pipeline_verdicts(url, model)
                    runs.append((cap, ours, verdicts))
                    if args.verbose:
                        print(ours.output)
                    print(f"  (b) pipeline, reports.max_rows {cap or 'default'}: {ours.seconds:6.1f} s  peak RSS "
                          f"{ours.peak_rss_mb:6.0f} MB  dataset drift {verdicts['dataset_drift']}, drifted "
                          f"{sorted(k for k, v in verdicts['drifted'].items() if v)}", flush=True)
                if args.daily:
                    daily_runs(config, url, model, env, args.daily)
                if rows > args.naive_max_rows:
                    print(f"  (a) naive: skipped ({rows:,} rows > --naive-max-rows {args.naive_max_rows:,})")
                    continue
                naive_run = measure([sys.executable, "-m", "benchmarks.bench", "--child", url, model], env)
                result = json.loads(naive_run.output.rsplit("RESULT ", 1)[1])
                print(f"  (a) naive:    {naive_run.seconds:6.1f} s  peak RSS {naive_run.peak_rss_mb:6.0f} MB  "
                      f"dataset drift {result['dataset_drift']}, drifted "
                      f"{sorted(k for k, v in result['drifted'].items() if v)}")
                for cap, ours, verdicts in runs:
                    agree = result["drifted"] == {c: verdicts["drifted"][c] for c in result["drifted"]} and \
                        result["dataset_drift"] == verdicts["dataset_drift"]
                    gap = max(abs(result["scores"][c] - verdicts["scores"][c]) for c in result["scores"])
                    print(f"  naive / pipeline (max_rows {cap or 'default'}): {naive_run.seconds / ours.seconds:.1f}x "
                          f"the time, {naive_run.peak_rss_mb / ours.peak_rss_mb:.1f}x the memory; drift decisions "
                          f"{'AGREE' if agree else 'DIFFER'}; largest drift-score gap {gap:.4f}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


EVIDENTLY_IMPORT = re.compile(r"Evidently (?:imported by this task|preloaded by the worker) \(([0-9.]+) s\)")


def daily_runs(config: Path, url: str, model: str, env: dict, rounds: int) -> None:
    """`rounds` more runs of the day against the fitted profile: the median whole run, Evidently's import in it (as
    the run logs it) and everything else."""
    command = run_command(config, url, model)
    runs = []
    for _ in range(rounds):
        run = measure(command, env)
        runs.append((run.seconds, sum(float(v) for v in EVIDENTLY_IMPORT.findall(run.output))))
    whole = statistics.median(s for s, _ in runs)
    imports = statistics.median(i for _, i in runs)
    rest = statistics.median(s - i for s, i in runs)
    print(f"  daily runs (profile fitted), median of {rounds}: {whole:.1f} s, of which importing Evidently "
          f"{imports:.1f} s and everything else {rest:.1f} s {[round(s, 1) for s, _ in runs]}", flush=True)


def estimate_cost(config: Path, url: str, model: str, models: list[str], env: dict, rounds: int = 3) -> None:
    """Each setting's first run fits its profile; then daily runs alternate between the settings, `rounds` each (the
    machine is noisy: the medians compared)."""
    command = run_command(config, url, model)
    daily: dict[bool, list[float]] = {False: [], True: []}
    for estimate in (False, True):
        write_config(config, models, estimate=estimate)
        print(f"  performance.estimate {str(estimate).lower():5}: first run (fits the profile) "
              f"{measure(command, env).seconds:6.1f} s", flush=True)
    for _ in range(rounds):
        for estimate in (False, True):
            write_config(config, models, estimate=estimate)
            daily[estimate].append(measure(command, env).seconds)
    off, on = (sorted(daily[e])[len(daily[e]) // 2] for e in (False, True))
    print(f"  daily runs, median of {rounds}: estimate off {off:.1f} s {daily[False]}, on {on:.1f} s {daily[True]}; "
          f"CBPE adds {on / off - 1:+.1%}", flush=True)


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", re.MULTILINE)


def fit_seconds(output: str) -> float | None:
    """The reference fit's time in a first run's log: from the line before "fitted the reference profile" (the
    day's valid rows staged: the fit starts then, after reading the reference) to that line."""
    lines = [line for line in output.splitlines() if LOG_TIME.match(line)]
    found = next((i for i, line in enumerate(lines) if "fitted the reference profile" in line), None)
    if not found:
        return None
    stamp = [dt.datetime.strptime(LOG_TIME.match(lines[i]).group(1), "%Y-%m-%d %H:%M:%S,%f")
             for i in (found - 1, found)]
    return (stamp[1] - stamp[0]).total_seconds()


def segments_cost(config: Path, url: str, model: str, models: list[str], env: dict, segments: int, rounds: int,
                  verbose: bool) -> None:
    """The same day without and with `segments` segments: each setting's first run (it fits the setting's reference
    profile), then `rounds` daily runs of each, alternating (the machine is noisy: medians compared)."""
    command = run_command(config, url, model)
    first: dict[int, Measured] = {}
    daily: dict[int, list[Measured]] = {0: [], segments: []}
    for n in (0, segments):
        write_config(config, models, segments=n)
        first[n] = run = measure(command, env)
        if verbose:
            print(run.output)
        print(f"  {n:>3} segments: first run (fits the profile) {run.seconds:6.1f} s, peak RSS "
              f"{run.peak_rss_mb:6.0f} MB; the fit {fit_seconds(run.output) or float('nan'):.1f} s (from the log)",
              flush=True)
        if n:
            print(f"       {segment_counts(url, model)}", flush=True)
    for _ in range(rounds):
        for n in (0, segments):
            write_config(config, models, segments=n)
            daily[n].append(measure(command, env))
    off, on = (statistics.median(r.seconds for r in daily[n]) for n in (0, segments))
    rss_off, rss_on = (max(r.peak_rss_mb for r in [first[n], *daily[n]]) for n in (0, segments))
    daily_rss_off, daily_rss_on = (max(r.peak_rss_mb for r in daily[n]) for n in (0, segments))
    fit_off, fit_on = (fit_seconds(first[n].output) for n in (0, segments))
    for n in (0, segments):
        print(f"  {n:>3} segments: daily runs {[round(r.seconds, 1) for r in daily[n]]} s, peak RSS "
              f"{[round(r.peak_rss_mb) for r in daily[n]]} MB", flush=True)
    print(f"  daily run, median of {rounds}: without {off:.1f} s, with {segments} segments {on:.1f} s: "
          f"{on / off - 1:+.1%} run time (target at most +30%)")
    print(f"  peak RSS of the daily runs: without {daily_rss_off:.0f} MB, with {daily_rss_on:.0f} MB: "
          f"{daily_rss_on - daily_rss_off:+.0f} MB; of every run, first runs included: without {rss_off:.0f} MB, "
          f"with {rss_on:.0f} MB: {rss_on - rss_off:+.0f} MB (target at most +200 MB)")
    print(f"  first run (fits the profile): without {first[0].seconds:.1f} s, with {first[segments].seconds:.1f} s: "
          f"{first[segments].seconds / first[0].seconds - 1:+.1%}; the reference fit (from the log): without "
          f"{fit_off or float('nan'):.1f} s, with {fit_on or float('nan'):.1f} s", flush=True)


def multiclass_cost(config: Path, url: str, model: str, k: int, env: dict, rounds: int, verbose: bool) -> None:
    """The binary model's day and the `k`-class model's day of the same rows, one config, labels declared (CBPE on
    both): each model's first run (it fits its reference profile), then `rounds` daily runs of each, alternating
    (the machine is noisy: medians compared)."""
    multiclass = f"{model}-mc{k}"
    models = [model, multiclass]
    write_config(config, models, estimate=True, classes={multiclass: k})
    first: dict[str, Measured] = {}
    daily: dict[str, list[Measured]] = {m: [] for m in models}
    for name in models:
        first[name] = run = measure(run_command(config, url, name), env)
        if verbose:
            print(run.output)
        print(f"  {name:>16}: first run (fits the profile) {run.seconds:6.1f} s, peak RSS {run.peak_rss_mb:6.0f} MB; "
              f"the fit {fit_seconds(run.output) or float('nan'):.1f} s (from the log); {day_findings(url, name)}",
              flush=True)
    for _ in range(rounds):
        for name in models:
            daily[name].append(measure(run_command(config, url, name), env))
    whole, imports = {}, {}
    for name in models:
        whole[name] = statistics.median(r.seconds for r in daily[name])
        imports[name] = statistics.median(sum(float(v) for v in EVIDENTLY_IMPORT.findall(r.output))
                                          for r in daily[name])
        print(f"  {name:>16}: daily runs {[round(r.seconds, 1) for r in daily[name]]} s (median {whole[name]:.1f} s, "
              f"of which importing Evidently {imports[name]:.1f} s), peak RSS "
              f"{[round(r.peak_rss_mb) for r in daily[name]]} MB", flush=True)
    rss = {name: max(r.peak_rss_mb for r in daily[name]) for name in models}
    every = {name: max(r.peak_rss_mb for r in [first[name], *daily[name]]) for name in models}
    rest = {name: whole[name] - imports[name] for name in models}
    print(f"  daily run, median of {rounds}: binary {whole[model]:.1f} s, {k} classes {whole[multiclass]:.1f} s: "
          f"{whole[multiclass] / whole[model]:.2f}x (target at most 1.5x); besides Evidently's import "
          f"{rest[model]:.1f} s and {rest[multiclass]:.1f} s: {rest[multiclass] / rest[model]:.2f}x")
    print(f"  peak RSS of the daily runs: binary {rss[model]:.0f} MB, {k} classes {rss[multiclass]:.0f} MB: "
          f"{rss[multiclass] / rss[model]:.2f}x; of every run, first runs included: {every[model]:.0f} MB and "
          f"{every[multiclass]:.0f} MB")
    fits = [fit_seconds(first[name].output) or float("nan") for name in models]
    print(f"  first run (fits the profile): binary {first[model].seconds:.1f} s, {k} classes "
          f"{first[multiclass].seconds:.1f} s: {first[multiclass].seconds / first[model].seconds:.2f}x; the reference "
          f"fit (from the log): {fits[0]:.1f} s and {fits[1]:.1f} s", flush=True)


def day_findings(url: str, model: str) -> str:
    """What the day's summary says of its drift and its estimated performance."""
    summary = json.loads(_client(url).get_object(
        Bucket=BUCKET, Key=f"reports/{model}/dt={DAY.isoformat()}/summary.json")["Body"].read())
    drift, estimate = summary["data_drift"], summary.get("estimated_performance") or {}
    drifted = sorted(c for c, f in drift["features"].items() if f["drifted"])
    return (f"{len(drifted)} features drifted, prediction drift {summary['prediction_drift']['drifted']}; estimated "
            f"{', '.join(f'{m} {v:.3f}' for m, v in (estimate.get('metrics') or {}).items() if v is not None)}")


def segment_counts(url: str, model: str) -> str:
    """What the day's summary says of its segments: how many, judged, with a finding."""
    summary = json.loads(_client(url).get_object(
        Bucket=BUCKET, Key=f"reports/{model}/dt={DAY.isoformat()}/summary.json")["Body"].read())
    report = summary.get("segments") or {}
    found = report.get("segments", [])
    judged = [s for s in found if s["status"] == "judged"]
    return (f"the day's segments: {len(found)} ({len(judged)} judged) in dimensions {report.get('dimensions')}; "
            f"{sum(s['finding'] for s in found)} with a finding; the summary's top 3 by impact: "
            f"{[(s['key'], round(s['impact'], 4)) for s in found[:3]]}")


def _memory_gb() -> float:
    with open("/proc/meminfo") as info:
        return int(info.readline().split()[1]) / 1024 / 1024


if __name__ == "__main__":
    sys.exit(main())
