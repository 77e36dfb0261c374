"""The studio's training queue: one training at a time by default, each in a process of its own.

A job is a run to start or resume. Jobs wait in order; when fewer than `max_running` runs under --runs are being
trained (the studio's own workers and any `ganvas train` a user started there in a shell: every process holding a
run's lock counts, since they share the CPU), the next one starts as `python -m ganvas.studio.worker JOB.json`,
in a session of its own so that stopping the studio (Ctrl-C included) does not stop its training.

The queue lives in RUNS/.studio/queue.json, written atomically on every change. A studio started again on the
same --runs reads it back: queued jobs stay queued, in order, and start as before; a job that was training is
watched through its run's lock (the process is not the new server's child) until the lock is released, then
marked done; a job whose process is gone is marked ended at once. Nothing is ever started twice, because a
job is marked running before its process starts and the trainer refuses a second process on a locked run.
Each job's log (the worker's stderr) is RUNS/.studio/jobs/<id>.log; its last error line is shown on its run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ganvas.files import atomic_write_text
from ganvas.runfolder import is_being_trained, request_stop, stop_requested
from ganvas.studio.safepath import is_inside

QUEUED, STARTING, TRAINING = "queued", "starting", "training"
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"
ACTIVE = (STARTING, TRAINING)
ENDED = (DONE, FAILED, CANCELLED)
KEEP_ENDED = 30  # ended jobs kept for the page (their errors), newest first


@dataclass
class Job:
    id: str
    run: str  # the run's folder name under --runs
    kind: str  # "new" or "resume"
    options: dict[str, Any]
    device: str = "auto"
    state: str = QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    pid: int | None = None
    returncode: int | None = None
    error: str | None = None
    stop_requested: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class QueueRefused(Exception):
    """The job cannot be queued or changed as asked; the message is for the page."""


def _worker_alive(pid: int | None) -> bool:
    """Whether `pid` is still one of the studio's workers (a reused pid belongs to something else)."""
    if not pid:
        return False
    try:
        return b"ganvas.studio.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): fall back to whether any process has the pid
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


