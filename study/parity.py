"""The parity harness: one helper drives every comparison between the two backends.

``compare`` checks shape, then dtype, then values against the tolerance table and reports the achieved
max abs / rel error. ``check_layer_parity`` builds a layer or network in both backends, gives both the same
random non-zero weights and biases, runs forward and backward with a random upstream gradient, and compares
the output, the input gradient and every parameter gradient. ``check_finite_differences`` is the third
opinion on the scratch side, and ``check_trajectory`` trains both backends and compares the parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from dlfs.backends import backend
from dlfs.tolerances import Tol, tolerance

FORMS = ("book", "scratch", "torch")  # the book form, the scratch backend (fast forms), the torch backend


def namespace(form: str) -> ModuleType:
    """The module a build function receives for ``form``: ``"book"`` is ``scratch.book`` (every concept's
    book form under the shared names), ``"scratch"`` and ``"torch"`` are the backends."""
    if form == "book":
        import importlib

        return importlib.import_module("scratch.book")
    if form not in FORMS:
        raise ValueError(f"form: expected one of {list(FORMS)}, got {form!r}")
    return backend(form)


@dataclass
class Comparison:
    """One compared quantity. ``max_rel`` is normwise: ``max|a-b| / max|b|``."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    rtol: float
    atol: float


@dataclass
class ParityReport:
    """Every comparison made for one concept at one dtype."""

    concept: str
    dtype: str
    comparisons: list[Comparison] = field(default_factory=list)

    def add(self, c: Comparison) -> None:
        self.comparisons.append(c)

    def worst(self, prefix: str = "") -> tuple[float, float]:
        """Max abs and max rel error over comparisons whose name starts with ``prefix``."""
        sel = [c for c in self.comparisons if c.name.startswith(prefix)]
        if not sel:
            return (0.0, 0.0)
        return (max(c.max_abs for c in sel), max(c.max_rel for c in sel))

    def summary(self) -> dict[str, Any]:
        groups = {"output": "output", "input_grad": "input_grad", "param_grad": "grad:"}
        out: dict[str, Any] = {"concept": self.concept, "dtype": self.dtype}
        for key, prefix in groups.items():
            a, r = self.worst(prefix)
            out[key] = {"max_abs": a, "max_rel": r}
        out["all"] = [asdict(c) for c in self.comparisons]
        return out

    def __str__(self) -> str:
        lines = [f"parity {self.concept} [{self.dtype}]"]
        for c in self.comparisons:
            lines.append(
                f"  {c.name:<28} {str(c.shape):<16} max_abs={c.max_abs:.2e} max_rel={c.max_rel:.2e}"
                f" (rtol={c.rtol:.0e}, atol={c.atol:.0e})"
            )
        return "\n".join(lines)


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def compare(
    name: str,
    actual: Any,
    expected: Any,
    op: str = "default",
    dtype: str | None = None,
    tol: Tol | None = None,
    check_dtype: bool = True,
) -> Comparison:
    """Compare ``actual`` with ``expected``: shape, then dtype, then values. Raises ``AssertionError``.

    The values pass when ``max|a-b| <= atol + rtol * max|b|`` with (rtol, atol) from the tolerance table
    for ``op`` at ``dtype`` (the dtype of ``expected`` when not given), unless ``tol`` is passed.
    """
    a, b = _to_numpy(actual), _to_numpy(expected)
    if a.shape != b.shape:
        raise AssertionError(f"{name}: shape {a.shape} != expected {b.shape}")
    if check_dtype and a.dtype != b.dtype:
        raise AssertionError(f"{name}: dtype {a.dtype} != expected {b.dtype}")
    dt = str(dtype or (b.dtype if np.issubdtype(b.dtype, np.floating) else "float64"))
    t = tol or tolerance(op, dt)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if not (np.isfinite(a64).all() and np.isfinite(b64).all()):
        raise AssertionError(f"{name}: non-finite values (actual finite: {np.isfinite(a64).all()}, "
                             f"expected finite: {np.isfinite(b64).all()})")
    diff = np.abs(a64 - b64)
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(b64).max()) if b64.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    c = Comparison(name, tuple(a.shape), max_abs, max_rel, t.rtol, t.atol)
    if max_abs > t.atol + t.rtol * scale:
        raise AssertionError(
            f"{name}: values differ: max_abs={max_abs:.3e}, max_rel={max_rel:.3e} exceed "
            f"rtol={t.rtol:.0e}, atol={t.atol:.0e} ({t.why}); max|expected|={scale:.3e}"
        )
    return c


