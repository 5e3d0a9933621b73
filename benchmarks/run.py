"""Benchmarks on one GPU, side by side: the simulator's ceiling, ppo_isaac.py and sac_isaac.py, and Brax's own PPO.

    python benchmarks/run.py                                   # every part, Ant and Humanoid (~1.5 h on an H100)
    python benchmarks/run.py --parts ceiling ppo brax --tasks Ant --seeds 0 1 2
    python benchmarks/run.py --report-only                     # redraw the .md and plots from the .json

Parts (run in this order, each system in its own process, one at a time; training runs one per GPU at once with
--gpus, N per GPU with --share N, whose rows count for their returns only):
  ceiling   Brax MJX env at --env-num with random actions: in one jitted loop, with torch in the loop, and
            through isaac_env's adapter (benchmarks/ceiling.py)
  scaling   the same for env counts 512 to 16384 (Ant)
  levers    ppo_isaac.py's fast-path flags, one at a time, on a short Ant run: steady-state steps/s
  ppo, sac  ppo_isaac.py / sac_isaac.py, full runs: evaluation return against wall-clock seconds from process
            start, steady-state steps/s, peak GPU memory of the process (torch and JAX together)
  brax      Brax's own JAX PPO with its published settings (benchmarks/brax_ppo.py), timed the same way
  rsl_rl    rsl_rl's own PPO (rsl-rl-lib's OnPolicyRunner) with Isaac Lab's settings on isaac_env's envs
            (benchmarks/rsl_rl_ppo.py), evaluated as our scripts are, on separate envs
  gpus      ppo_isaac.py (and sac_isaac.py with --gpu-systems) on 1, 2, ... GPUs of this machine (--gpu-counts),
            --env-num envs per GPU, through torchrun beyond one GPU: total steps/s and return against wall-clock
Results merge into benchmarks/results/<date>-<gpu>.json (a rerun on the same host replaces the rows it measures,
so a long benchmark can be run in pieces, and --skip-done skips what a results file has already; rows record their
host, and speeds are compared within one host), which is rendered to <date>-<gpu>.md, learning_curves.png and
scaling.png.
Compilation caches (JAX's, and torch's for --compile), per system and task under --cache-root: --jax-cache cold
empties them before each training run, so that it pays its own compilation as a user's first run does; --jax-cache
warm reuses what the last cold run of that system and task left (or primes them with an unrecorded run first, stopped
once a cold run in the results had compiled everything: see priming_seconds), and labels its rows " warm". Brax's
own PPO gets the same JAX cache and threshold as our scripts.
"""

import argparse
import datetime
import fnmatch
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Evaluation returns whose wall-clock time from process start is compared: Ant's and Humanoid's since issue 5; the other
# four chosen on 2026-12-02 before any run of them in the six-task table (issue 27), each a gait held for the whole
# 1000 steps, far above a uniformly random policy's return (16 episodes on a CPU: halfcheetah -280, hopper 17,
# walker2d 3, humanoidstandup 7002): halfcheetah running at about 3 m/s; hopper and walker2d alive and healthy for
# 1000 steps (1000) and moving forward at about 1 m/s; humanoidstandup with the torso raised to about 0.45 m on
# average (its reward is the torso's height over the step's 0.015 s; lying down: 7000), i.e. sitting up.
TARGETS = {
    "ant": 3000.0,
    "humanoid": 6000.0,
    "halfcheetah": 3000.0,
    "hopper": 2000.0,
    "walker2d": 2000.0,
    "humanoidstandup": 30000.0,
}
# Time to a result from process start (issue 25): PPO's seconds to the target over Brax PPO's, both from cold caches;
# our scripts' seconds to it with warm caches; start-up (to the first training step) by cache; and on the held-out
# halfcheetah, evaluations beside training every 15 s, training's share of the wall-clock
TIME_RATIO_GOALS = {"ant": 0.33, "humanoid": 0.3}
WARM_GOALS = {"ant": 30.0, "humanoid": 45.0}
STARTUP_GOALS = {"cold": 35.0, "warm": 10.0}
TRAINING_SHARE_GOALS = {"halfcheetah": 0.8}
# The six-task table (issue 27): ppo_isaac.py against its peers on the same simulator, task by task; its return at the
# budget at or above each peer's on at least 5 of the 6 tasks (three seeds a side), in at most 0.5x rsl_rl's seconds
PEERS = ("rsl_rl_ppo", "brax_ppo")
PEER_TASKS, PEER_TASK_GOAL, PEER_SEEDS, PEER_TIME_GOAL = 6, 5, 3, {"rsl_rl_ppo": 0.5}
STOP = {"requested": False}  # set by Ctrl-C or `timeout -s INT`: the run in progress is recorded, the rest skipped
# compile alone is left out: it adds compilation time, and the kernel launches it saves are what graphs save
LEVERS = {"eager": ["--no-cudagraphs"], "cudagraphs": [], "compile+cudagraphs": ["--compile"]}  # (graphs: default)
PROVENANCE = {}  # type: Dict  # isaac_env.provenance(), filled in main(): every row records its commit and versions


# ---------------------------------------------------------------------------------------------- GPU memory, clocks
# NVML's reasons for holding the SM clock below its highest (nvmlClocksEventReason*), by bit; "idle" is left out
SLOWDOWNS = {
    0x2: "application clocks set",
    0x4: "software power cap",
    0x8: "hardware slowdown",
    0x10: "sync boost",
    0x20: "software thermal slowdown",
    0x40: "hardware thermal slowdown",
    0x80: "hardware power brake",
    0x100: "display clock setting",
}


