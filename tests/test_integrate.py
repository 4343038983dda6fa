"""`ix.integrate`: the scan of a solver's step over per-step args.

The reference for the driver is a plain Python loop of `solver.step` with args sliced per
step; everything else (trajectory, unroll, remat, transformations) must agree with it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import all_solvers, explicit_solvers, imex_solvers, solver_id, tree_allclose
from jax.test_util import check_grads

import imexjax as ix

STATE_SHAPE = (5, 6, 2)  # (H, W, channels): the smallest shape ConvDiffusion's 3x3 kernels take
TOL64 = dict(rtol=1e-12, atol=1e-12)


def _field(t, y, args):
    """A nonlinear, time-dependent field with per-step params (w, b) acting on the channel axis."""
    w, b = args
    return jnp.tanh(y @ w + b) * (1.0 + t)


def _problem(solver, num_steps, *, seed=0, dtype=None):
    """(terms, y0, args) for `solver`: per-step args differ from step to step."""
    rng = np.random.default_rng(seed)
    channels = STATE_SHAPE[-1]
    y0 = jnp.asarray(rng.standard_normal(STATE_SHAPE), dtype)
    explicit_args = (
        jnp.asarray(rng.standard_normal((num_steps, channels, channels)), dtype),
        jnp.asarray(rng.standard_normal((num_steps, channels)), dtype),
    )
    if not solver.imex:
        return _field, y0, explicit_args
    kernels = jnp.asarray(rng.standard_normal((num_steps, 3, 3, channels)) / 3, dtype)
    return (_field, ix.ConvDiffusion()), y0, (explicit_args, kernels)


def _loop(solver, terms, y0, args, *, h, t0=0.0, num_steps):
    """The reference: Python loop of steps, args sliced per step, t = t0 + n h."""
    y = y0
    states = [y0]
    for n in range(num_steps):
        y = solver.step(terms, t0 + n * h, y, jax.tree.map(lambda a, n=n: a[n], args), h)
        states.append(y)
    return y, states


# --------------------------------------------------------------------------------------
# agreement with solver.step
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_one_step_equals_solver_step(x64, solver):
    terms, y0, args = _problem(solver, 1)
    y1 = ix.integrate(solver, terms, y0, args, h=0.3, t0=0.2)
    expected = solver.step(terms, 0.2, y0, jax.tree.map(lambda a: a[0], args), 0.3)
    assert tree_allclose(y1, expected, **TOL64)
    assert not tree_allclose(y1, y0, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_n_steps_equal_a_loop_of_steps(x64, solver):
    num_steps = 4
    terms, y0, args = _problem(solver, num_steps)
    y_n = ix.integrate(solver, terms, y0, args, h=0.3, t0=0.2)
    expected, _ = _loop(solver, terms, y0, args, h=0.3, t0=0.2, num_steps=num_steps)
    assert tree_allclose(y_n, expected, **TOL64)
    # The per-step slices matter: reversing their order changes the result.
    reversed_args = jax.tree.map(lambda a: a[::-1], args)
    assert not tree_allclose(
        ix.integrate(solver, terms, y0, reversed_args, h=0.3, t0=0.2), expected, rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_float32_matches_the_loop(solver):
    num_steps = 3
    terms, y0, args = _problem(solver, num_steps, dtype=jnp.float32)
    y_n = ix.integrate(solver, terms, y0, args, h=0.3)
    expected, _ = _loop(solver, terms, y0, args, h=0.3, num_steps=num_steps)
    assert y_n.dtype == jnp.float32
    assert tree_allclose(y_n, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_per_step_args_are_used_in_order(x64, solver):
    # y' = a_n on step n: every solver gives y_{n+1} = y_n + h a_n, so the trajectory is
    # y0 + h cumsum(a), which sees the order of the slices (the final sum alone would not).
    num_steps, h = 5, 0.5
    a = jnp.asarray(np.random.default_rng(1).standard_normal((num_steps,) + STATE_SHAPE))
    y0 = jnp.asarray(np.random.default_rng(2).standard_normal(STATE_SHAPE))

    def field(t, y, a_n):
        return a_n

    if solver.imex:
        terms, args = (field, ix.ConvDiffusion()), (a, jnp.zeros((num_steps, 3, 3, STATE_SHAPE[-1])))
    else:
        terms, args = field, a
    final = ix.integrate(solver, terms, y0, args, h=h)
    path = ix.integrate(solver, terms, y0, args, h=h, trajectory=True)
    assert tree_allclose(final, y0 + h * jnp.sum(a, axis=0), **TOL64)
    expected_path = jnp.concatenate([y0[None], y0 + h * jnp.cumsum(a, axis=0)])
    assert tree_allclose(path, expected_path, **TOL64)


# --------------------------------------------------------------------------------------
# pytree states
# --------------------------------------------------------------------------------------


def _oscillator_flat(t, y, params):
    omega, damping = params
    x, v = y[:2], y[2:]
    return jnp.concatenate([v, -(omega**2) * x - damping * v + jnp.sin(t)])


def _oscillator_dict(t, y, params):
    omega, damping = params
    return {"x": y["v"], "v": -(omega**2) * y["x"] - damping * y["v"] + jnp.sin(t)}


def _oscillator_tuple(t, y, params):
    omega, damping = params
    x, v = y
    return (v, -(omega**2) * x - damping * v + jnp.sin(t))


@pytest.mark.parametrize("solver", explicit_solvers(), ids=solver_id)
@pytest.mark.parametrize("kind", ["dict", "tuple"])
def test_pytree_states_match_the_flat_state(x64, solver, kind):
    num_steps = 6
    rng = np.random.default_rng(3)
    x0, v0 = jnp.asarray(rng.standard_normal(2)), jnp.asarray(rng.standard_normal(2))
    params = (jnp.linspace(1.0, 2.0, num_steps), jnp.linspace(0.1, 0.5, num_steps))
    flat = ix.integrate(solver, _oscillator_flat, jnp.concatenate([x0, v0]), params, h=0.2, t0=0.5)
    if kind == "dict":
        tree = ix.integrate(solver, _oscillator_dict, {"x": x0, "v": v0}, params, h=0.2, t0=0.5)
        as_tree = {"x": flat[:2], "v": flat[2:]}
    else:
        tree = ix.integrate(solver, _oscillator_tuple, (x0, v0), params, h=0.2, t0=0.5)
        as_tree = (flat[:2], flat[2:])
    assert tree_allclose(tree, as_tree, **TOL64)


@pytest.mark.parametrize("solver", explicit_solvers(), ids=solver_id)
def test_pytree_state_with_mixed_dtypes_keeps_each_dtype(solver):
    y0 = {"a": jnp.ones(3, jnp.float32), "b": jnp.ones((2, 2), jnp.bfloat16)}
    out = ix.integrate(
        solver, lambda t, y, args: jax.tree.map(lambda leaf: -leaf * t, y), y0, None, h=0.1, num_steps=3, t0=0.0
    )
    assert jax.tree.map(lambda leaf: leaf.dtype, out) == {"a": jnp.float32, "b": jnp.bfloat16}
    assert jax.tree.map(jnp.shape, out) == jax.tree.map(jnp.shape, y0)


# --------------------------------------------------------------------------------------
# trajectory
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_trajectory_returns_every_state(x64, solver):
    num_steps = 4
    terms, y0, args = _problem(solver, num_steps)
    path = ix.integrate(solver, terms, y0, args, h=0.3, trajectory=True)
    final = ix.integrate(solver, terms, y0, args, h=0.3)
    _, states = _loop(solver, terms, y0, args, h=0.3, num_steps=num_steps)
    assert path.shape == (num_steps + 1,) + y0.shape
    assert tree_allclose(path[0], y0, rtol=0, atol=0)
    assert tree_allclose(path[-1], final, **TOL64)
    assert tree_allclose(path, jnp.stack(states), **TOL64)


def test_trajectory_of_a_pytree_state(x64):
    num_steps = 3
    params = (jnp.linspace(1.0, 2.0, num_steps), jnp.linspace(0.1, 0.5, num_steps))
    y0 = {"x": jnp.array([1.0, 0.0]), "v": jnp.array([0.0, 1.0])}
    path = ix.integrate(ix.Midpoint(), _oscillator_dict, y0, params, h=0.2, trajectory=True)
    final = ix.integrate(ix.Midpoint(), _oscillator_dict, y0, params, h=0.2)
    assert jax.tree.map(jnp.shape, path) == {"x": (num_steps + 1, 2), "v": (num_steps + 1, 2)}
    assert tree_allclose(jax.tree.map(lambda leaf: leaf[0], path), y0, rtol=0, atol=0)
    assert tree_allclose(jax.tree.map(lambda leaf: leaf[-1], path), final, **TOL64)


def test_zero_steps_return_the_initial_state():
    y0 = jnp.arange(4.0)
    args = jnp.zeros((0, 4))
    assert tree_allclose(ix.integrate(ix.RK4(), lambda t, y, a: y + a, y0, args, h=0.1), y0, rtol=0, atol=0)
    path = ix.integrate(ix.RK4(), lambda t, y, a: y + a, y0, args, h=0.1, trajectory=True)
    assert tree_allclose(path, y0[None], rtol=0, atol=0)


def test_trajectory_accepts_every_state_the_driver_accepts():
    # Regression: trajectory=True indexed the leaves of y0 (first[None]), so a Python-float
    # state, accepted without trajectory, failed with it.
    field = lambda t, y, a: a * y  # noqa: E731
    args = jnp.array([0.5, -1.0, 2.0])
    final = ix.integrate(ix.Euler(), field, 1.0, args, h=0.1)
    path = ix.integrate(ix.Euler(), field, 1.0, args, h=0.1, trajectory=True)
    assert path.shape == (4,)
    assert tree_allclose(path[0], 1.0, rtol=0, atol=0)
    assert tree_allclose(path[-1], final, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------------------
# unroll and remat
# --------------------------------------------------------------------------------------

UNROLL_OPTIONS = [
    dict(unroll=1),
    dict(unroll=True),
    dict(unroll=2, remat=True),  # 2 does not divide N = 3
]


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_unroll_and_remat_give_the_same_values_and_gradients(x64, solver):
    num_steps = 3
    terms, y0, args = _problem(solver, num_steps)

    def value_and_grads(options):
        def loss(y0, args):
            return jnp.sum(ix.integrate(solver, terms, y0, args, h=0.3, **options) ** 2)

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(y0, args)

    reference = value_and_grads(UNROLL_OPTIONS[0])
    for options in UNROLL_OPTIONS[1:]:
        assert tree_allclose(value_and_grads(options), reference, rtol=1e-10, atol=1e-10), options


# --------------------------------------------------------------------------------------
# jit, vmap, grad
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_jit_matches_eager(x64, solver):
    terms, y0, args = _problem(solver, 3)
    eager = ix.integrate(solver, terms, y0, args, h=0.3)
    jitted = jax.jit(lambda y, a: ix.integrate(solver, terms, y, a, h=0.3))(y0, args)
    assert tree_allclose(jitted, eager, **TOL64)


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_traced_step_size_and_start_time_under_jit(x64, solver):
    terms, y0, args = _problem(solver, 3)
    run = jax.jit(lambda h, t0: ix.integrate(solver, terms, y0, args, h=h, t0=t0))
    for h, t0 in [(0.1, 0.0), (0.4, 1.5)]:  # one compilation, h and t0 traced
        assert tree_allclose(run(h, t0), ix.integrate(solver, terms, y0, args, h=h, t0=t0), **TOL64)


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_vmap_over_initial_states(x64, solver):
    terms, _, args = _problem(solver, 3)
    batch = jnp.asarray(np.random.default_rng(4).standard_normal((3,) + STATE_SHAPE))
    run = jax.jit(lambda y: ix.integrate(solver, terms, y, args, h=0.3))
    mapped = jax.vmap(run)(batch)
    expected = jnp.stack([run(y) for y in batch])
    assert tree_allclose(mapped, expected, **TOL64)


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_vmap_over_step_sizes(x64, solver):
    terms, y0, args = _problem(solver, 3)
    hs = jnp.array([0.1, 0.2, 0.5])
    mapped = jax.vmap(lambda h: ix.integrate(solver, terms, y0, args, h=h))(hs)
    expected = jnp.stack([ix.integrate(solver, terms, y0, args, h=float(h)) for h in hs])
    assert tree_allclose(mapped, expected, **TOL64)


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_gradients_match_finite_differences(x64, solver):
    # Gradients w.r.t. y0, the per-step args and h, checked against finite differences.
    terms, y0, args = _problem(solver, 3)

    @jax.jit
    def run(y0, args, h):
        return ix.integrate(solver, terms, y0, args, h=h)

    check_grads(run, (y0, args, 0.3), order=1, modes=("rev", "fwd"), eps=1e-5, atol=1e-6, rtol=1e-6)


# --------------------------------------------------------------------------------------
# time
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
@pytest.mark.parametrize("t0", [0.0, 0.7])
def test_t0_and_step_times_reach_the_field(x64, solver, t0):
    # y' = t. Euler and IMEX Euler (zero implicit kernel) give the left Riemann sum
    # h sum_n (t0 + n h); midpoint and RK4 integrate a linear function of t exactly.
    num_steps, h = 4, 0.25
    y0 = jnp.zeros(STATE_SHAPE)

    def field(t, y, args):
        return jnp.full_like(y, t)

    if solver.imex:
        zero = jnp.zeros((num_steps, 3, 3, STATE_SHAPE[-1]))
        y_n = ix.integrate(solver, (field, ix.ConvDiffusion()), y0, (zero, zero), h=h, t0=t0)
    else:
        y_n = ix.integrate(solver, field, y0, None, h=h, t0=t0, num_steps=num_steps)
    if solver.order == 1:
        expected = h * sum(t0 + n * h for n in range(num_steps))
    else:
        expected = ((t0 + num_steps * h) ** 2 - t0**2) / 2
    assert tree_allclose(y_n, jnp.full(STATE_SHAPE, expected), **TOL64)


# --------------------------------------------------------------------------------------
# num_steps
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [None, (), {}], ids=["None", "empty-tuple", "empty-dict"])
def test_num_steps_counts_steps_when_args_has_no_leaves(args):
    field = lambda t, y, a: jnp.ones_like(y)  # noqa: E731
    y_n = ix.integrate(ix.Euler(), field, jnp.zeros(2), args, h=0.5, num_steps=3)
    assert tree_allclose(y_n, jnp.full(2, 1.5), rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="pass num_steps"):
        ix.integrate(ix.Euler(), field, jnp.zeros(2), args, h=0.5)


def test_num_steps_must_agree_with_args():
    field = lambda t, y, a: a  # noqa: E731
    args = jnp.ones((3, 2))
    assert tree_allclose(
        ix.integrate(ix.Euler(), field, jnp.zeros(2), args, h=0.5, num_steps=3),
        ix.integrate(ix.Euler(), field, jnp.zeros(2), args, h=0.5),
        rtol=0,
        atol=0,
    )
    with pytest.raises(ValueError, match=r"num_steps=4 disagrees with the leading axis of args \(3\)"):
        ix.integrate(ix.Euler(), field, jnp.zeros(2), args, h=0.5, num_steps=4)
    with pytest.raises(ValueError, match="num_steps must be a non-negative int"):
        ix.integrate(ix.Euler(), field, jnp.zeros(2), None, h=0.5, num_steps=-1)


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


def _explicit_call(**overrides):
    call = dict(solver=ix.Euler(), terms=lambda t, y, a: a, y0=jnp.zeros(2), args=jnp.ones((3, 2)), h=0.1)
    call.update(overrides)
    solver, terms, y0, args = call.pop("solver"), call.pop("terms"), call.pop("y0"), call.pop("args")
    return ix.integrate(solver, terms, y0, args, **call)


@pytest.mark.parametrize("h", [0.0, -0.1, float("nan"), float("inf"), -float("inf")])
def test_step_size_must_be_positive_and_finite(h):
    with pytest.raises(ValueError, match="h must be a positive finite step size"):
        _explicit_call(h=h)


def test_step_size_must_be_a_real_scalar():
    with pytest.raises(TypeError, match="h must be a real scalar step size"):
        _explicit_call(h=jnp.array([0.1, 0.2]))


def test_args_leaves_must_share_the_number_of_steps():
    with pytest.raises(ValueError, match=r"disagree on the number of steps \(leading axis lengths \[3, 4\]\)"):
        _explicit_call(args=(jnp.ones((3, 2)), jnp.ones((4, 2))), terms=lambda t, y, a: a[0])


def test_args_leaves_need_a_leading_axis():
    with pytest.raises(ValueError, match="needs a leading axis of length N"):
        _explicit_call(args=(jnp.ones((3, 2)), jnp.float32(2.0)), terms=lambda t, y, a: a[0])


@pytest.mark.parametrize(
    "y0",
    [jnp.zeros(2, jnp.int32), {"a": jnp.zeros(2), "b": jnp.zeros(2, jnp.int32)}, jnp.zeros(2, jnp.complex64)],
    ids=["int", "pytree-with-int", "complex"],
)
def test_state_must_be_floating(y0):
    with pytest.raises(TypeError, match="y0 must hold floating-point arrays"):
        _explicit_call(y0=y0, terms=lambda t, y, a: y)


def test_state_must_have_arrays():
    with pytest.raises(ValueError, match="y0 has no arrays"):
        _explicit_call(y0={}, terms=lambda t, y, a: y)


@pytest.mark.parametrize("solver", ["euler", None, object()], ids=["string", "None", "object"])
def test_unknown_solver_object(solver):
    with pytest.raises(TypeError, match="solver must be an imexjax solver"):
        _explicit_call(solver=solver)


@pytest.mark.parametrize("solver", imex_solvers(), ids=solver_id)
def test_imex_solver_needs_a_pair_of_terms(solver):
    field = lambda t, y, a: y  # noqa: E731
    y0, kernels = jnp.zeros(STATE_SHAPE), jnp.zeros((2, 3, 3, STATE_SHAPE[-1]))
    name = solver_id(solver)
    with pytest.raises(TypeError, match=rf"{name} needs terms=\(f_explicit, implicit\)"):
        ix.integrate(solver, field, y0, (kernels, kernels), h=0.1)
    methods = [f"\\.{method}" for method in solver.linear_methods]  # ".mv and .resolve", ".exp, .phi1 and .phi2"
    listed = " and ".join([", ".join(methods[:-1]), methods[-1]] if len(methods) > 1 else methods)
    with pytest.raises(TypeError, match=rf"implicit linear term with {listed} \(e\.g\."):
        ix.integrate(solver, (field, field), y0, (kernels, kernels), h=0.1)
    with pytest.raises(TypeError, match=rf"{name} needs args=\(explicit_args, implicit_args\)"):
        ix.integrate(solver, (field, ix.ConvDiffusion()), y0, kernels, h=0.1)


@pytest.mark.parametrize("solver", explicit_solvers(), ids=solver_id)
def test_explicit_solver_needs_a_vector_field(solver):
    y0, kernels = jnp.zeros(STATE_SHAPE), jnp.zeros((2, 3, 3, STATE_SHAPE[-1]))
    with pytest.raises(TypeError, match=f"{solver_id(solver)} needs terms to be a vector field"):
        ix.integrate(solver, (lambda t, y, a: y, ix.ConvDiffusion()), y0, (kernels, kernels), h=0.1)


@pytest.mark.parametrize("unroll", [0, -1, 1.5, False, None, "all"])
def test_unroll_must_be_positive(unroll):
    with pytest.raises(ValueError, match="unroll must be a positive int or True"):
        _explicit_call(unroll=unroll)


# --------------------------------------------------------------------------------------
# has_aux
# --------------------------------------------------------------------------------------


def _stage_times(solver, terms, t0, y0, step_args, h):
    """The times at which one `solver.step` evaluates the (explicit) field, recorded eagerly."""
    times = []
    field = terms[0] if solver.imex else terms

    def recording(t, y, args):
        times.append(float(t))
        return field(t, y, args)

    solver.step((recording, terms[1]) if solver.imex else recording, t0, y0, step_args, h)
    return times


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
@pytest.mark.parametrize("trajectory", [False, True])
def test_aux_is_returned_per_step_and_stage(x64, solver, trajectory):
    terms, y0, args = _problem(solver, 3)
    field = terms[0] if solver.imex else terms

    def field_with_aux(t, y, step_args):
        return field(t, y, step_args), {"time": t, "mean": jnp.mean(y)}

    with_aux = (field_with_aux, terms[1]) if solver.imex else field_with_aux
    h = 0.2
    result, aux = ix.integrate(solver, with_aux, y0, args, h=h, trajectory=trajectory, has_aux=True)
    y_n, states = _loop(solver, terms, y0, args, h=h, num_steps=3)
    assert tree_allclose(result, jnp.stack(states) if trajectory else y_n, **TOL64)
    # aux[n, s] comes from stage s of step n, whose time step n's own evaluations give.
    stage_times = [
        _stage_times(solver, terms, n * h, states[n], jax.tree.map(lambda a, n=n: a[n], args), h) for n in range(3)
    ]
    assert tree_allclose(aux["time"], jnp.array(stage_times), **TOL64)
    assert aux["mean"].shape == (3, solver.stages)
    assert tree_allclose(aux["mean"][:, 0], jnp.array([jnp.mean(s) for s in states[:3]]), **TOL64)


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_staged_fields_get_each_stage_index_in_order(x64, solver):
    terms, y0, args = _problem(solver, 2)
    field = terms[0] if solver.imex else terms

    def staged_field(t, y, step_args, stage):
        return field(t, y, step_args), stage

    staged = (staged_field, terms[1]) if solver.imex else staged_field
    result, stages = ix.integrate(solver, staged, y0, args, h=0.1, has_aux=True, staged=True)
    assert tree_allclose(result, ix.integrate(solver, terms, y0, args, h=0.1), **TOL64)
    assert stages.tolist() == [list(range(solver.stages))] * 2


def test_a_solver_whose_stages_disagree_with_its_step_is_refused():
    class Miscounted(ix.Midpoint):
        stages = 1

    terms, y0, args = _problem(ix.Midpoint(), 2)
    with pytest.raises(TypeError, match="evaluated its field 2 times in a step, but its stages say 1"):
        ix.integrate(Miscounted(), terms, y0, args, h=0.1)


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_aux_with_remat_and_unroll_matches_and_differentiates(x64, solver):
    terms, y0, args = _problem(solver, 4)
    field = terms[0] if solver.imex else terms

    def field_with_aux(t, y, step_args):
        dy = field(t, y, step_args)
        return dy, jnp.sum(dy**2)

    with_aux = (field_with_aux, terms[1]) if solver.imex else field_with_aux

    def loss(y0, **options):
        y_n, aux = ix.integrate(solver, with_aux, y0, args, h=0.1, has_aux=True, **options)
        return jnp.sum(y_n**2) + jnp.sum(aux)

    def value_and_grad(**options):
        return jax.jit(jax.value_and_grad(lambda y: loss(y, **options)))(y0)

    reference = value_and_grad()
    for options in (dict(unroll=4), dict(unroll=2, remat=True)):
        assert tree_allclose(value_and_grad(**options), reference, **TOL64), options
    check_grads(jax.jit(lambda y: loss(y, remat=True)), (y0,), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_aux_needs_a_pair_from_the_field():
    terms, y0, args = _problem(ix.Euler(), 2)
    with pytest.raises(TypeError, match=r"must return a pair \(dy/dt, aux\)"):
        ix.integrate(ix.Euler(), terms, y0, args, h=0.1, has_aux=True)
