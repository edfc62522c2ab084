"""`keras.initializers`: every initializer Keras has, by class or name, with Keras's
arguments and defaults (src/layers/initializers.rs has the formulas).

A class instance or a name goes to a layer's `*_initializer` argument; the engine reads
it (unknown names and arguments are refused with a message naming them). Draws come
from the model's seed (`keras.utils.set_random_seed`), so `seed=` is refused: one seed
fixes a whole run. Calling an instance (`keras.initializers.HeNormal()((3, 4))`) gives
a float32 numpy array drawn by the same code, from numpy's global generator's seed.
"""

from . import _json

import numpy as np

from .. import _core


class Initializer:
    _type = None

    def __init__(self, **args):
        seed = args.pop("seed", None)
        self._args = args
        if seed is not None:
            # Refused by the engine, with its message.
            self._args["seed"] = seed
        _core.initializer_check(_json.dumps(self._config(), type(self).__name__))

    def _config(self):
        c = {"type": self._type}
        c.update(self._args)
        return c

    def get_config(self):
        return dict(self._args)

    def __call__(self, shape, dtype=None):
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
        seed = int(np.random.randint(0, 2**31 - 1))
        return _core.initializer_values(_json.dumps(self._config(), type(self).__name__), list(shape), seed)

    def __repr__(self):
        return f"<{type(self).__name__} {self._args}>"


class Zeros(Initializer):
    _type = "Zeros"

    def __init__(self):
        super().__init__()


class Ones(Initializer):
    _type = "Ones"

    def __init__(self):
        super().__init__()


class Constant(Initializer):
    _type = "Constant"

    def __init__(self, value=0.0):
        super().__init__(value=float(value))


class RandomUniform(Initializer):
    _type = "RandomUniform"

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(minval=float(minval), maxval=float(maxval), seed=seed)


class RandomNormal(Initializer):
    _type = "RandomNormal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(mean=float(mean), stddev=float(stddev), seed=seed)


class TruncatedNormal(Initializer):
    _type = "TruncatedNormal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(mean=float(mean), stddev=float(stddev), seed=seed)


class VarianceScaling(Initializer):
    _type = "VarianceScaling"

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(scale=float(scale), mode=mode, distribution=distribution, seed=seed)


def _seeded(type_name):
    def __init__(self, seed=None):
        Initializer.__init__(self, seed=seed)

    return type(type_name, (Initializer,), {"_type": type_name, "__init__": __init__, "__module__": __name__, "__doc__": f"`keras.initializers.{type_name}`."})


GlorotUniform = _seeded("GlorotUniform")
GlorotNormal = _seeded("GlorotNormal")
HeNormal = _seeded("HeNormal")
HeUniform = _seeded("HeUniform")
LecunNormal = _seeded("LecunNormal")
LecunUniform = _seeded("LecunUniform")


class Orthogonal(Initializer):
    _type = "Orthogonal"

    def __init__(self, gain=1.0, seed=None):
        super().__init__(gain=float(gain), seed=seed)


class Identity(Initializer):
    _type = "Identity"

    def __init__(self, gain=1.0):
        super().__init__(gain=float(gain))


# Keras's lower-case aliases of the classes.
zeros, ones, constant = Zeros, Ones, Constant
random_uniform, uniform = RandomUniform, RandomUniform
random_normal, normal = RandomNormal, RandomNormal
truncated_normal, variance_scaling = TruncatedNormal, VarianceScaling
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_normal, he_uniform, lecun_normal, lecun_uniform = HeNormal, HeUniform, LecunNormal, LecunUniform
orthogonal, identity = Orthogonal, Identity
IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal


def get(identifier):
    """`keras.initializers.get`: an instance from a name, a config dict or an instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        _core.initializer_check(_json.dumps(identifier, "initializer"))
        obj = Initializer.__new__(Initializer)
        obj._type, obj._args = identifier, {}
        return obj
    if isinstance(identifier, dict):
        _core.initializer_check(_json.dumps(identifier, "initializer"))
        obj = Initializer.__new__(Initializer)
        obj._type, obj._args = None, None
        obj._config = lambda: dict(identifier)
        return obj
    raise ValueError(f"unknown initializer {identifier!r}; pass a name ('he_normal', 'orthogonal', ...) or a keras.initializers object")


__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal",
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal",
    "LecunUniform", "Orthogonal", "Identity", "get",
]
