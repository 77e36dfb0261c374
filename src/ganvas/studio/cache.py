"""Loaded generators and translators, kept for the next request, within a bound on memory.

Loading a checkpoint takes tens of milliseconds to seconds; the Explore page asks for a new grid on every slider
move. The cache keeps the most recently used models (ganvas.load's generators, ganvas.load_translator's
translators) whose weights together stay under `max_bytes` (and at most `max_items` of them), evicting the least
recently used first. A checkpoint is known by its folder and the
modification time of its meta.json, so a `best` checkpoint that training replaces is loaded afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import ganvas


LOADERS = {"generator": "load", "translator": "load_translator"}  # the API's loader of each kind


def weight_bytes(model: "ganvas.Generator | ganvas.Translator") -> int:
    networks = model.networks.values() if isinstance(model, ganvas.Translator) else [model.network]
    tensors = [tensor for network in networks for tensor in (*network.parameters(), *network.buffers())]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


class GeneratorCache:
    def __init__(self, max_bytes: int = 512 * 2**20, max_items: int = 8):
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._items: OrderedDict[tuple, tuple[ganvas.Generator | ganvas.Translator, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}
        self.loads = 0  # how many times a checkpoint was read from disk (for tests and benchmarks)

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._items.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, run_dir: Path, checkpoint: str, kind: str = "generator") -> "ganvas.Generator | ganvas.Translator":
        """The generator (or, kind "translator", the translator) of checkpoint `checkpoint` (step-N or best) of the
        run in `run_dir`."""
        folder = run_dir / "checkpoints" / checkpoint
        try:
            version = (folder / "meta.json").stat().st_mtime_ns
        except OSError:
            version = None
        key = (str(folder), version, kind)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per checkpoint, however many requests want it at once
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key][0]
            model = getattr(ganvas, LOADERS[kind])(f"{run_dir}:{checkpoint}")
            size = weight_bytes(model)
            with self._lock:
                self.loads += 1
                self._loading.pop(key, None)
                for old in [k for k in self._items if k[0] == key[0] and k[2] == kind]:  # an older version of it
                    del self._items[old]
                self._items[key] = (model, size)
                self._evict()
            return model

    def _evict(self) -> None:
        """Drop least recently used models until the bounds hold (the newest always stays)."""
        while len(self._items) > 1 and (len(self._items) > self.max_items or
                                        sum(size for _, size in self._items.values()) > self.max_bytes):
            self._items.popitem(last=False)

    def forget(self, run_dir: Path) -> None:
        """Drop every model of a run (it is being deleted)."""
        prefix = str(run_dir / "checkpoints") + "/"
        with self._lock:
            for key in [k for k in self._items if k[0].startswith(prefix)]:
                del self._items[key]
