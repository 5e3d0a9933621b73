"""Where the GPU time of a few sac_isaac.py iterations goes: torch's profiler around iterations FIRST .. FIRST+COUNT-1
of a normal run (any sac_isaac.py options), its table of kernels by GPU time written to OUT (and a Chrome trace
beside it, OUT with .json, for chrome://tracing or Perfetto). Under --cudagraphs the kernels inside the graphs are
listed too; on the Brax tasks JAX's simulator kernels as well (the profiler sees the whole process).

    python benchmarks/sac_profile.py OUT.txt --env-name Humanoid --cudagraphs --eval-gap 1e9 --total-timesteps 1441792
    FIRST=8 COUNT=2 (the defaults); the run must last past FIRST + COUNT iterations.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

import sac_isaac  # noqa: E402

FIRST, COUNT = int(os.environ.get("FIRST", 8)), int(os.environ.get("COUNT", 2))


def main(out: str, argv) -> None:
    prof, seen = profile(activities=[ProfilerActivity.CPU] + [ProfilerActivity.CUDA] * torch.cuda.is_available()), [0]
    end_iteration = sac_isaac.Run.end_iteration

    def profiled(self, *args, **kwargs):  # the iteration's work is queued by now: sync, so that it is counted whole
        seen[0] += 1
        if seen[0] in (FIRST, FIRST + COUNT) and torch.cuda.is_available():
            torch.cuda.synchronize()
        if seen[0] == FIRST:
            prof.start()
        elif seen[0] == FIRST + COUNT:
            prof.stop()
            sort = "cuda_time_total" if torch.cuda.is_available() else "cpu_time_total"
            with open(out, "w") as f:
                f.write(prof.key_averages().table(sort_by=sort, row_limit=60, max_name_column_width=70))
            prof.export_chrome_trace(os.path.splitext(out)[0] + ".json")
            print("profile of iterations {} to {}: {}".format(FIRST, FIRST + COUNT - 1, out))
        return end_iteration(self, *args, **kwargs)

    sac_isaac.Run.end_iteration = profiled
    sac_isaac.main(*sac_isaac.parse_args(argv))
    if seen[0] < FIRST + COUNT:
        sys.exit("sac_profile.py: the run ended after {} iterations, before the profile's end".format(seen[0]))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
