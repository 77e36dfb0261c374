"""Fuzzing checkpoint folders: hundreds of damaged and hostile variants of real checkpoints, each of which must either
load and sample finite images (and, for the run that made it, resume and train a step) or be refused with ganvas's
own error and a message: never another exception, a hang, or code run.

The mutations: bits flipped (in the safetensors headers as well as anywhere), files truncated or extended, fields of
meta.json removed, retyped or scaled (gigantic widths and image shapes, negative sizes, paths for names), tensors in
the safetensors files reshaped, retyped, renamed, dropped or filled with NaN and huge values, safetensors headers
rewritten, training states replaced by pickles that try to run code or by structures of the wrong shape, and files
swapped or moved between checkpoints of different kinds. Every choice comes from a seeded random.Random, so a
failure names a mutant that can be made again (MUTANT=<number>, see `mutant`).
"""

import json
import math
import os
import random
import shutil
import signal
import struct
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import ganvas
from ganvas import checkpoint as ckpt
from ganvas.config import load_config, preset_config
from ganvas.errors import GanvasError
from ganvas.gan import GAN
from ganvas.models import build_discriminator, build_generator
from ganvas.trainer import train

from conftest import digit_like_images, write_mnist_split

SEED = 20261201
MUTANTS = 400
SECONDS_PER_MUTANT = 10  # far more than any takes; beyond it the mutant counts as a hang
MARKER = "ganvas-fuzz-code-ran"

WEIRD = [None, True, False, 0, -1, -7, 1.5, -0.0, 2 ** 31, 2 ** 62, 10 ** 30, 1e308, float("nan"), float("inf"), "",
         "x", "generator", "mlp", "../../../../etc/passwd", "/dev/zero", "__import__('os').system('true')", [], {},
         [1], [1, 2, 3], [0, 0, 0], [-1, 28, 28], [3, 1024, 1024], [1, 100000, 100000], [10 ** 9] * 3, ["1", "28", "28"],
         {"model": "mlp"}, {"__class__": "os.system"}, [[[[]]]], "🎨" * 50]
DTYPES = [torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.int8, torch.uint8, torch.bool]
HEADER_DTYPES = ["F16", "BF16", "F64", "I64", "I8", "U8", "BOOL", "F8_E4M3", "C64", "XYZ", "", 5, None]


