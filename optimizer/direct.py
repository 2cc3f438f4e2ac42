"""PIQP solves of a built program without cvxpy's per-solve overhead (the warm path).

Through cvxpy every re-solve of a built program pays its Python layers: parameter stuffing
into new sparse matrices, the solver interface, unpacking (~2 ms at 20 assets, more than
PIQP itself there; ~5 ms per solve at 50 assets x 3 lots in the batch).
:class:`DirectProgram` keeps cvxpy's own canonical form of the built program (its DPP
parameter-to-matrix maps, read once) and per solve only:

1. writes the decision's numbers into the program's Parameters (the terms' own
   ``update``; when only the trade bounds changed, as in the wash-sale re-solves, only
   the limits term's),
2. multiplies cvxpy's reduced parameter maps by the parameter vector into matrices of a
   fixed sparsity (index maps built once), of a smaller problem with the same optimum:
   cvxpy's auxiliary variables that only square a scaled variable are substituted into
   ``P`` and ``c`` (:class:`_Folds`), and rows on a single variable with a constant
   coefficient become PIQP's box bounds (:class:`_RowBounds`); a bounds-only re-solve
   recomputes only what the limits touch (:class:`_BoundsPath`),
3. updates one kept ``piqp.SparseSolver`` in place (same structure: no new symbolic
   factorisation) and solves under the chain's iteration cap for PIQP on this problem
   (:func:`optimizer.solvers.caps`, fed by these solves as by the chain's),
4. reads the trade from the solution vector through an index map found once by
   unpacking a probe vector (``0, 1, 2, ...``) through cvxpy's own inverse chain, and
5. verifies it in numpy exactly as the chain does (:func:`optimizer.program.verify`).

Anything else (a chain that does not start with PIQP, a stall, a status other than
solved, a failed verification, an unexpected canonical form) goes to the program's own
:meth:`~optimizer.program.Program.solve`, the full chain (after a stall with PIQP moved
last): the answer is the chain's, to solver accuracy (the folded problem is solved to the
same tolerances; where the optimum is not unique, e.g. equally taxed lots, the split may differ).
:class:`optimizer.Rebalancer` solves through it by default (``Rebalancer(direct=False)``:
always the chain). Results equal the chain's within solver tolerance
(``tests/test_direct.py``, ``tests/batch/test_fast_path.py``).
"""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from optimizer.errors import SolveAttempt
from optimizer.problem_data import ProblemData
from optimizer.program import DPP_MAX_TRADE_VARIABLES, Program, verify
from optimizer.solvers import ITERATION_OPTION, SOLVER_OPTIONS, ChainOutcome, available, caps, chain_state, default_chain
from optimizer.terms.base import Trade
from optimizer.terms.limits import TradeLimits

#: Fields of :class:`ProblemData` a wash-sale re-solve changes (``ProblemData.with_bounds``).
BOUND_FIELDS = ("buy_max", "lot_sell_max")
_OTHER_FIELDS = tuple(f.name for f in dataclasses.fields(ProblemData) if f.name not in BOUND_FIELDS)


class _AffineMap:
    """``values = matrix @ param_vec`` laid into a CSC matrix of fixed structure, split by rows.

    Built from cvxpy's reduced tensor (``ReducedMat``): ``reduced_mat`` (CSR, one row per
    stored entry) and ``problem_data_index`` (CSC indices/indptr of the full matrix).
    """

    def __init__(self, reduced, n_var: int, with_offset: bool):
        indices, indptr, shape = reduced.problem_data_index
        self.tensor = sp.csr_matrix(reduced.reduced_mat)
        nnz = len(indices)
        # an index matrix: entry k of the values vector sits at its (row, col); +1 keeps zeros out
        self.index = sp.csc_matrix((np.arange(1, nnz + 1, dtype=float), indices, indptr), shape=shape)
        self.n_var = n_var
        self.with_offset = with_offset
        self.rows = shape[0]

    def part(self, rows: slice | np.ndarray, negate: bool = False,
             columns: np.ndarray | None = None) -> tuple["_Layout", np.ndarray | None]:
        """Layout of rows ``rows`` (a slice or row numbers) of the matrix, restricted to the
        variables ``columns`` (default: every variable), and, with an offset, the value
        positions of those rows' constant column."""
        block = self.index[rows, : self.n_var].tocsc()
        if columns is not None:
            block = block[:, columns].tocsc()
        block.sort_indices()
        layout = _Layout(block.data.astype(np.int64) - 1, block.indices.copy(), block.indptr.copy(), block.shape,
                         -1.0 if negate else 1.0)
        offset = None
        if self.with_offset:
            column = self.index[rows, self.n_var].tocoo()
            offset = np.full(block.shape[0], -1, dtype=np.int64)
            offset[column.row] = column.data.astype(np.int64) - 1
        return layout, offset


