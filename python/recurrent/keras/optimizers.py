"""`keras.optimizers`: SGD, RMSprop, Adam with Keras's arguments and defaults (the
strings "sgd", "rmsprop", "adam" give the defaults)."""


class Optimizer:
    _type = None

    def _config(self):
        c = {"type": self._type}
        c.update(self._args)
        return c

    def get_config(self):
        return dict(self._args)

    @property
    def learning_rate(self):
        return self._args["learning_rate"]

    def __repr__(self):
        return f"<{type(self).__name__} {self._args}>"


def _clip(kwargs, name):
    out = {}
    for k in ("clipnorm", "clipvalue", "global_clipnorm"):
        v = kwargs.pop(k, None)
        if v is not None:
            out[k] = float(v)
    for k, v in kwargs.items():
        if k in ("name", "use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps", "weight_decay"):
            if v in (None, False, 0, 0.0, 0.99) or k == "name":
                continue
        raise ValueError(f"{name}: argument `{k}={v!r}` is not supported by recurrent")
    return out


class SGD(Optimizer):
    _type = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        self._args = {"learning_rate": float(learning_rate), "momentum": float(momentum), "nesterov": bool(nesterov)}
        self._args.update(_clip(kwargs, "SGD"))


class RMSprop(Optimizer):
    _type = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        self._args = {"learning_rate": float(learning_rate), "rho": float(rho), "momentum": float(momentum), "epsilon": float(epsilon), "centered": bool(centered)}
        self._args.update(_clip(kwargs, "RMSprop"))


class Adam(Optimizer):
    _type = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        self._args = {"learning_rate": float(learning_rate), "beta_1": float(beta_1), "beta_2": float(beta_2), "epsilon": float(epsilon), "amsgrad": bool(amsgrad)}
        self._args.update(_clip(kwargs, "Adam"))


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier):
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; use 'sgd', 'rmsprop', 'adam' or a keras.optimizers object")


def _from_config(c):
    c = dict(c)
    cls = _BY_NAME[c.pop("type")]
    opt = cls.__new__(cls)
    opt._args = {k: v for k, v in c.items() if v is not None}
    return opt