class Payload:
    """A pickle that, if anything ever unpickled it with code allowed, would leave a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# --- the corpus: real checkpoints of three kinds ------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory, format1):
    """Three checkpoints: a format-2 class-conditional DCGAN with an EMA generator, trained here; a format-1 one
    (tests/format1.py: a conditional RGB DCGAN with EMA); and a small unconditional MLP. The first two come with the
    GAN their run builds, to resume them."""
    root = tmp_path_factory.mktemp("corpus")
    pixels, labels = digit_like_images(64)
    data = write_mnist_split(root / "mnist", pixels, labels, "test")
    config = preset_config("seed", model="dcgan-cond", width=4, z_dim=8, ema_decay=0.9, loss="hinge",
                           spectral_norm=True, data_dir=str(data), split="test", batch_size=16, steps=2, log_every=2,
                           sample_every=2, checkpoint_every=2, eval_every=0)
    conditional = train(config, root / "run").checkpoint

    format1_config = load_config(format1.run)

    generator = build_generator("mlp", image_shape=(1, 8, 8), z_dim=8, hidden=(16,))
    discriminator = build_discriminator("mlp", image_shape=(1, 8, 8), hidden=(16,))
    recipes = {"generator": {"model": "mlp", "part": "generator",
                             "args": {"image_shape": [1, 8, 8], "z_dim": 8, "hidden": [16]}},
               "discriminator": {"model": "mlp", "part": "discriminator",
                                 "args": {"image_shape": [1, 8, 8], "hidden": [16]}}}
    optimizers = {role: torch.optim.Adam(net.parameters()).state_dict()
                  for role, net in (("generator", generator), ("discriminator", discriminator))}
    small = ckpt.save_checkpoint(root / "small", 0, ckpt.NOISE_TO_IMAGE,
                                 {"generator": generator, "discriminator": discriminator}, recipes,
                                 {"preset": "seed", "model": "mlp"},
                                 ckpt.TrainingState(optimizers, [{"noise": torch.Generator().get_state()}]))
    return [
        {"name": "dcgan-cond", "path": conditional,
         "gan": lambda: GAN(config, (1, 28, 28), torch.device("cpu"), num_classes=10), "shape": (1, 28, 28),
         "classes": 10},
        {"name": "format-1", "path": format1.checkpoint,
         "gan": lambda: GAN(format1_config, (3, 16, 16), torch.device("cpu"), num_classes=2), "shape": (3, 16, 16),
         "classes": 2},
        {"name": "small-mlp", "path": small, "gan": None},
    ]


# --- mutations: each changes the checkpoint folder and says what it did -------------------------------------------

def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())


def safetensors_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


def flip_bits(rng, folder, corpus):
    path = rng.choice(files_of(folder))
    data = bytearray(path.read_bytes())
    if not data:
        return f"flip nothing in empty {path.name}"
    header = 8 + struct.unpack("<Q", data[:8])[0] if path.suffix == ".safetensors" and len(data) >= 8 else len(data)
    positions = []
    for _ in range(rng.randint(1, 8)):
        limit = min(header, len(data)) if rng.random() < 0.5 else len(data)
        position = rng.randrange(limit)
        data[position] ^= 1 << rng.randrange(8)
        positions.append(position)
    path.write_bytes(bytes(data))
    return f"flip bits of {path.name} at {positions}"


def truncate(rng, folder, corpus):
    path = rng.choice(files_of(folder))
    size = path.stat().st_size
    keep = rng.choice([0, 1, 7, 8, 9, rng.randrange(size + 1), max(size - 1, 0)])
    path.write_bytes(path.read_bytes()[:keep])
    return f"truncate {path.name} to {keep} of {size} bytes"


def extend(rng, folder, corpus):
    path = rng.choice(files_of(folder))
    path.write_bytes(path.read_bytes() + rng.randbytes(rng.choice([1, 16, 4096])))
    return f"append garbage to {path.name}"


def json_paths(node, prefix=()):
    """Every place in a JSON document: (path of keys and indices)."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        found.append(prefix + (key,))
        found += json_paths(value, prefix + (key,))
    return found


def edit_meta(folder, edit):
    path = folder / ckpt.META_FILE
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    description = edit(meta)
    path.write_text(json.dumps(meta))
    return description


def parent_of(meta, place):
    node = meta
    for key in place[:-1]:
        node = node[key]
    return node


def meta_places(rng, meta, ints=False):
    places = json_paths(meta)
    # Half the time, a place where damage matters most: the networks' recipes.
    recipe = [p for p in places if p[:1] == ("networks",) or p[:1] == ("model",)]
    pool = recipe if recipe and rng.random() < 0.6 else places
    if ints:
        pool = [p for p in pool if type(parent_of(meta, p)[p[-1]]) is int]
    return pool


def remove_field(rng, folder, corpus):
    def edit(meta):
        places = meta_places(rng, meta)
        if not places:
            return "remove nothing"
        place = rng.choice(places)
        parent = parent_of(meta, place)
        del parent[place[-1]]
        return f"remove meta.json {'/'.join(map(str, place))}"
    return edit_meta(folder, edit) or "remove from an unreadable meta.json"


def retype_field(rng, folder, corpus):
    def edit(meta):
        places = meta_places(rng, meta)
        if not places:
            return "retype nothing"
        place = rng.choice(places)
        value = rng.choice(WEIRD)
        parent_of(meta, place)[place[-1]] = value
        return f"set meta.json {'/'.join(map(str, place))} to {value!r:.60}"
    return edit_meta(folder, edit) or "retype in an unreadable meta.json"


def scale_field(rng, folder, corpus):
    def edit(meta):
        places = meta_places(rng, meta, ints=True)
        if not places:
            return "scale nothing"
        place = rng.choice(places)
        parent = parent_of(meta, place)
        factor = rng.choice([-1, 0, 2, 3, 64, 1000, 2 ** 20, 2 ** 40])
        parent[place[-1]] = parent[place[-1]] * factor + rng.choice([0, 0, 1, -1])
        return f"scale meta.json {'/'.join(map(str, place))} to {parent[place[-1]]}"
    return edit_meta(folder, edit) or "scale in an unreadable meta.json"


