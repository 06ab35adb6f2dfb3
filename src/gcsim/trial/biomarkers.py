"""Predictive-biomarker ranking: which patient features predict a binary endpoint in one arm of a
virtual trial, judged out of sample.

Input is the trial's ``patients`` table (one row per patient × arm; contract in docs/trials.md).
:func:`rank_biomarkers` fits, for the patients of one arm, a random forest on the listed feature
columns by repeated stratified k-fold cross-validation and returns a ranked table: permutation
importance on the held-out folds (mean ± sd across folds), the univariate ROC AUC of each feature
alone with its direction, and the model's pooled out-of-fold ROC AUC with a bootstrap 95 % CI.
:func:`predictive_contrast` sets the univariate AUCs of several arms side by side, so that a
prognostic feature (predicting the endpoint whatever the treatment) can be told from a predictive
one (predicting it under the experimental treatment only). :func:`biomarker_figure` and
:func:`biomarker_html` render a result for the trial report.

Targets (``target=``)
    ``"objective_response"``: CR or PR as best response (column ``objective_response``).
    ``"disease_control"``: CR, PR or SD (column ``disease_control``).
    ``"pfs_<N>m"`` or ``"pfs_<N>d"``, e.g. ``"pfs_6m"``: progression by day N × 30.4375 (months of
    365.25 / 12 days; 6 months → day 182.6) or by day N. Positive: ``pfs_event`` with
    ``pfs_days`` ≤ that day; negative: known progression-free at that day (``pfs_days`` beyond it,
    or censored exactly on it). Patients censored before that day are excluded, because whether
    they progressed by then is unknown; their number is in the result's ``excluded`` and ``note``.
    Patients whose target is missing (NA) are excluded likewise.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import rankdata
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from gcsim.trial.report import data_uri, png_bytes

MIN_PATIENTS = 20  # below this, a k-fold estimate of AUC says more about the split than the model
DAYS_PER_MONTH = 365.25 / 12
CI_LEVEL = 0.95
MISSING_LEVEL = "(missing)"  # the category a missing text value becomes before one-hot encoding

# Keys and outcomes of the patients table: an outcome used as a feature would leak the target
# (best_pct_change predicts objective_response perfectly), so they are refused as features.
NOT_FEATURES = frozenset(
    {
        "patient",
        "arm",
        "seed",
        "allocated",
        "best_response",
        "objective_response",
        "disease_control",
        "best_pct_change",
        "pfs_days",
        "pfs_event",
        "dor_days",
        "dor_event",
        "response_day",
        "treatment_days",
        "followed_days",
        "new_lesions",
        "abscopal_lesions",
        "abscopal_evaluable",
        "window_reseeds",
        "scan_days",
        "scan_sld_mm",
        "scan_categories",
    }
)
_PFS_TARGET = re.compile(r"pfs_(\d+(?:\.\d+)?)([md])")
VALID_TARGETS = ("objective_response", "disease_control", "pfs_<N>m", "pfs_<N>d")


@dataclass(frozen=True, eq=False)
class BiomarkerResult:
    """The biomarker ranking of one arm for one binary target.

    ``table`` has one row per feature, best first, with columns ``rank``, ``feature``,
    ``importance_mean`` and ``importance_sd`` (drop in held-out ROC AUC when the feature is
    permuted, mean and sd across the folds of every repeat; NaN without a model),
    ``univariate_auc`` (ROC AUC of the feature alone, oriented so that it is ≥ 0.5),
    ``direction`` (which values go with the positive class: ``"higher"``, ``"lower"``, ``"none"``,
    or for a text feature ``"= level"`` / ``"≠ level"`` of its most discriminating level) and
    ``n_measured`` (patients with a value). Rows are ranked by importance when a model was
    fitted, else by univariate AUC.
    """

    arm: str
    target: str
    target_label: str  # e.g. "objective response (CR/PR)"
    table: pd.DataFrame
    auc: float  # pooled out-of-fold ROC AUC, mean over repeats; NaN when no model was fitted
    auc_ci: tuple[float, float]  # bootstrap 95 % CI; (NaN, NaN) without a model
    n: int  # patients of the arm with a defined target
    positives: int
    excluded: int  # patients of the arm left out (censored before the PFS day, or NA target)
    folds: int
    repeats: int
    note: str  # why no model was fitted, and who was excluded; "" when nothing to say

    @property
    def fitted(self) -> bool:
        """Whether a cross-validated model was fitted (enough patients of both classes)."""
        return not np.isnan(self.auc)


@dataclass(frozen=True)
class _Endpoint:
    kept: np.ndarray  # bool per row: the target is defined (index labels may repeat: positional)
    y: np.ndarray  # bool per kept row, True = positive class
    label: str
    positives: str  # plural nouns for notes: "responders"
    negatives: str
    exclusion: str  # why the excluded patients are excluded


def _endpoint(rows: pd.DataFrame, target: str) -> _Endpoint:
    """The binary target on ``rows``: patients whose target is defined, True = positive class."""
    if target in ("objective_response", "disease_control"):
        kept = rows[target].notna().to_numpy()
        y = rows[target][kept].astype(bool).to_numpy()
        if target == "objective_response":
            names = ("objective response (CR/PR)", "responders", "non-responders")
        else:
            names = (
                "disease control (CR/PR/SD)",
                "patients with disease control",
                "patients without disease control",
            )
        return _Endpoint(kept, y, *names, exclusion="without an assessable response")
    match = _PFS_TARGET.fullmatch(target)
    assert match is not None  # _check_target ran first
    day = float(match[1]) * (DAYS_PER_MONTH if match[2] == "m" else 1.0)
    days = rows["pfs_days"].to_numpy(dtype=float, na_value=np.nan)
    event = rows["pfs_event"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    positive = event & (days <= day)
    known = positive | (days > day) | (~event & (days >= day))
    return _Endpoint(
        known,
        positive[known],
        f"progression by day {day:.1f}",
        f"patients progressing by day {day:.1f}",
        f"patients progression-free at day {day:.1f}",
        exclusion=f"censored before day {day:.1f} (progression status then unknown)",
    )


def _check_target(patients: pd.DataFrame, target: str) -> None:
    if target in VALID_TARGETS[:2]:
        needed = {target}
    elif _PFS_TARGET.fullmatch(target):
        needed = {"pfs_days", "pfs_event"}
    else:
        raise ValueError(f"unknown target {target!r}; valid targets: {', '.join(VALID_TARGETS)}")
    missing = sorted(needed - set(patients.columns))
    if missing:
        raise ValueError(f"target {target!r} needs column(s) {missing}, absent from patients")


def _check_features(patients: pd.DataFrame, features: Sequence[str]) -> None:
    valid = [c for c in patients.columns if c not in NOT_FEATURES]
    if not features:
        raise ValueError(f"no features listed; valid feature columns: {valid}")
    repeated = sorted({f for f in features if list(features).count(f) > 1})
    if repeated:
        raise ValueError(f"feature(s) listed more than once: {repeated}")
    outcomes = [f for f in features if f in NOT_FEATURES]
    if outcomes:
        raise ValueError(
            f"{outcomes} are keys or outcomes of the patients table, not features (an outcome "
            f"would leak the target); valid feature columns: {valid}"
        )
    unknown = [f for f in features if f not in patients.columns]
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; valid feature columns: {valid}")


def _features(rows: pd.DataFrame, features: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The feature matrix (numeric columns as float with NaN, text columns as object with NaN)
    and the names of the text (categorical) ones."""
    columns: dict[str, np.ndarray] = {}
    categorical = []
    for name in features:
        column = rows[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            columns[name] = column.to_numpy(dtype=float, na_value=np.nan)
            continue
        values = column.astype(object)
        present = values[values.notna()]
        if not all(isinstance(v, str) for v in present):
            raise ValueError(f"feature {name!r} is neither numeric nor text (str)")
        columns[name] = values.where(values.notna(), np.nan).to_numpy(dtype=object)
        categorical.append(name)
    return pd.DataFrame(columns, index=rows.index), categorical


def _pipeline(
    numeric: list[str], categorical: list[str], n_estimators: int, seed: int, n_jobs: int
) -> Pipeline:
    """Imputation, encoding and forest in one estimator, so each is fitted on the training fold
    only and nothing of the held-out fold leaks into it."""
    parts: list[tuple[str, object, list[str]]] = []
    if numeric:
        # keep_empty_features: a column missing in a whole training fold stays (as 0) rather than
        # shifting the columns; the forest then cannot use it, and its importance is 0
        imputer = SimpleImputer(strategy="median", keep_empty_features=True)
        parts.append(("numeric", imputer, numeric))
    if categorical:
        encoder = make_pipeline(
            SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        )
        parts.append(("categorical", encoder, categorical))
    forest = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs)
    return Pipeline([("prepare", ColumnTransformer(parts)), ("forest", forest)])