@dataclasses.dataclass(frozen=True)
class _Layout:
    positions: np.ndarray   # which values fill the CSC data array, in order
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]
    sign: float

    def matrix(self, values: np.ndarray) -> sp.csc_matrix:
        return sp.csc_matrix((self.data(values), self.indices, self.indptr), shape=self.shape)

    def data(self, values: np.ndarray) -> np.ndarray:
        """The CSC data array of the matrix for the stored ``values``."""
        return self.sign * values[self.positions]


@dataclasses.dataclass(frozen=True)
class _RowBounds:
    """Inequality rows on one variable with a constant coefficient, ``g x_j <= h``, solved as
    PIQP box bounds (``x_j <= h / g`` for ``g > 0``, ``x_j >= h / g`` for ``g < 0``).

    cvxpy states ``buy <= buy_max``, ``sell <= lot_sell_max`` and (one asset per key) the
    bands as rows of ``G``; PIQP handles box bounds without a row, a slack and a dual in its
    KKT system, which makes each iteration cheaper. ``h_at`` are the value positions of the
    rows' right-hand sides (see :class:`_AffineMap`).
    """

    column: np.ndarray
    coefficient: np.ndarray
    h_at: np.ndarray
    one_per_column: bool    # no variable has two upper (or two lower) bound rows

    @classmethod
    def find(cls, constraints: "_AffineMap", rows: np.ndarray, constant_columns: list[int],
             renumber: np.ndarray) -> tuple["_RowBounds", np.ndarray]:
        """The bound rows among ``rows`` of ``G`` (stored negated) and the rows that stay rows;
        ``renumber`` maps a variable to its column in the solver's problem."""
        block = constraints.index[rows, : constraints.n_var].tocsr()
        single = np.flatnonzero(np.diff(block.indptr) == 1)
        starts = block.indptr[single]
        positions = block.data[starts].astype(np.int64) - 1
        columns = block.indices[starts]
        constant, value = _constant(constraints.tensor, positions, constant_columns)
        coefficient = -value      # G holds the rows negated
        bound = constant & (coefficient != 0) & (renumber[columns] >= 0)
        bound_rows = rows[single[bound]]
        _, h_at = constraints.part(bound_rows, negate=True)
        kept = np.setdiff1d(rows, bound_rows)
        column, coefficient = renumber[columns[bound]], coefficient[bound]
        sides = column * 2 + (coefficient > 0)
        return cls(column, coefficient, h_at, len(np.unique(sides)) == len(sides)), kept

    def apply(self, values: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """Tighten ``lower`` / ``upper`` (in place) by the rows' bounds for this solve's ``values``."""
        bound = _gather(values, self.h_at) / self.coefficient
        above = self.coefficient > 0
        if self.one_per_column:
            at = self.column[above]
            upper[at] = np.minimum(upper[at], bound[above])
            at = self.column[~above]
            lower[at] = np.maximum(lower[at], bound[~above])
        else:
            np.minimum.at(upper, self.column[above], bound[above])
            np.maximum.at(lower, self.column[~above], bound[~above])


def _constant(tensor: sp.csr_matrix, positions: np.ndarray, constant_columns: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """For stored entries ``positions`` of a parameter map: whether each is a constant (no
    parameter enters it) and its constant value."""
    entries = tensor[positions].tocsr()
    constant = np.zeros(entries.shape[1])
    constant[constant_columns] = 1.0
    parametric = np.diff(entries.indptr) - np.diff(entries[:, np.flatnonzero(constant)].tocsr().indptr)
    return parametric == 0, np.asarray(entries @ constant).ravel()


@dataclasses.dataclass(frozen=True)
class _Folds:
    """Auxiliary variables that only square an elementwise-scaled variable, folded into ``P`` and ``c``.

    cvxpy writes ``sum_squares(root * trade + offset)`` (market impact, and the specific risk
    when each key holds one asset) as a variable ``t`` per entry, an equality row
    ``alpha t + beta x_j = b`` and ``p / 2 * t^2`` in the objective. Where ``t`` enters
    nothing else (no other row, no bound, no other quadratic entry) and ``alpha`` is a
    constant, it is substituted: ``t = (b - beta x_j) / alpha`` gives
    ``P_jj += p beta^2 / alpha^2`` and ``c_j += -(p b + q_t alpha) beta / alpha^2``. The
    solver then works on fewer variables and rows; the optimum in ``x`` is the same.

    ``kept`` are the variables the solver keeps (old numbering), ``rows`` the equality rows
    it drops. Per fold: ``column`` (x_j, new numbering), ``t`` (old numbering), the value
    positions of ``alpha``, ``beta``, ``b`` (in the constraint values, -1: none) and ``p``
    (in the ``P`` values), and ``slot``, the index of ``P_jj`` in the reduced ``P``'s data.
    """

    kept: np.ndarray
    rows: np.ndarray
    column: np.ndarray
    t: np.ndarray
    alpha_at: np.ndarray
    beta_at: np.ndarray
    b_at: np.ndarray
    p_at: np.ndarray
    P: "_Layout"            # the reduced P: positions into the P values (-1: a fold's new diagonal entry)
    slot: np.ndarray

    @classmethod
    def find(cls, constraints: "_AffineMap", n_eq: int, n_ineq: int, P_index: sp.csc_matrix,
             free: np.ndarray, constant_columns: list[int]) -> "_Folds":
        """The folds of a canonical form: ``P_index`` is ``P``'s index matrix (value position + 1),
        ``free`` marks the variables without bounds."""
        n = constraints.n_var
        A = constraints.index[:n_eq, :n].tocsc()
        A_rows = A.tocsr()
        in_G = np.diff(constraints.index[n_eq:n_eq + n_ineq, :n].tocsc().indptr) > 0
        P_col, P_row = np.diff(P_index.indptr), np.diff(P_index.tocsr().indptr)
        on_diagonal = P_index.diagonal() > 0
        candidate = (np.diff(A.indptr) == 1) & ~in_G & (P_col == 1) & (P_row == 1) & on_diagonal & free
        t = np.flatnonzero(candidate)
        row = A.indices[A.indptr[t]]
        alpha_at = A.data[A.indptr[t]].astype(np.int64) - 1
        pair = np.diff(A_rows.indptr)[row] == 2
        t, row, alpha_at = t[pair], row[pair], alpha_at[pair]
        # the row's other entry: x_j, itself not folded
        starts = A_rows.indptr[row]
        first_is_t = A_rows.indices[starts] == t
        other = np.where(first_is_t, starts + 1, starts)
        column = A_rows.indices[other]
        beta_at = A_rows.data[other].astype(np.int64) - 1
        constant, alpha = _constant(constraints.tensor, alpha_at, constant_columns)
        keep = constant & (alpha != 0) & ~candidate[column]
        t, row, column, alpha_at, beta_at = t[keep], row[keep], column[keep], alpha_at[keep], beta_at[keep]
        _, b_all = constraints.part(slice(0, n_eq))
        kept = np.setdiff1d(np.arange(n), t)
        renumber = np.full(n, -1, dtype=np.int64)
        renumber[kept] = np.arange(len(kept))
        column = renumber[column]
        # the reduced P: its kept entries plus a diagonal entry for every folded-into column
        block = P_index[kept][:, kept].tocoo()
        present = set(zip(block.row.tolist(), block.col.tolist()))
        extra = np.array(sorted({int(j) for j in column} - {r for r, c in present if r == c}), dtype=np.int64)
        rows_all = np.concatenate([block.row, extra])
        cols_all = np.concatenate([block.col, extra])
        positions = np.concatenate([block.data.astype(np.int64) - 1, np.full(len(extra), -1, dtype=np.int64)])
        order = np.lexsort((rows_all, cols_all))
        rows_all, cols_all, positions = rows_all[order], cols_all[order], positions[order]
        m = len(kept)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(cols_all, minlength=m))])
        slot_of = {(int(r), int(c)): k for k, (r, c) in enumerate(zip(rows_all, cols_all)) if r == c}
        slot = np.array([slot_of[(int(j), int(j))] for j in column], dtype=np.int64)
        P = _Layout(positions, rows_all.astype(np.int32), indptr.astype(np.int32), (m, m), 1.0)
        p_at = np.asarray(P_index[t, t]).ravel().astype(np.int64) - 1 if len(t) else np.zeros(0, dtype=np.int64)
        return cls(kept, row, column, t, alpha_at, beta_at, b_all[row], p_at, P, slot)

    def objective(self, values: np.ndarray, P_values: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The reduced ``P`` data and ``c`` for this solve (``values``: the constraint values,
        ``c``: the full linear coefficients)."""
        P_data = _gather(_with_zero(P_values), self.P.positions)
        c_kept = c[self.kept]
        if len(self.t):
            alpha, beta = values[self.alpha_at], values[self.beta_at]
            b = -_gather(values, self.b_at)
            p, q_t = P_values[self.p_at], c[self.t]
            P_data += np.bincount(self.slot, weights=p * beta ** 2 / alpha ** 2, minlength=len(P_data))
            c_kept += np.bincount(self.column, weights=-(p * b + q_t * alpha) * beta / alpha ** 2,
                                  minlength=len(c_kept))
        return P_data, c_kept


@dataclasses.dataclass(frozen=True)
class _BoundsPath:
    """What a bounds-only re-solve (the wash-sale and small-trade rounds) recomputes: the
    constraint values the limits' Parameters touch (``rows`` of the constraint tensor,
    ``tensor`` those rows), and whether they reach ``b`` / ``h``. Only built when the limits
    enter right-hand sides and bounds alone (no matrix coefficient, no fold)."""

    params: list
    rows: np.ndarray
    tensor: sp.csr_matrix
    b: bool
    h: bool

    @classmethod
    def find(cls, limits: list, constraints: "_AffineMap", direct: "DirectProgram") -> "_BoundsPath | None":
        """The path for ``direct``'s compiled problem and its ``limits`` terms, or None."""
        if direct._lb is not None or direct._ub is not None:
            return None
        ids = {p.id for term in limits for row in term.constraints() for p in row.parameters()}
        params = [(p, col, size) for p, col, size in direct._params if p.id in ids]
        if not params:
            return None
        columns = np.concatenate([np.arange(col, col + size) for _, col, size in params])
        rows = np.unique(constraints.tensor.tocsc()[:, columns].tocoo().row)
        folds = direct._folds
        coefficients = np.concatenate([direct._A.positions, direct._G.positions, folds.alpha_at, folds.beta_at,
                                       folds.b_at])
        if np.isin(rows, coefficients).any():
            return None
        return cls(params, rows, constraints.tensor[rows].tocsr(), bool(np.isin(rows, direct._b_at).any()),
                   bool(np.isin(rows, direct._h_at).any()))