def add_field(rng, folder, corpus):
    def edit(meta):
        places = [p for p in meta_places(rng, meta) if isinstance(parent_of(meta, p)[p[-1]], dict)] or [()]
        place = rng.choice(places)
        node = parent_of(meta, place)[place[-1]] if place else meta
        key = rng.choice(["evil", "self", "kwargs", "__init__", "num_classes", "width", "hidden", "init",
                          "spectral_norm", "z_dim", "image_shape", "part", "model"])
        node[key] = rng.choice(WEIRD)
        return f"add {key}={node[key]!r:.40} at meta.json {'/'.join(map(str, place)) or '(top)'}"
    return edit_meta(folder, edit) or "add to an unreadable meta.json"


def edit_tensors(rng, folder, change):
    files = safetensors_of(folder)
    if not files:
        return "no safetensors file to edit"
    path = rng.choice(files)
    try:
        tensors = load_file(path)
    except Exception:  # noqa: BLE001 - already damaged by an earlier mutation
        return f"{path.name} is already unreadable"
    if not tensors:
        return f"{path.name} is empty"
    key = rng.choice(sorted(tensors))
    description = change(tensors, key)
    save_file(tensors, path)
    return f"{path.name} {key}: {description}"


def reshape_tensor(rng, folder, corpus):
    def change(tensors, key):
        tensor = tensors[key]
        choice = rng.randrange(5)
        if choice == 0:
            tensors[key] = tensor.flatten().contiguous()
        elif choice == 1 and tensor.dim() >= 2:
            tensors[key] = tensor.transpose(0, 1).contiguous()
        elif choice == 2:
            tensors[key] = tensor.unsqueeze(0).contiguous()
        elif choice == 3 and tensor.numel() > 1:
            tensors[key] = tensor.flatten()[:-1].contiguous()
        else:
            tensors[key] = torch.cat([tensor.flatten(), tensor.flatten()]).contiguous()
        return f"reshaped {tuple(tensor.shape)} -> {tuple(tensors[key].shape)}"
    return edit_tensors(rng, folder, change)


def retype_tensor(rng, folder, corpus):
    def change(tensors, key):
        dtype = rng.choice(DTYPES)
        tensors[key] = tensors[key].to(dtype)
        return f"retyped to {dtype}"
    return edit_tensors(rng, folder, change)


def poison_tensor(rng, folder, corpus):
    def change(tensors, key):
        tensor = tensors[key]
        if not tensor.is_floating_point():
            tensors[key] = tensor + rng.choice([-5, 2 ** 20])  # a count (batch norm's batches) or an index
            return "shifted"
        value = rng.choice([math.nan, math.inf, -math.inf, 3e38, -3e38, 1e30, -1.0, 0.0])
        flat = tensor.flatten().clone()
        if rng.random() < 0.5:
            flat[rng.randrange(flat.numel())] = value
        else:
            flat[:] = value
        tensors[key] = flat.reshape(tensor.shape)
        return f"filled with {value}"
    return edit_tensors(rng, folder, change)


def rename_tensor(rng, folder, corpus):
    def change(tensors, key):
        action = rng.randrange(3)
        if action == 0:
            del tensors[key]
            return "dropped"
        if action == 1:
            tensors["../" + key] = tensors.pop(key)
            return "renamed"
        tensors[key + ".extra"] = tensors[key].clone()
        return "duplicated under another name"
    return edit_tensors(rng, folder, change)