def random_state(shapes: Mapping[str, tuple[int, ...]], rng: np.random.Generator, dtype: str,
                 scale: float = 0.5) -> dict[str, np.ndarray]:
    """Random non-zero values for every parameter, biases included (a zero bias hides layout bugs)."""
    out = {}
    for k, shp in shapes.items():
        v = rng.standard_normal(shp) * scale
        v[np.abs(v) < 1e-3] = 1e-3  # non-zero everywhere
        out[k] = v.astype(dtype)
    return out


def _shapes(state: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def build_pair(
    build: Callable[[ModuleType], Any],
    x: np.ndarray,
    seed: int = 0,
    scale: float = 0.5,
    forms: tuple[str, str] = ("scratch", "torch"),
) -> tuple[Any, Any, dict[str, np.ndarray]]:
    """Build ``build(B)`` in both ``forms`` (default: the two backends), materialise its parameters on ``x``
    and give both the same random non-zero state. Returns (first_obj, second_obj, state)."""
    s_obj, t_obj = build(namespace(forms[0])), build(namespace(forms[1]))
    s_obj.forward(x, training=False)
    t_obj.forward(x, training=False)
    rng = np.random.default_rng(seed + 1)
    state = random_state(_shapes(s_obj.state_dict()), rng, str(x.dtype), scale)
    s_obj.load_state_dict(state)
    t_obj.load_state_dict(state)
    return s_obj, t_obj, state


def check_layer_parity(
    concept: str,
    build: Callable[[ModuleType], Any],
    input_shape: tuple[int, ...],
    dtype: str = "float64",
    seed: int = 0,
    op: str = "default",
    x: np.ndarray | None = None,
    training: bool = False,
    scale: float = 0.5,
    forms: tuple[str, str] = ("scratch", "torch"),
) -> ParityReport:
    """Build ``build(B)`` in both backends, copy weights, forward, backward with a random upstream
    gradient, and compare output, input gradient and every parameter gradient.

    ``build`` receives a backend module and returns a layer or network in ``dtype``. ``x`` defaults to a
    standard normal array of ``input_shape``. ``forms`` names the two sides (``FORMS``), the first the
    expected one: ``("book", "scratch")`` holds a fast form to its book form.
    """
    rng = np.random.default_rng(seed)
    if x is None:
        x = rng.standard_normal(input_shape)
    x = np.asarray(x).astype(dtype)
    s_obj, t_obj, _ = build_pair(build, x, seed, scale, forms)
    report = ParityReport(concept, dtype)
    out_s = s_obj.forward(x, training=training)
    out_t = t_obj.forward(x, training=training)
    report.add(compare("output", out_t, out_s, op, dtype))
    g = rng.standard_normal(out_s.shape).astype(dtype)
    gin_s = s_obj.backward(g)
    gin_t = t_obj.backward(g)
    report.add(compare("input_grad", gin_t, gin_s, op, dtype))
    gs, gt = s_obj.grad_dict(), t_obj.grad_dict()
    if sorted(gs) != sorted(gt):
        raise AssertionError(f"parameter names differ: {forms[0]} {sorted(gs)} vs {forms[1]} {sorted(gt)}")
    for k in sorted(gs):
        report.add(compare(f"grad:{k}", gt[k], gs[k], op, dtype))
    return report


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Centred finite differences of the scalar ``f()`` with respect to ``x``, perturbed in place.

    ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every element i; ``x`` is restored afterwards.
    """
    if eps <= 0:
        raise ValueError(f"eps: expected a positive step, got {eps}")
    grad = np.zeros(x.shape, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient: x must be contiguous so it can be perturbed in place")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def check_finite_differences(
    concept: str,
    build: Callable[[ModuleType], Any],
    input_shape: tuple[int, ...],
    seed: int = 0,
    eps: float = 1e-6,
    x: np.ndarray | None = None,
    scale: float = 0.5,
    form: str = "scratch",
) -> ParityReport:
    """The scratch backend's analytic backward (or the book form's, ``form="book"``) against centred finite
    differences (float64).

    The scalar is ``L = sum(forward(x) * G)`` for a fixed random ``G``, so dL/dout = G exercises
    ``backward`` with a random upstream gradient; every input element and every parameter is perturbed.
    """
    S = namespace(form)
    rng = np.random.default_rng(seed)
    if x is None:
        x = rng.standard_normal(input_shape)
    x = np.array(x, dtype=np.float64)
    layer = build(S)
    layer.forward(x, training=False)
    state = random_state(_shapes(layer.state_dict()), np.random.default_rng(seed + 1), "float64", scale)
    layer.load_state_dict(state)
    out = layer.forward(x, training=False)
    G = rng.standard_normal(out.shape)
    gin = layer.backward(G)
    grads = layer.grad_dict()

    def loss() -> float:
        return float(np.sum(layer.forward(x, training=False) * G))

    report = ParityReport(concept + " (finite differences)", "float64")
    report.add(compare("input_grad", gin, numerical_gradient(loss, x, eps), "finite_difference", "float64"))
    for k in sorted(state):
        p = state[k]

        def loss_p(k: str = k, p: np.ndarray = p) -> float:
            layer.load_state_dict({**state, k: p})
            return loss()

        num = numerical_gradient(loss_p, p, eps)
        layer.load_state_dict(state)
        report.add(compare(f"grad:{k}", grads[k], num, "finite_difference", "float64"))
    return report


def check_trajectory(
    concept: str,
    build_net: Callable[[ModuleType], Any],
    build_optimizer: Callable[[ModuleType], Any],
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    dtype: str = "float64",
    seed: int = 0,
    fit_kwargs: Mapping[str, Any] | None = None,
    scale: float = 0.5,
    compare_history: bool = False,
    forms: tuple[str, str] = ("scratch", "torch"),
) -> ParityReport:
    """Train the same network in both backends from the same weights on the same batches with each
    backend's own ``Trainer``; compare every parameter afterwards (``trajectory`` tolerance).

    With ``compare_history`` the two ``History`` objects are compared too: the per-epoch learning rates and
    losses (``history:*``), and the evaluated, stopped and restored epochs, which must be equal."""
    X, y = np.asarray(X).astype(dtype), np.asarray(y)
    if np.issubdtype(y.dtype, np.floating):
        y = y.astype(dtype)
    s_net, t_net, _ = build_pair(build_net, X[:2], seed, scale, forms)
    kw = dict(epochs=epochs, batch_size=batch_size, seed=seed, eval_every=epochs)
    kw.update(fit_kwargs or {})
    S, T = namespace(forms[0]), namespace(forms[1])
    hs = S.Trainer(s_net, build_optimizer(S)).fit(X, y, X, y, **kw)
    ht = T.Trainer(t_net, build_optimizer(T)).fit(X, y, X, y, **kw)
    report = ParityReport(concept + " (trajectory)", dtype)
    if compare_history:
        for key in ("eval_epochs", "best_epoch", "stopped_epoch", "restored_epoch"):
            if getattr(hs, key) != getattr(ht, key):
                raise AssertionError(f"history.{key}: {forms[0]} {getattr(hs, key)} != {forms[1]} "
                                     f"{getattr(ht, key)}")
        for key in ("lr", "train_loss", "val_loss"):
            report.add(compare(f"history:{key}", np.array(getattr(ht, key)), np.array(getattr(hs, key)),
                               "trajectory", dtype, check_dtype=False))
    ss, ts = s_net.state_dict(), t_net.state_dict()
    for k in sorted(ss):
        report.add(compare(f"param:{k}", ts[k], ss[k], "trajectory", dtype))
    return report
