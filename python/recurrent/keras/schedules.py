"""`keras.optimizers.schedules`: ExponentialDecay, CosineDecay, PiecewiseConstantDecay.

Given as an optimizer's `learning_rate`, the engine evaluates the schedule at its step
count before every step, in float32 as Keras does (src/optimizers/schedules.rs); calling
the object (`schedule(step)`) gives the same value from the same code."""

from .. import _core


class LearningRateSchedule:
    _type = None

    def __init__(self, **args):
        self.name = args.pop("name", None)
        self._args = args
        # Checked now (Keras checks when the schedule is made), by the engine's rules.
        _core.schedule_value(self._json(), 0)

    def _config(self):
        c = {"type": self._type}
        c.update(self._args)
        return c

    def _json(self):
        from . import _json

        return _json.dumps(self._config(), type(self).__name__)

    def get_config(self):
        c = dict(self._args)
        c["name"] = self.name
        return c

    def _initial(self):
        return self(0)

    def __call__(self, step):
        return _core.schedule_value(self._json(), int(step))

    def __repr__(self):
        return f"<{type(self).__name__} {self._args}>"


class ExponentialDecay(LearningRateSchedule):
    _type = "ExponentialDecay"

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate=float(initial_learning_rate), decay_steps=float(decay_steps), decay_rate=float(decay_rate), staircase=bool(staircase), name=name)


class CosineDecay(LearningRateSchedule):
    _type = "CosineDecay"

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None, warmup_steps=0):
        super().__init__(
            initial_learning_rate=float(initial_learning_rate),
            decay_steps=float(decay_steps),
            alpha=float(alpha),
            warmup_target=None if warmup_target is None else float(warmup_target),
            warmup_steps=float(warmup_steps),
            name=name,
        )


class PiecewiseConstantDecay(LearningRateSchedule):
    _type = "PiecewiseConstantDecay"

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        super().__init__(boundaries=[float(b) for b in boundaries], values=[float(v) for v in values], name=name)


_BY_TYPE = {
    "exponential_decay": ExponentialDecay,
    "cosine_decay": CosineDecay,
    "piecewise_constant_decay": PiecewiseConstantDecay,
    "ExponentialDecay": ExponentialDecay,
    "CosineDecay": CosineDecay,
    "PiecewiseConstantDecay": PiecewiseConstantDecay,
}


def _from_config(c):
    c = dict(c)
    cls = _BY_TYPE[c.pop("type")]
    return cls(**c)


__all__ = ["LearningRateSchedule", "ExponentialDecay", "CosineDecay", "PiecewiseConstantDecay"]