class GpuMonitor:
    """Samples the GPU every 0.1 s while a child process runs, through NVML. Memory: the process's own figure where
    NVML reports it by pid; in containers, whose pids NVML does not see, the GPU's total use minus what was in use
    before the child started (right while the child is alone on its GPU: the report leaves out the figures of runs
    that shared one, --share). Clocks: while the GPU is busy (utilisation of 50% or more), the SM clock, the
    temperature, the power and the reasons NVML gives for holding the clock down, so that a run slowed by its GPU's
    clocks (a machine's power or heat under sustained load) says so in its row."""

    def __init__(self, pid: int, gpu_index: int = 0):
        self.pid, self.peak_mib, self.method, self._stop = pid, 0.0, None, threading.Event()
        self._sm_mhz, self._temperature, self._watts, self._reasons = [], [], [], 0  # (busy samples)
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml, self._handle = pynvml, pynvml.nvmlDeviceGetHandleByIndex(gpu_index)
            self._baseline = pynvml.nvmlDeviceGetMemoryInfo(self._handle).used / 2**20
        except Exception:  # no NVML (a CPU machine): nothing to measure
            self._nvml = None
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while self._nvml is not None and not self._stop.wait(0.1):
            try:
                self._sample_memory()
            except Exception:
                pass
            try:
                self._sample_clocks()
            except Exception:  # (an NVML without some query: the memory figures still count)
                pass

    def _sample_memory(self) -> None:
        nvml, handle = self._nvml, self._handle
        used = {p.pid: p.usedGpuMemory for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle)}
        if used.get(self.pid):
            self.method, mib = "nvml process", used[self.pid] / 2**20
        else:
            self.method = self.method or "nvml device minus baseline"
            mib = nvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20 - self._baseline
        self.peak_mib = max(self.peak_mib, mib)

    def _sample_clocks(self) -> None:
        nvml, handle = self._nvml, self._handle
        if nvml.nvmlDeviceGetUtilizationRates(handle).gpu < 50:  # (an idle GPU lowers its clock: no slowdown)
            return
        reasons = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
        reasons = reasons or nvml.nvmlDeviceGetCurrentClocksThrottleReasons  # (its older name)
        self._sm_mhz.append(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))
        self._temperature.append(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
        self._watts.append(nvml.nvmlDeviceGetPowerUsage(handle) / 1000)
        self._reasons |= reasons(handle)

    def stop(self) -> Optional[float]:
        self._stop.set()
        self._thread.join()
        return round(self.peak_mib, 1) if self._nvml is not None else None

    def clocks(self) -> Optional[Dict]:
        """The busy samples' SM clock (mean, lowest, and the GPU's highest), temperature and power (highest), and
        the slowdowns seen; None without NVML or busy samples."""
        if self._nvml is None or not self._sm_mhz:
            return None
        try:
            rated = self._nvml.nvmlDeviceGetMaxClockInfo(self._handle, self._nvml.NVML_CLOCK_SM)
        except Exception:
            rated = None
        return {
            "busy_samples": len(self._sm_mhz),
            "sm_mhz_mean": round(sum(self._sm_mhz) / len(self._sm_mhz)),
            "sm_mhz_lowest": min(self._sm_mhz),
            "sm_mhz_rated": rated,
            "temperature_c_highest": max(self._temperature),
            "power_w_highest": round(max(self._watts)),
            "slowdowns": [name for bit, name in sorted(SLOWDOWNS.items()) if self._reasons & bit],
        }


# A run told to stop (SIGINT) gets STOP_SECONDS[0] s for its final evaluation, save and summary; then a second SIGINT
# (our scripts skip what is left of that evaluation and write the summary at once: a slow simulator's 1000-step
# episodes take minutes); STOP_SECONDS[1] s after the first, SIGKILL.
STOP_SECONDS = (40.0, 60.0)


def run_process(
    cmd: List[str], log_path: str, max_seconds: float, env: Optional[Dict] = None, cwd: str = ROOT, gpu_index: int = 0
) -> Dict:
    """Run one benchmark process with its output in log_path; after max_seconds, or once the benchmark is stopped
    (STOP, set by Ctrl-C here or in the thread that runs the others: --gpus, --share), it gets SIGINT (our scripts
    then save their summary), a second one if it is slow to stop, then SIGKILL (STOP_SECONDS)."""
    print("+ " + " ".join(cmd), flush=True)
    with open(log_path, "w") as log:
        start = time.time()
        # Its own session: Ctrl-C or `timeout` signals a whole process group, and a script that got SIGINT twice
        # (once from the group, once passed on below) stops at once, without its summary. Only this runner passes it on.
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        monitor = GpuMonitor(proc.pid, gpu_index)  # (the first GPU of the run's)
        asked = None  # type: Optional[float]  # when it got SIGINT
        asked_twice = False
        while proc.poll() is None:
            try:
                proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
            except KeyboardInterrupt:  # the benchmark itself was stopped: record this run, then stop
                if asked is not None:  # a second Ctrl-C: now
                    proc.kill()
                STOP["requested"] = True
            if proc.poll() is not None:
                break
            if asked is None and (STOP["requested"] or time.time() - start > max_seconds):
                proc.send_signal(signal.SIGINT)
                asked = time.time()
            elif asked is not None and not asked_twice and time.time() - asked > STOP_SECONDS[0]:
                proc.send_signal(signal.SIGINT)  # still evaluating: the summary without it
                asked_twice = True
            elif asked is not None and time.time() - asked > STOP_SECONDS[1]:  # too slow to stop
                STOP["requested"] = True
                proc.kill()
        proc.wait()
        peak = monitor.stop()
    return {
        "returncode": proc.returncode,
        "process_seconds": round(time.time() - start, 1),
        "peak_gpu_mib": peak,
        "memory_method": monitor.method,
        "gpu_clocks": monitor.clocks(),
        "log": os.path.basename(log_path),
    }


def stop_on_sigterm() -> None:
    """SIGTERM (plain `timeout`, a scheduler, `kill`) stops this runner as Ctrl-C does: each run then gets SIGINT
    and is recorded. Left to its default, it would end this process alone, and the runs, in sessions of their own,
    would go on orphaned, holding the GPU."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def cache_env(cache: str) -> Dict:
    """Environment for one run with its compilation caches (JAX, torch inductor, Triton) in `cache`. NVLink multicast
    stays off (NCCL's NVLS and its kin): the multi-GPU machines here are shared; a gradient all-reduce needs none."""
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        XLA_PYTHON_CLIENT_PREALLOCATE="false",
        NCCL_NVLS_ENABLE="0",
        TORCH_SYMM_MEM_DISABLE_MULTICAST="1",
        NVSHMEM_DISABLE_NVLS="1",
    )
    env.update(
        JAX_COMPILATION_CACHE_DIR=os.path.join(cache, "jax"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.2",
        TORCHINDUCTOR_CACHE_DIR=os.path.join(cache, "inductor"),
        TRITON_CACHE_DIR=os.path.join(cache, "triton"),
    )
    env.pop("JAX_ENABLE_COMPILATION_CACHE", None)
    return env


def tail(path: str, lines: int = 15) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.read().replace("\r", "\n").splitlines(True)[-lines:])


# ---------------------------------------------------------------------------------------------- the parts
def ceiling_rows(a, task: str, env_nums: List[int], modes: List[str], tmp: str) -> List[Dict]:
    cmd = [sys.executable, "benchmarks/ceiling.py", "--task", task, "--env-nums"] + [str(n) for n in env_nums]
    cmd += ["--modes"] + modes + ["--seconds", str(a.ceiling_seconds), "--device", a.device]
    cmd += ["--policy", a.ceiling_policy] if "policy" in modes else []
    log = os.path.join(tmp, "ceiling_{}_{}_{}.log".format(task, "-".join(str(n) for n in env_nums), int(time.time())))
    result = run_process(cmd, log, a.max_seconds)
    rows = []
    with open(log) as f:
        for line in f:
            if line.startswith("{"):
                row = json.loads(line)
                row.update(
                    key="ceiling/{}/{}/{}".format(row["task"], row["env_num"], row["mode"]),
                    part="ceiling",
                    log=result["log"],
                    args=cmd[1:],
                    provenance=PROVENANCE,
                )
                rows.append(row)
    if result["returncode"] != 0:
        print("ceiling {} failed (exit {}):\n{}".format(task, result["returncode"], tail(log)), flush=True)
    return rows


def training_row(
    a,
    system: str,
    task: str,
    seed: int,
    extra: List[str],
    tmp: str,
    key: str,
    max_seconds: float,
    gpus: int = 1,
    slot: Tuple[int, int] = (0, 0),
    prime_seconds: Optional[float] = None,
) -> Dict:
    """One training run; `slot`: (the first of its GPUs, as an index into those visible; which of the runs at once
    it is, for a cache of its own: --gpus, --share); `prime_seconds`: how long a warm run's priming run needs, where
    it has no caches yet (None: a whole run)."""
    name = "{}_{}".format("".join(c if c.isalnum() or c in "-." else "_" for c in key), int(time.time()))
    log = os.path.join(tmp, name + ".log")
    if system == "brax_ppo":
        out = os.path.join(tmp, name + ".json")
        cmd = [sys.executable, "benchmarks/brax_ppo.py", "--task", task.lower(), "--seed", str(seed), "--out", out]
    elif system == "rsl_rl_ppo":
        out = os.path.join(tmp, name + ".json")
        cmd = [sys.executable, "benchmarks/rsl_rl_ppo.py", "--task", task, "--seed", str(seed), "--out", out]
        cmd += ["--env-num", str(a.env_num), "--device", a.device, "--eval-gap", str(a.eval_gap)]
        cmd += ["--eval-env-num", str(a.eval_envs), "--eval-times", str(a.eval_envs)]
    else:
        script = a.script or ("ppo_isaac.py" if system.startswith("ppo") else "sac_isaac.py")
        out = os.path.join(a.runs_root, "runs", name, "summary.json")
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(gpus)]
        cmd = (launcher if gpus > 1 else [sys.executable]) + [
            os.path.join(ROOT, script),
            "--env-name",
            task,
            "--env-num",
            str(a.env_num),
            "--seed",
            str(seed),
            "--run-name",
            name,
            "--device",
            a.device,
            "--eval-gap",
            str(a.eval_gap),
            "--eval-env-num",
            str(a.eval_envs),
            "--eval-times",
            str(a.eval_envs),
        ]
    gpu, at_once = slot
    cache = os.path.join(a.cache_root, "{}{}-{}".format(system, a.label, task).replace(" ", "_"))
    cache += "-{}".format(at_once) if len(a.slots) > 1 else ""  # (cold runs at once: each empties its own)
    if a.jax_cache == "cold" or not os.path.isdir(cache):
        shutil.rmtree(cache, ignore_errors=True)
    env = cache_env(cache)
    visible = env.get("CUDA_VISIBLE_DEVICES")  # the run gets `gpus` of them, from its slot's
    visible = visible.split(",") if visible else [str(i) for i in range(gpu + gpus)]
    env["CUDA_VISIBLE_DEVICES"] = ",".join(visible[gpu : gpu + gpus])
    cwd, gpu_index = (
        ROOT if system in ("brax_ppo", "rsl_rl_ppo") else a.runs_root,
        int(env["CUDA_VISIBLE_DEVICES"].split(",")[0]) if a.device != "cpu" else 0,
    )
    if a.jax_cache == "warm" and not os.path.isdir(cache):  # no cold run of it left its caches here: prime them
        print("priming the caches of {} {} (not recorded)".format(system, task), flush=True)
        prime = [name + "_priming" if x == name else x for x in cmd]  # (our scripts: another run folder)
        limit = min(max_seconds, prime_seconds or max_seconds)
        run_process(prime + extra, log[:-4] + "_priming.log", limit, env, cwd=cwd, gpu_index=gpu_index)
        if STOP["requested"]:  # stopped before it had compiled everything: a later warm run must prime them again
            shutil.rmtree(cache, ignore_errors=True)
    result = run_process(cmd + extra, log, max_seconds, env, cwd=cwd, gpu_index=gpu_index)
    row = {
        "key": key,
        "part": "train",
        "system": system + a.row_label,
        "task": task,
        "seed": seed,
        "flags": extra,
        "args": cmd[1:] + extra,
        "provenance": PROVENANCE,
        "gpus": gpus,
        "jax_cache": a.jax_cache,
    }
    row.update(result)
    if a.share > 1:  # beside other runs on its GPU: a result for its returns, not its seconds, speed or memory
        row["runs_sharing_gpu"] = a.share
    if STOP["requested"]:  # cut short by Ctrl-C or the call's time limit: not a result to keep (see already_done)
        row["cut_short"] = True
    if not os.path.isfile(out):
        print(
            "{} {} seed {} wrote no summary (exit {}):\n{}".format(system, task, seed, result["returncode"], tail(log)),
            flush=True,
        )
        row["status"] = "failed"
        return row
    with open(out) as f:
        summary = json.load(f)
    status = summary["status"]
    if status == "running":  # Brax PPO's file, written at each evaluation: it was stopped, or it crashed
        status = (
            "stopped at {:.0f} s".format(min(max_seconds, result["process_seconds"]))
            if result["process_seconds"] >= max_seconds or STOP["requested"]
            else "failed (exit {}) after {:.0f} s".format(result["returncode"], result["process_seconds"])
        )
    if status in ("completed", "target_reached"):  # its training had ended when the stop came (a first SIGINT only
        row.pop("cut_short", None)  # cuts training; the final evaluation and save then run as they would anyway)
    row.update(
        status=status,
        evals=summary["evals"],
        wall_seconds=summary.get("wall_seconds"),
        steps=summary["evals"][-1][1] if summary["evals"] else 0,
    )
    if system in ("brax_ppo", "rsl_rl_ppo"):  # the median of the steps/s they record per epoch or iteration
        skip = 2 if system == "brax_ppo" else 5  # Brax's first epochs include compilation; rsl_rl as our scripts
        sps = summary["training_sps"][skip:] or summary["training_sps"]
        row["steady_sps"] = round(sorted(sps)[len(sps) // 2], 1) if sps else None
        row["env_num"] = summary["settings"]["num_envs"] if system == "brax_ppo" else summary["env_num"]
    else:
        row.update(
            steady_sps=summary.get("steady_sps"),
            env_num=summary["env_num"],
            steps=summary["steps"],
            world_size=summary.get("world_size", 1),
            rank_checksums=summary.get("rank_checksums"),
            torch_peak_gib=summary.get("torch_peak_memory_gib"),
            rollout_sps=summary.get("steady_rollout_sps"),
            update_seconds=summary.get("steady_update_seconds"),
            train_seconds=summary.get("train_seconds"),
            startup_seconds=summary.get("startup_seconds"),
            startup=summary.get("startup"),
            first_eval_seconds=summary.get("first_eval_seconds"),
            sps_evaluating=summary.get("steady_sps_evaluating"),
            sps_not_evaluating=summary.get("steady_sps_not_evaluating"),
            jax_cache_line=summary.get("jax_cache"),
        )
    print(
        "{} {} seed {}: {} evals, last {}, steady {} steps/s, peak {} MiB".format(
            system,
            task,
            seed,
            len(row["evals"]),
            row["evals"][-1] if row["evals"] else None,
            row["steady_sps"],
            row["peak_gpu_mib"],
        ),
        flush=True,
    )
    return row


def already_done(rows: Dict[str, Dict], key: str) -> bool:
    """Whether the results have a finished run of `key` on any host (--skip-done): neither failed nor cut short."""
    return any(
        k.split("@")[0] == key and not r.get("status", "failed").startswith("failed") and not r.get("cut_short")
        for k, r in rows.items()
    )


def priming_seconds(rows: Dict[str, Dict], system: str, task: str) -> Optional[float]:
    """How long a run that primes the caches of `system` (as labelled, without " warm") on `task` needs: until every
    program is compiled, which a finished cold run in the results had done by the end of its first evaluation after
    training began (our scripts compile their evaluation env at their first one; Brax's PPO evaluates at step 0,
    then compiles its training epoch), with a margin (the latest such run's x1.25 + 15 s: the host may differ).
    None where the results have no such run: the priming run is then a whole one."""
    done = [
        r
        for r in rows.values()
        if r.get("system") == system and r.get("task") == task and r.get("jax_cache") == "cold"
        if r.get("status") == "completed" and not r.get("cut_short") and not r.get("runs_sharing_gpu")
    ]
    compiled = [next((e[0] for e in r["evals"] if e[1] > 0), None) for r in done]
    compiled = [s for s in compiled if s is not None]
    return max(compiled) * 1.25 + 15 if compiled else None


def brax_budget(task: str) -> int:
    """Brax PPO's step budget for the task, as benchmarks/brax_ppo.py has it (importing it loads JAX, not a GPU)."""
    import brax_ppo  # (beside this file, so on sys.path: this script's folder)

    return brax_ppo.BRAX_SETTINGS.get(task.lower(), brax_ppo.BRAX_SETTINGS[brax_ppo.FALLBACK])["num_timesteps"]


# ---------------------------------------------------------------------------------------------- report
def seconds_to(evals: List[List[float]], target: float) -> Optional[float]:
    return next((e[0] for e in evals if e[2] >= target), None)  # rows: [seconds, steps, return, (std, episodes)]


def mean_std(values: List[Optional[float]]) -> str:
    """Mean ± the sample standard deviation (n - 1) over seeds; a single value says so. None: a seed without a
    value (a threshold it never reached), counted: "n=2 of 3"."""
    given = [v for v in values if v is not None]
    if not given:
        return "-"
    mean = sum(given) / len(given)
    of = "" if len(given) == len(values) else " of {}".format(len(values))
    if len(given) == 1:
        return "{:.0f} ({})".format(mean, "1{} seeds".format(of) if of else "single seed")
    std = (sum((v - mean) ** 2 for v in given) / (len(given) - 1)) ** 0.5
    return "{:.0f} ± {:.0f} (n={}{})".format(mean, std, len(given), of)


def fmt(value, spec="{:.0f}") -> str:
    return "-" if value is None else spec.format(value)


def host_of(row: Dict) -> str:
    return row.get("host", "-")


def alone(row: Dict) -> bool:
    """Whether the run had its GPU to itself: its seconds, steps/s and memory are a result (not with --share)."""
    return row.get("runs_sharing_gpu", 1) == 1


def training_share(row: Dict) -> Optional[float]:
    """Training's share of the run's wall-clock; None where unknown or cut short by the call's time limit."""
    if row.get("train_seconds") and row.get("wall_seconds") and not row.get("cut_short"):
        return row["train_seconds"] / row["wall_seconds"]
    return None


def best_rows(train: List[Dict]) -> List[Dict]:
    """One row per task, system and seed: the first completed run (a rerun does not replace a result, however it
    turns out), else the latest stopped one."""
    chosen = {}
    for r in sorted(train, key=lambda r: (r.get("status") == "completed", r.get("call", ""))):
        key = (r["task"], r["system"], r["seed"])
        if not (key in chosen and chosen[key].get("status") == "completed"):
            chosen[key] = r
    return sorted(chosen.values(), key=lambda r: r["seed"])


def report(results: Dict, path_md: str, plot_dir: str) -> None:
    rows = list(results["rows"].values())
    ceiling = [r for r in rows if r["part"] == "ceiling"]
    # a run cut short by the call's time limit is no result (--skip-done runs it again): its start-up still counts
    started = [r for r in rows if r["part"] == "train" and r.get("status") != "failed"]
    train = [r for r in started if not r.get("cut_short")]
    levers = [r for r in rows if r["part"] == "levers"]
    lines = [
        "# Benchmark: {}".format(results["machine"]["gpu"]),
        "",
        "GPU: {}. Software: {}. Written by `python benchmarks/run.py`; every row says which invocation "
        "(call) on which machine (host) measured it. Speeds are compared only between rows of one machine: "
        "hosts with the same GPU differ (their CPUs drive compilation and torch's kernel launches).".format(
            results["machine"]["gpu"],
            ", ".join("{} {}".format(k, v) for k, v in results["machine"]["versions"].items()),
        ),
        "",
    ]
    lines += ["- host {}: {}".format(host, note) for host, note in sorted(results.get("hosts", {}).items())]
    lines += [""] if results.get("hosts") else []

    def ceiling_sps(task: str, n: int, mode: str, host: str) -> Optional[float]:
        return next(
            (
                r["steps_per_second"]
                for r in ceiling
                if r["task"].lower() == task.lower() and r["env_num"] == n and r["mode"] == mode and host_of(r) == host
            ),
            None,
        )

    if ceiling:
        lines += [
            "## Simulator ceiling (no learning)",
            "",
            "Steps/s with random actions, and (where measured) with the actions of a trained ppo_isaac.py "
            "policy through the adapter.",
            "",
            "| task | envs | host | jitted loop | torch in the loop (DLPack) | isaac_env adapter | adapter, "
            "trained policy | compile s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for task, n, host in sorted({(r["task"], r["env_num"], host_of(r)) for r in ceiling}):
            comp = [r["compile_seconds"] for r in ceiling if (r["task"], r["env_num"], host_of(r)) == (task, n, host)]
            lines.append(
                "| {} | {} | {} | {} | {} | {} | {} | {} |".format(
                    task,
                    n,
                    host,
                    *[fmt(ceiling_sps(task, n, m, host), "{:,.0f}") for m in ("jit", "torch", "adapter", "policy")],
                    "/".join("{:.0f}".format(c) for c in comp),
                )
            )
        lines.append("")
    if levers:
        lines += [
            "## ppo_isaac.py fast-path levers ({}, {} envs, short runs)".format(
                levers[0]["task"], levers[0]["env_num"]
            ),
            "",
            "| flags | host | steady steps/s | x eager | wall s (incl. compilation) | steps |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in levers:
            eager = next((e["steady_sps"] for e in levers if not e["flags"] and host_of(e) == host_of(r)), None)
            lines.append(
                "| {} | {} | {} | {} | {} | {} |".format(
                    " ".join(r["flags"]) or "(eager default)",
                    host_of(r),
                    fmt(r.get("steady_sps"), "{:,.0f}"),
                    fmt(r["steady_sps"] / eager if eager and r.get("steady_sps") else None, "{:.2f}"),
                    fmt(r.get("wall_seconds")),
                    fmt(r.get("steps"), "{:,}"),
                )
            )
        lines.append("")
    if started:
        lines += [
            "## Training: evaluation return against wall-clock time from process start",
            "",
            "Evaluation: 128 envs, deterministic (mean) actions, one episode each, for every system. "
            "Seconds include start-up, compilation and evaluation. One run per seed: the first completed one "
            "where there is one, else the latest (every run is listed under Rows). The curves draw those runs: a "
            "system's single seed as a line, several as their mean, shaded from the lowest seed to the highest. "
            "Several seeds: mean ± sample standard deviation (n - 1); one seed is marked as such. A seed marked "
            '"shared GPU" ran beside other runs on its GPU (--share): its returns count, its seconds, steps/s and '
            "memory do not (they are left out, and so is its curve).",
            "",
            "| task | system | envs | seeds (host) | seconds to target | return at budget | best return | "
            "steps | steady steps/s | peak GPU MiB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        best = best_rows(train)
        for task in sorted({r["task"] for r in best}):
            target = TARGETS.get(task.lower())
            for system in sorted({r["system"] for r in best if r["task"] == task}):
                group = [r for r in best if r["task"] == task and r["system"] == system]
                timed = [r for r in group if alone(r)]
                lines.append(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                        task,
                        system,
                        group[0]["env_num"],
                        ", ".join(
                            "{} ({}{})".format(r["seed"], host_of(r), "" if alone(r) else ", shared GPU") for r in group
                        ),
                        "{} (target {:.0f}; {})".format(
                            mean_std([seconds_to(r["evals"], target) for r in timed]),
                            target,
                            ", ".join(fmt(seconds_to(r["evals"], target)) if alone(r) else "shared" for r in group),
                        )
                        if target
                        else "-",
                        mean_std([r["evals"][-1][2] for r in group if r["evals"] and r.get("status") == "completed"])
                        if all(r.get("status") == "completed" for r in group)
                        else "stopped: last {}".format(
                            ", ".join(
                                "{:.0f} at {:.0f} s".format(r["evals"][-1][2], r["evals"][-1][0])
                                for r in group
                                if r["evals"]
                            )
                        ),
                        mean_std([max(e[2] for e in r["evals"]) for r in group if r["evals"]]),
                        "/".join("{:.1f}M".format(r["steps"] / 1e6) for r in group),
                        mean_std([r.get("steady_sps") for r in timed]),
                        mean_std([r.get("peak_gpu_mib") for r in timed]),
                    )
                )
        lines.append("")
        lines += startup_lines(started)
        lines += ratio_lines(train, levers, ceiling_sps)
        lines += peer_lines(train)
    lines += gpu_lines([r for r in rows if r["part"] == "gpus" and r.get("status") != "failed"])
    lines += [
        "## Provenance",
        "",
        "Per call and host: the code's commit, whether its tree had uncommitted changes, "
        "the package versions, and whether this was recorded at run time or backfilled later.",
        "",
        "| call | host | commit | uncommitted changes | versions | recorded |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for entry in sorted(
        {json.dumps([r.get("call", "-"), host_of(r), r.get("provenance") or {}], sort_keys=True) for r in rows}
    ):
        call, host, p = json.loads(entry)
        lines.append(
            "| {} | {} | {} | {} | {} | {} |".format(
                call,
                host,
                (p.get("commit") or "-")[:10],
                {True: "yes", False: "no"}.get(p.get("dirty"), "unknown"),
                ", ".join("{} {}".format(k, v) for k, v in (p.get("versions") or {}).items() if v),
                "backfilled (see the rows' notes)" if "backfilled" in p.get("note", "") else "at run time",
            )
        )
    lines += ["", "## Rows", "", "| key | call | status / notes |", "| --- | --- | --- |"]
    for r in sorted(rows, key=lambda r: r["key"]):
        lines.append(
            "| {} | {} | {} |".format(
                r["key"],
                r.get("call", "-"),
                r.get("status", "ok")
                + ("; cut short by the call's time limit" if r.get("cut_short") else "")
                + ("; from " + r["from_results"] if r.get("from_results") else "")
                + ("; flags " + " ".join(r["flags"]) if r.get("flags") else "")
                + ("; memory by " + r["memory_method"] if r.get("memory_method") else "")
                + clock_text(r.get("gpu_clocks"))
                + ("; " + r["provenance"]["note"] if (r.get("provenance") or {}).get("note") else ""),
            )
        )
    with open(path_md, "w") as f:
        f.write("\n".join(lines) + "\n")
    draw_plots(train, ceiling, plot_dir, [r for r in rows if r["part"] == "gpus" and r.get("status") != "failed"])


def clock_text(clocks: Optional[Dict]) -> str:
    """The row's GPU clocks while busy (GpuMonitor.clocks), for its notes."""
    if not clocks:
        return ""
    return "; GPU while busy: SM clock {} MHz on average (lowest {}, highest rated {}), up to {} C and {} W{}".format(
        clocks["sm_mhz_mean"],
        clocks["sm_mhz_lowest"],
        clocks["sm_mhz_rated"] or "-",
        clocks["temperature_c_highest"],
        clocks["power_w_highest"],
        ", slowed by: " + ", ".join(clocks["slowdowns"]) if clocks["slowdowns"] else ", no slowdown",
    )


def startup_lines(train: List[Dict]) -> List[str]:
    """Our scripts' runs: where the time before training went, and training's speed with an evaluation beside it."""
    ours = [r for r in train if r.get("startup")]
    if not ours:
        return []
    lines = [
        "## Start-up and evaluations beside training (our scripts)",
        "",
        "Seconds from process start; compile: the simulator's compilation (from the JAX cache when warm); "
        "networks: until the networks are built (torch's first GPU allocation among it); steps/s of iterations "
        "with an evaluation beside them against those without; training's share of the wall-clock.",
        "",
        "| task | system | seed | caches | imports | envs built | compile s | networks built | training from | "
        "first evaluation s | steps/s evaluating / not | ratio | training / wall-clock |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(ours, key=lambda r: (r["task"], r["system"], r["seed"])):
        p, evaluating, not_evaluating = r["startup"], r.get("sps_evaluating"), r.get("sps_not_evaluating")
        lines.append(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} |".format(
                r["task"],
                r["system"] + (" (cut short)" if r.get("cut_short") else "") + ("" if alone(r) else " (shared GPU)"),
                r["seed"],
                r.get("jax_cache", "-"),
                fmt(p.get("imports"), "{:.1f}"),
                fmt(p.get("envs_built"), "{:.1f}"),
                fmt(p["simulator_compiled"] - p["envs_built"] if "envs_built" in p else None, "{:.1f}"),
                fmt(p.get("parts_built"), "{:.1f}"),
                fmt(r.get("startup_seconds"), "{:.1f}"),
                fmt(r.get("first_eval_seconds"), "{:.1f}"),
                fmt(evaluating, "{:,.0f}"),
                fmt(not_evaluating, "{:,.0f}"),
                fmt(evaluating / not_evaluating if evaluating and not_evaluating else None, "{:.2f}"),
                fmt(training_share(r), "{:.2f}"),
            )
        )
    return lines + [""]


def gpu_lines(gpus: List[Dict]) -> List[str]:
    """The gpus part: each run against the one-GPU run of its task, system and call (one machine, side by side)."""
    if not gpus:
        return []
    lines = [
        "## Several GPUs (torchrun, one process per GPU)",
        "",
        "Envs per GPU as given; steps and steps/s count every GPU. Each ratio is against the one-GPU run of the "
        "same call on the same host. Evaluation as above, by rank 0 alone (the other ranks wait for it).",
        "",
        "| task | system | GPUs | envs (total) | flags | host, call | steady steps/s | x 1 GPU "
        "| seconds to target | x 1 GPU (time) | return at budget | steps | peak MiB (first GPU) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(gpus, key=lambda r: (r["task"], r["system"], r.get("call", ""), r["gpus"])):
        one = next(
            (
                o
                for o in gpus
                if (o["task"], o["system"], o.get("call"), host_of(o), o.get("env_num"), o["flags"], o["gpus"])
                == (r["task"], r["system"], r.get("call"), host_of(r), r.get("env_num"), r["flags"], 1)
            ),
            None,
        )
        target = TARGETS.get(r["task"].lower())
        t, t1 = (
            seconds_to(r["evals"], target) if target else None,
            seconds_to(one["evals"], target) if (target and one) else None,
        )
        sps, sps1 = r.get("steady_sps"), one.get("steady_sps") if one else None
        lines.append(
            "| {} | {} | {} | {} ({}) | {} | {}, {} | {} | {} | {} | {} | {} | {} | {} |".format(
                r["task"],
                r["system"],
                r["gpus"],
                r.get("env_num"),
                (r.get("env_num") or 0) * r["gpus"],
                " ".join(r["flags"]) or "-",
                host_of(r),
                r.get("call", "-"),
                fmt(sps, "{:,.0f}"),
                fmt(sps / sps1 if sps and sps1 else None, "{:.2f}"),
                "{} (target {:.0f})".format(fmt(t), target) if target else "-",
                fmt(t / t1 if t and t1 else None, "{:.2f}"),
                ("{:.0f}".format(r["evals"][-1][2]) if r["evals"] else "-")
                + ("" if r.get("status") == "completed" else " ({})".format(r.get("status"))),
                "{:.1f}M".format(r["steps"] / 1e6),
                fmt(r.get("peak_gpu_mib")),
            )
        )
    return lines + [""]


def time_ratio(ours: Dict, brax: Dict, target: float) -> Optional[str]:
    """Seconds to `target`, ours over Brax's, for one seed; a bound where only one of them got there."""
    o, b = seconds_to(ours["evals"], target), seconds_to(brax["evals"], target)
    if o and b:
        # Evaluations are spaced in time, so each first crossing is late by up to one gap: say Brax's last
        # evaluation below the target too, where its gaps are long (Humanoid: ~100 s) the ratio's other bound
        before = [e[0] for e in brax["evals"] if e[0] < b]
        return "{:.2f} ({:.0f} s / {:.0f} s{})".format(
            o / b,
            o,
            b,
            "; Brax PPO was below it at {:.0f} s: <= {:.2f}".format(before[-1], o / before[-1])
            if before and b - before[-1] > 30
            else "",
        )
    if o and brax["evals"] and brax.get("status") != "completed":
        last = brax["evals"][-1][0]
        return "< {:.2f} ({:.0f} s / not reached by {:.0f} s, its run stopped)".format(o / last, o, last)
    if o:
        return "< 1 ({:.0f} s / never reached)".format(o)
    return "PPO did not reach it" if b else "neither reached it"


def ratio_lines(train: List[Dict], levers: List[Dict], ceiling_sps) -> List[str]:
    """The issue's targets as ratios. Speeds pair only runs of one machine (host); final returns count only runs
    that used their whole step budget, one per seed."""
    lines = []  # the table's rows
    best = best_rows(train)
    for task in sorted({r["task"] for r in train}):  # (seconds, speeds and memory: of runs alone on a GPU)
        ours = [r for r in train if r["task"] == task and r["system"] == "ppo_isaac" and alone(r)]
        brax = [r for r in train if r["task"] == task and r["system"] == "brax_ppo" and alone(r)]
        target = TARGETS.get(task.lower())
        if ours and task.lower() == "ant":
            n = ours[0]["env_num"]

            def speed_ratio(what: str, speeds: List[float], ceiling: Optional[float], target: str) -> None:
                if speeds and ceiling:
                    mean = sum(speeds) / len(speeds)
                    lines.append(
                        "| {} | {:.2f} ({:,.0f} / {:,.0f}) | {} |".format(what, mean / ceiling, mean, ceiling, target)
                    )

            for host in sorted({host_of(r) for r in ours + levers}):
                full = [r["steady_sps"] for r in ours if host_of(r) == host and r.get("steady_sps")]
                short = [
                    r["steady_sps"]
                    for r in levers
                    if host_of(r) == host
                    and r["task"] == task
                    and r["flags"] == ["--cudagraphs"]
                    and r.get("steady_sps")
                ]
                for label, sps in (("full runs", full), ("short runs, --cudagraphs", short)):
                    speed_ratio(
                        "{} PPO steady steps/s / torch-in-the-loop ceiling ({}, host {})".format(task, label, host),
                        sps,
                        ceiling_sps(task, n, "torch", host),
                        ">= 0.75",
                    )
                # where the time goes: the rollouts alone, against the simulator through the same adapter
                rollout = [r["rollout_sps"] for r in ours if host_of(r) == host and r.get("rollout_sps")]
                for mode, what in (("adapter", "random actions"), ("policy", "a trained policy's actions")):
                    speed_ratio(
                        "{} PPO rollout steps/s (its rollouts alone, update excluded) / adapter with {} (host "
                        "{})".format(task, what, host),
                        rollout,
                        ceiling_sps(task, n, mode, host),
                        "(for reference)",
                    )
                # not the target: the same ratio in the states training visits
                speed_ratio(
                    "{} PPO steady steps/s / adapter ceiling with a trained policy's actions (full runs, host "
                    "{})".format(task, host),
                    full,
                    ceiling_sps(task, n, "policy", host),
                    "(for reference)",
                )
            peaks = [r["peak_gpu_mib"] for r in ours if r.get("peak_gpu_mib")]
            if peaks:
                lines.append("| {} PPO peak GPU memory | {:.2f} GiB | < 8 GiB |".format(task, max(peaks) / 1024))
        systems = {r["system"] for r in train if r["task"] == task}
        if {"ppo_isaac", "brax_ppo"} <= systems and target:
            pairs = [(o, b) for o in ours for b in brax if o["seed"] == b["seed"] and host_of(o) == host_of(b)]
            exact = [
                seconds_to(o["evals"], target) / seconds_to(b["evals"], target)
                for o, b in pairs
                if seconds_to(o["evals"], target) and seconds_to(b["evals"], target)
            ]
            lines.append(
                "| {} seconds to return {:.0f}, PPO / Brax PPO (runs of one seed on one host) | {}{} | {} |".format(
                    task,
                    target,
                    "; ".join(
                        "seed {} on {}: {}".format(o["seed"], host_of(o), time_ratio(o, b, target)) for o, b in pairs
                    )
                    or "no pair measured alone on one machine",
                    "; mean of the {} exact ones {:.2f}".format(len(exact), sum(exact) / len(exact))
                    if len(exact) > 1
                    else "",
                    "<= {}".format(TIME_RATIO_GOALS[task.lower()])
                    if task.lower() in TIME_RATIO_GOALS
                    else "<= 0.8 (aim 0.5)",
                )
            )
            o_final = [
                r["evals"][-1][2]
                for r in best
                if r["task"] == task and r["system"] == "ppo_isaac" and r["evals"] and r.get("status") == "completed"
            ]
            b_final = [
                r["evals"][-1][2]
                for r in best
                if r["task"] == task and r["system"] == "brax_ppo" and r["evals"] and r.get("status") == "completed"
            ]
            lines.append(
                "| {} final return at the step budget, PPO / Brax PPO (means over seeds) | {} | >= 1 |".format(
                    task,
                    "{:.2f} ({:.0f} / {:.0f}; {} and {} runs)".format(
                        sum(o_final) / sum(b_final) * len(b_final) / len(o_final),
                        sum(o_final) / len(o_final),
                        sum(b_final) / len(b_final),
                        len(o_final),
                        len(b_final),
                    )
                    if o_final and b_final
                    else "not measured: a run stopped before its budget",
                )
            )
    lines += goal_lines(train)
    if not lines:  # (no row meets a target, as in an A/B of two labelled versions: no table)
        return []
    return ["## Ratios against the targets", "", "| what | measured | target |", "| --- | --- | --- |"] + lines + [""]


def peer_lines(train: List[Dict]) -> List[str]:
    """ppo_isaac.py against each peer (PEERS) task by task: returns at the step budget (means over the completed seeds;
    a task counts towards a goal only with PEER_SEEDS of each side) and seconds to the task's threshold, ours over the
    peer's, per seed, from runs alone on one host. A labelled peer (a variant, e.g. "rsl_rl_ppo obsnorm") is shown, not
    counted. Only in the six-task table, which rsl_rl's rows mark (not in the main table's, warm rows among them)."""
    best = [r for r in best_rows(train) if r.get("status") == "completed" and r["evals"]]
    peers = sorted({r["system"] for r in best if r["system"].split()[0] in PEERS})
    if not any(p.startswith("rsl_rl_ppo") for p in peers) or not any(r["system"] == "ppo_isaac" for r in best):
        return []
    lines = [
        "## Against the peers",
        "",
        "`ppo_isaac.py` against each peer on each task: return at the step budget, means over the completed seeds, "
        "and seconds from process start to the task's threshold, ours over the peer's, seed by seed, from runs alone "
        "on one host. A variant of a peer (a label after its name) is shown for reference and not counted.",
        "",
        "| task | peer | seeds, ours / peer | return at budget, ours / peer | ours / peer | seconds to threshold, "
        "ours / peer |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    verdicts = {peer: {"above": [], "below": [], "short": []} for peer in PEERS}  # tasks, by outcome
    times = {peer: [] for peer in PEERS}  # (task, seed, ratio) where both reached the threshold

    def finals(task: str, system: str) -> List[float]:
        return [r["evals"][-1][2] for r in best if r["task"] == task and r["system"] == system]

    for task in sorted({r["task"] for r in best}):
        target = TARGETS.get(task.lower())
        ours = finals(task, "ppo_isaac")
        if not ours:
            continue
        for peer in peers:
            theirs = finals(task, peer)
            if not theirs:
                continue
            o, t = sum(ours) / len(ours), sum(theirs) / len(theirs)
            if peer in PEERS:
                full = len(ours) >= PEER_SEEDS and len(theirs) >= PEER_SEEDS
                verdicts[peer]["short" if not full else "above" if o >= t else "below"].append(
                    "{} ({:.2f})".format(task, o / t) if t > 0 and full else task
                )
            pairs = [  # (none without a threshold for the task)
                (a, b)
                for a in best
                for b in best
                if a["task"] == b["task"] == task
                and (a["system"], b["system"]) == ("ppo_isaac", peer)
                and a["seed"] == b["seed"]
                and host_of(a) == host_of(b)
                and alone(a)
                and alone(b)
                and target
            ]
            seconds = []
            for a, b in pairs:
                x, y = seconds_to(a["evals"], target), seconds_to(b["evals"], target)
                if x and y and peer in times:
                    times[peer].append((task, a["seed"], x / y))
                seconds.append(
                    "seed {}: {}".format(
                        a["seed"],
                        "{:.2f} ({:.0f} s / {:.0f} s)".format(x / y, x, y)
                        if x and y
                        else "ours {:.0f} s, the peer never".format(x)
                        if x
                        else "the peer {:.0f} s, ours never".format(y)
                        if y
                        else "neither reached it",
                    )
                )
            lines.append(
                "| {} | {} | {} / {} | {:.0f} / {:.0f} | {} | {} |".format(
                    task,
                    peer,
                    len(ours),
                    len(theirs),
                    o,
                    t,
                    "{:.2f}".format(o / t) if t > 0 else "-",
                    "; ".join(seconds) or "no pair alone on one host",
                )
            )
    lines.append("")
    for peer in [p for p in PEERS if p in peers]:
        v = verdicts[peer]
        lines.append(
            "- Return at budget at or above {}'s on {} of {} tasks (goal: {} of {}, {} seeds a side): {}; below it on: "
            "{}; fewer than {} seeds yet: {}.".format(
                peer,
                len(v["above"]),
                PEER_TASKS,
                PEER_TASK_GOAL,
                PEER_TASKS,
                PEER_SEEDS,
                ", ".join(v["above"]) or "none",
                ", ".join(v["below"]) or "none",
                PEER_SEEDS,
                ", ".join(v["short"]) or "none",
            )
        )
        if peer in PEER_TIME_GOAL:
            lines.append(
                "- Seconds to the threshold, ours / {}'s, where both reached it (goal: at most {}): {}.".format(
                    peer,
                    PEER_TIME_GOAL[peer],
                    ", ".join("{} seed {} {:.2f}".format(task, seed, x) for task, seed, x in times[peer])
                    or "no such pair yet",
                )
            )
    return lines + [""]


def goal_lines(train: List[Dict]) -> List[str]:
    """Our scripts against the goals of time to a result (TIME_RATIO_GOALS and below), from runs alone on a GPU and
    not cut short: start-up by cache, seconds to the target with warm caches (the goal is PPO's; SAC's for reference),
    training's share of the wall-clock; each the lowest-highest over the runs."""
    lines = []
    timed = [r for r in train if alone(r) and not r.get("cut_short")]

    def line(what: str, values: List[Optional[float]], spec: str, unit: str, goal: str) -> None:  # lowest-highest
        got = sorted(v for v in values if v is not None)
        measured = spec.format(got[0]) + ("-" + spec.format(got[-1]) if len(got) > 1 else "") + unit if got else ""
        missed = len(values) - len(got)
        measured += "{}{} not reached".format("; " if got else "", missed) if missed else ""
        runs = "{} run{}".format(len(values), "s" if len(values) > 1 else "")
        lines.append("| {} | {} ({}) | {} |".format(what, measured, runs, goal))

    for task in sorted({r["task"] for r in timed}):
        key = task.lower()
        for script in ("ppo_isaac", "sac_isaac"):  # (not other copies: --label)
            runs = [r for r in timed if r["task"] == task and r["system"] in (script, script + " warm")]
            for cache, goal in sorted(STARTUP_GOALS.items()):
                seconds = [
                    r["startup_seconds"] for r in runs if r.get("jax_cache") == cache and r.get("startup_seconds")
                ]
                if seconds:
                    what = "{} {} start-up, {} caches (process start to training)".format(task, script, cache)
                    line(what, seconds, "{:.1f}", " s", "<= {:.0f} s".format(goal))
            warm = [r for r in runs if r.get("jax_cache") == "warm" and r["evals"]]
            if warm and key in WARM_GOALS:
                what = "{} {} seconds to return {:.0f}, warm caches".format(task, script, TARGETS[key])
                goal = "<= {:.0f} s".format(WARM_GOALS[key]) if script == "ppo_isaac" else "(for reference)"
                line(what, [seconds_to(r["evals"], TARGETS[key]) for r in warm], "{:.0f}", " s", goal)
            shares = [x for x in (training_share(r) for r in runs if r.get("jax_cache") == "cold") if x is not None]
            if shares and key in TRAINING_SHARE_GOALS:
                what = "{} {} training / wall-clock, cold caches".format(task, script)
                line(what, shares, "{:.2f}", "", ">= {}".format(TRAINING_SHARE_GOALS[key]))
    return lines


def draw_plots(train: List[Dict], ceiling: List[Dict], plot_dir: str, gpus: List[Dict] = ()) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"ppo_isaac": "tab:blue", "sac_isaac": "tab:green", "brax_ppo": "tab:red", "rsl_rl_ppo": "tab:orange"}
    others = iter(["tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"])
    for system in sorted({r["system"] for r in train}):  # labelled ones ("ppo_isaac warm"): a colour each
        colors.setdefault(system, next(others, None))
    panels = []  # learning curves: one panel per task; per system its seeds' runs (as the table chooses them)
    chosen = [r for r in best_rows(train) if alone(r)]  # (against wall-clock: runs alone on a GPU)
    for task in sorted({r["task"] for r in chosen}):
        systems = sorted({r["system"] for r in chosen if r["task"] == task and r["evals"]})
        curves = [
            (system, colors.get(system), [r["evals"] for r in chosen if (r["task"], r["system"]) == (task, system)])
            for system in systems
        ]
        panels.append((task, task, curves))
    if panels:
        return_curves(plt, panels, os.path.join(plot_dir, "learning_curves.png"))
    if ceiling or gpus:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        names = {
            "jit": "jitted loop",
            "torch": "torch in the loop",
            "adapter": "isaac_env adapter",
            "policy": "adapter, trained policy",
        }
        mode_colors = {"jit": "tab:purple", "torch": "tab:orange", "adapter": "tab:green", "policy": "tab:cyan"}
        hosts = sorted({host_of(r) for r in ceiling})
        markers = dict(zip(hosts, "os^Dv<>p"))  # colour: the mode; marker: the machine
        for task, mode, host in sorted({(r["task"], r["mode"], host_of(r)) for r in ceiling}):
            pts = sorted(
                (r["env_num"], r["steps_per_second"])
                for r in ceiling
                if (r["task"], r["mode"], host_of(r)) == (task, mode, host)
            )
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                marker=markers.get(host, "o"),
                color=mode_colors[mode],
                alpha=0.8,
                label="{} {}{}".format(task, names[mode], " ({})".format(host) if len(hosts) > 1 else ""),
            )
        ceiling_tasks = {r["task"].lower() for r in ceiling}
        ours = [
            r
            for r in train
            if r["system"] == "ppo_isaac" and r.get("steady_sps") and r["task"].lower() in ceiling_tasks
        ]
        if ours:
            ax.scatter(
                [r["env_num"] for r in ours],
                [r["steady_sps"] for r in ours],
                marker="*",
                s=90,
                color="black",
                zorder=3,
                label="ppo_isaac.py training, {} (steady)".format("/".join(sorted({r["task"] for r in ours}))),
            )
        several = [r for r in gpus if r["system"] == "ppo_isaac" and r.get("steady_sps") and r["gpus"] > 1]
        for n in sorted({r["gpus"] for r in several}):  # all GPUs' envs and steps together
            pts = [r for r in several if r["gpus"] == n]
            ax.scatter(
                [r["env_num"] * n for r in pts],
                [r["steady_sps"] for r in pts],
                marker="${}$".format(n),
                s=90,
                color="black",
                zorder=3,
                label="ppo_isaac.py on {} GPUs (total envs, steady)".format(n),
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="parallel envs",
            ylabel="env steps per second",
            title="Simulator steps/s against env count",
        )
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        fig.savefig(os.path.join(plot_dir, "scaling.png"), dpi=110)
        plt.close(fig)
    panels = []  # by GPU count: one panel per task and script, one line per run
    for task, system in sorted({(r["task"], r["system"]) for r in gpus if r["evals"]}):
        runs = sorted(
            (r for r in gpus if (r["task"], r["system"]) == (task, system) and r["evals"]), key=lambda r: r["gpus"]
        )
        panels.append(
            (
                "{} {}".format(task, system),
                task,
                [
                    (
                        "{} GPU{} x {} envs {} ({})".format(
                            r["gpus"], "s" if r["gpus"] > 1 else "", r["env_num"], " ".join(r["flags"]), host_of(r)
                        ),
                        None,
                        [r["evals"]],
                    )
                    for r in runs
                ],
            )
        )
    if panels:
        return_curves(plt, panels, os.path.join(plot_dir, "gpus.png"))


def seed_band(runs: List[List[List[float]]], points: int = 200) -> Optional[Tuple[List[float], ...]]:
    """Several seeds' evaluations ([seconds, steps, return, ...] each) on one time grid, between evaluations
    linearly: (seconds, mean, lowest, highest) over the span that every seed covers; None if they share none."""
    import numpy as np

    curves = [sorted((e[0], e[2]) for e in evals) for evals in runs if evals]
    if len(curves) < len(runs) or not curves:
        return None
    start, end = max(c[0][0] for c in curves), min(c[-1][0] for c in curves)
    if start > end:
        return None
    grid = np.linspace(start, end, points if end > start else 1)
    values = np.array([np.interp(grid, [t for t, _ in c], [r for _, r in c]) for c in curves])
    return grid.tolist(), values.mean(0).tolist(), values.min(0).tolist(), values.max(0).tolist()


def return_curves(plt, panels: List, path: str, columns: int = 3) -> None:
    """Evaluation return against wall-clock seconds, one panel per (title, task, [(label, colour, runs)]), each with
    the task's target dotted. runs: each a list of evaluations; one run is drawn as a line, several as seed_band."""
    rows = -(-len(panels) // columns)
    width = min(len(panels), columns)
    fig, axes = plt.subplots(rows, width, figsize=(6 * width, 4.2 * rows), squeeze=False)
    for ax, (title, task, curves) in zip(axes.flat, panels):
        for label, color, runs in curves:
            band = seed_band(runs) if len(runs) > 1 else None
            if band is None:  # one seed, or seeds with no time in common: each run as it is
                for i, evals in enumerate(runs):
                    ax.plot(
                        [e[0] for e in evals],
                        [e[2] for e in evals],
                        marker=".",
                        color=color,
                        label=label if i == 0 else None,
                        alpha=0.8,
                    )
                continue
            seconds, mean, low, high = band
            ax.plot(seconds, mean, color=color, label="{} ({} seeds)".format(label, len(runs)))
            ax.fill_between(seconds, low, high, color=color, alpha=0.2, linewidth=0)
        if task.lower() in TARGETS:
            ax.axhline(TARGETS[task.lower()], color="gray", linestyle=":", linewidth=1)
        ax.set(title=title, xlabel="wall-clock seconds from process start", ylabel="evaluation return")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- main
def machine_info(device: str) -> Dict:
    import torch

    gpu = (
        torch.cuda.get_device_name(0)
        if device != "cpu" and torch.cuda.is_available()
        else "CPU " + (platform.processor() or platform.machine())
    )
    import isaac_env

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for package in ("jax", "brax", "mujoco"):  # (installed metadata: importing MuJoCo would fix its OpenGL here,
        version = isaac_env._package_version(package)  # before isaac_env chooses headless EGL for --video)
        if version:
            versions[package] = version
    return {"gpu": gpu, "versions": versions}


def run_jobs(jobs: List, slots: List[Tuple[int, int]], save) -> None:
    """Each job (a function of its slot: the GPU, and which of the runs at once it is) in order, one at a time; or,
    given several slots (--gpus, --share), each on the first slot that is free. Ctrl-C or `timeout -s INT` stops
    the runs in progress (they are recorded, cut short) and starts no more."""
    if len(slots) == 1:
        for job in jobs:
            save(job(slots[0]))
            if STOP["requested"]:
                break
    else:
        pending, lock, errors = list(jobs), threading.Lock(), []

        def work(slot: Tuple[int, int]) -> None:
            while True:
                with lock:
                    if STOP["requested"] or errors or not pending:
                        return
                    job = pending.pop(0)
                try:
                    rows = job(slot)
                    with lock:
                        save(rows)
                except Exception as e:  # as one at a time: the benchmark ends with it (the runs in progress first)
                    errors.append(e)

        threads = [threading.Thread(target=work, args=(slot,), daemon=True) for slot in slots]
        for thread in threads:
            thread.start()
        # Signals reach this thread only; the runs' threads see STOP. (Not in join(): a join that Ctrl-C interrupts
        # can leave a thread that still runs reported as ended.)
        while any(thread.is_alive() for thread in threads):
            try:
                time.sleep(0.2)
            except KeyboardInterrupt:
                STOP["requested"] = True
        if errors:
            raise errors[0]
    if STOP["requested"]:
        print("stopped: the runs in progress were recorded, the rest skipped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["ceiling", "scaling", "levers", "ppo", "sac", "brax"],
        choices=["ceiling", "scaling", "levers", "ppo", "sac", "brax", "rsl_rl", "gpus"],
    )
    parser.add_argument("--tasks", nargs="+", default=["Ant", "Humanoid"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--env-num", type=int, default=4096, help="envs for ceiling, ppo and sac")
    parser.add_argument("--scaling-env-nums", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192, 16384])
    parser.add_argument(
        "--ppo-flags",
        default="",
        help="extra ppo_isaac.py flags for the ppo part; pass as --ppo-flags='--a --b' (with =)",
    )
    parser.add_argument("--sac-flags", default="", help="extra sac_isaac.py flags for the sac part")
    parser.add_argument(
        "--rsl-rl-flags",
        default="",
        help="extra benchmarks/rsl_rl_ppo.py flags for the rsl_rl part, e.g. --rsl-rl-flags=--obs-normalization "
        "with --label ' obsnorm' (a variant of Isaac Lab's settings, in rows of its own)",
    )
    parser.add_argument("--script", default=None, help="another copy of the part's script (e.g. an older version)")
    parser.add_argument("--label", default="", help="appended to the system's name in rows and keys (e.g. ' old')")
    parser.add_argument(
        "--jax-cache",
        default="cold",
        choices=["cold", "warm"],
        help="training runs' compilation caches: emptied first, or as the last cold run left them",
    )
    parser.add_argument(
        "--cache-root",
        default=os.path.join(tempfile.gettempdir(), "ppo_isaac-bench-caches"),
        help="folder of the caches, one per system and task",
    )
    parser.add_argument(
        "--skip-done",
        action="store_true",
        help="skip training runs that the results file already has a finished row of (any host): one that neither "
        "failed nor was cut short by Ctrl-C or `timeout -s INT`",
    )
    parser.add_argument("--sac-seconds", type=float, default=300.0, help="wall-clock cap of each SAC run")
    parser.add_argument("--brax-seconds", type=float, default=1200.0, help="wall-clock cap of each Brax PPO run")
    parser.add_argument("--levers", nargs="+", default=list(LEVERS), choices=list(LEVERS))
    parser.add_argument("--gpu-counts", type=int, nargs="+", default=[1, 2], help="GPU counts of the gpus part")
    parser.add_argument(
        "--call",
        default=None,
        help="this invocation's label (default: its start, to the minute); "
        "runners side by side on one machine share one, so that their rows are compared",
    )
    parser.add_argument(
        "--gpu-systems",
        nargs="+",
        default=["ppo"],
        choices=["ppo", "sac"],
        help="scripts of the gpus part (its first --seeds seed)",
    )
    parser.add_argument("--levers-timesteps", type=int, default=8_000_000)
    parser.add_argument("--eval-gap", type=float, default=15.0, help="seconds between our scripts' evaluations")
    parser.add_argument(
        "--eval-envs",
        type=int,
        default=128,
        help="our scripts' evaluation envs, one episode each (128: as Brax evaluates)",
    )
    parser.add_argument("--max-seconds", type=float, default=1200.0, help="cap of any one process")
    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        default=15.0,
        help="timed seconds per ceiling measurement: MJX's speed swings over seconds (one Ant PPO run's "
        "per-iteration steps/s moved between about 570k and 770k); the results of 2026-11-25 were "
        "timed over 3 s",
    )
    parser.add_argument("--device", default="cuda", help="cuda, or cpu for the smoke test")
    parser.add_argument("--total-timesteps", type=int, default=None, help="override every training budget (smoke test)")
    parser.add_argument(
        "--brax-budgets",
        action="store_true",
        help="every system trains for Brax PPO's step budget for the task (its published settings; Ant's for "
        "hopper and walker2d), as the six-task table does, in place of each script's own per-task default",
    )
    parser.add_argument("--episode-length", type=int, default=None, help="override every episode limit (smoke test)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--runs-root", default=ROOT, help="our scripts write their runs to <this>/runs/<name>")
    parser.add_argument("--name", default=None, help="results file stem (default: <date>-<gpu>)")
    parser.add_argument(
        "--ceiling-modes", nargs="+", default=["jit", "torch", "adapter"], choices=["jit", "torch", "adapter", "policy"]
    )
    parser.add_argument(
        "--ceiling-policy",
        default=None,
        metavar="CHECKPOINT",
        help="a trained ppo_isaac.py checkpoint of the task: with --ceiling-modes policy, the ceiling "
        "part also steps the adapter with that policy's actions",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        default=[],
        metavar="JSON",
        help="also take the rows of these results files (pieces of one benchmark, same GPU model; "
        "rows keep their host, and the report names the file each came from)",
    )
    parser.add_argument(
        "--merge-keys",
        nargs="+",
        default=["*"],
        metavar="GLOB",
        help="with --merge: only the rows whose keys match one of these patterns, e.g. 'train/brax_ppo/Ant/*' "
        "(rows measured with the same settings in another table)",
    )
    parser.add_argument("--report-only", action="store_true", help="only render the results (after --merge)")
    parser.add_argument(
        "--gpus",
        type=int,
        nargs="+",
        default=[0],
        metavar="INDEX",
        help="training runs at once, one on each of these GPUs (indices among those visible), each alone on its GPU",
    )
    parser.add_argument(
        "--share",
        type=int,
        default=1,
        help="training runs at once on each of --gpus: rows say so, and count for their returns only (their seconds, "
        "steps/s and memory are not a run alone on a GPU)",
    )
    a = parser.parse_args()
    a.slots = [(gpu, i) for i, gpu in enumerate(a.gpus * a.share)]  # (its GPU, which of the runs at once it is)
    if len(a.slots) > 1 and (set(a.parts) - {"ppo", "sac", "brax", "rsl_rl"} or a.jax_cache == "warm"):
        parser.error(
            "--gpus and --share run training parts with cold caches only: ceiling, scaling, levers and gpus time "
            "the whole machine, and warm runs reuse one cold run's caches"
        )
    a.row_label = a.label + (" warm" if a.jax_cache == "warm" else "")
    stop_on_sigterm()
    sys.path.insert(0, ROOT)
    import isaac_env  # (here, not at import: it imports torch, slow for the tests that import this module)

    ran = [  # the files a row's code comes from, by git's ids too: they name it where the machine's .git is stale
        os.path.abspath(__file__),
        "ppo_isaac.py",
        "sac_isaac.py",
        "benchmarks/brax_ppo.py",
        "benchmarks/rsl_rl_ppo.py",
        a.script,
    ]
    PROVENANCE.update(isaac_env.provenance(tuple(os.path.join(ROOT, p) for p in ran if p)))
    # Python's bytecode cache: where it is none, every process compiles the sources of torch, JAX and Brax again
    PROVENANCE["bytecode"] = sys.pycache_prefix or ("not written" if sys.dont_write_bytecode else "beside the sources")
    if "policy" in a.ceiling_modes and not a.ceiling_policy:
        parser.error("--ceiling-modes policy needs --ceiling-policy CHECKPOINT")

    machine = machine_info(a.device)
    name = a.name or "{}-{}".format(
        datetime.date.today().isoformat(), "".join(c if c.isalnum() else "-" for c in machine["gpu"]).strip("-").lower()
    )
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, name + ".json")
    results = {"machine": machine, "rows": {}}
    if os.path.isfile(path):
        with open(path) as f:
            results = json.load(f)
    plot_dir = os.path.join(a.out, name)
    os.makedirs(plot_dir, exist_ok=True)

    def save(rows: List[Dict]) -> None:
        for row in rows:  # a rerun on the same machine replaces a row; one on another machine adds its own
            row.update(call=call, host=host, key="{}@{}".format(row["key"], host))
            results["rows"][row["key"]] = row
        with open(path + ".tmp", "w") as f:
            json.dump(results, f, indent=1)
        os.replace(path + ".tmp", path)
        report(results, os.path.join(a.out, name + ".md"), plot_dir)

    call, host = a.call or datetime.datetime.now().strftime("%Y-%m-%dT%H:%M"), socket.gethostname()
    for other in a.merge:
        with open(other) as f:
            piece = json.load(f)
        if piece["machine"]["gpu"] != results["machine"]["gpu"]:
            sys.exit(
                "run.py: {} was measured on {}, not {}".format(
                    other, piece["machine"]["gpu"], results["machine"]["gpu"]
                )
            )
        for k, r in piece["rows"].items():
            if any(fnmatch.fnmatchcase(k.split("@")[0], pattern) for pattern in a.merge_keys):
                r.setdefault("from_results", os.path.splitext(os.path.basename(other))[0])  # (named in the report)
                results["rows"][k] = r
    if a.report_only:
        save([])
        print("wrote {}".format(os.path.join(a.out, name + ".md")))
        return
    tmp = tempfile.mkdtemp(prefix="bench_")
    os.makedirs(a.runs_root, exist_ok=True)
    budget = ["--total-timesteps", str(a.total_timesteps)] if a.total_timesteps else []
    budget += ["--episode-length", str(a.episode_length)] if a.episode_length else []  # (not for Brax PPO)
    try:
        jobs = []  # functions of a slot (see run_jobs) returning rows, run in order until done or stopped
        for part in a.parts:
            if part == "ceiling":
                jobs += [
                    lambda slot, task=task: ceiling_rows(a, task, [a.env_num], a.ceiling_modes, tmp) for task in a.tasks
                ]
            elif part == "scaling":
                jobs.append(
                    lambda slot: ceiling_rows(
                        a,
                        a.tasks[0],
                        [n for n in a.scaling_env_nums if n != a.env_num],
                        [m for m in a.ceiling_modes if m in ("jit", "torch")],
                        tmp,
                    )
                )
            elif part == "gpus":
                for system in a.gpu_systems:
                    script = {"ppo": "ppo_isaac", "sac": "sac_isaac"}[system]
                    flags = (a.ppo_flags if system == "ppo" else a.sac_flags).split() + budget
                    cap = a.sac_seconds if system == "sac" else a.max_seconds
                    jobs += [
                        lambda slot, script=script, task=task, n=n, flags=flags, cap=cap: [
                            dict(
                                training_row(
                                    a,
                                    script,
                                    task,
                                    a.seeds[0],
                                    flags,
                                    tmp,
                                    "gpus/{}/{}/{}x{}{}".format(
                                        script, task, n, a.env_num, "".join(" " + f for f in flags)
                                    ),
                                    cap,
                                    gpus=n,
                                ),
                                part="gpus",
                            )
                        ]
                        for task in a.tasks
                        for n in a.gpu_counts
                    ]
            elif part == "levers":
                for label in a.levers:
                    if a.device == "cpu" and label != "eager":
                        continue  # the fast paths are GPU-only
                    extra = (
                        LEVERS[label]
                        + [
                            "--total-timesteps",
                            str(a.total_timesteps or a.levers_timesteps),
                            "--eval-env-num",
                            "0",
                            "--eval-gap",
                            "1e9",
                        ]
                        + budget[2:]
                    )
                    jobs.append(
                        lambda slot, label=label, extra=extra: [
                            dict(
                                training_row(
                                    a, "ppo_isaac", a.tasks[0], 0, extra, tmp, "levers/" + label, a.max_seconds
                                ),
                                part="levers",
                                flags=LEVERS[label],
                            )
                        ]
                    )
            else:
                system = {"ppo": "ppo_isaac", "sac": "sac_isaac", "brax": "brax_ppo", "rsl_rl": "rsl_rl_ppo"}[part]
                if system == "brax_ppo":  # its own settings, unless the smoke test shrinks them
                    flags = (
                        ["--num-timesteps", str(a.total_timesteps), "--num-envs", str(a.env_num), "--num-evals", "2"]
                        if a.total_timesteps
                        else []
                    )
                    flags += ["--episode-length", str(a.episode_length)] if a.episode_length else []
                elif system == "rsl_rl_ppo":  # Isaac Lab's settings; budget and episode limit as our scripts get them
                    flags = a.rsl_rl_flags.split() + budget
                else:
                    flags = (a.ppo_flags if part == "ppo" else a.sac_flags).split() + budget
                cap = {"sac": a.sac_seconds, "brax": a.brax_seconds}.get(part, a.max_seconds)
                for task, seed in [(task, seed) for task in a.tasks for seed in a.seeds]:
                    key = "train/{}{}/{}/{}".format(system, a.row_label, task, seed)
                    task_flags = flags
                    if a.brax_budgets and system != "brax_ppo" and not a.total_timesteps:
                        task_flags = flags + ["--total-timesteps", str(brax_budget(task))]
                    if a.skip_done and already_done(results["rows"], key):
                        print("skipped, already in the results: " + key, flush=True)
                        continue
                    prime = priming_seconds(results["rows"], system + a.label, task)
                    jobs.append(
                        lambda slot, system=system, task=task, seed=seed, flags=task_flags, cap=cap, key=key, p=prime: [
                            training_row(a, system, task, seed, flags, tmp, key, cap, slot=slot, prime_seconds=p)
                        ]
                    )
        run_jobs(jobs, a.slots, save)
    finally:
        logs = os.path.join(a.out, "logs")
        os.makedirs(logs, exist_ok=True)
        for f in os.listdir(tmp):
            if f.endswith((".log", ".json")):  # the processes' logs, and Brax PPO's evaluation rows
                shutil.copy(os.path.join(tmp, f), logs)
        shutil.rmtree(tmp, ignore_errors=True)
    print("wrote {} and {}".format(path, os.path.join(a.out, name + ".md")))


if __name__ == "__main__":
    main()