def rewrite_header(rng, folder, corpus):
    """Edit a safetensors file's JSON header directly (what save_file would never write), keeping its length
    prefix right so that the parser reads it."""
    files = safetensors_of(folder)
    if not files:
        return "no safetensors header to rewrite"
    path = rng.choice(files)
    data = path.read_bytes()
    try:
        length = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + length])
    except Exception:  # noqa: BLE001 - already damaged
        return f"{path.name} header is already unreadable"
    keys = [k for k in header if k != "__metadata__"]
    if not keys:
        return f"{path.name} header has no tensors"
    key = rng.choice(keys)
    entry = header[key]
    field = rng.choice(["dtype", "shape", "data_offsets", "entry", "metadata"])
    if field == "dtype":
        entry["dtype"] = rng.choice(HEADER_DTYPES)
    elif field == "shape":
        entry["shape"] = rng.choice([[], [0], [-1], [10 ** 12], [2 ** 31, 2 ** 31], entry["shape"][::-1],
                                     entry["shape"] + [1], "x", None])
    elif field == "data_offsets":
        start, end = entry["data_offsets"]
        entry["data_offsets"] = rng.choice([[end, start], [start, end + 4], [0, 0], [start, 2 ** 62], [-1, end],
                                            [start], "x"])
    elif field == "entry":
        header[key] = rng.choice(WEIRD)
    else:
        header["__metadata__"] = rng.choice([{"a": 1}, [1], "x", {"format": None}])
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length:])
    return f"{path.name} header: {field} of {key}"


def replace_training_state(rng, folder, corpus):
    path = folder / ckpt.TRAINING_STATE_FILE
    marker = folder.parent / MARKER
    choice = rng.randrange(6)
    if choice == 0:
        torch.save({"optimizers": Payload(marker), "rng": [Payload(marker)], "optimizer_g": Payload(marker)}, path)
        return "training state is a pickle that runs code"
    if choice == 1:
        torch.save(rng.choice(WEIRD), path)
        return "training state is a plain value"
    try:
        state = torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 - already damaged
        return "training state is already unreadable"
    places = [p for p in json_paths(state)]
    if not places:
        return "training state has nothing inside"
    place = rng.choice(places)
    parent = parent_of(state, place)
    value = parent[place[-1]]
    if choice == 2 and isinstance(value, torch.Tensor):
        parent[place[-1]] = value.flatten()[:-1] if value.numel() > 1 else value.reshape(1, 1)
        what = "reshaped"
    elif choice == 3 and isinstance(value, torch.Tensor):
        parent[place[-1]] = value.to(rng.choice(DTYPES))
        what = "retyped"
    elif choice == 4 and isinstance(value, torch.Tensor) and value.is_floating_point():
        parent[place[-1]] = torch.full_like(value, rng.choice([math.nan, math.inf, 1e30]))
        what = "poisoned"
    else:
        parent[place[-1]] = rng.choice(WEIRD + [torch.zeros(3), torch.zeros(0, dtype=torch.uint8)])
        what = "replaced"
    torch.save(state, path)
    return f"training state {'/'.join(map(str, place))} {what}"


def swap_file(rng, folder, corpus):
    """A file from another checkpoint of the corpus, or another network's file of this one."""
    path = rng.choice(files_of(folder))
    others = [p for p in safetensors_of(folder) if p != path]
    if path.suffix == ".safetensors" and others and rng.random() < 0.4:
        source = rng.choice(others)
    else:
        donors = [p for entry in corpus for p in files_of(entry["path"])
                  if p.name == path.name or p.suffix == path.suffix]
        source = rng.choice(donors)
    shutil.copyfile(source, path)
    return f"{path.name} replaced by {source.parent.name}/{source.name}"


def delete_file(rng, folder, corpus):
    path = rng.choice(files_of(folder))
    path.unlink()
    return f"delete {path.name}"


MUTATIONS = [flip_bits, truncate, extend, remove_field, retype_field, scale_field, add_field, reshape_tensor,
             retype_tensor, poison_tensor, rename_tensor, rewrite_header, replace_training_state, swap_file,
             delete_file]
WEIGHTS = [3, 2, 1, 3, 4, 3, 2, 3, 2, 3, 2, 3, 3, 3, 1]


def mutant(number: int, corpus, root: Path):
    """Mutant `number`: a copy of one corpus checkpoint with 1 to 3 mutations, and what they were. Each corpus
    checkpoint has one folder under `root` for its mutants, refilled for each (making folders is slow on some
    file systems)."""
    rng = random.Random(SEED * 1000 + number)
    entry = rng.choice(corpus)
    folder = root / entry["name"] / entry["path"].name
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        path.unlink()
    for path in files_of(entry["path"]):
        shutil.copyfile(path, folder / path.name)
    done = []
    for mutation in rng.choices(MUTATIONS, WEIGHTS, k=rng.choice([1, 1, 1, 2, 3])):
        if files_of(folder):
            done.append(f"{mutation.__name__}: {mutation(rng, folder, corpus)}")
    return entry, folder, f"mutant {number} of {entry['name']}: " + "; ".join(done)


