"""`mlvc model`: train, convert and verify a codec (the bundled one or yours) as a package.

    from mlvc import model
    run = model.train("converters/configs/tiny.toml", "build/run_tiny")
    model.convert(run, "build/pkg_tiny")
    report = model.verify("build/pkg_tiny")          # {"exact", "networks", "rd", ...}

train and convert need the `train` extra (TensorFlow, run in a child process); verify needs only
the runtime.  Importing this module imports neither TensorFlow nor the converters.
"""
from .config import Config, ConfigError, load_config
from .pipeline import convert, train, verify

__all__ = ["Config", "ConfigError", "load_config", "train", "convert", "verify"]