def _auc_positives_first(scores: np.ndarray, positives: int) -> np.ndarray:
    """ROC AUC along the last axis of ``scores`` whose first ``positives`` entries are the
    positive class (Mann–Whitney U / (n₁ n₀), ties counting ½, as sklearn's roc_auc_score)."""
    negatives = scores.shape[-1] - positives
    ranks = rankdata(scores, axis=-1)
    u = ranks[..., :positives].sum(axis=-1) - positives * (positives + 1) / 2
    return u / (positives * negatives)


def _auc(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of ``scores`` for boolean ``y``; NaN unless both classes are present."""
    positives = int(y.sum())
    if positives in (0, y.size):
        return float("nan")
    return float(_auc_positives_first(np.concatenate([scores[y], scores[~y]]), positives))


def _raw_aucs(x: np.ndarray, y: np.ndarray, categorical: bool) -> dict[str, float]:
    """Unoriented AUC (> 0.5: higher values, or membership of the level, go with the positive
    class) over the patients with a value: ``{"": auc}`` for a numeric feature, ``{level: auc}``
    per level (member vs not) for a text one."""
    measured = pd.notna(x)
    x, y = x[measured], y[measured]
    if not categorical:
        return {"": _auc(y, x.astype(float))}
    return {level: _auc(y, (x == level).astype(float)) for level in sorted(set(x))}


def _univariate(x: np.ndarray, y: np.ndarray, categorical: bool) -> tuple[float, str]:
    """Oriented AUC (≥ 0.5) and direction of one feature; for a text feature, of its level that
    discriminates best (first in sorted order on ties)."""
    aucs = {level: auc for level, auc in _raw_aucs(x, y, categorical).items() if not np.isnan(auc)}
    if not aucs:
        return float("nan"), ""
    # rounded: the two levels of a binary feature tie exactly, up to floating-point noise
    level, auc = max(aucs.items(), key=lambda item: round(abs(item[1] - 0.5), 12))
    if categorical:
        direction = f"= {level}" if auc >= 0.5 else f"≠ {level}"
    else:
        direction = "higher" if auc > 0.5 else "lower" if auc < 0.5 else "none"
    return max(auc, 1.0 - auc), direction


def _too_few(endpoint: _Endpoint, folds: int) -> str:
    """Why the arm cannot be cross-validated, or "" when it can."""
    n, positives = len(endpoint.y), int(endpoint.y.sum())
    if n < MIN_PATIENTS:
        return f"too few patients to cross-validate: {n} (at least {MIN_PATIENTS} needed)"
    for count, noun in ((positives, endpoint.positives), (n - positives, endpoint.negatives)):
        if count < folds:
            return (
                f"too few {noun} to cross-validate: {count} of {n} "
                f"(at least {folds}, one per fold, needed)"
            )
    return ""


def _cross_validate(
    X: pd.DataFrame,
    y: np.ndarray,
    categorical: list[str],
    *,
    folds: int,
    repeats: int,
    seed: int,
    n_estimators: int,
    permutation_repeats: int,
    bootstrap: int,
    n_jobs: int,
) -> tuple[float, tuple[float, float], np.ndarray]:
    """Pooled out-of-fold AUC (mean over repeats), its bootstrap CI, and the held-out
    permutation importance of every feature in every fold (folds × repeats rows)."""
    numeric = [c for c in X.columns if c not in categorical]
    model_seeds, bootstrap_seed = np.random.SeedSequence(seed).spawn(2)
    fold_seeds = model_seeds.generate_state(folds * repeats)
    splits = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    scores = np.empty((repeats, y.size))
    importance = np.empty((folds * repeats, X.shape[1]))
    for i, (train, test) in enumerate(splits.split(X, y)):
        fold_seed = int(fold_seeds[i])
        model = _pipeline(numeric, categorical, n_estimators, fold_seed, n_jobs)
        model.fit(X.iloc[train], y[train])
        scores[i // folds, test] = model.predict_proba(X.iloc[test])[:, 1]
        # on the held-out fold: importance for prediction, not how well the forest memorised
        permuted = permutation_importance(
            model,
            X.iloc[test],
            y[test],
            scoring="roc_auc",
            n_repeats=permutation_repeats,
            random_state=fold_seed,
            n_jobs=n_jobs,
        )
        importance[i] = permuted.importances_mean
    auc = float(np.mean([_auc(y, s) for s in scores]))
    # stratified bootstrap over patients (each resample keeps n₁ and n₀, so its AUC is defined),
    # percentile interval; each resample's AUC is the mean over repeats, like the estimate
    rng = np.random.default_rng(bootstrap_seed)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    resampled = np.concatenate(
        [rng.choice(pos, (bootstrap, pos.size)), rng.choice(neg, (bootstrap, neg.size))], axis=1
    )
    aucs = _auc_positives_first(scores[:, resampled], pos.size).mean(axis=0)
    low, high = np.quantile(aucs, [(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2])
    return auc, (float(low), float(high)), importance


def rank_biomarkers(
    patients: pd.DataFrame,
    features: Sequence[str],
    *,
    arm: str,
    target: str = "objective_response",
    folds: int = 5,
    repeats: int = 3,
    seed: int = 0,
    n_estimators: int = 300,
    permutation_repeats: int = 5,
    bootstrap: int = 2000,
    n_jobs: int = 1,
) -> BiomarkerResult:
    """Rank the ``features`` of the patients of ``arm`` by how well they predict ``target``.

    The model is a random forest (scikit-learn ``RandomForestClassifier``, default settings): with
    tens to a few hundred virtual patients it needs no tuning (so no inner tuning loop is needed
    to keep the cross-validated AUC honest), does not care about feature scales, and picks up
    thresholds and interactions; histogram gradient boosting would need its learning rate and
    number of iterations tuned and overfits small cohorts more readily. Imputation (median of the
    training fold for numeric features; text features get a "(missing)" level and are one-hot
    encoded) sits in a Pipeline with the forest, so nothing is learnt from a held-out fold.

    Cross-validation is stratified ``folds``-fold, repeated ``repeats`` times with different
    splits. The model AUC is the ROC AUC of each repeat's pooled out-of-fold probabilities (every
    patient scored by a forest that never saw them), averaged over repeats; its 95 % CI is a
    stratified percentile bootstrap over patients (``bootstrap`` resamples) of those out-of-fold
    probabilities. It conditions on the fitted forests, leaving out the variability of refitting
    on other splits, so it is somewhat narrow: on 30 pure-noise cohorts of 150 patients, the AUC's
    sd across cohorts was 0.063 against a mean bootstrap standard error of 0.049 with one repeat,
    and 0.051 against 0.044 with three (averaging repeats removes most of the split noise), hence
    the default of three. Permutation importance is the drop of ROC AUC on each held-out fold
    when the feature's column is shuffled (``permutation_repeats`` shuffles), mean ± sd across
    all folds of all repeats; correlated features share their importance, so each may look less
    important than it is alone (the univariate AUC shows that). ROC AUC needs no class weighting:
    it does not depend on the share of positives.

    Parameters
    ----------
    patients
        The trial's patients table (one row per patient × arm).
    features
        Feature columns: numeric (or bool) ones, NaN allowed; text (str) ones are categorical.
        Keys and outcome columns are refused.
    arm
        The arm whose patients are analysed.
    target
        ``"objective_response"``, ``"disease_control"``, or ``"pfs_<N>m"`` / ``"pfs_<N>d"``
        (progression by month N, i.e. day N × 30.4375, or by day N; patients censored before that
        day are excluded). See the module docstring.
    folds, repeats
        Stratified k-fold splits and how many times they are redrawn.
    seed
        Seeds the splits, the forests, the permutations and the bootstrap: the same seed gives
        the same result.
    n_estimators
        Trees per forest.
    permutation_repeats
        Shuffles per feature and held-out fold.
    bootstrap
        Bootstrap resamples for the AUC's CI.
    n_jobs
        Parallel jobs of the forest and the permutations.

    Returns
    -------
    BiomarkerResult
        With fewer than 20 patients, or fewer than ``folds`` patients in either class, no model
        is fitted (``auc`` NaN) and ``note`` says why; the univariate columns are still filled
        wherever both classes have a measured value.

    Raises
    ------
    ValueError
        Unknown, repeated or outcome feature names, an unknown target, or an unknown arm.
    """
    _check_target(patients, target)
    _check_features(patients, features)
    arms = list(pd.unique(patients["arm"]))
    if arm not in arms:
        raise ValueError(f"unknown arm {arm!r}; arms in patients: {arms}")
    rows = patients[patients["arm"] == arm]
    endpoint = _endpoint(rows, target)
    X, categorical = _features(rows[endpoint.kept], features)
    y = endpoint.y
    excluded = len(rows) - y.size

    univariate = [_univariate(X[f].to_numpy(), y, f in categorical) for f in features]
    table = pd.DataFrame(
        {
            "feature": list(features),
            "importance_mean": np.nan,
            "importance_sd": np.nan,
            "univariate_auc": [auc for auc, _ in univariate],
            "direction": [direction for _, direction in univariate],
            "n_measured": X.notna().sum().to_numpy(),
        }
    )
    patients_word = "patient" if excluded == 1 else "patients"
    notes = [f"{excluded} {patients_word} {endpoint.exclusion} excluded"] if excluded else []
    reason = _too_few(endpoint, folds)
    auc, ci = float("nan"), (float("nan"), float("nan"))
    if reason:
        notes.insert(0, reason + "; no model fitted, features ranked by univariate AUC")
        table = table.sort_values("univariate_auc", ascending=False, kind="stable")
    else:
        auc, ci, importance = _cross_validate(
            X,
            y,
            categorical,
            folds=folds,
            repeats=repeats,
            seed=seed,
            n_estimators=n_estimators,
            permutation_repeats=permutation_repeats,
            bootstrap=bootstrap,
            n_jobs=n_jobs,
        )
        table["importance_mean"] = importance.mean(axis=0)
        table["importance_sd"] = importance.std(axis=0, ddof=1)
        table = table.sort_values(
            ["importance_mean", "univariate_auc"], ascending=False, kind="stable"
        )
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return BiomarkerResult(
        arm=arm,
        target=target,
        target_label=endpoint.label,
        table=table.reset_index(drop=True),
        auc=auc,
        auc_ci=ci,
        n=int(y.size),
        positives=int(y.sum()),
        excluded=excluded,
        folds=folds,
        repeats=repeats,
        note="; ".join(notes),
    )


def predictive_contrast(
    patients: pd.DataFrame,
    features: Sequence[str],
    *,
    arms: Sequence[str],
    target: str = "objective_response",
) -> pd.DataFrame:
    """Univariate ROC AUC of each feature in each arm, side by side: prognostic vs predictive.

    A feature whose AUC departs from 0.5 the same way in the control arm as in the experimental
    arm is prognostic (it predicts the endpoint whatever the treatment); one that does so under
    the experimental treatment only is a candidate predictive biomarker. The AUCs are not
    oriented, so that arms can be compared: > 0.5 means higher values (or, for a text feature,
    membership of the level) go with the positive class. No model is fitted and there are no
    CIs: with small arms, a difference of AUCs is noisy.

    Parameters
    ----------
    patients, features, target
        As in :func:`rank_biomarkers`.
    arms
        Arms to compare; the first is the reference of the differences.

    Returns
    -------
    pandas.DataFrame
        One row per numeric feature and per level of a text feature (``"phenotype = inflamed"``),
        columns ``feature``, ``auc_<arm>`` per arm and ``delta_<arm>`` (AUC minus the first arm's)
        per other arm. ``attrs["counts"]`` is ``{arm: {"n": ..., "positives": ...}}``.

    Raises
    ------
    ValueError
        As :func:`rank_biomarkers`, and for fewer than two arms.
    """
    _check_target(patients, target)
    _check_features(patients, features)
    present = list(pd.unique(patients["arm"]))
    unknown = [a for a in arms if a not in present]
    if unknown or len(arms) < 2:
        raise ValueError(f"need two or more of the arms {present}; got {list(arms)}")
    columns: dict[str, dict[str, float]] = {}
    counts = {}
    for arm in arms:
        rows = patients[patients["arm"] == arm]
        endpoint = _endpoint(rows, target)
        X, categorical = _features(rows[endpoint.kept], features)
        y = endpoint.y
        counts[arm] = {"n": int(y.size), "positives": int(y.sum())}
        columns[f"auc_{arm}"] = {
            f"{f} = {level}" if level else f: auc
            for f in features
            for level, auc in _raw_aucs(X[f].to_numpy(), y, f in categorical).items()
        }
    contrast = pd.DataFrame(columns)  # rows: the union of levels seen in any arm
    for arm in arms[1:]:
        contrast[f"delta_{arm}"] = contrast[f"auc_{arm}"] - contrast[f"auc_{arms[0]}"]
    contrast = contrast.rename_axis("feature").reset_index()
    contrast.attrs["counts"] = counts
    return contrast


def _auc_text(result: BiomarkerResult) -> str:
    if not result.fitted:
        return "no cross-validated model"
    low, high = result.auc_ci
    return f"cross-validated AUC {result.auc:.2f} (95 % CI {low:.2f}–{high:.2f})"


def biomarker_figure(result: BiomarkerResult) -> Figure:
    """Horizontal bars of permutation importance (mean ± sd across held-out folds), best on top,
    titled with the model's AUC and CI; without a model, bars of the univariate AUC instead."""
    table = result.table.iloc[::-1]  # barh draws the first row at the bottom
    fig = Figure(figsize=(7, 1.6 + 0.32 * len(table)), layout="constrained")
    ax = fig.subplots()
    labels = [
        f"{f} ({d})" if d else f for f, d in zip(table["feature"], table["direction"], strict=True)
    ]
    if result.fitted:
        ax.barh(labels, table["importance_mean"], xerr=table["importance_sd"], color="tab:blue")
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel("permutation importance: drop in held-out ROC AUC (mean ± sd over folds)")
    else:
        ax.barh(labels, table["univariate_auc"].fillna(0.5) - 0.5, left=0.5, color="tab:gray")
        ax.axvline(0.5, color="black", linewidth=0.8)
        ax.set_xlim(0.5, 1.0)
        ax.set_xlabel("univariate ROC AUC (oriented; direction in brackets)")
    ax.set_title(
        f"{result.arm}: {result.target_label}, n = {result.n}, {result.positives} positive\n"
        f"{_auc_text(result)}",
        fontsize=10,
    )
    return fig


def _fmt(value: float, digits: int = 3) -> str:
    return "" if np.isnan(value) else f"{value:.{digits}f}"


def biomarker_html(result: BiomarkerResult, contrast: pd.DataFrame | None = None) -> str:
    """An HTML fragment for the trial report: summary line, the figure (inline base64 PNG), the
    ranked table, how to read it, and (if given) the per-arm :func:`predictive_contrast` table.
    Self-contained: no external URL."""
    table = pd.DataFrame(
        {
            "rank": result.table["rank"],
            "feature": result.table["feature"],
            "importance (Δ AUC, mean ± sd)": [
                f"{m:.3f} ± {s:.3f}" if not np.isnan(m) else ""
                for m, s in zip(
                    result.table["importance_mean"], result.table["importance_sd"], strict=True
                )
            ],
            "univariate AUC": [_fmt(v, 2) for v in result.table["univariate_auc"]],
            "direction": result.table["direction"],
            "measured": result.table["n_measured"],
        }
    )
    method = (
        f"random forest, stratified {result.folds}-fold cross-validation × {result.repeats}"
        if result.fitted
        else "univariate only"
    )
    parts = [
        '<section class="biomarkers">',
        f"<h3>Biomarkers of {html.escape(result.target_label)}: arm {html.escape(result.arm)}</h3>",
        f"<p>{result.n} patients, {result.positives} positive; {_auc_text(result)} "
        f"({html.escape(method)}).</p>",
    ]
    if result.note:
        parts.append(f'<p class="note">{html.escape(result.note)}.</p>')
    shown_by = "permutation importance" if result.fitted else "univariate AUC"
    alt = f"{shown_by} of the features, arm {result.arm}"
    parts += [
        f'<img alt="{html.escape(alt)}" src="{data_uri(png_bytes(biomarker_figure(result)))}">',
        table.to_html(index=False, border=0, classes="biomarker-table"),
        "<p>How to read: the AUC is cross-validated, so it is out-of-sample accuracy; importance "
        "(the drop in held-out AUC when a feature is shuffled) and univariate AUC are predictive "
        "association in this virtual cohort, not causation; and a feature that predicts the "
        "endpoint in the control arm as well as in the experimental arm is prognostic, not "
        "predictive, which the per-arm AUCs (when shown) let you check.</p>",
    ]
    if contrast is not None:
        counts = ", ".join(
            f"{html.escape(arm)}: {c['positives']} of {c['n']} positive"
            for arm, c in contrast.attrs.get("counts", {}).items()
        )
        shown = contrast.copy()
        numeric = shown.columns.drop("feature")
        shown[numeric] = shown[numeric].map(lambda v: _fmt(v, 2))
        parts += [
            "<h4>Per-arm univariate AUC (&gt; 0.5: higher values, or the level, go with the "
            f"positive class; {counts})</h4>",
            shown.to_html(index=False, border=0, classes="biomarker-contrast"),
        ]
    parts.append("</section>")
    return "\n".join(parts)