class JobQueue:
    def __init__(self, runs_root: Path, state_dir: Path, max_running: int = 1, python: str = sys.executable,
                 poll_s: float = 0.5):
        self.runs_root = runs_root
        self.state_dir = state_dir
        self.jobs_dir = state_dir / "jobs"
        self.file = state_dir / "queue.json"
        self.max_running = max_running
        self.python = python
        self.poll_s = poll_s
        self.jobs: list[Job] = []
        self.version = 0  # bumped on every change, for the live streams
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._load()

    # --- persistence --------------------------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            data = json.loads(self.file.read_text())
            names = set(Job.__dataclass_fields__)
            self.jobs = [Job(**{k: v for k, v in item.items() if k in names}) for item in data.get("jobs", [])]
        except (OSError, ValueError, TypeError, AttributeError):
            self.jobs = []

    def _save(self) -> None:
        self.version += 1
        ended = sorted((job for job in self.jobs if job.state in ENDED), key=lambda job: -(job.ended or 0))
        keep = {job.id for job in ended[:KEEP_ENDED]}
        self.jobs = [job for job in self.jobs if job.state not in ENDED or job.id in keep]
        atomic_write_text(self.file, json.dumps({"jobs": [job.to_dict() for job in self.jobs]}, indent=1) + "\n")

    # --- what the pages ask ---------------------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            queued = [job for job in self.jobs if job.state == QUEUED]
            return [{**job.to_dict(), "position": queued.index(job) + 1 if job in queued else None}
                    for job in self.jobs]

    def job_for(self, run: str) -> Job | None:
        """The run's job that is queued or active, else its latest ended one."""
        with self._lock:
            mine = [job for job in self.jobs if job.run == run]
            live = [job for job in mine if job.state not in ENDED]
            if live:
                return live[0]
            return max(mine, key=lambda job: job.ended or 0) if mine else None

    def busy(self, run: str) -> bool:
        job = self.job_for(run)
        return job is not None and job.state not in ENDED

    # --- changes ------------------------------------------------------------------------------------------------
    def submit(self, run: str, kind: str, options: dict[str, Any], device: str = "auto") -> Job:
        with self._lock:
            if self.busy(run):
                raise QueueRefused(f"run {run} is already queued or training")
            job = Job(uuid.uuid4().hex[:12], run, kind, options, device)
            self.jobs.append(job)
            self._save()
        self._wake.set()
        return job

    def cancel(self, job_id: str) -> Job:
        """A queued job is taken off the queue; a started one is asked to stop at its next step and save."""
        with self._lock:
            job = self._find(job_id)
            if job.state == QUEUED:
                job.state, job.ended = CANCELLED, time.time()
            elif job.state in ACTIVE:
                self._request_stop(job)
            self._save()
        self._wake.set()
        return job

    def dismiss(self, job_id: str) -> None:
        with self._lock:
            job = self._find(job_id)
            if job.state not in ENDED:
                raise QueueRefused("only an ended job can be dismissed; cancel or stop it first")
            self.jobs.remove(job)
            self._save()

    def stop_run(self, run: str) -> bool:
        """Stop the run's job (queued: cancelled; started: stopped at the next step). False if it has none."""
        job = self.job_for(run)
        if job is None or job.state in ENDED:
            return False
        self.cancel(job.id)
        return True

    def _find(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise QueueRefused(f"no job {job_id!r}")

    def _request_stop(self, job: Job) -> None:
        job.stop_requested = True
        run_dir = self.runs_root / job.run
        if is_being_trained(run_dir):
            request_stop(run_dir)
        # else the worker has not taken the run's lock yet, and the trainer clears stop requests left from before
        # its start: tick() makes the request again once it holds the lock

    # --- the scheduler --------------------------------------------------------------------------------------------
    def tick(self) -> None:
        with self._lock:
            changed = False
            for job in [job for job in self.jobs if job.state in ACTIVE]:
                changed |= self._watch(job)
            queued = [job for job in self.jobs if job.state == QUEUED]
            if queued:
                running = self._running_count()
                for job in queued[:max(0, self.max_running - running)]:
                    self._start(job)
                    changed = True
            if changed:
                self._save()

    def _running_count(self) -> int:
        """Active jobs, plus runs under --runs that another process trains."""
        active = {job.run for job in self.jobs if job.state in ACTIVE}
        others = 0
        if self.runs_root.is_dir():
            for child in self.runs_root.iterdir():
                if child.name not in active and not child.name.startswith(".") and child.is_dir() \
                        and is_inside(child, self.runs_root) and is_being_trained(child):
                    others += 1
        return len(active) + others

    def _watch(self, job: Job) -> bool:
        run_dir = self.runs_root / job.run
        training = is_being_trained(run_dir)
        changed = False
        if job.state == STARTING and training:
            job.state, changed = TRAINING, True
        if job.stop_requested and training and not stop_requested(run_dir):
            request_stop(run_dir)
        process = self._procs.get(job.id)
        if process is not None:
            code = process.poll()
            if code is not None:
                del self._procs[job.id]
                self._finish(job, code)
                changed = True
        elif not training and not _worker_alive(job.pid):  # a job adopted from an earlier studio has ended
            self._finish(job, None)
            changed = True
        return changed

    def _start(self, job: Job) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        spec = self.jobs_dir / f"{job.id}.json"
        atomic_write_text(spec, json.dumps({"kind": job.kind, "run_dir": str(self.runs_root / job.run),
                                            "options": job.options, "device": job.device}))
        job.state, job.started = STARTING, time.time()
        with open(self.jobs_dir / f"{job.id}.log", "ab") as log:
            try:
                process = subprocess.Popen([self.python, "-m", "ganvas.studio.worker", str(spec)],
                                           stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           cwd=self.runs_root, start_new_session=True)
            except OSError as err:
                self._finish(job, None, f"could not start the training process: {err}")
                return
        job.pid = process.pid
        self._procs[job.id] = process

    def _finish(self, job: Job, code: int | None, error: str | None = None) -> None:
        job.returncode, job.ended = code, time.time()
        if error is None and code not in (0, None):
            error = self._error_from_log(job, code)
        job.error = error
        job.state = FAILED if error else DONE

    def log_path(self, job: Job) -> Path:
        return self.jobs_dir / f"{job.id}.log"

    def _error_from_log(self, job: Job, code: int) -> str:
        try:
            lines = [line.strip() for line in self.log_path(job).read_text(errors="replace").splitlines()
                     if line.strip()]
        except OSError:
            lines = []
        for line in reversed(lines):
            if line.startswith("ganvas studio: error: "):
                return line.removeprefix("ganvas studio: error: ")
        if code < 0:
            return f"the training process was ended by signal {-code}"
        last = lines[-1] if lines else "no output"
        return f"the training process failed (exit code {code}): {last[:500]}"

    # --- running ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ganvas-studio-queue", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._closing.is_set():
            try:
                self.tick()
            except Exception as err:  # noqa: BLE001 - the scheduler must outlive a bad tick; the next one retries
                print(f"ganvas studio: queue: {type(err).__name__}: {err}", file=sys.stderr)
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def close(self) -> None:
        """Stop scheduling. Training processes go on (see the module's docstring)."""
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def terminate_all(self, timeout: float = 30) -> None:
        """Stop this studio's own training processes and wait for them (tests; a studio leaves them running):
        SIGTERM, which a trainer answers by saving at the next step, then SIGKILL after `timeout`."""
        with self._lock:
            processes = list(self._procs.values())
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.tick()