# --- what each mutant must do ----------------------------------------------------------------------------------

@contextmanager
def time_limit(seconds: int, what: str):
    """Fail (rather than hang the suite) if the block takes longer than `seconds`."""
    def expired(signum, frame):
        raise TimeoutError(f"{what} took over {seconds} s")

    if not hasattr(signal, "setitimer"):
        yield
        return
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def sample_it(folder: Path) -> str:
    images = ganvas.load(folder).sample(4, seed=0).tensor
    assert torch.isfinite(images).all() and images.abs().max() <= 1, "loaded, but the images are not finite"
    return "sampled"


def resume_it(entry, folder: Path) -> str:
    """Restore the run's GAN from the mutant and train one step on it, as `--resume` would."""
    gan = entry["gan"]()
    gan.restore(ckpt.load_checkpoint(folder))
    images = torch.rand(16, *entry["shape"]) * 2 - 1
    labels = torch.arange(16) % entry["classes"]
    gan.train_step(0, lambda i: (images, labels))
    return "resumed"


def outcome(run) -> str:
    try:
        return run()
    except GanvasError as err:
        assert str(err).strip(), "a ganvas error with no message"
        return "refused"


def test_damaged_and_hostile_checkpoints_load_clean_or_are_refused(corpus, tmp_path):
    started = time.monotonic()
    tally: dict[str, int] = {}
    for number in range(MUTANTS):
        entry, folder, what = mutant(number, corpus, tmp_path)
        try:
            with time_limit(SECONDS_PER_MUTANT, what):
                results = [outcome(lambda: sample_it(folder))]
                if entry["gan"] is not None:
                    results.append(outcome(lambda: resume_it(entry, folder)))
        except Exception as err:  # noqa: BLE001 - the whole point: name the mutant that got through
            raise AssertionError(f"{what}\n  raised {type(err).__name__}: {err}") from err
        for result in results:
            tally[result] = tally.get(result, 0) + 1
        assert not (folder.parent / MARKER).exists(), f"{what}: code from the checkpoint ran"
    elapsed = time.monotonic() - started
    print(f"\n{MUTANTS} mutants in {elapsed:.1f} s: {tally}")
    assert tally.get("refused", 0) > MUTANTS / 4 and tally.get("sampled", 0) > MUTANTS / 20, tally
    assert tally.get("resumed", 0) > 0, tally


def test_the_mutants_are_the_same_every_time(corpus, tmp_path):
    """A failure names a mutant by number; making it again gives the same files."""
    def fingerprint(root):
        entry, folder, what = mutant(7, corpus, root)
        return what, {p.name: p.read_bytes() for p in files_of(folder)}

    assert fingerprint(tmp_path / "a") == fingerprint(tmp_path / "b")


@pytest.mark.skipif("MUTANT" not in os.environ, reason="MUTANT=<number> replays one mutant")
def test_one_mutant(corpus, tmp_path):
    entry, folder, what = mutant(int(os.environ["MUTANT"]), corpus, tmp_path)
    print(what)
    print(outcome(lambda: sample_it(folder)), outcome(lambda: resume_it(entry, folder)) if entry["gan"] else "")


# --- the holes the fuzz found, each pinned down -------------------------------------------------------------------

def edited(corpus, tmp_path, name, edit_meta=None, edit_weights=None, edit_state=None):
    entry = next(e for e in corpus if e["name"] == name)
    folder = tmp_path / entry["path"].name
    shutil.copytree(entry["path"], folder)
    if edit_meta:
        meta = json.loads((folder / ckpt.META_FILE).read_text())
        edit_meta(meta)
        (folder / ckpt.META_FILE).write_text(json.dumps(meta))
    if edit_weights:
        path = ckpt.weights_path(folder, edit_weights[0])
        weights = load_file(path)
        edit_weights[1](weights)
        save_file(weights, path)
    if edit_state:
        state = torch.load(folder / ckpt.TRAINING_STATE_FILE, weights_only=True)
        edit_state(state)
        torch.save(state, folder / ckpt.TRAINING_STATE_FILE)
    return entry, folder