def _gather(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``values[positions]`` where ``values`` ends with an appended 0, so position -1 (no
    stored entry) reads 0 (see :func:`_with_zero`)."""
    return values[positions]


def _with_zero(values: np.ndarray) -> np.ndarray:
    """``values`` with a 0 appended, for :func:`_gather`."""
    return np.append(values, 0.0)


class DirectProgram:
    """A built :class:`~optimizer.program.Program` solved by PIQP without cvxpy's per-solve overhead.

    Duck-types what :func:`optimizer.wash_sale.resolve_conflicts` uses of a program
    (``solve``, ``terms``, ``extra_terms``, ``shape``). ``direct`` is False when the
    canonical form could not be read (every solve then goes to the program).
    """

    SOLVER = "PIQP"

    def __init__(self, program: Program):
        self.program = program
        self.shape = program.shape
        self.terms = program.terms
        self.extra_terms = program.extra_terms
        self.variables = program.variables
        self._limits = [t for t in program.terms if isinstance(t, TradeLimits)]
        self._last: ProblemData | None = None
        self._solver = None
        self.direct_solves = 0
        self.fallbacks = 0
        self._compiled = False
        #: False when the canonical form could not be read (every solve then goes to the program).
        self.direct = True

    def _ready(self, data: ProblemData) -> bool:
        """Compile on the first PIQP-led solve (a shape whose chains start elsewhere never pays
        for the PIQP canonical form); False if that failed, and always above
        :data:`~optimizer.program.DPP_MAX_TRADE_VARIABLES` (the canonical form is read through
        DPP, which does not fit in memory there: the program compiles afresh per solve)."""
        if self.shape.n_assets + self.shape.n_lots > DPP_MAX_TRADE_VARIABLES:
            return False
        if not self._compiled:
            self._compiled = True
            try:
                self._compile(data)
            except Exception:  # noqa: BLE001 - an unexpected cvxpy internal layout: the chain does the work
                self.direct = False
        return self.direct

    # ---- once per shape -------------------------------------------------------------------
    def _compile(self, data: ProblemData) -> None:
        import piqp  # noqa: F401 - the direct path needs it

        if self.SOLVER not in available():
            raise RuntimeError("PIQP is not installed")
        problem = self.program.problem
        self.program.update(data)
        stuffed, chain, inverse = problem.get_problem_data(self.SOLVER)
        param = stuffed["param_prob"]
        n = param.x.size
        n_eq, n_ineq = int(stuffed["n_eq"]), int(stuffed["n_ineq"])
        param.reduced_A.cache(True)
        param.reduced_P.cache(True)
        self._param = param
        self._n = n
        self._params = [(param.id_to_param[pid], col, param.param_id_to_size[pid])
                        for pid, col in param.param_id_to_col.items() if pid in param.id_to_param]
        self._constant_col = [col for pid, col in param.param_id_to_col.items() if pid not in param.id_to_param]
        constraints = _AffineMap(param.reduced_A, n, with_offset=True)
        self._constraints = constraints
        self._q = sp.csr_matrix(param.q)
        # variable bounds: parametric (a tensor) or fixed by variable attributes (e.g. nonneg)
        self._lb = None if param.lb_tensor is None else sp.csr_matrix(param.lb_tensor)
        self._ub = None if param.ub_tensor is None else sp.csr_matrix(param.ub_tensor)
        lower = stuffed.get("lower_bounds")
        upper = stuffed.get("upper_bounds")
        self._lb_fixed = np.full(n, -np.inf) if lower is None else np.array(lower, dtype=float)
        self._ub_fixed = np.full(n, np.inf) if upper is None else np.array(upper, dtype=float)
        free = ~np.isfinite(self._lb_fixed) & ~np.isfinite(self._ub_fixed)
        if self._lb is not None or self._ub is not None:
            free[:] = False
        P_index = _AffineMap(param.reduced_P, n, with_offset=False).index[:n, :n].tocsc()
        self._folds = folds = _Folds.find(constraints, n_eq, n_ineq, P_index, free, self._constant_col)
        renumber = np.full(n, -1, dtype=np.int64)
        renumber[folds.kept] = np.arange(len(folds.kept))
        self._A, self._b_at = constraints.part(np.setdiff1d(np.arange(n_eq), folds.rows), columns=folds.kept)
        self._row_bounds, rows = _RowBounds.find(constraints, np.arange(n_eq, n_eq + n_ineq), self._constant_col,
                                                 renumber)
        self._G, self._h_at = constraints.part(rows, negate=True, columns=folds.kept)
        self._P = folds.P
        # where each variable entry sits in x: unpack a probe x = 0, 1, 2, ... through cvxpy's inverse chain
        probe = SimpleNamespace(
            info=SimpleNamespace(status=SimpleNamespace(name="PIQP_SOLVED"), run_time=0.0, primal_obj=0.0, iter=0),
            x=np.arange(n, dtype=float), y=np.zeros(n_eq), z_u=np.zeros(n_ineq))
        problem.unpack_results(probe, chain, inverse)
        v = self.variables

        def where(var) -> np.ndarray | None:
            if var is None:
                return None
            at = np.asarray(var.value, dtype=float).ravel()
            if not np.array_equal(at, np.round(at)) or at.min(initial=0) < 0 or at.max(initial=0) >= n:
                raise RuntimeError("the canonical form is not a plain selection of variables")
            return at.astype(np.int64)

        self._at = {name: where(getattr(v, name)) for name in ("buy", "sell", "short", "overlay_trade")}
        self._at = {name: None if at is None else renumber[at] for name, at in self._at.items()}
        if any(at is not None and (at < 0).any() for at in self._at.values()):
            raise RuntimeError("a decision variable was folded away")
        self._bounds_path = _BoundsPath.find(self._limits, constraints, self)
        self._settings = dict(SOLVER_OPTIONS.get(self.SOLVER, {}))
        self._last = data  # the parameters hold data now

    # ---- per solve ------------------------------------------------------------------------
    def _update(self, data: ProblemData) -> bool:
        """Write ``data`` into the program's Parameters; only the limits when just the bounds changed
        (then True: the objective, which no limit enters, is as last sent)."""
        last = self._last
        bounds_only = last is not None and data.shape == last.shape and all(
            getattr(data, f) is getattr(last, f) for f in _OTHER_FIELDS)
        if bounds_only:
            for term in self._limits:
                term.update(data, term.weight(data.settings))
        else:
            self.program.update(data)
        self._last = data
        return bounds_only

    def _param_vector(self) -> np.ndarray:
        vec = np.zeros(self._param.total_param_size + 1)
        for parameter, col, size in self._params:
            vec[col:col + size] = np.asarray(parameter.value, dtype=float).ravel(order="F")
        for col in self._constant_col:
            vec[col] = 1.0
        return vec

    def _qp(self, bounds_only: bool = False) -> dict:
        """The QP's arrays: CSC data of ``P``, ``A``, ``G`` (fixed structure) and the vectors.

        ``bounds_only`` (only the limits' Parameters changed): the objective as last sent and,
        where the limits enter only right-hand sides (:class:`_BoundsPath`), only those: the
        constraint values the limits touch are recomputed, and the matrices are not re-sent.
        """
        path = self._bounds_path
        if bounds_only and self._solver is not None and path is not None:
            vec, values = self._vec, self._values
            for parameter, col, size in path.params:
                vec[col:col + size] = np.asarray(parameter.value, dtype=float).ravel(order="F")
            values[path.rows] = path.tensor @ vec
            qp = {}
            if path.b:
                qp["b"] = -_gather(values, self._b_at)
            if path.h:
                qp["h_u"] = _gather(values, self._h_at)
        else:
            vec = self._param_vector()
            values = _with_zero(self._constraints.tensor @ vec)
            self._vec, self._values = vec, values
            if bounds_only and self._solver is not None:
                objective = {"P": self._sent["P"], "c": self._sent["c"]}
            else:
                P_data, c = self._folds.objective(values, self._P_values(vec),
                                                  np.asarray((self._q @ vec)[: self._n], dtype=float).ravel())
                objective = {"P": P_data, "c": c}
            qp = {
                **objective,
                "A": self._A.data(values),
                "b": -_gather(values, self._b_at),
                "G": self._G.data(values),
                "h_u": _gather(values, self._h_at),
            }
        kept = self._folds.kept
        lower = np.asarray(self._lb @ vec, dtype=float).ravel()[kept] if self._lb is not None else self._lb_fixed[kept]
        upper = np.asarray(self._ub @ vec, dtype=float).ravel()[kept] if self._ub is not None else self._ub_fixed[kept]
        self._row_bounds.apply(values, lower, upper)
        qp["x_l"], qp["x_u"] = lower, upper
        return qp

    def _send(self, qp: dict) -> None:
        """Set up the kept PIQP solver, or update it with what changed since the last solve
        (the wash-sale re-solves change only the bounds); matrices keep one structure."""
        import piqp

        layouts = {"P": self._P, "A": self._A, "G": self._G}
        if self._solver is None:
            self._matrices = {name: sp.csc_matrix((np.array(qp[name], dtype=float), layout.indices, layout.indptr),
                                                  shape=layout.shape) for name, layout in layouts.items()}
            self._solver = piqp.SparseSolver()
            for name, value in self._settings.items():
                setattr(self._solver.settings, name, value)
            self._solver.settings.verbose = False
            self._solver.setup(**{k: (self._matrices[k] if k in layouts else v) for k, v in qp.items()})
            self._sent = {k: np.array(v, copy=True) for k, v in qp.items()}
            return
        changed = {}
        for name, value in qp.items():
            if not np.array_equal(value, self._sent[name]):
                self._sent[name] = np.array(value, copy=True)
                if name in layouts:
                    self._matrices[name].data[:] = value
                    changed[name] = self._matrices[name]
                else:
                    changed[name] = value
        if changed:
            self._solver.update(**changed)

    def _P_values(self, vec: np.ndarray) -> np.ndarray:
        return self._param.reduced_P.reduced_mat @ vec

    def _chain(self, data: ProblemData) -> tuple[str, ...]:
        return data.settings.solvers or default_chain(self.shape.n_assets + self.shape.n_lots)

    def solve(self, data: ProblemData, chain: tuple[str, ...] | None = None):
        """Like :meth:`Program.solve`: ``(trade, outcome)``; raises what it raises."""
        chain = chain or self._chain(data)
        if not chain or chain[0] != self.SOLVER or not self._ready(data):
            self._last = None
            self.fallbacks += 1
            return self.program.solve(data, chain)
        started = time.perf_counter()
        record = chain_state(self.program.problem).record(self.SOLVER)
        iteration_cap, _ = caps(self.SOLVER, record, self.shape.n_assets + self.shape.n_lots)
        self._send(self._qp(self._update(data)))
        setattr(self._solver.settings, ITERATION_OPTION[self.SOLVER],
                iteration_cap or self._settings[ITERATION_OPTION[self.SOLVER]])
        status = getattr(self._solver.solve(), "name", "")
        result = self._solver.result
        record.stalls.append(status == "PIQP_MAX_ITER_REACHED")
        if status == "PIQP_SOLVED":
            trade = self._trade(np.asarray(result.x, dtype=float))
            if verify(data, trade, extra_terms=self.terms) is None:
                self.direct_solves += 1
                self.program.solves += 1
                record.iterations.append(int(result.info.iter))
                record.seconds.append(float(result.info.run_time))
                attempt = SolveAttempt(self.SOLVER, "optimal", time.perf_counter() - started, True,
                                       "optimal and verified", float(result.info.run_time))
                return trade, ChainOutcome(self.SOLVER, True, False, [attempt])
        # anything unusual: the whole chain, as Program.solve would (same answer, same errors);
        # after a stall PIQP goes last (it just spent its iteration cap on this problem)
        self._last = None
        self.fallbacks += 1
        if status == "PIQP_MAX_ITER_REACHED":
            chain = tuple(name for name in chain if name != self.SOLVER) + (self.SOLVER,)
        return self.program.solve(data, chain)

    def _trade(self, x: np.ndarray) -> Trade:
        """The trade in ``x``; non-negative variables projected onto ``>= 0`` as cvxpy does when it
        writes a solution into a ``nonneg`` variable (an interior-point answer may be -1e-12,
        which whole-share rounding would floor to a whole share)."""
        at = self._at
        n = self.shape.n_assets
        short = np.maximum(x[at["short"]], 0.0) if at["short"] is not None else np.zeros(n)
        overlay = x[at["overlay_trade"]] if at["overlay_trade"] is not None else np.zeros(0)
        return Trade(np.maximum(x[at["buy"]], 0.0), np.maximum(x[at["sell"]], 0.0), np.array(short, dtype=float),
                     np.array(overlay, dtype=float))


__all__ = ["DirectProgram"]
