"""benchmarks/: a CPU smoke test of the whole runner at tiny sizes (no timing is checked: CI has no GPU), and the
report's arithmetic on hand-made rows."""

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import run as bench  # noqa: E402


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The runner at tiny sizes: the ceiling and ppo_isaac.py. (Brax's own PPO compiles for about 2.5 minutes on
    a CPU, too long for CI: its part runs only on the GPU; its rows' report is checked on hand-made rows below.)
    Nothing is written into the checkout."""
    out = tmp_path_factory.mktemp("bench")
    cmd = [
        sys.executable,
        "benchmarks/run.py",
        "--parts",
        "ceiling",
        "ppo",
        "--tasks",
        "inverted_pendulum",
        "--seeds",
        "0",
        "--env-num",
        "4",
        "--device",
        "cpu",
        "--total-timesteps",
        "640",
        "--episode-length",
        "50",
        "--ceiling-seconds",
        "0.2",
        "--ceiling-modes",
        "jit",
        "torch",
        "--ppo-flags=",
        "--eval-gap",
        "1000",
        "--eval-envs",
        "4",
        "--out",
        str(out),
        "--runs-root",
        str(out),
        "--name",
        "smoke",
    ]
    result = subprocess.run(
        cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(os.path.join(str(out), "smoke.json")) as f:
        return out, json.load(f), result.stdout


def test_smoke_measures_every_part(smoke):
    _, results, _ = smoke
    rows = {key.split("@")[0]: r for key, r in results["rows"].items()}  # keys end in @<host>
    assert len({r["host"] for r in rows.values()}) == 1
    for mode in ("jit", "torch"):
        assert rows["ceiling/inverted_pendulum/4/" + mode]["steps_per_second"] > 0
    ours = rows["train/ppo_isaac/inverted_pendulum/0"]
    assert ours["status"] == "completed", ours
    assert ours["evals"] and all(len(e) >= 3 for e in ours["evals"])
    seconds = [e[0] for e in ours["evals"]]
    assert seconds == sorted(seconds) and seconds[0] > 0  # wall-clock from process start, increasing
    assert ours["env_num"] == 4 and ours["steps"] >= 640 and ours["evals"][-1][1] == ours["steps"]
    # the rollouts alone are faster than whole iterations (which add the update)
    assert ours["rollout_sps"] > ours["steady_sps"] > 0 and ours["update_seconds"] > 0
    # provenance: the command line, the code's commit and the package versions
    assert "--env-num" in ours["args"] and ours["provenance"]["versions"]["torch"] and ours["provenance"]["host"]
    assert {"benchmarks/run.py", "isaac_env.py", "ppo_isaac.py", "benchmarks/brax_ppo.py"} <= set(
        ours["provenance"]["files"]
    )


def test_smoke_writes_report_and_plots(smoke):
    out, _, _ = smoke
    with open(os.path.join(str(out), "smoke.md")) as f:
        md = f.read()
    for heading in ("## Simulator ceiling", "## Training", "| inverted_pendulum | ppo_isaac |"):
        assert heading in md
    for png in ("learning_curves.png", "scaling.png"):
        path = os.path.join(str(out), "smoke", png)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(os.path.join(str(out), "logs"))


def test_ceiling_steps_a_trained_policy(smoke):
    out, results, _ = smoke
    run_name = next(r for r in results["rows"].values() if r.get("system") == "ppo_isaac")["log"][:-4]
    cmd = [
        sys.executable,
        "benchmarks/ceiling.py",
        "--task",
        "inverted_pendulum",
        "--env-nums",
        "4",
        "--modes",
        "adapter",
        "policy",
        "--policy",
        os.path.join(str(out), "runs", run_name, "checkpoint.pt"),
        "--seconds",
        "0.2",
        "--device",
        "cpu",
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["mode"] for r in rows] == ["adapter", "policy"]
    assert rows[0]["solver"] == "100 iterations, 50 line-search steps"  # (the model file's: MuJoCo's defaults)


def test_ceiling_can_give_a_task_the_solver_settings_of_ant_and_humanoid():
    """--solver fast: MJX's solver as Brax sets it for Ant and Humanoid, in the modes that build their own env; the
    adapter builds the task as Brax has it, so asking for both is an error."""
    cmd = [sys.executable, "benchmarks/ceiling.py", "--task", "inverted_pendulum", "--env-nums", "4", "--device", "cpu"]
    cmd += ["--seconds", "0.1", "--scan-length", "2", "--solver", "fast"]
    result = subprocess.run(cmd + ["--modes", "jit"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(r["mode"], r["solver"]) for r in rows] == [("jit", "1 iterations, 4 line-search steps")]
    assert rows[0]["steps_per_second"] > 0
    result = subprocess.run(cmd + ["--modes", "adapter"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "--solver fast acts in modes jit and torch only" in result.stderr


# a training script's stand-in: counts the SIGINTs it gets in 4 s
SIGINT_COUNTER = (
    "import signal, sys, time\ncount = []\nsignal.signal(signal.SIGINT, lambda *_: count.append(1))\n"
    "time.sleep(4)\nprint('sigints', len(count))"
)


def stopped_after_1_5_s(driver: str, signal: str = "INT") -> subprocess.CompletedProcess:
    """`driver`, Python run with the benchmarks' runner importable as `run`, stopped by `timeout -s SIGNAL 1.5`."""
    driver = "import sys; sys.path.insert(0, 'benchmarks'); import run\n" + driver
    return subprocess.run(
        ["timeout", "-s", signal, "1.5", sys.executable, "-c", driver],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_stopped_benchmark_passes_one_sigint_on(tmp_path):
    """`timeout -s INT` (or Ctrl-C) signals the whole process group; the training script must get SIGINT once,
    or it stops at once without its summary."""
    result = stopped_after_1_5_s(
        "r = run.run_process([sys.executable, '-c', {!r}], {!r}, 60)\n"
        "print('stop', run.STOP['requested'], 'exit', r['returncode'])".format(SIGINT_COUNTER, str(tmp_path / "c.log"))
    )
    assert "stop True exit 0" in result.stdout, result.stdout + result.stderr
    assert (tmp_path / "c.log").read_text().strip() == "sigints 1"


# a training script's stand-in still in its final evaluation after the first SIGINT: the second one ends it
SLOW_TO_STOP = (
    "import signal, sys, time\ncount = []\n"
    "def on_sigint(*_):\n    count.append(1)\n    if len(count) == 2:\n        print('sigints 2'); sys.exit(0)\n"
    "signal.signal(signal.SIGINT, on_sigint)\ntime.sleep(20)\nprint('sigints', len(count))"
)


def test_a_run_slow_to_stop_gets_a_second_sigint_before_sigkill(tmp_path):
    """Our scripts answer a second SIGINT in their final evaluation (a slow simulator's takes minutes) by writing the
    summary without it: the runner sends one STOP_SECONDS[0] s after the first, and kills only at STOP_SECONDS[1]."""
    result = stopped_after_1_5_s(
        "run.STOP_SECONDS = (1.0, 15.0)\nr = run.run_process([sys.executable, '-c', {!r}], {!r}, 60)\n"
        "print('stop', run.STOP['requested'], 'exit', r['returncode'], 'seconds', r['process_seconds'])".format(
            SLOW_TO_STOP, str(tmp_path / "c.log")
        )
    )
    assert "stop True exit 0 seconds" in result.stdout, result.stdout + result.stderr
    assert float(result.stdout.split()[-1]) < 10  # the second SIGINT came after about 1 s, not at 15 s or 20 s
    assert (tmp_path / "c.log").read_text().strip() == "sigints 2"


def test_a_terminated_benchmark_stops_its_run_as_ctrl_c_does(tmp_path):
    """SIGTERM (plain `timeout`) to the runner: the run in its own session gets SIGINT once and is recorded, rather
    than going on orphaned after the runner has gone."""
    result = stopped_after_1_5_s(
        "run.stop_on_sigterm()\nr = run.run_process([sys.executable, '-c', {!r}], {!r}, 60)\n"
        "print('stop', run.STOP['requested'], 'exit', r['returncode'])".format(SIGINT_COUNTER, str(tmp_path / "c.log")),
        signal="TERM",  # (timeout's default)
    )
    assert "stop True exit 0" in result.stdout, result.stdout + result.stderr
    assert (tmp_path / "c.log").read_text().strip() == "sigints 1"


def test_runs_at_once_each_take_the_first_free_slot(monkeypatch):
    """--gpus / --share: jobs run at once, one per slot, in order, every row saved; one slot runs them in turn."""
    import threading
    import time

    monkeypatch.setitem(bench.STOP, "requested", False)
    lock, running, log = threading.Lock(), [], []

    def job(i):
        def run(slot):
            with lock:
                running.append(i)
                log.append((i, slot, len(running)))
            time.sleep(0.6)
            with lock:
                running.remove(i)
            return [dict(key=str(i))]

        return run

    saved = []
    start = time.time()
    bench.run_jobs([job(i) for i in range(4)], [(0, 0), (1, 1)], saved.extend)
    assert time.time() - start < 2.0  # two at a time: about 1.2 s (one at a time: 2.4 s)
    assert sorted(r["key"] for r in saved) == ["0", "1", "2", "3"]
    assert max(n for _, _, n in log) == 2 and {slot for _, slot, _ in log} == {(0, 0), (1, 1)}
    assert [i for i, _, _ in log[:2]] in ([0, 1], [1, 0])  # in order: the first two first
    log.clear()
    bench.run_jobs([job(i) for i in range(2)], [(0, 0)], saved.extend)
    assert [(i, n) for i, _, n in log] == [(0, 1), (1, 1)]

    def broken(slot):
        raise OSError("no such script")

    # a job that fails ends the benchmark, as one at a time: the run in progress is saved, no other starts
    log.clear()
    saved.clear()
    with pytest.raises(OSError, match="no such script"):
        bench.run_jobs([job(0), broken, job(2), job(3)], [(0, 0), (1, 1)], saved.extend)
    assert [r["key"] for r in saved] == ["0"] and [i for i, _, _ in log] == [0]


def test_a_stopped_benchmark_stops_every_run_at_once(tmp_path):
    """Under --gpus / --share, `timeout -s INT` reaches only the runner's main thread: every run in progress still
    gets one SIGINT (and is recorded), and no queued run starts."""
    result = stopped_after_1_5_s(
        "jobs = [lambda slot, i=i: [dict(i=i, rc=run.run_process([sys.executable, '-c', {!r}], "
        "{!r} + str(i), 60)['returncode'])] for i in range(3)]\n"
        "rows = []\nrun.run_jobs(jobs, [(0, 0), (0, 1)], rows.extend)\n"
        "print('rows', sorted((r['i'], r['rc']) for r in rows))".format(SIGINT_COUNTER, str(tmp_path / "c.log"))
    )
    assert "rows [(0, 0), (1, 0)]" in result.stdout, result.stdout + result.stderr  # the third never started
    for i in (0, 1):
        assert (tmp_path / "c.log{}".format(i)).read_text().strip() == "sigints 1"
    assert not (tmp_path / "c.log2").exists()


def training_args(tmp_path, **changes):
    """The arguments run.py's training_row reads: a tiny CPU run, one at a time, cold caches; with `changes`."""
    import argparse

    a = argparse.Namespace(
        script=None, env_num=4, device="cpu", eval_gap=15.0, eval_envs=4, runs_root=str(tmp_path), label="",
        row_label="", cache_root=str(tmp_path / "caches"), jax_cache="cold", share=1, slots=[(0, 0)],
    )  # fmt: skip
    vars(a).update(changes)
    return a


def process_result(returncode=1, process_seconds=0.1):
    """What run_process returns, for a fake of it."""
    return dict(
        returncode=returncode, process_seconds=process_seconds, peak_gpu_mib=None, memory_method=None, log="x.log"
    )


def test_each_slot_runs_on_its_gpu_with_caches_of_its_own(monkeypatch, tmp_path):
    """--gpus 2 3 --share 2: a run gets the GPU of its slot (as CUDA_VISIBLE_DEVICES, NVML's index too) and a
    cache folder of its own, as cold runs of one system and task at once would empty each other's."""
    seen = []

    def fake_run_process(cmd, log, max_seconds, env=None, cwd=None, gpu_index=0):
        seen.append((env["CUDA_VISIBLE_DEVICES"], gpu_index, env["JAX_COMPILATION_CACHE_DIR"]))
        open(log, "w").close()
        return process_result()

    monkeypatch.setattr(bench, "run_process", fake_run_process)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    a = training_args(tmp_path, device="cuda", share=2, slots=[(2, 0), (3, 1), (2, 2), (3, 3)])
    rows = [bench.training_row(a, "ppo_isaac", "Ant", 0, [], str(tmp_path), "k", 60, slot=s) for s in a.slots]
    assert [(v, i) for v, i, _ in seen] == [("2", 2), ("3", 3), ("2", 2), ("3", 3)]
    assert len({c for _, _, c in seen}) == 4
    assert all(r["runs_sharing_gpu"] == 2 and r["status"] == "failed" for r in rows)


def test_a_warm_runs_priming_stops_once_the_cold_run_had_compiled_everything(monkeypatch, tmp_path):
    """Without caches, a warm run first primes them with an unrecorded run: only as long as a finished cold run of
    that system and task took to its first evaluation after training began (Brax's PPO evaluates at step 0 first),
    with a margin; a whole run where no cold run is in the results. The warm run itself gets its whole budget."""
    limits = []

    def fake_run_process(cmd, log, max_seconds, env=None, cwd=None, gpu_index=0):
        limits.append((os.path.basename(log).endswith("_priming.log"), max_seconds))
        open(log, "w").close()
        return process_result()

    def results_row(system, jax_cache="cold", evals=((55.0, 0), (127.0, 6881280), (174.0, 13762560)), **more):
        return dict(system=system, task="Humanoid", jax_cache=jax_cache, status="completed", evals=evals, **more)

    rows = {
        "a": results_row("brax_ppo"),
        "b": results_row("brax_ppo", evals=((40.0, 0), (90.0, 6881280))),  # another cold run: the later one counts
        "c": results_row("brax_ppo warm", "warm", ((5.0, 0), (400.0, 6881280))),
        "d": results_row("brax_ppo", cut_short=True, evals=((5.0, 0), (500.0, 6881280))),
        "e": results_row("brax_ppo", runs_sharing_gpu=2, evals=((5.0, 0), (600.0, 6881280))),
        "f": results_row("ppo_isaac", evals=((54.0, 8519680),)),
    }
    assert bench.priming_seconds(rows, "brax_ppo", "Humanoid") == 127.0 * 1.25 + 15
    assert bench.priming_seconds(rows, "ppo_isaac", "Humanoid") == 54.0 * 1.25 + 15
    assert bench.priming_seconds(rows, "sac_isaac", "Humanoid") is None
    assert bench.priming_seconds(rows, "brax_ppo", "Ant") is None

    monkeypatch.setattr(bench, "run_process", fake_run_process)
    a = training_args(tmp_path, row_label=" warm", jax_cache="warm")
    for prime in (173.75, None):  # (the fake runs leave no caches: each warm run primes them)
        bench.training_row(a, "brax_ppo", "Humanoid", 0, [], str(tmp_path), "k", 900, prime_seconds=prime)
    assert limits == [(True, 173.75), (False, 900), (True, 900), (False, 900)]

    def stopped_priming(cmd, log, max_seconds, env=None, cwd=None, gpu_index=0):  # compiles some, then is stopped
        if log.endswith("_priming.log"):
            os.makedirs(env["JAX_COMPILATION_CACHE_DIR"], exist_ok=True)
            bench.STOP["requested"] = True
        return fake_run_process(cmd, log, max_seconds, env, cwd, gpu_index)

    monkeypatch.setattr(bench, "run_process", stopped_priming)
    monkeypatch.setitem(bench.STOP, "requested", False)
    row = bench.training_row(a, "brax_ppo", "Humanoid", 0, [], str(tmp_path), "k", 900, prime_seconds=173.75)
    assert row["cut_short"] and os.listdir(str(tmp_path / "caches")) == []  # the next warm run primes them again


def test_a_run_that_had_ended_its_training_when_the_stop_came_is_not_cut_short(monkeypatch, tmp_path):
    """The call's time limit stops the benchmark: the run in progress is cut short, unless its own summary says it had
    finished (a first SIGINT after the last iteration leaves the final evaluation and save to run as they would)."""

    def stopped_run(status):
        def fake_run_process(cmd, log, max_seconds, env=None, cwd=None, gpu_index=0):
            bench.STOP["requested"] = True
            summary = dict(status=status, evals=[[60.0, 0, 1.0], [90.0, 1000, 2.0]], training_sps=[1.0])
            with open(cmd[cmd.index("--out") + 1], "w") as f:
                json.dump(dict(summary, settings=dict(num_envs=4)), f)
            open(log, "w").close()
            return process_result(returncode=0, process_seconds=90.0)

        return fake_run_process

    a = training_args(tmp_path)
    rows = {}
    for status in ("completed", "running"):  # (Brax PPO's file says "running" until its training has ended)
        monkeypatch.setattr(bench, "run_process", stopped_run(status))
        monkeypatch.setitem(bench.STOP, "requested", False)
        rows[status] = bench.training_row(a, "brax_ppo", "Ant", 0, [], str(tmp_path), "k", 900)
    assert rows["completed"]["status"] == "completed" and "cut_short" not in rows["completed"]
    assert rows["running"]["status"] == "stopped at 90 s" and rows["running"]["cut_short"]


def test_runs_at_once_only_for_training_with_cold_caches():
    for args in (
        ["--parts", "ceiling", "ppo", "--share", "2"],
        ["--parts", "ppo", "--gpus", "0", "1", "--jax-cache", "warm"],
    ):
        result = subprocess.run(
            [sys.executable, "benchmarks/run.py"] + args, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2 and "cold caches only" in result.stderr, result.stderr


def test_report_counts_a_shared_gpus_runs_for_their_returns_only(tmp_path):
    """--share: a run beside others on its GPU gives its return; not its seconds to the target, steps/s, memory,
    time ratio or curve."""
    rows = [
        row("ppo_isaac", 0, [[40, 1, 3100], [80, 50_000_000, 5000]], steady_sps=800_000.0, peak_gpu_mib=2000.0),
        row("ppo_isaac", 1, [[90, 1, 3100], [200, 50_000_000, 6000]], steady_sps=300_000.0, peak_gpu_mib=9000.0),
        row("brax_ppo", 0, [[100, 1, 3000], [130, 50_000_000, 4000]]),
        row("brax_ppo", 1, [[250, 1, 3000], [300, 50_000_000, 4000]]),
    ]
    for r in rows[1::2]:
        r["runs_sharing_gpu"] = 3
    rows[1].update(startup=dict(imports=1.0, envs_built=3.0, simulator_compiled=9.0, parts_built=12.0))
    md = render(tmp_path, rows)
    assert "| Ant | ppo_isaac (shared GPU) | 1 |" in md  # its start-up, marked
    ours = next(line for line in md.splitlines() if line.startswith("| Ant | ppo_isaac |"))
    assert "0 (gpu-1), 1 (gpu-1, shared GPU)" in ours and "(target 3000; 40, shared)" in ours
    assert "| 5500 ± 707 (n=2) |" in ours  # both seeds' returns
    assert "800000 (single seed)" in ours and "2000 (single seed)" in ours and "300000" not in ours
    assert "seed 0 on gpu-1: 0.40 (40 s / 100 s)" in md and "seed 1 on" not in md
    assert "| 1.38 (5500 / 4000; 2 and 2 runs) | >= 1 |" in md


def row(system, seed, evals, status="completed", task="Ant", host="gpu-1", **extra):
    return dict(
        key="train/{}/{}/{}@{}".format(system, task, seed, host),
        part="train",
        system=system,
        task=task,
        seed=seed,
        evals=evals,
        status=status,
        env_num=4096,
        steps=evals[-1][1],
        flags=[],
        host=host,
        **extra,
    )


def ceiling_row(mode, sps, host="gpu-1"):
    return dict(
        key="ceiling/ant/4096/{}@{}".format(mode, host),
        part="ceiling",
        task="ant",
        env_num=4096,
        mode=mode,
        steps_per_second=sps,
        compile_seconds=15,
        host=host,
    )


def render(tmp_path, rows):
    results = {"machine": {"gpu": "test GPU", "versions": {}}, "rows": {r["key"]: r for r in rows}}
    bench.report(results, str(tmp_path / "r.md"), str(tmp_path))
    return (tmp_path / "r.md").read_text()


def test_report_ratios(tmp_path):
    rows = [
        row(
            "ppo_isaac",
            0,
            [[50, 1, 1000], [90, 2, 3100], [150, 50_000_000, 5000]],
            steady_sps=600_000.0,
            peak_gpu_mib=3072.0,
        ),
        row("brax_ppo", 0, [[60, 1, 10], [180, 2, 3000], [200, 50_000_000, 4000]], steady_sps=900_000.0),
        ceiling_row("torch", 800_000.0),
        ceiling_row("policy", 640_000.0),
        ceiling_row("adapter", 900_000.0),
    ]
    rows[0]["rollout_sps"] = 720_000.0
    md = render(tmp_path, rows)
    # Brax's evaluation before its crossing came 120 s earlier: the ratio's other bound is given too
    assert (
        "| Ant seconds to return 3000, PPO / Brax PPO (runs of one seed on one host) | seed 0 on gpu-1: 0.50 "
        "(90 s / 180 s; Brax PPO was below it at 60 s: <= 1.50) |"
    ) in md
    assert "| 1.25 (5000 / 4000; 1 and 1 runs) | >= 1 |" in md
    assert "(full runs, host gpu-1) | 0.75 (600,000 / 800,000) | >= 0.75 |" in md
    assert "trained policy's actions (full runs, host gpu-1) | 0.94 (600,000 / 640,000)" in md
    assert "| Ant PPO peak GPU memory | 3.00 GiB |" in md
    assert "update excluded) / adapter with random actions (host gpu-1) | 0.80 (720,000 / 900,000)" in md
    assert "update excluded) / adapter with a trained policy's actions (host gpu-1) | 1.12 (720,000 / 640,000)" in md
    # rows of another label (an A/B of two versions, say) meet no target: no empty targets table
    for r in rows[:2]:
        r["system"] += " old"
    assert "## Ratios against the targets" not in render(tmp_path, rows[:2])


class FakeNvml:
    """pynvml's calls that GpuMonitor makes, on one GPU whose samples follow `samples`: (utilisation %, SM MHz,
    temperature C, power mW, clock event reasons), the last one repeated."""

    NVML_CLOCK_SM, NVML_TEMPERATURE_GPU = 1, 0

    def __init__(self, pid, samples):
        self.pid, self.samples, self.i = pid, samples, 0

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetMemoryInfo(self, handle):
        return type("Memory", (), {"used": 1024 * 2**20})

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [type("Process", (), {"pid": self.pid, "usedGpuMemory": 300 * 2**20})]

    def sample(self):
        return self.samples[min(self.i, len(self.samples) - 1)]

    def nvmlDeviceGetUtilizationRates(self, handle):
        self.i += 1  # (one sample: utilisation first)
        return type("Rates", (), {"gpu": self.sample()[0]})

    def nvmlDeviceGetClockInfo(self, handle, clock):
        assert clock == self.NVML_CLOCK_SM
        return self.sample()[1]

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return self.sample()[2]

    def nvmlDeviceGetPowerUsage(self, handle):
        return self.sample()[3]

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self.sample()[4]

    def nvmlDeviceGetMaxClockInfo(self, handle, clock):
        return 1980


def test_gpu_monitor_records_the_clocks_of_busy_samples_and_the_slowdowns_seen(monkeypatch, tmp_path):
    """Idle samples (utilisation under 50%, whose low clock is no slowdown) are left out of the clocks; the mean,
    the lowest, the highest temperature and power and every slowdown seen while busy are kept, and the report's
    rows say so."""
    samples = [(0, 345, 30, 70_000, 0x1)] * 3  # idle: left out
    samples += [(98, 1980, 50, 600_000, 0), (99, 1500, 61, 700_000, 0x4 | 0x20), (97, 1800, 58, 650_000, 0)]
    samples += [(10, 300, 40, 90_000, 0x1)]  # idle again, to the end
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(1234, samples))
    monitor = bench.GpuMonitor(1234)
    deadline = time.time() + 10
    while monitor._nvml.i < len(samples) + 2 and time.time() < deadline:
        time.sleep(0.05)
    assert monitor.stop() == 300.0 and monitor.method == "nvml process"
    clocks = monitor.clocks()
    assert clocks == {
        "busy_samples": 3,
        "sm_mhz_mean": 1760,
        "sm_mhz_lowest": 1500,
        "sm_mhz_rated": 1980,
        "temperature_c_highest": 61,
        "power_w_highest": 700,
        "slowdowns": ["software power cap", "software thermal slowdown"],
    }
    md = render(tmp_path, [row("ppo_isaac", 0, [[90, 2, 3100]], gpu_clocks=clocks)])
    assert "SM clock 1760 MHz on average (lowest 1500, highest rated 1980), up to 61 C and 700 W, slowed by: " in md


def test_gpu_monitor_without_nvml_measures_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # (import pynvml then fails, as on a machine without it)
    monitor = bench.GpuMonitor(1234)
    assert monitor.stop() is None and monitor.clocks() is None


def test_report_goals_of_time_to_a_result(tmp_path):
    """Start-up by cache, PPO's warm seconds to the target (a warm run that never got there counted as such) and the
    held-out halfcheetah's training share, lowest-highest over the runs alone on their GPU and not cut short; the time
    ratio's goal is the task's."""

    def timed(system, seed, evals, cache, startup, task="Ant", **extra):
        return row(system, seed, evals, task=task, jax_cache=cache, startup_seconds=startup, **extra)

    rows = [
        timed("ppo_isaac", 0, [[40, 1, 3100], [90, 50_000_000, 5000]], "cold", 23.4),
        timed("ppo_isaac", 1, [[45, 1, 3100], [90, 50_000_000, 5000]], "cold", 19.0),
        timed("ppo_isaac", 2, [[45, 1, 3100]], "cold", 9.0, runs_sharing_gpu=2),  # (shared: left out)
        timed("ppo_isaac", 3, [[45, 1, 3100]], "cold", 8.0, cut_short=True),  # (cut short: left out)
        timed("ppo_isaac warm", 0, [[25, 1, 3100]], "warm", 5.0),
        timed("ppo_isaac warm", 1, [[25, 1, 2000], [40, 2, 2900]], "warm", 6.5),
        timed("brax_ppo", 0, [[120, 1, 3100], [150, 50_000_000, 4000]], "cold", None),
        timed("sac_isaac", 0, [[200, 1, 3100]], "cold", 19.4, task="halfcheetah", train_seconds=80, wall_seconds=100),
    ]
    md = render(tmp_path, rows)
    assert "(runs of one seed on one host) | seed 0 on gpu-1: 0.33 (40 s / 120 s) | <= 0.33 |" in md
    assert "| Ant ppo_isaac start-up, cold caches (process start to training) | 19.0-23.4 s (2 runs) | <= 35 s |" in md
    assert "| Ant ppo_isaac start-up, warm caches (process start to training) | 5.0-6.5 s (2 runs) | <= 10 s |" in md
    assert "| Ant ppo_isaac seconds to return 3000, warm caches | 25 s; 1 not reached (2 runs) | <= 30 s |" in md
    assert (
        "| halfcheetah sac_isaac start-up, cold caches (process start to training) | 19.4 s (1 run) | <= 35 s |" in md
    )
    assert "| halfcheetah sac_isaac training / wall-clock, cold caches | 0.80 (1 run) | >= 0.8 |" in md
    assert "brax_ppo start-up" not in md and "Ant sac_isaac" not in md


def test_report_keeps_the_first_completed_run_of_a_seed(tmp_path):
    """A luckier rerun of a seed does not replace its result; a completed run replaces a stopped one."""
    rows = [
        row("ppo_isaac", 0, [[90, 2, 3100], [150, 50_000_000, 5000]], call="2026-01-01T10:00"),
        row("ppo_isaac", 0, [[90, 2, 3100], [150, 50_000_000, 9000]], host="gpu-2", call="2026-01-01T12:00"),
        row("brax_ppo", 0, [[180, 2, 3000]], status="stopped at 190 s", call="2026-01-01T09:00"),
        row("brax_ppo", 0, [[180, 2, 3000], [200, 50_000_000, 4000]], host="gpu-2", call="2026-01-01T11:00"),
    ]
    md = render(tmp_path, rows)
    assert "| 1.25 (5000 / 4000; 1 and 1 runs) | >= 1 |" in md


def test_report_compares_speeds_only_within_one_host(tmp_path):
    rows = [
        row("ppo_isaac", 0, [[90, 2, 3100], [150, 50_000_000, 5000]], steady_sps=600_000.0),
        row("brax_ppo", 0, [[180, 2, 3000], [200, 50_000_000, 4000]], host="gpu-2"),
        row("ppo_isaac", 1, [[100, 2, 3100], [160, 50_000_000, 6000]], host="gpu-2", steady_sps=500_000.0),
        row("brax_ppo", 1, [[200, 2, 3000], [210, 50_000_000, 4000]], host="gpu-2"),
        ceiling_row("torch", 800_000.0, host="gpu-2"),
    ]
    md = render(tmp_path, rows)
    # seed 0 ran on two hosts: no time ratio for it; the ceiling of gpu-2 is used for gpu-2's run only
    assert "| seed 1 on gpu-2: 0.50 (100 s / 200 s) |" in md
    assert "seed 0 on" not in md
    assert "host gpu-2) | 0.62 (500,000 / 800,000)" in md and "host gpu-1)" not in md
    # final returns do not depend on the machine: every seed's completed run counts
    assert "| 1.38 (5500 / 4000; 2 and 2 runs) | >= 1 |" in md


def test_report_never_calls_a_stopped_run_final(tmp_path):
    rows = [
        row("ppo_isaac", 0, [[50, 1, 1000], [100, 9, 7000]], task="Humanoid", status="interrupted"),
        row("brax_ppo", 0, [[70, 1, 80], [150, 9, 900]], task="Humanoid", status="stopped at 160 s"),
    ]
    md = render(tmp_path, rows)
    assert "seed 0 on gpu-1: < 0.67 (100 s / not reached by 150 s, its run stopped)" in md
    assert "not measured: a run stopped before its budget" in md
    assert "stopped: last 900 at 150 s" in md


def test_report_leaves_out_a_run_cut_short_by_the_calls_time_limit(tmp_path):
    """A run cut by the call's time limit (SIGINT; --skip-done runs it again) is no result: not in the training
    table, the ratios or the curves; its start-up was measured whole, so it stays in the start-up table, marked."""
    cut = row("ppo_isaac", 0, [[7, 1, 209]], task="Humanoid", status="interrupted", cut_short=True)
    cut.update(startup=dict(imports=1.4, envs_built=2.4, simulator_compiled=5.0, parts_built=6.0), startup_seconds=6.0)
    rows = [cut, row("brax_ppo", 0, [[70, 1, 80], [216, 9, 6100]], task="Humanoid")]
    md = render(tmp_path, rows)
    assert "| Humanoid | ppo_isaac |" not in md and "209" not in md.split("## Rows")[0]
    assert "| Humanoid | brax_ppo |" in md
    assert "PPO did not reach it" not in md  # no ratio from a run that was cut, not beaten
    assert "| Humanoid | ppo_isaac (cut short) | 0 |" in md and "| 6.0 |" in md
    assert "interrupted; cut short by the call's time limit" in md


def test_report_compares_gpu_counts_within_one_call(tmp_path):
    def gpu_row(n, evals, sps, call="2026-01-01T10:00", host="gpu-1"):
        r = row("ppo_isaac", 0, evals, steady_sps=sps, host=host, call=call)
        r.update(key="gpus/ppo_isaac/Ant/{}@{}".format(n, host), part="gpus", gpus=n, env_num=4096, peak_gpu_mib=2048.0)
        return r

    rows = [
        gpu_row(1, [[100, 2, 3100], [150, 50_000_000, 4500]], 800_000.0),
        gpu_row(2, [[60, 2, 3050], [90, 50_000_000, 4100]], 1_520_000.0),
        gpu_row(2, [[10, 2, 3050]], 3_000_000.0, call="2026-01-02T10:00"),
    ]  # another call: no 1-GPU run to pair
    rows[2]["key"] += "-another-call"
    md = render(tmp_path, rows)
    assert "## Several GPUs (torchrun, one process per GPU)" in md
    assert (
        "| Ant | ppo_isaac | 2 | 4096 (8192) | - | gpu-1, 2026-01-01T10:00 | 1,520,000 | 1.90 | 60 (target 3000) |"
        " 0.60 | 4100 | 50.0M | 2048 |" in md
    )
    assert "| 2 | 4096 (8192) | - | gpu-1, 2026-01-02T10:00 | 3,000,000 | - | 10 (target 3000) | - |" in md
    with open(os.path.join(str(tmp_path), "gpus.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------- rsl_rl as a peer
def test_rsl_rl_adapter_gives_its_runner_observation_groups_dones_and_time_outs():
    """benchmarks/rsl_rl_ppo.py's adapter in two iterations of rsl_rl's own OnPolicyRunner (10 steps each) on the
    torch Pendulum with an episode limit of 15: the observations come as the TensorDict group "policy"; every env's
    episode ends at step 15, as a time-out (truncated, not terminated: rsl_rl bootstraps it) and a done; the
    runner's update changes the actor. The runner is made on zeros (its networks' shapes) and the envs reset at
    start(), so that MJX compiles while rsl_rl builds its networks; a step before start() is an error."""
    pytest.importorskip("rsl_rl", reason="rsl-rl-lib is not installed: pip install -r tests/requirements.txt")
    import rsl_rl_ppo
    import torch
    from rsl_rl.runners import OnPolicyRunner

    import isaac_env

    env = isaac_env.make_env("Pendulum", 8, "torch", "cpu", seed=0, max_episode_length=15)
    vec_env = rsl_rl_ppo.rsl_rl_env(env)
    obs = vec_env.get_observations()  # (zeros, for the runner's shapes: the envs reset at start())
    assert list(obs.keys()) == ["policy"] and obs["policy"].shape == (8, env.obs_dim) and obs.batch_size == (8,)
    with pytest.raises(RuntimeError, match="start"):  # no step before the reset, nothing learned from the zeros
        vec_env.step(torch.zeros(8, env.act_dim))
    steps, step = [], vec_env.step

    def recorded_step(actions):
        out = step(actions)
        steps.append((out[2].clone(), out[3]["time_outs"].clone(), vec_env.episode_length_buf.clone()))
        return out

    vec_env.step = recorded_step
    cfg = rsl_rl_ppo.settings()
    cfg["num_steps_per_env"] = 10
    runner = OnPolicyRunner(vec_env, cfg, log_dir=None, device="cpu")
    assert not vec_env.get_observations()["policy"].any()
    vec_env.start()
    first = vec_env.get_observations()["policy"]  # the reset's: Pendulum's (cos, sin, speed), never all zeros
    assert first.shape == (8, env.obs_dim) and (first[:, :2].norm(dim=1) - 1).abs().max() < 1e-5
    before = [p.detach().clone() for p in runner.alg.get_policy().parameters()]
    runner.learn(num_learning_iterations=2)
    assert len(steps) == 20
    for t, (dones, time_outs, lengths) in enumerate(steps, start=1):
        assert dones.dtype == torch.long and time_outs.dtype == torch.bool
        assert dones.tolist() == time_outs.long().tolist() == [int(t == 15)] * 8  # (Pendulum never terminates)
        assert lengths.tolist() == [t % 15] * 8
    after = list(runner.alg.get_policy().parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))


def test_rsl_rl_variant_normalizes_the_observations_of_actor_and_critic():
    """rsl_rl_ppo.py --obs-normalization: rsl_rl's running normalizer in both networks, updated by a rollout; Isaac
    Lab's settings (the default) have none, and making the variant leaves them so."""
    pytest.importorskip("rsl_rl", reason="rsl-rl-lib is not installed: pip install -r tests/requirements.txt")
    import rsl_rl_ppo
    import torch
    from rsl_rl.runners import OnPolicyRunner

    import isaac_env

    cfg = rsl_rl_ppo.settings(obs_normalization=True)
    assert cfg["actor"]["obs_normalization"] and cfg["critic"]["obs_normalization"]
    assert not rsl_rl_ppo.SETTINGS["actor"]["obs_normalization"] and rsl_rl_ppo.settings() == rsl_rl_ppo.SETTINGS
    env = isaac_env.make_env("Pendulum", 8, "torch", "cpu", seed=0, max_episode_length=15)
    vec_env = rsl_rl_ppo.rsl_rl_env(env)
    cfg["num_steps_per_env"] = 10
    runner = OnPolicyRunner(vec_env, cfg, log_dir=None, device="cpu")
    vec_env.start()
    normalizers = [runner.alg.actor.obs_normalizer, runner.alg.critic.obs_normalizer]
    assert not any(isinstance(n, torch.nn.Identity) for n in normalizers)
    runner.learn(num_learning_iterations=1)
    assert all(n.count > 0 and n.mean.abs().sum() > 0 for n in normalizers)  # (updated by the rollout)


def test_rsl_rl_part_of_the_runner(tmp_path):
    """run.py --parts rsl_rl at tiny sizes on the CPU: a completed row with rsl_rl's evaluations on our clock; a
    variant's flags reach rsl_rl_ppo.py, in rows labelled as such."""
    pytest.importorskip("rsl_rl", reason="rsl-rl-lib is not installed: pip install -r tests/requirements.txt")
    cmd = [sys.executable, "benchmarks/run.py", "--parts", "rsl_rl", "--tasks", "Pendulum", "--seeds", "0"]
    cmd += ["--rsl-rl-flags=--obs-normalization", "--label", " obsnorm"]
    cmd += ["--env-num", "8", "--device", "cpu", "--total-timesteps", "768", "--eval-envs", "4", "--eval-gap", "0"]
    cmd += ["--out", str(tmp_path), "--runs-root", str(tmp_path), "--name", "rsl"]
    result = subprocess.run(
        cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(os.path.join(str(tmp_path), "rsl.json")) as f:
        row = next(iter(json.load(f)["rows"].values()))
    assert row["system"] == "rsl_rl_ppo obsnorm" and row["status"] == "completed" and row["env_num"] == 8
    assert row["flags"][0] == "--obs-normalization" and row["key"].startswith("train/rsl_rl_ppo obsnorm/Pendulum/0@")
    assert [e[1] for e in row["evals"]] == [256, 512, 768]  # at each iteration's end (--eval-gap 0)
    assert all(e[4] == 4 for e in row["evals"]) and row["steady_sps"] > 0


def test_report_table_means_sample_std_thresholds_and_a_missing_seed(tmp_path):
    """The training table on hand-made rows: three seeds of one system, two of another (seed 2 missing, an rsl_rl
    row): returns at the budget as mean ± sample std (n - 1), seconds to the task's threshold per seed, with '-'
    for a seed that never reached it, and the mean over those that did, counted as such."""
    budget = 50_000_000
    rows = [
        row("ppo_isaac", 0, [[90, 2, 3100], [150, budget, 5000]]),
        row("ppo_isaac", 1, [[80, 2, 3500], [140, budget, 6000]]),
        row("ppo_isaac", 2, [[70, 2, 2000], [130, budget, 7000]]),  # reaches 3000 only at its end
        row("rsl_rl_ppo", 0, [[100, 2, 1000], [200, budget, 2000]]),  # never reaches 3000
        row("rsl_rl_ppo", 1, [[120, 2, 3200], [210, budget, 4000]]),
    ]
    md = render(tmp_path, rows)
    line = next(x for x in md.splitlines() if x.startswith("| Ant | ppo_isaac |"))
    assert "6000 ± 1000 (n=3)" in line  # sample std of 5000, 6000, 7000
    assert "(target 3000; 90, 80, 130)" in line and "100 ± 26 (n=3)" in line
    line = next(x for x in md.splitlines() if x.startswith("| Ant | rsl_rl_ppo |"))
    assert "| 0 (gpu-1), 1 (gpu-1) |" in line and "3000 ± 1414 (n=2)" in line  # the two seeds there are
    assert "| 120 (1 of 2 seeds) (target 3000; -, 120) |" in line  # seed 0 never reached it


def test_report_against_the_peers_counts_tasks_with_three_seeds_a_side(tmp_path):
    """Issue 27's goals on hand-made rows: per task and peer, the means at the budget and their ratio; a task counts
    (at or above, below) only with three completed seeds a side; a labelled variant is shown, not counted; seconds to
    the threshold pair seeds alone on one host (a shared run gives none)."""
    budget = 50_000_000
    rows = []
    for seed in range(3):
        rows += [
            row("ppo_isaac", seed, [[50 + seed, 2, 3100], [100, budget, 4000 + 100 * seed]]),
            row("rsl_rl_ppo", seed, [[200, 2, 3000 if seed == 0 else 10], [300, budget, 2000]]),
            row("rsl_rl_ppo obsnorm", seed, [[150, 2, 3000], [300, budget, 8000]]),
            row("ppo_isaac", seed, [[60, 2, 7000], [90, budget, 9000]], task="Humanoid"),
            row("brax_ppo", seed, [[120, 2, 6000], [200, budget, 10000]], task="Humanoid"),
        ]
    rows += [row("rsl_rl_ppo", seed, [[100, 2, 8000], [300, budget, 8000]], task="Humanoid") for seed in (0, 1)]
    rows.append(row("rsl_rl_ppo", 2, [[300, 2, 9000]], task="Humanoid", status="stopped"))  # not at its budget
    rows[1]["runs_sharing_gpu"] = 2  # rsl_rl's Ant seed 0 shared its GPU: no time pair
    md = render(tmp_path, rows)
    assert (
        "| Ant | rsl_rl_ppo | 3 / 3 | 4100 / 2000 | 2.05 | seed 1: ours 51 s, the peer never; seed 2: ours 52 s" in md
    )
    assert "| Ant | rsl_rl_ppo obsnorm | 3 / 3 | 4100 / 8000 | 0.51 | seed 0: 0.33 (50 s / 150 s);" in md
    assert "| Humanoid | brax_ppo | 3 / 3 | 9000 / 10000 | 0.90 | seed 0: 0.50 (60 s / 120 s);" in md
    assert "| Humanoid | rsl_rl_ppo | 3 / 2 | 9000 / 8000 | 1.12 | seed 0: 0.60 (60 s / 100 s); seed 1: 0.60" in md
    assert (
        "- Return at budget at or above rsl_rl_ppo's on 1 of 6 tasks (goal: 5 of 6, 3 seeds a side): Ant (2.05); "
        "below it on: none; fewer than 3 seeds yet: Humanoid."
    ) in md  # the obsnorm variant, below ours on Ant, is not counted
    assert "where both reached it (goal: at most 0.5): Humanoid seed 0 0.60, Humanoid seed 1 0.60." in md
    assert "on 0 of 6 tasks (goal: 5 of 6, 3 seeds a side): none; below it on: Humanoid (0.90);" in md
    for system in ("ppo_isaac", "brax_ppo"):  # no peers, or not the six-task table (the main table's Brax rows)
        assert "## Against the peers" not in render(tmp_path, [r for r in rows if r["system"] in ("ppo_isaac", system)])


def test_seed_band_averages_seeds_over_the_time_they_share():
    """The figure's shading: seeds' returns, linear between evaluations, averaged over the seconds that every seed
    covers, with the lowest and highest seed around the mean; seeds sharing no time give no band."""
    a = [[0, 1, 0.0], [100, 2, 1000.0]]
    b = [[50, 1, 300.0], [150, 2, 300.0]]
    seconds, mean, low, high = bench.seed_band([a, b], points=3)
    assert seconds == [50.0, 75.0, 100.0]
    assert mean == [400.0, 525.0, 650.0]  # a: 500, 750, 1000; b: 300 throughout
    assert low == [300.0, 300.0, 300.0] and high == [500.0, 750.0, 1000.0]
    assert bench.seed_band([a, [[120, 1, 5.0], [130, 2, 6.0]]]) is None  # no second that both cover
    assert bench.seed_band([a, []]) is None  # a seed with no evaluation yet


def test_brax_budgets_give_every_system_brax_ppos_step_budget_of_the_task():
    """--brax-budgets (the six-task table): Brax PPO's published budget where it has one, Ant's for hopper and
    walker2d, as benchmarks/brax_ppo.py gives its own runs."""
    budgets = {t: bench.brax_budget(t) for t in ("Ant", "Humanoid", "halfcheetah", "hopper", "walker2d")}
    assert budgets == dict(
        Ant=50_000_000, Humanoid=60_000_000, halfcheetah=50_000_000, hopper=50_000_000, walker2d=50_000_000
    )
    assert bench.brax_budget("humanoidstandup") == 100_000_000


def test_skip_done_goes_on_from_finished_rows_only():
    """--skip-done (a table run a GPU session at a time): a completed, target-reached or capped run is done on any
    host; a failed one, or one cut short by the call's time limit (SIGINT), runs again."""
    rows = {
        "train/ppo_isaac/Ant/0@a": dict(status="completed"),
        "train/ppo_isaac/Ant/1@b": dict(status="target_reached"),
        "train/brax_ppo/Ant/0@a": dict(status="stopped at 290 s"),
        "train/ppo_isaac/Humanoid/0@a": dict(status="failed (exit 1) after 3 s"),
        "train/sac_isaac/Ant/0@a": dict(status="interrupted", cut_short=True),
    }
    done = [
        k for k in ("ppo_isaac/Ant/0", "ppo_isaac/Ant/1", "brax_ppo/Ant/0") if bench.already_done(rows, "train/" + k)
    ]
    assert len(done) == 3
    assert not bench.already_done(rows, "train/ppo_isaac/Humanoid/0")
    assert not bench.already_done(rows, "train/sac_isaac/Ant/0")
    assert not bench.already_done(rows, "train/ppo_isaac/Ant/2")  # never ran


def test_merged_rows_name_the_results_file_they_came_from(monkeypatch, tmp_path):
    """--merge (one report from several calls' results), of the rows that --merge-keys names: each merged row keeps
    the file it came from, and the Rows table says so, so that a reader finds its call's logs; the table's own rows
    name none."""
    machine = {"gpu": "test GPU", "versions": {}}
    own = row("ppo_isaac", 0, [[90, 2, 3100], [150, 50_000_000, 5000]])
    piece = row("brax_ppo", 0, [[180, 2, 3000], [200, 50_000_000, 4000]], host="gpu-2")
    other_task = row("brax_ppo", 0, [[180, 2, 3000], [200, 30_000_000, 4000]], task="halfcheetah", host="gpu-2")
    (tmp_path / "table.json").write_text(json.dumps({"machine": machine, "rows": {own["key"]: own}}))
    pieces = {r["key"]: r for r in (piece, other_task)}
    (tmp_path / "piece-call.json").write_text(json.dumps({"machine": machine, "rows": pieces}))
    argv = ["run.py", "--merge", str(tmp_path / "piece-call.json"), "--merge-keys", "train/*/Ant/*", "train/sac*"]
    monkeypatch.setattr(sys, "argv", argv + ["--name", "table", "--out", str(tmp_path), "--report-only"])
    bench.main()
    rows = json.loads((tmp_path / "table.json").read_text())["rows"]
    assert sorted(rows) == sorted([own["key"], piece["key"]])  # (--merge-keys left out the halfcheetah row)
    assert rows[piece["key"]]["from_results"] == "piece-call" and "from_results" not in rows[own["key"]]
    md = (tmp_path / "table.md").read_text()
    assert "| train/brax_ppo/Ant/0@gpu-2 | - | completed; from piece-call |" in md
    assert "| train/ppo_isaac/Ant/0@gpu-1 | - | completed |" in md


def test_machine_info_reads_versions_without_importing_the_simulator():
    """The versions in a results file come from the installed packages' metadata: importing MuJoCo would fix its
    OpenGL before isaac_env chooses headless EGL, and a later --video in the same process (a test's) would fail."""
    code = "import sys, run; v = run.machine_info('cpu')['versions']; print(sorted(v), 'mujoco' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "benchmarks")]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    assert out.split("] ")[-1].strip() == "False" and "'mujoco'" in out and "'jax'" in out, out
