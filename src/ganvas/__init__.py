"""ganvas: make art with generative adversarial networks.

The Python API (docs/api.md): `ganvas.train(...)` trains a run, `ganvas.load(...)` gives a trained
generator, `ganvas.load_translator(...)` a trained image translator, `ganvas.runs(...)` lists runs. They are imported on first use, so `import ganvas` stays
quick and touches no accelerator.
"""

__version__ = "0.2.0"

_API = ("train", "check_training", "train_on_processes", "load", "runs", "presets", "Run", "Generator", "GeneratorInfo", "Images", "Animation", "Evaluation",
        "load_translator", "evaluate", "Translator", "TranslatorInfo", "TranslationEvaluation")
__all__ = [*_API, "GanvasError", "__version__"]


def __getattr__(name: str):
    if name in _API:
        from ganvas import api

        return getattr(api, name)
    if name == "GanvasError":
        from ganvas.errors import GanvasError

        return GanvasError
    raise AttributeError(f"module 'ganvas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, "GanvasError"])