def generator_args(meta):
    return meta["networks"]["generator"]["args"]


def ema_args(meta):
    return meta["networks"]["generator_ema"]["args"]


@pytest.mark.parametrize("name, edit, message", [
    # Absurd sizes were built (allocating terabytes, or hanging) before the weights were compared with them.
    ("small-mlp", lambda m: generator_args(m).update(z_dim=2 ** 43), "z_dim=8796093022208: it must be a whole number "
                                                                     "from 1 to 65536"),
    ("dcgan-cond", lambda m: ema_args(m).update(width=4 * 2 ** 14), "different generator architecture"),
    ("dcgan-cond", lambda m: ema_args(m)["image_shape"].__setitem__(0, 2 ** 40), "channels must be 1, 3 or 4"),
    # Negative sizes, and sizes of the wrong type, reached torch's constructors.
    ("small-mlp", lambda m: generator_args(m)["image_shape"].__setitem__(1, -7), "the sides from 1 to 1024"),
    ("dcgan-cond", lambda m: ema_args(m).update(width=[10 ** 9] * 3), "width=[1000000000, 1000000000, 1000000000]"),
    ("dcgan-cond", lambda m: ema_args(m).update(image_shape=-1), "it must be [channels, height, width]"),
    ("dcgan-cond", lambda m: ema_args(m)["image_shape"].pop(), "it must be [channels, height, width]"),
    ("small-mlp", lambda m: generator_args(m).update(hidden=[16.0]), "a list of at most 64 whole numbers"),
    ("small-mlp", lambda m: generator_args(m).update(spectral_norm="yes"), "has no generator option spectral_norm"),
    # A discriminator's recipe under the generator's role was built and called with latents.
    ("small-mlp", lambda m: m["networks"].update(generator=m["networks"]["discriminator"]), "has no generator"),
])
def test_a_hostile_recipe_is_refused_before_anything_is_built(corpus, tmp_path, name, edit, message):
    entry, folder = edited(corpus, tmp_path, name, edit_meta=edit)
    started = time.monotonic()
    with pytest.raises(GanvasError) as raised:
        ganvas.load(folder)
    assert message in str(raised.value) and time.monotonic() - started < 2


def test_finite_weights_that_make_nan_images_are_refused(corpus, tmp_path):
    """A negative batch-norm variance: every weight finite, every image NaN."""
    def negative_variance(weights):
        key = next(k for k in weights if k.endswith("running_var"))
        weights[key] = -weights[key]

    _, folder = edited(corpus, tmp_path, "format-1", edit_weights=("generator_ema", negative_variance))
    with pytest.raises(GanvasError, match="made non-finite images"):
        ganvas.load(folder).sample(4)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["optimizers"]["generator"]["param_groups"][0].update(maximize="yes"), "maximize is 'yes'"),
    (lambda s: s["optimizers"]["generator"]["param_groups"][0].update(lr=float("nan")), "lr is nan"),
    (lambda s: s["optimizers"]["generator"]["state"][0].update(exp_avg=torch.zeros(3)), "exp_avg 0 is"),
    (lambda s: s["optimizers"]["discriminator"]["state"][1].update(exp_avg_sq=torch.tensor(float("inf"))),
     "not finite floats"),
    (lambda s: s["rng"][0].update(noise=torch.zeros(3)), "the noise random state is not one"),
])
def test_a_training_state_that_would_fail_mid_step_is_refused_when_restored(corpus, tmp_path, edit, message):
    entry, folder = edited(corpus, tmp_path, "dcgan-cond", edit_state=edit)
    with pytest.raises(GanvasError, match="unusable training state") as raised:
        entry["gan"]().restore(ckpt.load_checkpoint(folder))
    assert message in str(raised.value)


def test_implementation_flags_are_the_resuming_machines(corpus, tmp_path):
    """fused=True with differentiable=True made Adam's step raise; such flags pick an implementation for the device
    resuming, and the file's are replaced by the optimizer's own."""
    entry, folder = edited(corpus, tmp_path, "dcgan-cond", edit_state=lambda s: [
        group.update(differentiable=True, foreach=True) for opt in s["optimizers"].values()
        for group in opt["param_groups"]])
    assert resume_it(entry, folder) == "resumed"
