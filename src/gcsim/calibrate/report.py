"""posterior.md: the posterior summary and the confirmation as Markdown tables."""

from __future__ import annotations

from typing import Any


def _g(value: Any) -> str:
    return "–" if value is None else f"{value:.4g}"


def posterior_markdown(summary: dict[str, Any]) -> str:
    """The summary written by :func:`gcsim.calibrate.run.posterior_summary` (+ confirmation)."""
    lines = [
        f"# Calibration `{summary['calibration']}`: posterior",
        "",
        f"Chosen parameter set: {summary['chosen_rule']} (parameters.yaml).",
        "",
        "| parameter | median | 90 % interval | prior | interval / prior | identified |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for path, p in summary["parameters"].items():
        low, high = p["interval_90"]
        prior = p["prior"]
        lines.append(
            f"| {path} | {_g(p['median'])} | [{_g(low)}, {_g(high)}] | {prior['distribution']} "
            f"[{_g(prior['range'][0])}, {_g(prior['range'][1])}] | "
            f"{p['interval_fraction_of_prior']:.0%} | {'yes' if p['identifiable'] else 'no'} |"
        )
    lines += [
        "",
        "A parameter is not identified when its posterior 90 % interval spans at least 80 % of "
        "its prior's (in prior-quantile space): the targets do not constrain it.",
    ]
    if summary["non_identifiable"]:
        lines.append(f"Not identified: {', '.join(summary['non_identifiable'])}.")
    if summary["rejected_readouts"]:
        lines.append(
            "Left out (emulator Q² below the threshold, see emulator.json): "
            f"{', '.join(summary['rejected_readouts'])}."
        )
    abc = summary["abc"]
    eps = ", ".join(f"{e:.3g}" for e in abc["epsilons"])
    lines += [
        "",
        f"ABC-SMC on the emulator: {abc['population']} particles, {abc['generations']} "
        f"generations (ε: {eps}), {abc['emulator_draws']} emulator draws.",
        "",
        "## Fit",
        "",
        "| readout | target | sd (obs, discrepancy) | emulator at chosen | confirmation runs | z |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    confirmation = (summary.get("confirmation") or {}).get("readouts", {})
    for name, t in summary["targets"].items():
        em = summary["emulator_at_chosen"].get(name)
        em_text = f"{_g(em['mean'])} ± {_g(em['sd'])}" if em else "rejected"
        c = confirmation.get(name)
        if c and c.get("mean") is not None:
            c_text = f"{_g(c['mean'])} ± {_g(c['sd'])} (n = {c['runs']})"
            z_text = f"{c['z']:.2f}" + ("" if c["consistent"] else " (inconsistent)")
        else:
            c_text, z_text = "–", "–"
        lines.append(
            f"| {name} | {_g(t['value'])} | {_g(t['sd_obs'])}, {_g(t['sd_discrepancy'])} | "
            f"{em_text} | {c_text} | {z_text} |"
        )
    if summary.get("confirmation"):
        lines += ["", f"Confirmation: {summary['confirmation']['rule']}."]
    else:
        lines += ["", "No confirmation runs yet (`gcsim calibrate FILE --stage confirm`)."]
    return "\n".join(lines) + "\n"
