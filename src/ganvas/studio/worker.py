"""The process a studio training job runs in: `python -m ganvas.studio.worker JOB.json`.

It trains in its own process (so the studio's server stays responsive and a restarted server finds the run as it
is), in the foreground of its main thread (so SIGTERM stops it at a step boundary and saves, as `ganvas train`
does), through the public API. The job file names the run folder, new or resumed, and the training options.
Log lines go to stderr, which the studio keeps as the job's log.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ganvas


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    options = dict(job.get("options") or {})
    try:
        if job["kind"] == "resume":
            run = ganvas.train(resume=job["run_dir"], device=job.get("device", "auto"), progress="lines", **options)
        else:
            run = ganvas.train(run=job["run_dir"], device=job.get("device", "auto"), progress="lines", **options)
    except ganvas.GanvasError as err:
        print(f"ganvas studio: error: {err.worded('keyword')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"ganvas studio: trained {run.path} to step {run.step} ({run.status})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
